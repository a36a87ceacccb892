// An HttpOutcome as the JavaScript facts array both request drivers (the
// pool worker and the event-loop driver) resolve with:
//   [elapsedUs, status, statusText, body, name, value, ...]   (an answer;
//                                                 headers as received)
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

// A promise and its deferred (napi_create_promise). False when it could not
// be made (the environment is stopping, e.g. a worker being terminated): the
// caller must not start the job, and returns nullptr. (Not
// Napi::Promise::Deferred, whose constructor leaves the promise unset then,
// which a caller would hand to V8: a crash, README session 18.)
bool NewPromise(napi_env env, napi_deferred* deferred, napi_value* promise);

// Call inside a HandleScope: resolves `deferred` with the facts array for
// `outcome`, or, if building it failed, rejects with the pending exception.
void SettleWithOutcome(napi_env env, napi_deferred deferred, const HttpOutcome& outcome);

// The same for a probe's result.
void SettleWithProbe(napi_env env, napi_deferred deferred, const ProbeResult& result);

}  // namespace azmi

#endif  // AZMI_JS_FACTS_H_
