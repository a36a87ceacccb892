// An HttpOutcome as the JavaScript facts array both request drivers (the
// pool worker and the event-loop driver) resolve with:
//   [elapsedUs, status, statusText, body, name, value, ...]   (an answer)
//   [elapsedUs, code, phase, detail]                          (a failure)
// and a ProbeResult as both probe drivers resolve with:
//   [outcome, elapsedUs] or [outcome, elapsedUs, errno]
// (elapsed time in whole microseconds)
// Arrays rather than objects: see js_facts.cc. src/transport/http.ts names
// the fields (its native section).
#ifndef AZMI_JS_FACTS_H_
#define AZMI_JS_FACTS_H_

#include <napi.h>

#include "http1.h"
#include "probe.h"

namespace azmi {

// Call inside a HandleScope: resolves deferred with the facts object for
// outcome, or, if building it failed, rejects with the pending exception.
void SettleWithOutcome(Napi::Env env, Napi::Promise::Deferred& deferred, const HttpOutcome& outcome);

// The same for a probe's result.
void SettleWithProbe(Napi::Env env, Napi::Promise::Deferred& deferred, const ProbeResult& result);

// With C++ exceptions disabled every failed call leaves a pending JS
// exception; hand it to the promise instead of letting it escape.
bool RejectIfPending(Napi::Env env, Napi::Promise::Deferred& deferred);

}  // namespace azmi

#endif  // AZMI_JS_FACTS_H_
