// libFuzzer target for ResponseParser: the input is a raw response. Each
// input is parsed three ways (whole; in chunks whose sizes come from the
// input; with tiny caps) and the invariants checked: whole and chunked agree,
// a done body never exceeds its cap, errors always carry a code and phase.
//
//   CC=clang-14 CXX=clang++-14 cmake -S native/test -B native/test/build/fuzz -DAZMI_FUZZ=ON
//   cmake --build native/test/build/fuzz && native/test/build/fuzz/fuzz_response_parser native/test/corpus
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

namespace {

struct Seen {
  azmi::ResponseParser::Result result;
  int status;
  std::string body;
  std::string code;
};

Seen ParseInChunks(const uint8_t* data, size_t size, size_t max_head, size_t max_body, bool chunked) {
  azmi::ResponseParser p(max_head, max_body, false);
  azmi::ResponseParser::Result r = azmi::ResponseParser::kNeedMore;
  size_t pos = 0;
  size_t i = 0;
  while (pos < size && r == azmi::ResponseParser::kNeedMore) {
    size_t n = chunked ? 1 + (data[i++ % size] % 13) : size;
    if (n > size - pos) n = size - pos;
    r = p.Feed(reinterpret_cast<const char*>(data) + pos, n);
    pos += n;
  }
  if (r == azmi::ResponseParser::kNeedMore) r = p.Finish();
  if (r == azmi::ResponseParser::kError) {
    if (p.error_code()[0] == '\0' || p.error_phase()[0] == '\0' || p.error_detail()[0] == '\0') abort();
  }
  if (r == azmi::ResponseParser::kDone) {
    if (p.body().size() > max_body) abort();
    if (p.status() < 200 || p.status() > 599) abort();
  }
  return {r, p.status(), r == azmi::ResponseParser::kDone ? p.body() : std::string(), p.error_code()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Seen whole = ParseInChunks(data, size, 16384, 1 << 20, false);
  Seen split = ParseInChunks(data, size, 16384, 1 << 20, true);
  if (whole.result != split.result || whole.status != split.status || whole.body != split.body ||
      whole.code != split.code) {
    abort();  // the parser must not depend on how bytes were split
  }
  ParseInChunks(data, size, 64, 32, true);
  return 0;
}
