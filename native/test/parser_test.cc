// ResponseParser: exact outcomes, and the same outcome however the bytes are
// split (every split point, and byte by byte).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http1.h"

namespace azmi {
namespace {

struct Outcome {
  std::string result;  // "done", "error" or "more"
  int status = 0;
  std::string body;
  std::string code;
  std::string phase;
  std::string detail;
  HeaderList headers;
};

Outcome Parse(const std::vector<std::string>& parts, bool eof = true, size_t max_head = 16384, size_t max_body = 1 << 20,
            bool head = false) {
  ResponseParser p(max_head, max_body, head);
  ResponseParser::Result r = ResponseParser::kNeedMore;
  for (const auto& part : parts) {
    r = p.Feed(part.data(), part.size());
    if (r != ResponseParser::kNeedMore) break;
  }
  if (r == ResponseParser::kNeedMore && eof) r = p.Finish();
  Outcome o;
  o.result = r == ResponseParser::kDone ? "done" : r == ResponseParser::kError ? "error" : "more";
  o.status = p.status();
  o.body = p.body();
  o.code = p.error_code();
  o.phase = p.error_phase();
  o.detail = p.error_detail();
  o.headers = p.headers();
  return o;
}

Outcome Whole(const std::string& s, size_t max_head = 16384, size_t max_body = 1 << 20) {
  return Parse({s}, true, max_head, max_body);
}

void ExpectSplitInvariant(const std::string& s, size_t max_head = 16384, size_t max_body = 1 << 20) {
  Outcome whole = Whole(s, max_head, max_body);
  for (size_t i = 1; i < s.size(); ++i) {
    Outcome split = Parse({s.substr(0, i), s.substr(i)}, true, max_head, max_body);
    ASSERT_EQ(split.result, whole.result) << "split at " << i;
    ASSERT_EQ(split.status, whole.status) << "split at " << i;
    if (whole.result == "done") ASSERT_EQ(split.body, whole.body) << "split at " << i;
    ASSERT_EQ(split.code, whole.code) << "split at " << i;
    ASSERT_EQ(split.detail, whole.detail) << "split at " << i;
  }
  std::vector<std::string> bytes;
  for (char c : s) bytes.emplace_back(1, c);
  Outcome dribbled = Parse(bytes, true, max_head, max_body);
  EXPECT_EQ(dribbled.result, whole.result);
  if (whole.result == "done") EXPECT_EQ(dribbled.body, whole.body);
  EXPECT_EQ(dribbled.code, whole.code);
}

TEST(ResponseParser, ContentLength) {
  Outcome o = Whole("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(o.result, "done");
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.body, "{}");
  ASSERT_EQ(o.headers.size(), 2u);
  EXPECT_EQ(o.headers[0].first, "content-type");
  EXPECT_EQ(o.headers[0].second, "application/json");
}

TEST(ResponseParser, DoneBeforeEof) {
  Outcome o = Parse({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"}, false);
  EXPECT_EQ(o.result, "done");
}

TEST(ResponseParser, ChunkedWithExtensionsAndTrailers) {
  std::string s =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n5 ;x\r\npedia\r\n0\r\nT: 1\r\n\r\n";
  Outcome o = Whole(s);
  EXPECT_EQ(o.result, "done");
  EXPECT_EQ(o.body, "Wikipedia");
  ExpectSplitInvariant(s);
}

TEST(ResponseParser, CloseDelimited) {
  Outcome o = Whole("HTTP/1.0 200 OK\r\n\r\nuntil close");
  EXPECT_EQ(o.result, "done");
  EXPECT_EQ(o.body, "until close");
  EXPECT_EQ(Parse({"HTTP/1.0 200 OK\r\n\r\nabc"}, false).result, "more");
}

TEST(ResponseParser, InterimResponsesAreSkipped) {
  std::string s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  Outcome o = Whole(s);
  EXPECT_EQ(o.status, 201);
  EXPECT_EQ(o.body, "ok");
  ExpectSplitInvariant(s);
}

TEST(ResponseParser, NoBodyFor204304AndHead) {
  EXPECT_EQ(Parse({"HTTP/1.1 204 No Content\r\n\r\n"}, false).result, "done");
  EXPECT_EQ(Parse({"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"}, false).result, "done");
  EXPECT_EQ(Parse({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"}, false, 16384, 1 << 20, true).result, "done");
}

TEST(ResponseParser, DuplicateHeadersKeptInOrder) {
  Outcome o = Whole("HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a:2  \r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(o.headers.size(), 3u);
  EXPECT_EQ(o.headers[0], std::make_pair(std::string("x-a"), std::string("1")));
  EXPECT_EQ(o.headers[1], std::make_pair(std::string("x-a"), std::string("2")));
}

struct ErrorCase {
  const char* name;
  std::string input;
  const char* code;
  const char* phase;
  const char* detail;
  size_t max_head = 16384;
  size_t max_body = 1 << 20;
};

TEST(ResponseParser, Errors) {
  std::vector<ErrorCase> cases = {
      {"garbage", "SSH-2.0-OpenSSH\r\n", "ERR_HTTP_PARSE", "headers", "status line is not HTTP/1.x"},
      {"http2", "HTTP/2 200 OK\r\n\r\n", "ERR_HTTP_PARSE", "headers", "status line is not HTTP/1.x"},
      {"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", "ERR_HTTP_PARSE", "headers", "invalid status code"},
      {"status 600", "HTTP/1.1 600 X\r\n\r\n", "ERR_HTTP_PARSE", "headers", "invalid status code"},
      {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "ERR_HTTP_PARSE", "headers", "line does not end with CRLF"},
      {"CR inside", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "ERR_HTTP_PARSE", "headers", "line does not end with CRLF"},
      {"obs-fold", "HTTP/1.1 200 OK\r\nX: 1\r\n 2\r\n\r\n", "ERR_HTTP_PARSE", "headers", "invalid header line"},
      {"space before colon", "HTTP/1.1 200 OK\r\nX : 1\r\n\r\n", "ERR_HTTP_PARSE", "headers", "invalid header line"},
      {"no colon", "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", "ERR_HTTP_PARSE", "headers", "invalid header line"},
      {"NUL in value", std::string("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27), "ERR_HTTP_PARSE", "headers",
       "invalid character in header value"},
      {"TE and CL", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "ERR_HTTP_PARSE",
       "headers", "both Transfer-Encoding and Content-Length"},
      {"CL conflict", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "ERR_HTTP_PARSE",
       "headers", "invalid Content-Length"},
      {"CL negative", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "ERR_HTTP_PARSE", "headers",
       "invalid Content-Length"},
      {"CL huge", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "ERR_HTTP_PARSE", "headers",
       "invalid Content-Length"},
      {"chunked not last", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "ERR_HTTP_PARSE",
       "headers", "invalid Transfer-Encoding"},
      {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "ERR_HTTP_PARSE", "body",
       "invalid chunk size"},
      {"chunk overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
       "ERR_HTTP_PARSE", "body", "invalid chunk size"},
      {"chunk overrun", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "ERR_HTTP_PARSE",
       "body", "chunk data not followed by CRLF"},
      {"101", "HTTP/1.1 101 Switching Protocols\r\n\r\n", "ERR_HTTP_PARSE", "headers",
       "unexpected 101 Switching Protocols"},
      {"eof in head", "HTTP/1.1 200 OK\r\nContent-Le", "ECONNRESET", "headers",
       "connection closed before the response headers were complete"},
      {"eof in body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "ECONNRESET", "body",
       "connection closed before the response body was complete"},
      {"empty", "", "ECONNRESET", "headers", "connection closed before the response headers were complete"},
      {"head cap", "HTTP/1.1 200 OK\r\nX: " + std::string(200, 'a') + "\r\n\r\n", "ERR_HEADERS_TOO_LARGE",
       "headers", "response headers too large", 100},
      {"CL over cap", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", "ERR_BODY_TOO_LARGE", "body",
       "response body too large", 16384, 10},
      {"chunks over cap", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n", "ERR_BODY_TOO_LARGE",
       "body", "response body too large", 16384, 10},
      {"close body over cap", "HTTP/1.0 200 OK\r\n\r\n0123456789A", "ERR_BODY_TOO_LARGE", "body",
       "response body too large", 16384, 10},
      {"trailer cap", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + std::string(300, 't') + "\r\n\r\n",
       "ERR_HEADERS_TOO_LARGE", "body", "response headers too large", 200},
  };
  for (const auto& c : cases) {
    Outcome o = Whole(c.input, c.max_head, c.max_body);
    EXPECT_EQ(o.result, "error") << c.name;
    EXPECT_EQ(o.code, c.code) << c.name;
    EXPECT_EQ(o.phase, c.phase) << c.name;
    EXPECT_EQ(o.detail, c.detail) << c.name;
    if (!c.input.empty()) ExpectSplitInvariant(c.input, c.max_head, c.max_body);
  }
}

TEST(ResponseParser, BodyExactlyAtCap) {
  EXPECT_EQ(Whole("HTTP/1.0 200 OK\r\n\r\n0123456789", 16384, 10).result, "done");
  EXPECT_EQ(Whole("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 16384, 10).result, "done");
}

TEST(ResponseParser, FeedAfterDoneIgnoresBytes) {
  ResponseParser p(16384, 1024);
  std::string s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE";
  EXPECT_EQ(p.Feed(s.data(), s.size()), ResponseParser::kDone);
  EXPECT_EQ(p.body(), "ok");
  EXPECT_EQ(p.Feed("x", 1), ResponseParser::kDone);
}

}  // namespace
}  // namespace azmi
