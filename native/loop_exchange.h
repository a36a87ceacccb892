// The default request driver: one HTTP exchange stepped by the libuv event
// loop of the calling thread instead of a pool thread. The ExchangeMachine
// (exchange.h) does all socket work with non-blocking calls, so the loop is
// never blocked; a uv_poll_t on its fd wakes it when the socket is ready and
// one uv_timer_t enforces the one absolute deadline. Compared with the pool
// driver (workers.h) this saves the main → pool → main thread hop and its
// extra wake-ups, and a libuv pool saturated by dns.lookup, fs, zlib or
// crypto jobs can no longer delay an identity call.
#ifndef AZMI_LOOP_EXCHANGE_H_
#define AZMI_LOOP_EXCHANGE_H_

#include <napi.h>

#include "http1.h"

namespace azmi {

// Starts the exchange and returns its promise, which resolves with the same
// facts as the pool driver (js_facts.h). Call on a JavaScript thread.
Napi::Value StartLoopExchange(Napi::Env env, HttpRequest request);

}  // namespace azmi

#endif  // AZMI_LOOP_EXCHANGE_H_
