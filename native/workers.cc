#include "workers.h"

#include <utility>

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
    Napi::Array headers = Napi::Array::New(env, outcome_.headers.size() * 2);
    uint32_t i = 0;
    for (const auto& h : outcome_.headers) {
      headers.Set(i++, Napi::String::New(env, h.first));
      headers.Set(i++, Latin1(env, h.second));
    }
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
