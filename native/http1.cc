#include "http1.h"

#include <string.h>

#include "decimal.h"
#include "errors.h"

namespace azmi {

namespace {

// A chunk-size line with extensions has no business being longer than this.
constexpr size_t kMaxChunkLine = 4096;

bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

// Field values and reason phrases: visible ASCII, SP, HTAB and obs-text.
bool IsFieldChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool EqualsLower(const std::string& a, const char* b) {
  size_t n = strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i)
    if (Lower(a[i]) != b[i]) return false;
  return true;
}

std::string Trim(const std::string& s, size_t from, size_t to) {
  while (from < to && (s[from] == ' ' || s[from] == '\t')) ++from;
  while (to > from && (s[to - 1] == ' ' || s[to - 1] == '\t')) --to;
  return s.substr(from, to - from);
}

}  // namespace

ResponseParser::ResponseParser(size_t max_header_bytes, size_t max_body_bytes, bool head_request)
    : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes), head_request_(head_request) {}

bool ResponseParser::InHead() const { return state_ == kStateStatus || state_ == kStateHeader; }

ResponseParser::Result ResponseParser::Fail(const char* code, const char* detail) {
  error_phase_ = InHead() ? phase::kHeaders : phase::kBody;
  error_code_ = code;
  error_detail_ = detail;
  state_ = kStateError;
  return kError;
}

size_t ResponseParser::TakeLine(const char* data, size_t len, bool* complete, bool counts_as_head) {
  const char* lf = static_cast<const char*>(memchr(data, '\n', len));
  size_t used = lf ? static_cast<size_t>(lf - data) + 1 : len;
  if (counts_as_head) head_bytes_ += used;
  line_.append(data, used);
  *complete = lf != nullptr;
  return used;
}

bool ResponseParser::ParseStatusLine() {
  // HTTP/1.x SP 3DIGIT [SP reason]
  const std::string& l = line_;
  if (l.size() < 12 || l.compare(0, 7, "HTTP/1.") != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ') {
    Fail(code::kHttpParse, "status line is not HTTP/1.x");
    return false;
  }
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (l[i] < '0' || l[i] > '9') {
      Fail(code::kHttpParse, "invalid status code");
      return false;
    }
    status = status * 10 + (l[i] - '0');
  }
  if (status < 100 || status > 599) {
    Fail(code::kHttpParse, "invalid status code");
    return false;
  }
  if (l.size() > 12 && l[12] != ' ') {
    Fail(code::kHttpParse, "invalid status code");
    return false;
  }
  for (size_t i = 13; i < l.size(); ++i) {
    if (!IsFieldChar(static_cast<unsigned char>(l[i]))) {
      Fail(code::kHttpParse, "invalid character in status line");
      return false;
    }
  }
  status_ = status;
  status_text_ = l.size() > 13 ? l.substr(13) : std::string();
  return true;
}

bool ResponseParser::ParseHeaderLine(bool trailer) {
  const std::string& l = line_;
  size_t colon = l.find(':');
  if (colon == std::string::npos || colon == 0) {
    Fail(code::kHttpParse, "invalid header line");
    return false;
  }
  for (size_t i = 0; i < colon; ++i) {
    // Also rejects obs-fold (a line starting with SP/HTAB) and "name :".
    if (!IsTokenChar(static_cast<unsigned char>(l[i]))) {
      Fail(code::kHttpParse, "invalid header line");
      return false;
    }
  }
  for (size_t i = colon + 1; i < l.size(); ++i) {
    if (!IsFieldChar(static_cast<unsigned char>(l[i]))) {
      Fail(code::kHttpParse, "invalid character in header value");
      return false;
    }
  }
  if (trailer) return true;  // trailers are checked, then dropped
  std::string name(l, 0, colon);
  for (char& c : name) c = Lower(c);
  headers_.emplace_back(std::move(name), Trim(l, colon + 1, l.size()));
  return true;
}

