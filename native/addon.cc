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
#include "loop_driver.h"
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

// Reads probe()'s arguments; false with a JavaScript exception pending.
bool ReadProbeArgs(const Napi::CallbackInfo& info, std::string* ip, int* port, int* timeout_ms) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString()) return ThrowType(env, "probe: ip must be a string"), false;
  if (!info[1].IsNumber()) return ThrowType(env, "probe: port must be a number"), false;
  if (!info[2].IsNumber()) return ThrowType(env, "probe: timeoutMs must be a number"), false;
  if (!IsIntegerIn(info[1], 1, 65535)) return ThrowRange(env, "probe: port must be an integer from 1 to 65535"), false;
  if (!IsIntegerIn(info[2], 1, kMaxTimeoutMs)) {
    return ThrowRange(env, "probe: timeoutMs must be an integer from 1 to 2147483647"), false;
  }
  *ip = info[0].As<Napi::String>().Utf8Value();
  if (env.IsExceptionPending()) return false;
  *port = info[1].As<Napi::Number>().Int32Value();
  *timeout_ms = info[2].As<Napi::Number>().Int32Value();
  return true;
}

// probe(ip: string, port: number, timeoutMs: number): Promise<{outcome, elapsedMs, errno?}>
// Driven by this thread's event loop (loop_driver.h), the default.
Napi::Value ProbeExport(const Napi::CallbackInfo& info) {
  // The deadline starts now, on the caller's thread.
  const int64_t start_ns = MonotonicNs();
  std::string ip;
  int port = 0, timeout_ms = 0;
  if (!ReadProbeArgs(info, &ip, &port, &timeout_ms)) return info.Env().Undefined();
  return StartLoopProbe(info.Env(), std::move(ip), port, timeout_ms, start_ns);
}

