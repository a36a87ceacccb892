// The addon's one export and its argument checks; dispatch to a driver
// (event loop or pool). TypeScript validates every option with precise
// messages first (src/transport/http.ts, its checks section) and wraps this
// export as the NativeBinding object (bindNative); these checks exist so that
// no call from JavaScript can crash the process.
//
// One function, called as azmiAbi6(op, ...arguments), not an object of
// methods, and arguments by position, not an options object: a fresh process
// binds each Node-API function the addon first calls through a lookup in
// Node's own symbol tables, pages it has never touched (~15 us each where
// page faults are slow), and V8 builds each exported method at load. Loading
// this shape makes one function (create_function), and reading a request
// takes get_cb_info, get_value_double and get_value_string_utf8; the object
// of methods was five functions made through define_properties, and the
// options object also took typeof, get_named_property, get_array_length and
// get_element (README, session 17). The function's name carries the ABI
// version.
#include <napi.h>

#include <errno.h>

#include <cstdint>
#include <string>

#include "deadline.h"
#include "errors.h"
#include "http1.h"
#include "js_facts.h"
#include "listener.h"
#include "loop_driver.h"
#include "workers.h"

namespace azmi {

namespace {

// The export's name: http.ts loads nothing else (6: facts are arrays;
// 5: one dispatching export, arguments by position, facts without `ok`;
// 4: probe() was loop-driven; 3: duplicateListener(); 2: request()
// loop-driven).
constexpr char kExportName[] = "azmiAbi6";

// The operations, azmiAbi6's first argument (http.ts has the same numbers).
enum Op {
  kRequest = 1,             // (ip, port, method, path, timeoutMs, maxHeaderBytes, maxBodyBytes,
  kRequestPool = 2,         //  headerCount, ...name/value strings, body?: Buffer) → Promise<facts>
  kProbe = 3,               // (ip, port, timeoutMs) → Promise<facts> (js_facts.h)
  kProbePool = 4,           //
  kDuplicateListener = 5,   // (fd) → number
};

constexpr double kMaxTimeoutMs = 2147483647.0;
constexpr uint32_t kMaxHeaders = 64;
// op, seven request fields, the header count, the headers, a body.
constexpr size_t kMaxArgs = 1 + 7 + 1 + 2 * kMaxHeaders + 1;

// An integer in [lo, hi] (both within int64_t). NaN and the infinities fail
// the range test; the cast then drops any fraction. No std::floor: it is a
// libm call, one more import to look up on a first token's path.
bool WholeIn(double d, double lo, double hi) {
  return d >= lo && d <= hi && static_cast<double>(static_cast<int64_t>(d)) == d;
}

// Raw throws: node-addon-api's error classes take napi_create_error's
// address, which the loader then resolves when the addon loads.
bool Fail(napi_env env, bool range, const char* message) {
  if (range) napi_throw_range_error(env, nullptr, message);
  else napi_throw_type_error(env, nullptr, message);
  return false;
}

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

// 1 = a number, 0 = not a number, -1 = a JavaScript exception is pending.
int ReadNumber(napi_env env, napi_value value, double* out) {
  napi_status st = napi_get_value_double(env, value, out);
  if (st == napi_number_expected) return 0;
  return st == napi_ok ? 1 : -1;
}

// An integer option in [lo, hi]; anything else (a string, a Number object,
// a fraction) is out of range, as it was when options came as an object.
bool ReadWhole(napi_env env, napi_value value, double lo, double hi, const char* message, double* out) {
  int got = ReadNumber(env, value, out);
  if (got < 0) return false;
  if (got == 0 || !WholeIn(*out, lo, hi)) return Fail(env, true, message);
  return true;
}

bool ReadText(napi_env env, napi_value value, const char* message, std::string* out) {
  int got = ReadString(env, value, out);
  return got > 0 || (got == 0 && Fail(env, false, message));
}

// request(...)'s arguments, after the op; false with a JavaScript exception pending.
bool ReadRequest(napi_env env, const napi_value* args, size_t count, HttpRequest& r) {
  if (count < 8) {
    return Fail(env, false, "request: expected ip, port, method, path, timeoutMs, maxHeaderBytes, maxBodyBytes, headerCount");
  }
  double n = 0;
  if (!ReadText(env, args[0], "request: ip must be a string", &r.ip)) return false;
  if (!ReadWhole(env, args[1], 1, 65535, "request: port must be an integer from 1 to 65535", &n)) return false;
  r.port = static_cast<int>(n);
  if (!ReadText(env, args[2], "request: method must be a string", &r.method)) return false;
  if (!ReadText(env, args[3], "request: path must be a string", &r.path)) return false;
  if (!ReadWhole(env, args[4], 1, kMaxTimeoutMs, "request: timeoutMs must be an integer from 1 to 2147483647", &n)) return false;
  r.timeout_ms = static_cast<int>(n);
  if (!ReadWhole(env, args[5], 1, 1 << 30, "request: maxHeaderBytes must be an integer from 1 to 2^30", &n)) return false;
  r.max_header_bytes = static_cast<size_t>(n);
  if (!ReadWhole(env, args[6], 0, 1 << 30, "request: maxBodyBytes must be an integer from 0 to 2^30", &n)) return false;
  r.max_body_bytes = static_cast<size_t>(n);
  if (!ReadWhole(env, args[7], 0, kMaxHeaders, "request: headerCount must be an integer from 0 to 64", &n)) return false;
  const size_t strings = 2 * static_cast<size_t>(n);
  if (count != 8 + strings && count != 9 + strings) {
    return Fail(env, false, "request: expected 2 × headerCount header strings, then at most a body");
  }
  r.headers.reserve(strings / 2);
  for (size_t i = 0; i < strings; i += 2) {
    std::string k, v;
    if (!ReadText(env, args[8 + i], "request: headers must be strings", &k) ||
        !ReadText(env, args[9 + i], "request: headers must be strings", &v)) {
      return false;
    }
    r.headers.emplace_back(std::move(k), std::move(v));
  }
  if (count == 9 + strings) {
    void* data = nullptr;
    size_t length = 0;
    bool is_buffer = false;
    // is_buffer first (any ArrayBufferView): before Node 20.12 get_buffer_info
    // aborted the process on anything else (nodejs/node#51570). Only a
    // request with a body pays for binding them.
    if (napi_is_buffer(env, args[8 + strings], &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, args[8 + strings], &data, &length) != napi_ok) {
      return Fail(env, false, "request: body must be a Buffer");
    }
    r.body.assign(static_cast<const char*>(data), length);
  }
  return true;
}

// probe(...)'s arguments, after the op; false with a JavaScript exception pending.
bool ReadProbe(napi_env env, const napi_value* args, size_t count, std::string* ip, int* port, int* timeout_ms) {
  if (count < 3) return Fail(env, false, "probe: expected ip, port, timeoutMs");
  if (!ReadText(env, args[0], "probe: ip must be a string", ip)) return false;
  double p = 0, t = 0;
  int got = ReadNumber(env, args[1], &p);
  if (got <= 0) return got == 0 && Fail(env, false, "probe: port must be a number");
  got = ReadNumber(env, args[2], &t);
  if (got <= 0) return got == 0 && Fail(env, false, "probe: timeoutMs must be a number");
  if (!WholeIn(p, 1, 65535)) return Fail(env, true, "probe: port must be an integer from 1 to 65535");
  if (!WholeIn(t, 1, kMaxTimeoutMs)) return Fail(env, true, "probe: timeoutMs must be an integer from 1 to 2147483647");
  *port = static_cast<int>(p);
  *timeout_ms = static_cast<int>(t);
  return true;
}

// A close-on-exec duplicate of a listening TCP socket (listener.h says
// why). Throws an Error whose `code` is the errno name when fd is not a
// listening stream socket.
napi_value DuplicateListenerOp(napi_env env, const napi_value* args, size_t count) {
  double fd = 0;
  int got = count < 1 ? 0 : ReadNumber(env, args[0], &fd);
  if (got < 0) return nullptr;
  if (got == 0 || !WholeIn(fd, 0, 2147483647.0)) {
    Fail(env, false, "duplicateListener: fd must be a non-negative integer");
    return nullptr;
  }
  int copy = DuplicateListener(static_cast<int>(fd));
  if (copy < 0) {
    const int err = -copy;
    const char* why = err == EINVAL ? "not a listening stream socket" : err == ENOTSOCK ? "not a socket" : err == EBADF ? "not an open descriptor" : ErrnoDetail(err);
    napi_throw_error(env, ErrnoName(err), (std::string("duplicateListener: ") + why).c_str());
    return nullptr;
  }
  napi_value out = nullptr;
  napi_create_double(env, copy, &out);
  return out;
}

napi_value Dispatch(napi_env env, napi_callback_info info) {
  // The deadline starts now, on the caller's thread (not when a pool thread
  // is free, for the pool drivers).
  const int64_t start_ns = MonotonicNs();
  napi_value args[kMaxArgs];
  size_t count = kMaxArgs;
  if (napi_get_cb_info(env, info, &count, args, nullptr, nullptr) != napi_ok) return nullptr;
  double op = 0;
  int got = count < 1 ? 0 : ReadNumber(env, args[0], &op);
  if (got < 0) return nullptr;
  if (got == 0 || !WholeIn(op, kRequest, kDuplicateListener)) {
    Fail(env, false, "azmi addon: the first argument must be an operation number from 1 to 5");
    return nullptr;
  }
  // napi_get_cb_info says how many arguments came, even past kMaxArgs;
  // only the first kMaxArgs were read.
  const size_t given = count - 1;
  const size_t read = (count < kMaxArgs ? count : kMaxArgs) - 1;
  switch (static_cast<Op>(static_cast<int>(op))) {
    case kRequest:
    case kRequestPool: {
      HttpRequest r;
      r.start_ns = start_ns;
      if (given > read) {
        Fail(env, false, "request: expected 2 × headerCount header strings, then at most a body");
        return nullptr;
      }
      if (!ReadRequest(env, args + 1, read, r)) return nullptr;
      napi_deferred deferred = nullptr;
      napi_value promise = nullptr;
      if (!NewPromise(env, &deferred, &promise)) return nullptr;
      if (op == kRequest) return StartLoopExchange(env, deferred, promise, std::move(r));
      (new RequestWorker(Napi::Env(env), deferred, std::move(r)))->Queue();
      return promise;
    }
    case kProbe:
    case kProbePool: {
      std::string ip;
      int port = 0, timeout_ms = 0;
      if (!ReadProbe(env, args + 1, read, &ip, &port, &timeout_ms)) return nullptr;
      napi_deferred deferred = nullptr;
      napi_value promise = nullptr;
      if (!NewPromise(env, &deferred, &promise)) return nullptr;
      if (op == kProbe) return StartLoopProbe(env, deferred, promise, std::move(ip), port, timeout_ms, start_ns);
      (new ProbeWorker(Napi::Env(env), deferred, std::move(ip), port, timeout_ms, start_ns))->Queue();
      return promise;
    }
    case kDuplicateListener:
      return DuplicateListenerOp(env, args + 1, read);
  }
  return nullptr;
}

}  // namespace

}  // namespace azmi

#if defined(__GNUC__) && !defined(__APPLE__)
// What a vtable slot of a pure virtual function points at; calling it is a
// bug. Defined here (hidden, like everything else of ours) rather than taken
// from the C++ runtime: an import named in data (a vtable) is looked up when
// the addon loads, and this one was found in Node's own symbol table, a
// first-token cost (README, session 18). napi_fatal_error is bound only if
// this ever runs.
extern "C" void __cxa_pure_virtual() {
  napi_fatal_error("azmi", NAPI_AUTO_LENGTH, "pure virtual method called", NAPI_AUTO_LENGTH);
}
#endif

// Raw registration, not NODE_API_MODULE: node-addon-api's wrapper would
// only pass the exports object through.
NAPI_MODULE_INIT() {
  napi_value fn = nullptr;
  if (napi_create_function(env, azmi::kExportName, NAPI_AUTO_LENGTH, azmi::Dispatch, nullptr, &fn) != napi_ok) return nullptr;
  return fn;
}