bool ResponseParser::StartBody() {
  if (status_ >= 100 && status_ < 200) {
    if (status_ == 101) {
      Fail(code::kHttpParse, "unexpected 101 Switching Protocols");
      return false;
    }
    // Interim response (e.g. 100 Continue): forget it, read the real one.
    headers_.clear();
    status_text_.clear();
    status_ = 0;
    state_ = kStateStatus;
    return true;
  }
  const std::string* te = nullptr;
  std::string te_joined;
  bool has_cl = false;
  bool cl_set = false;
  uint64_t cl = 0;
  for (const auto& h : headers_) {
    if (h.first == "transfer-encoding") {
      if (!te_joined.empty()) te_joined += ",";
      te_joined += h.second;
      te = &te_joined;
    } else if (h.first == "content-length") {
      has_cl = true;
      // "5", or identical repeats such as "5, 5" or two headers of 5.
      const std::string& v = h.second;
      size_t i = 0;
      while (i <= v.size()) {
        size_t comma = v.find(',', i);
        if (comma == std::string::npos) comma = v.size();
        std::string part = Trim(v, i, comma);
        if (part.empty() || part.size() > 15) {
          Fail(code::kHttpParse, "invalid Content-Length");
          return false;
        }
        uint64_t n = 0;
        for (char c : part) {
          if (c < '0' || c > '9') {
            Fail(code::kHttpParse, "invalid Content-Length");
            return false;
          }
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (cl_set && n != cl) {
          Fail(code::kHttpParse, "invalid Content-Length");
          return false;
        }
        cl = n;
        cl_set = true;
        i = comma + 1;
      }
    }
  }
  if (head_request_ || status_ == 204 || status_ == 304) {
    state_ = kStateDone;
    return true;
  }
  if (te != nullptr) {
    if (has_cl) {
      Fail(code::kHttpParse, "both Transfer-Encoding and Content-Length");
      return false;
    }
    // The last coding decides: chunked framing, or (for anything else) the
    // body runs to connection close. "chunked" anywhere else is an error.
    size_t last_comma = te->rfind(',');
    std::string last = Trim(*te, last_comma == std::string::npos ? 0 : last_comma + 1, te->size());
    size_t i = 0;
    while (i < te->size()) {
      size_t comma = te->find(',', i);
      if (comma == std::string::npos) comma = te->size();
      std::string part = Trim(*te, i, comma);
      if (part.empty() || (EqualsLower(part, "chunked") && comma != te->size())) {
        Fail(code::kHttpParse, "invalid Transfer-Encoding");
        return false;
      }
      i = comma + 1;
    }
    state_ = EqualsLower(last, "chunked") ? kStateChunkSize : kStateBodyClose;
    line_.clear();
    return true;
  }
  if (has_cl) {
    if (cl > max_body_bytes_) {
      state_ = kStateBodyLength;  // so the phase reads "body"
      Fail(code::kBodyTooLarge, "response body too large");
      return false;
    }
    remaining_ = cl;
    // Reserve for typical token bodies only: a header alone must not make
    // us allocate up to the cap before a byte of body arrived.
    body_.reserve(static_cast<size_t>(cl < 65536 ? cl : 65536));
    state_ = cl == 0 ? kStateDone : kStateBodyLength;
    return true;
  }
  state_ = kStateBodyClose;
  return true;
}

bool ResponseParser::ParseChunkSize() {
  const std::string& l = line_;
  size_t i = 0;
  uint64_t size = 0;
  while (i < l.size()) {
    char c = Lower(l[i]);
    int digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else break;
    if (i >= 15) {
      Fail(code::kHttpParse, "invalid chunk size");
      return false;
    }
    size = size * 16 + static_cast<uint64_t>(digit);
    ++i;
  }
  if (i == 0) {
    Fail(code::kHttpParse, "invalid chunk size");
    return false;
  }
  size_t j = i;
  while (j < l.size() && (l[j] == ' ' || l[j] == '\t')) ++j;
  if (j < l.size()) {
    if (l[j] != ';') {
      Fail(code::kHttpParse, "invalid chunk size");
      return false;
    }
    for (size_t k = j; k < l.size(); ++k) {
      if (!IsFieldChar(static_cast<unsigned char>(l[k]))) {
        Fail(code::kHttpParse, "invalid chunk extension");
        return false;
      }
    }
  }
  if (size > max_body_bytes_ - body_.size()) {
    Fail(code::kBodyTooLarge, "response body too large");
    return false;
  }
  remaining_ = size;
  state_ = size == 0 ? kStateTrailer : kStateChunkData;
  chunk_end_seen_ = 0;
  return true;
}

ResponseParser::Result ResponseParser::Feed(const char* data, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    switch (state_) {
      case kStateDone:
        return kDone;
      case kStateError:
        return kError;
      case kStateStatus:
      case kStateHeader:
      case kStateTrailer:
      case kStateChunkSize: {
        bool head = state_ != kStateChunkSize;
        bool complete = false;
        pos += TakeLine(data + pos, len - pos, &complete, head);
        if (head && head_bytes_ > max_header_bytes_) {
          return Fail(code::kHeadersTooLarge, "response headers too large");
        }
        if (!head && line_.size() > kMaxChunkLine) return Fail(code::kHttpParse, "chunk header too long");
        if (!complete) return kNeedMore;
        // line_ ends with LF; require CRLF and no other CR.
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
          return Fail(code::kHttpParse, "line does not end with CRLF");
        }
        line_.resize(line_.size() - 2);
        if (line_.find('\r') != std::string::npos) return Fail(code::kHttpParse, "line does not end with CRLF");
        bool ok = true;
        if (state_ == kStateStatus) {
          ok = ParseStatusLine();
          if (ok) state_ = kStateHeader;
        } else if (state_ == kStateHeader) {
          ok = line_.empty() ? StartBody() : ParseHeaderLine(false);
        } else if (state_ == kStateTrailer) {
          if (line_.empty()) state_ = kStateDone;
          else ok = ParseHeaderLine(true);
        } else {
          ok = ParseChunkSize();
        }
        line_.clear();
        if (!ok) return kError;
        break;
      }
      case kStateBodyLength:
      case kStateChunkData: {
        size_t take = len - pos;
        if (take > remaining_) take = static_cast<size_t>(remaining_);
        body_.append(data + pos, take);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = state_ == kStateBodyLength ? kStateDone : kStateChunkDataEnd;
        break;
      }
      case kStateChunkDataEnd: {
        char want = chunk_end_seen_ == 0 ? '\r' : '\n';
        if (data[pos] != want) return Fail(code::kHttpParse, "chunk data not followed by CRLF");
        ++pos;
        if (++chunk_end_seen_ == 2) state_ = kStateChunkSize;
        break;
      }
      case kStateBodyClose: {
        size_t take = len - pos;
        if (take > max_body_bytes_ - body_.size()) return Fail(code::kBodyTooLarge, "response body too large");
        body_.append(data + pos, take);
        pos += take;
        break;
      }
    }
  }
  if (state_ == kStateDone) return kDone;
  if (state_ == kStateError) return kError;
  return kNeedMore;
}