// probePool(ip, port, timeoutMs): the same connect, blocking on a libuv pool
// thread (workers.h). Selected with AZMI_NATIVE_DRIVER=pool, as requestPool().
Napi::Value ProbePoolExport(const Napi::CallbackInfo& info) {
  // The deadline starts now, on the caller's thread, not when a pool thread
  // picks the job up.
  const int64_t start_ns = MonotonicNs();
  std::string ip;
  int port = 0, timeout_ms = 0;
  if (!ReadProbeArgs(info, &ip, &port, &timeout_ms)) return info.Env().Undefined();
  auto* worker = new ProbeWorker(info.Env(), std::move(ip), port, timeout_ms, start_ns);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// The request path reads its options in raw Node-API, with as few distinct
// functions as it can: each function an addon imports is bound on its first
// call, through a lookup in Node's own symbol tables (about 10 us of a fresh
// process's first token where page faults are slow; js_facts.cc says more).
// node-addon-api's accessors add a typeof and an exception check to each read.

// 1 = read, 0 = not a string, -1 = a JavaScript exception is pending.
int ReadString(napi_env env, napi_value value, std::string* out) {
  size_t length = 0;
  napi_status st = napi_get_value_string_utf8(env, value, nullptr, 0, &length);
  if (st == napi_string_expected) return 0;
  if (st != napi_ok) return -1;
  out->resize(length);
  // length + 1: room for the NUL Node-API writes (std::string keeps that slot).
  size_t copied = 0;
  if (napi_get_value_string_utf8(env, value, out->data(), length + 1, &copied) != napi_ok) return -1;
  out->resize(copied);
  return 1;
}

// 1 = read, 0 = not a string, -1 = an exception is pending (a getter threw:
// napi_get_named_property then says napi_generic_failure, not
// napi_pending_exception, so any failure counts).
int GetString(napi_env env, napi_value object, const char* key, std::string* out) {
  napi_value value;
  if (napi_get_named_property(env, object, key, &value) != napi_ok) return -1;
  return ReadString(env, value, out);
}

// 1 = an integer in [lo, hi], 0 = anything else, -1 = an exception is pending.
int GetInteger(napi_env env, napi_value object, const char* key, double lo, double hi, double* out) {
  napi_value value;
  if (napi_get_named_property(env, object, key, &value) != napi_ok) return -1;
  double d = 0;
  if (napi_get_value_double(env, value, &d) != napi_ok) return 0;  // napi_number_expected
  if (!std::isfinite(d) || std::floor(d) != d || d < lo || d > hi) return 0;
  *out = d;
  return 1;
}

napi_valuetype TypeOf(napi_env env, napi_value value) {
  napi_valuetype type = napi_undefined;
  napi_typeof(env, value, &type);
  return type;
}

bool FailType(napi_env env, const char* message) {
  ThrowType(Napi::Env(env), message);
  return false;
}

bool FailRange(napi_env env, const char* message) {
  ThrowRange(Napi::Env(env), message);
  return false;
}

// Reads the request options into r; false with a JavaScript exception
// pending when an option is wrong (or a getter threw).
bool ReadRequestOptions(napi_env env, napi_value options, HttpRequest& r) {
  napi_valuetype type = TypeOf(env, options);
  if (type != napi_object && type != napi_function) return FailType(env, "request: options must be an object");
  int got = GetString(env, options, "ip", &r.ip);
  if (got <= 0) return got < 0 ? false : FailType(env, "request: ip must be a string");
  got = GetString(env, options, "method", &r.method);
  if (got <= 0) return got < 0 ? false : FailType(env, "request: method must be a string");
  got = GetString(env, options, "path", &r.path);
  if (got <= 0) return got < 0 ? false : FailType(env, "request: path must be a string");
  double n = 0;
  got = GetInteger(env, options, "port", 1, 65535, &n);
  if (got <= 0) return got < 0 ? false : FailRange(env, "request: port must be an integer from 1 to 65535");
  r.port = static_cast<int>(n);
  got = GetInteger(env, options, "timeoutMs", 1, kMaxTimeoutMs, &n);
  if (got <= 0) return got < 0 ? false : FailRange(env, "request: timeoutMs must be an integer from 1 to 2147483647");
  r.timeout_ms = static_cast<int>(n);
  got = GetInteger(env, options, "maxHeaderBytes", 1, 1 << 30, &n);
  if (got <= 0) return got < 0 ? false : FailRange(env, "request: maxHeaderBytes must be an integer from 1 to 2^30");
  r.max_header_bytes = static_cast<size_t>(n);
  got = GetInteger(env, options, "maxBodyBytes", 0, 1 << 30, &n);
  if (got <= 0) return got < 0 ? false : FailRange(env, "request: maxBodyBytes must be an integer from 0 to 2^30");
  r.max_body_bytes = static_cast<size_t>(n);

  napi_value headers;
  if (napi_get_named_property(env, options, "headers", &headers) != napi_ok) return false;
  if (TypeOf(env, headers) != napi_undefined) {
    uint32_t count = 0;
    // napi_array_expected for anything but an array.
    if (napi_get_array_length(env, headers, &count) != napi_ok || count % 2 != 0) {
      return FailType(env, "request: headers must be a flat array of strings");
    }
    for (uint32_t i = 0; i < count; i += 2) {
      napi_value name, value;
      if (napi_get_element(env, headers, i, &name) != napi_ok || napi_get_element(env, headers, i + 1, &value) != napi_ok) {
        return false;  // an element's getter threw
      }
      std::string k, v;
      got = ReadString(env, name, &k);
      if (got > 0) got = ReadString(env, value, &v);
      if (got <= 0) return got < 0 ? false : FailType(env, "request: headers must be a flat array of strings");
      r.headers.emplace_back(std::move(k), std::move(v));
    }
  }

  napi_value body;
  if (napi_get_named_property(env, options, "body", &body) != napi_ok) return false;
  type = TypeOf(env, body);
  if (type != napi_undefined && type != napi_null) {
    void* data = nullptr;
    size_t length = 0;
    bool is_buffer = false;
    // is_buffer first (any ArrayBufferView): before Node 20.12 get_buffer_info
    // aborted the process on anything else (nodejs/node#51570). Only a
    // request with a body pays for binding it.
    if (napi_is_buffer(env, body, &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, body, &data, &length) != napi_ok) {
      return FailType(env, "request: body must be a Buffer");
    }
    r.body.assign(static_cast<const char*>(data), length);
  }
  return true;
}

// False when a JavaScript exception is pending.
bool ReadRequest(napi_env env, napi_callback_info info, HttpRequest& r) {
  // The deadline starts now, on the caller's thread (not when a pool thread
  // is free, for the pool driver).
  r.start_ns = MonotonicNs();
  size_t argc = 1;
  napi_value options = nullptr;
  if (napi_get_cb_info(env, info, &argc, &options, nullptr, nullptr) != napi_ok) return false;
  if (argc < 1) return FailType(env, "request: options must be an object");
  return ReadRequestOptions(env, options, r);
}

// request({ip, port, method, path, headers: string[] (flat name,value,...),
//          body?: Buffer, timeoutMs, maxHeaderBytes, maxBodyBytes})
//   : Promise<{ok: true, status, statusText, headers: {name: joined value}, body, elapsedMs}
//             | {ok: false, code, phase, detail, elapsedMs}>
// Driven by this thread's event loop (loop_driver.h), the default.
napi_value RequestExport(napi_env env, napi_callback_info info) {
  HttpRequest r;
  if (!ReadRequest(env, info, r)) return nullptr;
  return StartLoopExchange(Napi::Env(env), std::move(r));
}

// requestPool(options): the same exchange, blocking on a libuv pool thread
// (workers.h). Kept selectable (AZMI_NATIVE_DRIVER=pool) for comparison.
napi_value RequestPoolExport(napi_env env, napi_callback_info info) {
  HttpRequest r;
  if (!ReadRequest(env, info, r)) return nullptr;
  auto* worker = new RequestWorker(Napi::Env(env), std::move(r));
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

// A node-addon-api callback as a raw Node-API one.
template <Napi::Value (*Callback)(const Napi::CallbackInfo&)>
napi_value Raw(napi_env env, napi_callback_info info) {
  Napi::CallbackInfo args(env, info);
  return Callback(args);
}

}  // namespace

// Methods, not Napi::Function::New: one define_properties call binds no
// create_function, set_named_property or add_finalizer (js_facts.cc says why
// that matters), and raw callbacks need no heap-allocated callback data.
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // 4: probe() is loop-driven and probePool() exists (3: duplicateListener()
  // exists; 2: request() is loop-driven and requestPool() exists).
  napi_value abi;
  if (napi_create_double(env, 4, &abi) != napi_ok) return exports;
  constexpr napi_property_attributes kPlain =
      static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);
  const napi_property_descriptor props[] = {
      {"probe", nullptr, Raw<ProbeExport>, nullptr, nullptr, nullptr, kPlain, nullptr},
      {"probePool", nullptr, Raw<ProbePoolExport>, nullptr, nullptr, nullptr, kPlain, nullptr},
      {"request", nullptr, RequestExport, nullptr, nullptr, nullptr, kPlain, nullptr},
      {"requestPool", nullptr, RequestPoolExport, nullptr, nullptr, nullptr, kPlain, nullptr},
      {"duplicateListener", nullptr, Raw<DuplicateListenerExport>, nullptr, nullptr, nullptr, kPlain, nullptr},
      {"abiVersion", nullptr, nullptr, nullptr, nullptr, abi, kPlain, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace azmi

// The registration macro pastes the function name into an identifier, so it
// needs an unqualified name.
static Napi::Object InitAzmi(Napi::Env env, Napi::Object exports) { return azmi::Init(env, exports); }

NODE_API_MODULE(azmi, InitAzmi)
