// One absolute deadline per job, on CLOCK_MONOTONIC so wall-clock jumps
// cannot stretch or shrink it. Every blocking step asks for the time left.
#ifndef AZMI_DEADLINE_H_
#define AZMI_DEADLINE_H_

#include <stdint.h>
#include <time.h>

namespace azmi {

inline int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

class Deadline {
 public:
  // start_ns: when the caller asked (0 = now). A job that waited in the
  // thread-pool queue has already spent part of its time.
  explicit Deadline(int64_t timeout_ms, int64_t start_ns = 0)
      : start_ns_(start_ns > 0 ? start_ns : MonotonicNs()),
        end_ns_(start_ns_ + timeout_ms * 1000000LL),
        timeout_ms_(timeout_ms) {}

  // Milliseconds left, rounded up so poll() never wakes a hair early and
  // spins; 0 once the deadline has passed.
  int RemainingMs() const {
    int64_t left = end_ns_ - MonotonicNs();
    if (left <= 0) return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
  }

  bool Expired() const { return MonotonicNs() >= end_ns_; }
  double ElapsedMs() const { return static_cast<double>(MonotonicNs() - start_ns_) / 1e6; }
  int64_t TimeoutMs() const { return timeout_ms_; }

 private:
  int64_t start_ns_;
  int64_t end_ns_;
  int64_t timeout_ms_;
};

}  // namespace azmi

#endif  // AZMI_DEADLINE_H_
