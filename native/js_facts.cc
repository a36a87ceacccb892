#include "js_facts.h"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace azmi {

namespace {

// The request path builds its result with as few distinct Node-API
// functions as it can, and in raw Node-API: an addon binds each function it
// imports lazily, on its first call, through a lookup in Node's own symbol
// tables, pages a fresh process has never touched. Where page faults are
// slow (12-40 us each under the hypervisor this was measured on) every
// distinct function is ~10 us of a process's first token (README, session
// 13). node-addon-api's Set and Buffer::Copy add set_named_property and
// get_typedarray_info to what the headers object needs anyway.

constexpr napi_property_attributes kPlain =
    static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);

// A plain data property, as Object#Set would make it.
napi_property_descriptor Field(const char* name, napi_value value) {
  return napi_property_descriptor{name, nullptr, nullptr, nullptr, nullptr, value, kPlain, nullptr};
}

// Reason phrases and header values may carry obs-text bytes: hand them over
// as latin1, the way Node's own HTTP parser (and the node:net fallback) do.
// (Failure facts are ASCII, so latin1 reads them as UTF-8 would.)
bool Latin1(napi_env env, const char* data, size_t length, napi_value* out) {
  return napi_create_string_latin1(env, data, length, out) == napi_ok;
}

constexpr size_t kLinearScanMax = 32;

// The headers as one object, or nullptr when a Node-API call failed.
napi_value HeaderObject(napi_env env, const HeaderList& list) {
  // first[i]: index of the first header with list[i]'s name.
  std::vector<size_t> first(list.size());
  bool repeats = false;
  if (list.size() <= kLinearScanMax) {
    for (size_t i = 0; i < list.size(); ++i) {
      first[i] = i;
      for (size_t j = 0; j < i; ++j) {
        if (first[j] == j && list[j].first == list[i].first) {
          first[i] = j;
          repeats = true;
          break;
        }
      }
    }
  } else {
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < list.size(); ++i) {
      auto it = index.emplace(list[i].first, i).first;
      first[i] = it->second;
      repeats = repeats || it->second != i;
    }
  }
  // joined[i]: the ", "-joined value for a first occurrence that repeats.
  std::vector<std::string> joined;
  if (repeats) {
    joined.resize(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      size_t f = first[i];
      if (f == i) continue;
      if (joined[f].empty()) joined[f] = list[f].second;
      joined[f].append(", ").append(list[i].second);
    }
  }
  napi_value out;
  if (napi_create_object(env, &out) != napi_ok) return nullptr;
  std::vector<napi_property_descriptor> props;
  props.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (first[i] != i) continue;
    napi_value name;
    const std::string& n = list[i].first;
    // A repeated header's joined value is never empty (it holds ", "), so
    // an empty entry means "not repeated": use the value as received.
    const std::string& v = repeats && !joined[i].empty() ? joined[i] : list[i].second;
    napi_value value;
    if (!Latin1(env, n.data(), n.size(), &name) || !Latin1(env, v.data(), v.size(), &value)) return nullptr;
    props.push_back(napi_property_descriptor{nullptr, name, nullptr, nullptr, nullptr, value, kPlain, nullptr});
  }
  if (!props.empty() && napi_define_properties(env, out, props.size(), props.data()) != napi_ok) return nullptr;
  return out;
}

// The facts object, or nullptr when a Node-API call failed. No `ok` field:
// a failure is the object with a `code` (one Node-API function fewer,
// get_boolean, for a fresh process to bind; addon.cc says why that counts).
napi_value BuildOutcome(napi_env env, const HttpOutcome& outcome) {
  napi_value out, elapsed;
  if (napi_create_object(env, &out) != napi_ok ||
      napi_create_double(env, outcome.elapsed_ms, &elapsed) != napi_ok) {
    return nullptr;
  }
  if (outcome.ok) {
    napi_value status, status_text, headers, body;
    const std::string& text = outcome.status_text;
    if (napi_create_double(env, outcome.status, &status) != napi_ok ||
        !Latin1(env, text.data(), text.size(), &status_text) ||
        (headers = HeaderObject(env, outcome.headers)) == nullptr ||
        napi_create_buffer_copy(env, outcome.body.size(), outcome.body.data(), nullptr, &body) != napi_ok) {
      return nullptr;
    }
    const napi_property_descriptor props[] = {
        Field("elapsedMs", elapsed), Field("status", status),
        Field("statusText", status_text), Field("headers", headers), Field("body", body),
    };
    if (napi_define_properties(env, out, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
    return out;
  }
  napi_value code, phase, detail;
  if (!Latin1(env, outcome.code, NAPI_AUTO_LENGTH, &code) || !Latin1(env, outcome.phase, NAPI_AUTO_LENGTH, &phase) ||
      !Latin1(env, outcome.detail, NAPI_AUTO_LENGTH, &detail)) {
    return nullptr;
  }
  const napi_property_descriptor props[] = {
      Field("elapsedMs", elapsed), Field("code", code), Field("phase", phase), Field("detail", detail),
  };
  if (napi_define_properties(env, out, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
  return out;
}

// The probe's facts object, or nullptr when a Node-API call failed.
napi_value BuildProbeFacts(napi_env env, const ProbeResult& result) {
  napi_value out, outcome, elapsed, errno_name = nullptr;
  if (napi_create_object(env, &out) != napi_ok || !Latin1(env, result.outcome, NAPI_AUTO_LENGTH, &outcome) ||
      napi_create_double(env, result.elapsed_ms, &elapsed) != napi_ok) {
    return nullptr;
  }
  const bool has_errno = result.errno_name[0] != '\0';
  if (has_errno && !Latin1(env, result.errno_name, NAPI_AUTO_LENGTH, &errno_name)) return nullptr;
  const napi_property_descriptor props[] = {
      Field("outcome", outcome), Field("elapsedMs", elapsed), Field("errno", errno_name),
  };
  if (napi_define_properties(env, out, has_errno ? 3 : 2, props) != napi_ok) return nullptr;
  return out;
}

// Resolves with `out`, or rejects with the pending (or a new) exception when building it failed.
void ResolveOrReject(Napi::Env env, Napi::Promise::Deferred& deferred, napi_value out) {
  if (out != nullptr) {
    deferred.Resolve(out);
    return;
  }
  // Only now ask whether an exception is pending: the common path never
  // binds napi_is_exception_pending.
  if (!env.IsExceptionPending()) napi_throw_error(env, nullptr, "azmi: could not build the result");
  RejectIfPending(env, deferred);
}

}  // namespace

bool RejectIfPending(Napi::Env env, Napi::Promise::Deferred& deferred) {
  if (!env.IsExceptionPending()) return false;
  Napi::Error e = env.GetAndClearPendingException();
  deferred.Reject(e.Value());
  return true;
}

void SettleWithOutcome(Napi::Env env, Napi::Promise::Deferred& deferred, const HttpOutcome& outcome) {
  ResolveOrReject(env, deferred, BuildOutcome(env, outcome));
}

void SettleWithProbe(Napi::Env env, Napi::Promise::Deferred& deferred, const ProbeResult& result) {
  ResolveOrReject(env, deferred, BuildProbeFacts(env, result));
}

}  // namespace azmi
