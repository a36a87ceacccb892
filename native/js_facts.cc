#include "js_facts.h"

#include <cstdint>
#include <string>
#include <utility>

namespace azmi {

namespace {

// The request path builds its result with as few distinct Node-API
// functions as it can, and in raw Node-API: an addon binds each function it
// imports lazily, on its first call, through a lookup in Node's own symbol
// tables, pages a fresh process has never touched. Where page faults are
// slow (12-40 us each under the hypervisor this was measured on) every
// distinct function is ~10 us of a process's first token (README, session
// 13). node-addon-api's Set and Buffer::Copy would add set_named_property
// and get_typedarray_info.

// Reason phrases and header values may carry obs-text bytes: hand them over
// as latin1, the way Node's own HTTP parser (and the node:net fallback) do.
// (Failure facts are ASCII, so latin1 reads them as UTF-8 would.)
bool Latin1(napi_env env, const char* data, size_t length, napi_value* out) {
  return napi_create_string_latin1(env, data, length, out) == napi_ok;
}

bool Latin1(napi_env env, const std::string& text, napi_value* out) { return Latin1(env, text.data(), text.size(), out); }

// Facts are arrays of strings, integers and the body, not objects: for a
// fresh process, create_array_with_length, set_element and create_int64
// cost no page fault in Node's symbol tables where create_object,
// define_properties and create_double cost three (the pages their names sit
// on; counted with perf, README session 18). JavaScript names the fields
// (http.ts, its native section).
bool Put(napi_env env, napi_value array, uint32_t index, napi_value value) {
  return napi_set_element(env, array, index, value) == napi_ok;
}

bool Integer(napi_env env, int64_t value, napi_value* out) { return napi_create_int64(env, value, out) == napi_ok; }

// Elapsed time in whole microseconds (exact in a JavaScript number).
int64_t Micros(double ms) { return static_cast<int64_t>(ms * 1000.0); }

// The facts array, or nullptr when a Node-API call failed:
//   [elapsedUs, status, statusText, body, name, value, ...]
//   [elapsedUs, code, phase, detail]
// (a failure is the one whose second element is a string). The headers as
// received, repeats and all: http.ts joinHeaders joins them, as for the
// node:net fallback.
napi_value BuildOutcome(napi_env env, const HttpOutcome& outcome) {
  const size_t header_count = outcome.ok ? outcome.headers.size() : 0;
  napi_value out, elapsed;
  if (napi_create_array_with_length(env, 4 + 2 * header_count, &out) != napi_ok ||
      !Integer(env, Micros(outcome.elapsed_ms), &elapsed) || !Put(env, out, 0, elapsed)) {
    return nullptr;
  }
  if (outcome.ok) {
    napi_value status, status_text, body;
    if (!Integer(env, outcome.status, &status) || !Latin1(env, outcome.status_text, &status_text) ||
        napi_create_buffer_copy(env, outcome.body.size(), outcome.body.data(), nullptr, &body) != napi_ok ||
        !Put(env, out, 1, status) || !Put(env, out, 2, status_text) || !Put(env, out, 3, body)) {
      return nullptr;
    }
    uint32_t at = 4;
    for (const auto& [name, value] : outcome.headers) {
      napi_value n, v;
      if (!Latin1(env, name, &n) || !Latin1(env, value, &v) || !Put(env, out, at++, n) || !Put(env, out, at++, v)) {
        return nullptr;
      }
    }
    return out;
  }
  napi_value code, phase, detail;
  if (!Latin1(env, outcome.code, NAPI_AUTO_LENGTH, &code) || !Latin1(env, outcome.phase, NAPI_AUTO_LENGTH, &phase) ||
      !Latin1(env, outcome.detail, NAPI_AUTO_LENGTH, &detail) || !Put(env, out, 1, code) || !Put(env, out, 2, phase) ||
      !Put(env, out, 3, detail)) {
    return nullptr;
  }
  return out;
}

// The probe's facts array, or nullptr when a Node-API call failed:
// [outcome, elapsedUs] or [outcome, elapsedUs, errno].
napi_value BuildProbeFacts(napi_env env, const ProbeResult& result) {
  const bool has_errno = result.errno_name[0] != '\0';
  napi_value out, outcome, elapsed, errno_name;
  if (napi_create_array_with_length(env, has_errno ? 3 : 2, &out) != napi_ok ||
      !Latin1(env, result.outcome, NAPI_AUTO_LENGTH, &outcome) ||
      !Integer(env, Micros(result.elapsed_ms), &elapsed) || !Put(env, out, 0, outcome) ||
      !Put(env, out, 1, elapsed)) {
    return nullptr;
  }
  if (has_errno && (!Latin1(env, result.errno_name, NAPI_AUTO_LENGTH, &errno_name) || !Put(env, out, 2, errno_name))) {
    return nullptr;
  }
  return out;
}

// Resolves with `out`, or rejects with the pending (or a new) exception when building it failed.
void ResolveOrReject(napi_env env, napi_deferred deferred, napi_value out) {
  if (out != nullptr) {
    napi_resolve_deferred(env, deferred, out);
    return;
  }
  // Only now ask whether an exception is pending: the common path never
  // binds napi_is_exception_pending.
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) {
    napi_throw_error(env, nullptr, "azmi: could not build the result");
  }
  napi_value error = nullptr;
  if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_reject_deferred(env, deferred, error);
}

}  // namespace

bool NewPromise(napi_env env, napi_deferred* deferred, napi_value* promise) {
  return napi_create_promise(env, deferred, promise) == napi_ok;
}

void SettleWithOutcome(napi_env env, napi_deferred deferred, const HttpOutcome& outcome) {
  ResolveOrReject(env, deferred, BuildOutcome(env, outcome));
}

void SettleWithProbe(napi_env env, napi_deferred deferred, const ProbeResult& result) {
  ResolveOrReject(env, deferred, BuildProbeFacts(env, result));
}

}  // namespace azmi
