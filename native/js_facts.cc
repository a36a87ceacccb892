#include "js_facts.h"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace azmi {

namespace {
// Reason phrases and header values may carry obs-text bytes: hand them over
// as latin1, the way Node's own HTTP parser (and the node:net fallback) do.
Napi::Value Latin1(Napi::Env env, const std::string& bytes) {
  napi_value v;
  napi_status st = napi_create_string_latin1(env, bytes.data(), bytes.size(), &v);
  if (st != napi_ok) {
    Napi::Error::New(env, "azmi: could not create a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Value(env, v);
}

// The response headers as one plain object: lower-cased names (the parser
// already lowered them), repeats joined with ", " in arrival order, the same
// shape facts.ts joinHeaders() gives the node:net fallback. Properties are
// DEFINED, not set, so a peer-chosen "__proto__" stays an own data property
// and never reaches the prototype. Building it here saves the flat array,
// one JS string per name and the JS join loop on every response.
//
// A token response has a handful of headers and no repeats, so the common
// case allocates only the descriptor array: repeats are found with a linear
// scan (a hash map only past kLinearScanMax headers, where n² compares would
// start to cost), and values are copied (to join them) only when repeated.
constexpr size_t kLinearScanMax = 32;

Napi::Value HeaderObject(Napi::Env env, const HeaderList& list) {
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
  Napi::Object out = Napi::Object::New(env);
  std::vector<napi_property_descriptor> props;
  props.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (first[i] != i) continue;
    napi_value name;
    const std::string& n = list[i].first;
    if (napi_create_string_latin1(env, n.data(), n.size(), &name) != napi_ok) {
      Napi::Error::New(env, "azmi: could not create a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // A repeated header's joined value is never empty (it holds ", "), so
    // an empty entry means "not repeated": use the value as received.
    const std::string& v = repeats && !joined[i].empty() ? joined[i] : list[i].second;
    Napi::Value value = Latin1(env, v);
    if (env.IsExceptionPending()) return env.Undefined();
    props.push_back(napi_property_descriptor{nullptr, name, nullptr, nullptr, nullptr, value,
                                             static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable),
                                             nullptr});
  }
  if (!props.empty() && napi_define_properties(env, out, props.size(), props.data()) != napi_ok) {
    if (!env.IsExceptionPending()) Napi::Error::New(env, "azmi: could not build the headers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return out;
}

}  // namespace

bool RejectIfPending(Napi::Env env, Napi::Promise::Deferred& deferred) {
  if (!env.IsExceptionPending()) return false;
  Napi::Error e = env.GetAndClearPendingException();
  deferred.Reject(e.Value());
  return true;
}

Napi::Value OutcomeToJs(Napi::Env env, const HttpOutcome& outcome) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", Napi::Boolean::New(env, outcome.ok));
  out.Set("elapsedMs", Napi::Number::New(env, outcome.elapsed_ms));
  if (outcome.ok) {
    out.Set("status", Napi::Number::New(env, outcome.status));
    out.Set("statusText", Latin1(env, outcome.status_text));
    Napi::Value headers = HeaderObject(env, outcome.headers);
    if (env.IsExceptionPending()) return env.Undefined();
    out.Set("headers", headers);
    out.Set("body", Napi::Buffer<char>::Copy(env, outcome.body.data(), outcome.body.size()));
  } else {
    out.Set("code", Napi::String::New(env, outcome.code));
    out.Set("phase", Napi::String::New(env, outcome.phase));
    out.Set("detail", Napi::String::New(env, outcome.detail));
  }
  if (env.IsExceptionPending()) return env.Undefined();
  return out;
}

}  // namespace azmi
