// Decimal digits appended by hand. std::to_string would do, but its digit
// table is a unique symbol that the loader looks up, in Node's own symbol
// tables first, each time a process loads the addon (README, session 17).
#ifndef AZMI_DECIMAL_H_
#define AZMI_DECIMAL_H_

#include <stdint.h>

#include <string>

namespace azmi {

inline void AppendDecimal(std::string* out, int64_t value) {
  char digits[20];
  int n = 0;
  uint64_t v = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if (value < 0) out->push_back('-');
  while (n > 0) out->push_back(digits[--n]);
}

}  // namespace azmi

#endif  // AZMI_DECIMAL_H_