ResponseParser::Result ResponseParser::Finish() {
  switch (state_) {
    case kStateDone:
      return kDone;
    case kStateError:
      return kError;
    case kStateBodyClose:
      state_ = kStateDone;
      return kDone;
    case kStateStatus:
    case kStateHeader:
      return Fail(code::kReset, "connection closed before the response headers were complete");
    default:
      return Fail(code::kReset, "connection closed before the response body was complete");
  }
}

bool BuildRequest(const HttpRequest& r, std::string* out, const char** detail) {
  if (r.method.empty() || r.method.size() > 32) {
    *detail = "invalid method";
    return false;
  }
  for (char c : r.method)
    if (!IsTokenChar(static_cast<unsigned char>(c))) {
      *detail = "invalid method";
      return false;
    }
  if (r.path.empty() || (r.path[0] != '/' && r.path != "*")) {
    *detail = "invalid path";
    return false;
  }
  for (char c : r.path)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      *detail = "invalid path";
      return false;
    }
  bool has_host = false, has_length = false, has_connection = false;
  for (const auto& h : r.headers) {
    if (h.first.empty()) {
      *detail = "invalid header name";
      return false;
    }
    for (char c : h.first)
      if (!IsTokenChar(static_cast<unsigned char>(c))) {
        *detail = "invalid header name";
        return false;
      }
    for (char c : h.second)
      if (!IsFieldChar(static_cast<unsigned char>(c))) {
        *detail = "invalid header value";
        return false;
      }
    if (EqualsLower(h.first, "host")) has_host = true;
    else if (EqualsLower(h.first, "content-length")) has_length = true;
    else if (EqualsLower(h.first, "connection")) has_connection = true;
    else if (EqualsLower(h.first, "transfer-encoding")) {
      *detail = "Transfer-Encoding is not supported; send a Buffer body";
      return false;
    }
  }
  out->clear();
  out->reserve(128 + r.path.size() + r.body.size());
  out->append(r.method).append(" ").append(r.path).append(" HTTP/1.1\r\n");
  if (!has_host) {
    bool v6 = r.ip.find(':') != std::string::npos;
    out->append("Host: ");
    if (v6) out->append("[");
    out->append(r.ip);
    if (v6) out->append("]");
    if (r.port != 80) {
      out->append(":");
      AppendDecimal(out, r.port);
    }
    out->append("\r\n");
  }
  for (const auto& h : r.headers) out->append(h.first).append(": ").append(h.second).append("\r\n");
  if (!has_length && (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH")) {
    out->append("Content-Length: ");
    AppendDecimal(out, static_cast<int64_t>(r.body.size()));
    out->append("\r\n");
  }
  if (!has_connection) out->append("Connection: close\r\n");
  out->append("\r\n");
  out->append(r.body);
  return true;
}

}  // namespace azmi
