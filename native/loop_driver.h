// The default drivers: one socket machine (an HTTP exchange, exchange.h, or
// a probe's connect, probe.h) stepped by the libuv event loop of the calling
// thread instead of a pool thread. The machine does all socket work with
// non-blocking calls, so the loop is never blocked; a uv_poll_t on its fd
// wakes it when the socket is ready and one uv_timer_t enforces the one
// absolute deadline. Compared with the pool drivers (workers.h) this saves
// the main → pool → main thread hop and its extra wake-ups (and, for a
// process's first probe, starting the libuv pool's threads: ~1.5 ms where
// thread creation is slow), and a libuv pool saturated by dns.lookup, fs,
// zlib or crypto jobs can no longer delay an identity call.
#ifndef AZMI_LOOP_DRIVER_H_
#define AZMI_LOOP_DRIVER_H_

#include <napi.h>
#include <stdint.h>

#include <string>

#include "http1.h"

namespace azmi {

// Starts the exchange that settles `deferred` (js_facts.h NewPromise) with
// the same facts as the pool driver (js_facts.h), and returns `promise`, or
// nullptr with an exception pending. Call on a JavaScript thread.
napi_value StartLoopExchange(napi_env env, napi_deferred deferred, napi_value promise, HttpRequest request);

// The same for the probe's connect (facts as ProbeWorker's).
napi_value StartLoopProbe(napi_env env, napi_deferred deferred, napi_value promise, std::string ip, int port,
                          int timeout_ms, int64_t start_ns);

}  // namespace azmi

#endif  // AZMI_LOOP_DRIVER_H_
