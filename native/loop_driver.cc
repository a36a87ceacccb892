#include "loop_driver.h"

#include <uv.h>

#include <utility>

#include "exchange.h"
#include "js_facts.h"
#include "probe.h"

namespace azmi {

namespace {

// After this many error wake-ups in a row that made no progress, stop
// asking the kernel and fail (a defence against a busy loop; never seen).
constexpr int kMaxErrorWakeups = 16;

// How each machine's result reaches JavaScript.
void Settle(napi_env env, napi_deferred deferred, ExchangeMachine& machine) {
  SettleWithOutcome(env, deferred, machine.outcome());
}

void Settle(napi_env env, napi_deferred deferred, ProbeMachine& machine) {
  SettleWithProbe(env, deferred, machine.result());
}

// Lifetime: created by StartLoopExchange / StartLoopProbe, owns its handles,
// and deletes itself once both are closed, whichever of these comes first:
//  - Finish(): the machine is done; settle the promise, close the handles.
//  - OnEnvCleanup(): the environment (process or worker thread) is being
//    torn down with the call in flight; close socket and handles, never
//    touch JavaScript again.
// Either way the env cleanup hook is removed in OnClosed, once both handles
// have closed: until then an environment torn down meanwhile (even right
// after Finish) waits for them (Node keeps running the loop until the hook
// reports back), so nothing is freed under libuv. Removing it there also
// keeps that call off the way to JavaScript: the close callbacks run after
// the settlement's callback scope has run the caller's continuation.
template <class Machine>
class LoopDriver {
 public:
  // `resource`: the async resource name async_hooks reports ("azmi:request").
  // `deferred`: the promise this settles, made by the caller (NewPromise).
  template <class... Args>
  LoopDriver(napi_env env, const char* resource, napi_deferred deferred, Args&&... machine_args)
      : env_(env), resource_(resource), deferred_(deferred), machine_(std::forward<Args>(machine_args)...) {}

  // Returns `promise`, or nullptr with an exception pending.
  napi_value Begin(napi_value promise) {
    typename Machine::Want want = machine_.Start();
    if (want == Machine::kWantNothing) {
      // Done within the call (bad argument, no route, refused loopback
      // connect, or a whole loopback exchange): no handles were made.
      machine_.CloseSocket();
      Settle();
      delete this;
      return promise;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env_, &loop) != napi_ok || uv_poll_init(loop, &poll_, machine_.fd()) != 0) {
      napi_env env = env_;  // this is gone after the delete
      machine_.CloseSocket();
      delete this;
      napi_throw_error(env, nullptr, "azmi: could not watch the socket");
      return nullptr;
    }
    poll_.data = this;
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    open_handles_ = 2;
    napi_add_async_cleanup_hook(env_, OnEnvCleanup, this, &cleanup_);
    // The resource object is optional; Node makes an empty one.
    napi_value name;
    napi_create_string_latin1(env_, resource_, NAPI_AUTO_LENGTH, &name);
    napi_async_init(env_, nullptr, name, &context_);
    Watch(want);
    // Watch() may already have finished the exchange (uv_poll_start failed)
    // and closed the handles: never start a timer on a closing handle.
    if (!closing_) ArmTimer();
    return promise;
  }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<LoopDriver*>(handle->data);
    // libuv reports POLLERR as a status (UV_EBADF) and stops the watcher.
    // The socket's own error comes from the next send/recv/SO_ERROR, exactly
    // as on the pool path, so step the machine either way.
    if (status < 0 && ++self->error_wakeups_ > kMaxErrorWakeups) {
      self->Step(self->machine_.OnWaitError(-status));
      return;
    }
    if (status == 0) self->error_wakeups_ = 0;
    self->Step(self->machine_.OnReady());
  }

  static void OnTimer(uv_timer_t* handle) {
    auto* self = static_cast<LoopDriver*>(handle->data);
    // uv timers count whole ms from the loop's cached time: they may fire a
    // hair before the monotonic deadline. Only the deadline decides.
    if (!self->machine_.deadline().Expired()) {
      self->ArmTimer();
      return;
    }
    self->Step(self->machine_.OnTimeout());
  }

