// The pool drivers (AsyncWorkers): probePool() and requestPool(). Each copies
// its inputs into plain C++ structs on the main thread, runs the blocking
// socket work in Execute on the libuv pool, and builds JavaScript values only
// in OnOK. (probe() and request() run on the event loop: loop_driver.h.)
// Failures resolve as facts (js_facts.h); the promise rejects only if
// building the result itself failed. The promise is the caller's
// (NewPromise), made before the worker: the worker settles it.
#ifndef AZMI_WORKERS_H_
#define AZMI_WORKERS_H_

#include <napi.h>

#include "http1.h"
#include "probe.h"

namespace azmi {

class ProbeWorker : public Napi::AsyncWorker {
 public:
  ProbeWorker(Napi::Env env, napi_deferred deferred, std::string ip, int port, int timeout_ms, int64_t start_ns);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  napi_deferred deferred_;
  std::string ip_;
  int port_;
  int timeout_ms_;
  int64_t start_ns_;
  ProbeResult result_;
};

class RequestWorker : public Napi::AsyncWorker {
 public:
  RequestWorker(Napi::Env env, napi_deferred deferred, HttpRequest request);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  napi_deferred deferred_;
  HttpRequest request_;
  HttpOutcome outcome_;
};

}  // namespace azmi

#endif  // AZMI_WORKERS_H_
