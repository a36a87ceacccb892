#include "workers.h"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace azmi {

namespace {

// With C++ exceptions disabled every failed call leaves a pending JS
// exception; hand it to the promise instead of letting it escape.
bool RejectIfPending(Napi::Env env, Napi::Promise::Deferred& deferred) {
  if (!env.IsExceptionPending()) return false;
  Napi::Error e = env.GetAndClearPendingException();
  deferred.Reject(e.Value());
  return true;
}

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
Napi::Value HeaderObject(Napi::Env env, const HeaderList& list) {
  std::vector<std::pair<const std::string*, std::string>> joined;
  joined.reserve(list.size());
  std::unordered_map<std::string, size_t> index;
  for (const auto& h : list) {
    auto it = index.find(h.first);
    if (it == index.end()) {
      index.emplace(h.first, joined.size());
      joined.emplace_back(&h.first, h.second);
    } else {
      joined[it->second].second.append(", ").append(h.second);
    }
  }
  Napi::Object out = Napi::Object::New(env);
  std::vector<napi_property_descriptor> props(joined.size());
  for (size_t i = 0; i < joined.size(); ++i) {
    napi_value name;
    const std::string& n = *joined[i].first;
    if (napi_create_string_latin1(env, n.data(), n.size(), &name) != napi_ok) {
      Napi::Error::New(env, "azmi: could not create a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Value value = Latin1(env, joined[i].second);
    if (env.IsExceptionPending()) return env.Undefined();
    props[i] = napi_property_descriptor{nullptr, name, nullptr, nullptr, nullptr, value,
                                        static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable),
                                        nullptr};
  }
  if (!props.empty() && napi_define_properties(env, out, props.size(), props.data()) != napi_ok) {
    if (!env.IsExceptionPending()) Napi::Error::New(env, "azmi: could not build the headers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return out;
}

}  // namespace

ProbeWorker::ProbeWorker(Napi::Env env, std::string ip, int port, int timeout_ms, int64_t start_ns)
    : Napi::AsyncWorker(env, "azmi:probe"),
      deferred_(Napi::Promise::Deferred::New(env)),
      ip_(std::move(ip)),
      port_(port),
      timeout_ms_(timeout_ms),
      start_ns_(start_ns) {}

void ProbeWorker::Execute() { result_ = Probe(ip_, port_, timeout_ms_, start_ns_); }

void ProbeWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("outcome", Napi::String::New(env, result_.outcome));
  out.Set("elapsedMs", Napi::Number::New(env, result_.elapsed_ms));
  if (result_.errno_name[0] != '\0') out.Set("errno", Napi::String::New(env, result_.errno_name));
  if (RejectIfPending(env, deferred_)) return;
  deferred_.Resolve(out);
}

void ProbeWorker::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

RequestWorker::RequestWorker(Napi::Env env, HttpRequest request)
    : Napi::AsyncWorker(env, "azmi:request"),
      deferred_(Napi::Promise::Deferred::New(env)),
      request_(std::move(request)) {}

void RequestWorker::Execute() { outcome_ = Exchange(request_); }

void RequestWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", Napi::Boolean::New(env, outcome_.ok));
  out.Set("elapsedMs", Napi::Number::New(env, outcome_.elapsed_ms));
  if (outcome_.ok) {
    out.Set("status", Napi::Number::New(env, outcome_.status));
    out.Set("statusText", Latin1(env, outcome_.status_text));
    Napi::Value headers = HeaderObject(env, outcome_.headers);
    if (RejectIfPending(env, deferred_)) return;
    out.Set("headers", headers);
    out.Set("body", Napi::Buffer<char>::Copy(env, outcome_.body.data(), outcome_.body.size()));
  } else {
    out.Set("code", Napi::String::New(env, outcome_.code));
    out.Set("phase", Napi::String::New(env, outcome_.phase));
    out.Set("detail", Napi::String::New(env, outcome_.detail));
  }
  if (RejectIfPending(env, deferred_)) return;
  deferred_.Resolve(out);
}

void RequestWorker::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

}  // namespace azmi