  static void OnClosed(uv_handle_t* handle) {
    auto* self = static_cast<LoopDriver*>(handle->data);
    if (--self->open_handles_ > 0) return;
    napi_remove_async_cleanup_hook(self->cleanup_);
    delete self;
  }

  static void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
    auto* self = static_cast<LoopDriver*>(arg);
    self->cleanup_ = handle;  // the one to hand back when the handles closed
    self->CloseHandles();
  }

  // No uv_update_time first: the loop's cached time is never ahead of the
  // clock, so a stale one only makes the timer fire early, and OnTimer then
  // re-arms from the deadline. (One function fewer for a fresh process to
  // look up in Node's symbol tables on its first token: addon.cc says why
  // that counts.)
  void ArmTimer() {
    uv_timer_start(&timer_, OnTimer, static_cast<uint64_t>(machine_.deadline().RemainingMs()), 0);
  }

  void Watch(typename Machine::Want want) {
    int events = want == Machine::kWantRead ? UV_READABLE : UV_WRITABLE;
    int rc = uv_poll_start(&poll_, events, OnPoll);
    if (rc != 0) Step(machine_.OnWaitError(-rc));
  }

  void Step(typename Machine::Want want) {
    if (want == Machine::kWantNothing) Finish();
    else Watch(want);
  }

  // Stop watching before the fd closes (libuv must never poll a closed or
  // reused fd), then close the socket before settling so a caller that
  // counts fds after the promise sees it gone, as on the pool path.
  void CloseHandles() {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
    machine_.CloseSocket();
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClosed);
  }

  void Finish() {
    if (closing_) return;
    CloseHandles();
    Napi::HandleScope scope(Napi::Env{env_});
    // Settle inside a callback scope, in this request's async context, so
    // the settlement and what it queues (promise reactions, process.nextTick
    // callbacks) run there: napi_make_callback opens one around a native
    // function that settles. (open/close_callback_scope would do it too, but
    // cost a fresh process two page faults in Node's symbol tables where
    // make_callback, and create_function, bound at load, cost none: README,
    // session 18.)
    napi_value settle = nullptr, ignored = nullptr;
    if (napi_create_function(env_, "", 0, SettleInScope, this, &settle) == napi_ok &&
        napi_make_callback(env_, context_, settle, settle, 0, nullptr, &ignored) == napi_pending_exception) {
      // A continuation or nextTick callback threw. Node-API caught it; it
      // is an uncaught exception, as from a callback scope, not something
      // to leave pending for the next call into the addon to throw. (Node
      // then reports it without its source line, which it cannot recover.)
      napi_value error = nullptr;
      if (napi_get_and_clear_last_exception(env_, &error) == napi_ok) napi_fatal_exception(env_, error);
    }
    if (!settled_) Settle();  // no JavaScript could run (an environment being torn down)
    napi_async_destroy(env_, context_);
    context_ = nullptr;
  }

  static napi_value SettleInScope(napi_env env, napi_callback_info info) {
    void* self = nullptr;
    if (napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &self) == napi_ok) static_cast<LoopDriver*>(self)->Settle();
    return nullptr;
  }

  void Settle() {
    if (settled_) return;
    settled_ = true;
    Napi::HandleScope scope(Napi::Env{env_});
    azmi::Settle(env_, deferred_, machine_);
  }

  napi_env env_;
  const char* resource_;
  napi_deferred deferred_;
  bool settled_ = false;
  Machine machine_;
  uv_poll_t poll_;
  uv_timer_t timer_;
  int open_handles_ = 0;
  int error_wakeups_ = 0;
  bool closing_ = false;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  napi_async_context context_ = nullptr;
};

}  // namespace

napi_value StartLoopExchange(napi_env env, napi_deferred deferred, napi_value promise, HttpRequest request) {
  auto* driver = new LoopDriver<ExchangeMachine>(env, "azmi:request", deferred, std::move(request));
  return driver->Begin(promise);
}

napi_value StartLoopProbe(napi_env env, napi_deferred deferred, napi_value promise, std::string ip, int port,
                          int timeout_ms, int64_t start_ns) {
  auto* driver = new LoopDriver<ProbeMachine>(env, "azmi:probe", deferred, std::move(ip), port, timeout_ms, start_ns);
  return driver->Begin(promise);
}

}  // namespace azmi
