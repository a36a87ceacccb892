// Transport failures cross to JavaScript as facts: a stable code, the phase
// it happened in and a fixed human detail (never bytes the peer sent, which
// could carry a token). TypeScript turns these into TransportError.
#ifndef AZMI_ERRORS_H_
#define AZMI_ERRORS_H_

namespace azmi {

// Stable codes shared with src/errors.ts (ErrorCode) and the node:net fallback.
namespace code {
constexpr const char* kTimeout = "ETIMEDOUT";
constexpr const char* kRefused = "ECONNREFUSED";
constexpr const char* kNetUnreach = "ENETUNREACH";
constexpr const char* kHostUnreach = "EHOSTUNREACH";
constexpr const char* kReset = "ECONNRESET";
constexpr const char* kHttpParse = "ERR_HTTP_PARSE";
constexpr const char* kHeadersTooLarge = "ERR_HEADERS_TOO_LARGE";
constexpr const char* kBodyTooLarge = "ERR_BODY_TOO_LARGE";
constexpr const char* kInvalidArgument = "ERR_INVALID_ARGUMENT";
}  // namespace code

namespace phase {
constexpr const char* kConnect = "connect";
constexpr const char* kWrite = "write";
constexpr const char* kHeaders = "headers";
constexpr const char* kBody = "body";
}  // namespace phase

// The errno name for codes we report as themselves; anything unexpected
// comes back as "E<number>"-free generic name via ErrnoName.
const char* ErrnoName(int err);

// What a socket-level errno means to a caller, as one of the stable codes:
// refused, unreachable (net/host), reset; everything else maps to its name.
const char* ErrnoCode(int err);

// A fixed, secret-free description of an errno (strerror-like but stable).
const char* ErrnoDetail(int err);

}  // namespace azmi

#endif  // AZMI_ERRORS_H_
