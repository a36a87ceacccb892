// Exports only: argument checks and dispatch to a driver (event loop or pool). TypeScript validates
// every option with precise messages first (src/transport/http.ts, its checks section); these
// checks exist so that no call from JavaScript can crash the process.
#include <napi.h>

#include <errno.h>

#include <cmath>
#include <string>

#include "deadline.h"
#include "errors.h"
#include "http1.h"
#include "listener.h"
#include "loop_exchange.h"
#include "workers.h"

namespace azmi {

namespace {

constexpr double kMaxTimeoutMs = 2147483647.0;

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowRange(Napi::Env env, const char* message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool IsIntegerIn(const Napi::Value& v, double lo, double hi) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  return std::isfinite(d) && std::floor(d) == d && d >= lo && d <= hi;
}

// probe(ip: string, port: number, timeoutMs: number): Promise<{outcome, elapsedMs, errno?}>
Napi::Value ProbeExport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // The deadline starts now, on the caller's thread, not when a pool thread
  // picks the job up.
  const int64_t start_ns = MonotonicNs();
  if (info.Length() < 3 || !info[0].IsString()) return ThrowType(env, "probe: ip must be a string");
  if (!info[1].IsNumber()) return ThrowType(env, "probe: port must be a number");
  if (!info[2].IsNumber()) return ThrowType(env, "probe: timeoutMs must be a number");
  if (!IsIntegerIn(info[1], 1, 65535)) return ThrowRange(env, "probe: port must be an integer from 1 to 65535");
  if (!IsIntegerIn(info[2], 1, kMaxTimeoutMs)) return ThrowRange(env, "probe: timeoutMs must be an integer from 1 to 2147483647");
  std::string ip = info[0].As<Napi::String>().Utf8Value();
  if (env.IsExceptionPending()) return env.Undefined();
  auto* worker = new ProbeWorker(env, std::move(ip), info[1].As<Napi::Number>().Int32Value(),
                                 info[2].As<Napi::Number>().Int32Value(), start_ns);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// A getter on the options object may throw; once an exception is pending no
// further Node-API call may throw another, so every read checks first.
#define AZMI_RETURN_IF_PENDING(env)                        \
  do {                                                     \
    if ((env).IsExceptionPending()) return (env).Undefined(); \
  } while (0)

// 1 = string read, 0 = not a string, -1 = an exception is pending.
int GetString(Napi::Env env, const Napi::Object& o, const char* key, std::string* out) {
  Napi::Value v = o.Get(key);
  if (env.IsExceptionPending()) return -1;
  if (!v.IsString()) return 0;
  *out = v.As<Napi::String>().Utf8Value();
  return env.IsExceptionPending() ? -1 : 1;
}

// Reads the request options into r; always returns undefined, and leaves a
// JavaScript exception pending when an option is wrong (or a getter threw).
Napi::Value ReadRequestOptions(const Napi::CallbackInfo& info, HttpRequest& r) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return ThrowType(env, "request: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  int got = GetString(env, o, "ip", &r.ip);
  if (got <= 0) return got < 0 ? env.Undefined() : ThrowType(env, "request: ip must be a string");
  got = GetString(env, o, "method", &r.method);
  if (got <= 0) return got < 0 ? env.Undefined() : ThrowType(env, "request: method must be a string");
  got = GetString(env, o, "path", &r.path);
  if (got <= 0) return got < 0 ? env.Undefined() : ThrowType(env, "request: path must be a string");
  Napi::Value port = o.Get("port");
  AZMI_RETURN_IF_PENDING(env);
  if (!IsIntegerIn(port, 1, 65535)) return ThrowRange(env, "request: port must be an integer from 1 to 65535");
  r.port = port.As<Napi::Number>().Int32Value();
  Napi::Value timeout = o.Get("timeoutMs");
  AZMI_RETURN_IF_PENDING(env);
  if (!IsIntegerIn(timeout, 1, kMaxTimeoutMs))
    return ThrowRange(env, "request: timeoutMs must be an integer from 1 to 2147483647");
  r.timeout_ms = timeout.As<Napi::Number>().Int32Value();
  Napi::Value mh = o.Get("maxHeaderBytes");
  AZMI_RETURN_IF_PENDING(env);
  if (!IsIntegerIn(mh, 1, 1 << 30)) return ThrowRange(env, "request: maxHeaderBytes must be an integer from 1 to 2^30");
  r.max_header_bytes = static_cast<size_t>(mh.As<Napi::Number>().Int64Value());
  Napi::Value mb = o.Get("maxBodyBytes");
  AZMI_RETURN_IF_PENDING(env);
  if (!IsIntegerIn(mb, 0, 1 << 30)) return ThrowRange(env, "request: maxBodyBytes must be an integer from 0 to 2^30");
  r.max_body_bytes = static_cast<size_t>(mb.As<Napi::Number>().Int64Value());

  Napi::Value headers = o.Get("headers");
  AZMI_RETURN_IF_PENDING(env);
  if (!headers.IsUndefined()) {
    if (!headers.IsArray()) return ThrowType(env, "request: headers must be a flat array of strings");
    Napi::Array list = headers.As<Napi::Array>();
    uint32_t n = list.Length();
    AZMI_RETURN_IF_PENDING(env);
    if (n % 2 != 0) return ThrowType(env, "request: headers must be a flat array of strings");
    for (uint32_t i = 0; i < n; i += 2) {
      Napi::Value k = list.Get(i);
      AZMI_RETURN_IF_PENDING(env);
      Napi::Value v = list.Get(i + 1);
      AZMI_RETURN_IF_PENDING(env);
      if (!k.IsString() || !v.IsString()) return ThrowType(env, "request: headers must be a flat array of strings");
      r.headers.emplace_back(k.As<Napi::String>().Utf8Value(), v.As<Napi::String>().Utf8Value());
      AZMI_RETURN_IF_PENDING(env);
    }
  }
  Napi::Value body = o.Get("body");
  AZMI_RETURN_IF_PENDING(env);
  if (body.IsBuffer()) {
    Napi::Buffer<char> b = body.As<Napi::Buffer<char>>();
    r.body.assign(b.Data(), b.Length());
  } else if (!body.IsUndefined() && !body.IsNull()) {
    return ThrowType(env, "request: body must be a Buffer");
  }
  return env.Undefined();
}

// False when a JavaScript exception is pending.
bool ReadRequest(const Napi::CallbackInfo& info, HttpRequest& r) {
  // The deadline starts now, on the caller's thread (not when a pool thread
  // is free, for the pool driver).
  r.start_ns = MonotonicNs();
  ReadRequestOptions(info, r);
  return !info.Env().IsExceptionPending();
}

// request({ip, port, method, path, headers: string[] (flat name,value,...),
//          body?: Buffer, timeoutMs, maxHeaderBytes, maxBodyBytes})
//   : Promise<{ok: true, status, statusText, headers: {name: joined value}, body, elapsedMs}
//             | {ok: false, code, phase, detail, elapsedMs}>
// Driven by this thread's event loop (loop_exchange.h), the default.
Napi::Value RequestExport(const Napi::CallbackInfo& info) {
  HttpRequest r;
  if (!ReadRequest(info, r)) return info.Env().Undefined();
  return StartLoopExchange(info.Env(), std::move(r));
}

// requestPool(options): the same exchange, blocking on a libuv pool thread
// (workers.h). Kept selectable (AZMI_NATIVE_DRIVER=pool) for comparison.
Napi::Value RequestPoolExport(const Napi::CallbackInfo& info) {
  HttpRequest r;
  if (!ReadRequest(info, r)) return info.Env().Undefined();
  auto* worker = new RequestWorker(info.Env(), std::move(r));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// duplicateListener(fd: number): number — a close-on-exec duplicate of a
// listening TCP socket (listener.h says why). Throws an Error whose `code` is
// the errno name when fd is not a listening stream socket.
Napi::Value DuplicateListenerExport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !IsIntegerIn(info[0], 0, 2147483647.0)) {
    return ThrowType(env, "duplicateListener: fd must be a non-negative integer");
  }
  int copy = DuplicateListener(info[0].As<Napi::Number>().Int32Value());
  if (copy < 0) {
    const int err = -copy;
    const char* why = err == EINVAL ? "not a listening stream socket" : err == ENOTSOCK ? "not a socket" : err == EBADF ? "not an open descriptor" : ErrnoDetail(err);
    Napi::Error error = Napi::Error::New(env, std::string("duplicateListener: ") + why);
    error.Set("code", Napi::String::New(env, ErrnoName(-copy)));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, copy);
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, ProbeExport, "probe"));
  exports.Set("request", Napi::Function::New(env, RequestExport, "request"));
  exports.Set("requestPool", Napi::Function::New(env, RequestPoolExport, "requestPool"));
  exports.Set("duplicateListener", Napi::Function::New(env, DuplicateListenerExport, "duplicateListener"));
  // 3: duplicateListener() exists (2: request() is loop-driven and requestPool() exists).
  exports.Set("abiVersion", Napi::Number::New(env, 3));
  return exports;
}

}  // namespace azmi

// The registration macro pastes the function name into an identifier, so it
// needs an unqualified name.
static Napi::Object InitAzmi(Napi::Env env, Napi::Object exports) { return azmi::Init(env, exports); }

NODE_API_MODULE(azmi, InitAzmi)
