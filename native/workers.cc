#include "workers.h"

#include <utility>

#include "js_facts.h"

namespace azmi {

ProbeWorker::ProbeWorker(Napi::Env env, napi_deferred deferred, std::string ip, int port, int timeout_ms,
                         int64_t start_ns)
    : Napi::AsyncWorker(env, "azmi:probe"),
      deferred_(deferred),
      ip_(std::move(ip)),
      port_(port),
      timeout_ms_(timeout_ms),
      start_ns_(start_ns) {}

void ProbeWorker::Execute() { result_ = Probe(ip_, port_, timeout_ms_, start_ns_); }

void ProbeWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  SettleWithProbe(env, deferred_, result_);
}

void ProbeWorker::OnError(const Napi::Error& error) { napi_reject_deferred(Env(), deferred_, error.Value()); }

RequestWorker::RequestWorker(Napi::Env env, napi_deferred deferred, HttpRequest request)
    : Napi::AsyncWorker(env, "azmi:request"),
      deferred_(deferred),
      request_(std::move(request)) {}

void RequestWorker::Execute() { outcome_ = Exchange(request_); }

void RequestWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  SettleWithOutcome(env, deferred_, outcome_);
}

void RequestWorker::OnError(const Napi::Error& error) { napi_reject_deferred(Env(), deferred_, error.Value()); }

}  // namespace azmi
