// A constant-response HTTP server for bench/transport.ts: the cheapest
// server we can write, so the bench measures clients, not the server (a
// Node server's own cost dominated the floor). Single-threaded, blocking:
// accept, read until the end of the request head, write one prebuilt
// token-sized IMDS response with Connection: close, close. Listens on
// 127.0.0.1 port 0 and prints the port on stdout. Loopback only.
//
// The default token expired long ago (a transport bench reads bytes, not
// tokens). `--expires-in SECONDS` makes it one a client accepts: expires_on
// is then the server's start time plus SECONDS (bench/managed-identity.ts's
// first-token row, where the credential parses what it gets).
//
//   g++ -O2 -o bench_server native/test/bench_server.cc && ./bench_server [--expires-in 86399]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <string>

namespace {

// The same bytes as the Node server in bench/transport.ts (without --expires-in).
std::string Response(long expiresIn) {
  std::string token = "eyJ" + std::string(1400, 'a');
  long now = static_cast<long>(time(nullptr));
  std::string expiresOn = expiresIn > 0 ? std::to_string(now + expiresIn) : "1700000000";
  std::string notBefore = expiresIn > 0 ? std::to_string(now) : "1699913600";
  std::string body = "{\"access_token\":\"" + token +
                     "\",\"client_id\":\"00000000-0000-0000-0000-000000000000\",\"expires_in\":\"86399\","
                     "\"expires_on\":\"" + expiresOn + "\",\"ext_expires_in\":\"86399\",\"not_before\":\"" + notBefore + "\","
                     "\"resource\":\"https://management.azure.com/\",\"token_type\":\"Bearer\"}";
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nServer: IMDS/150.870.65.1325\r\n"
         "Connection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

bool HeadComplete(const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; }

}  // namespace

int main(int argc, char** argv) {
  long expiresIn = 0;
  if (argc == 3 && strcmp(argv[1], "--expires-in") == 0) {
    expiresIn = strtol(argv[2], nullptr, 10);
  } else if (argc != 1) {
    fprintf(stderr, "usage: bench_server [--expires-in SECONDS]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
#ifdef __linux__
  // Never outlive the bench that started us (even if it crashed).
  prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
  const std::string response = Response(expiresIn);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
    perror("bench_server");
    return 1;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  printf("%d\n", ntohs(addr.sin_port));
  fflush(stdout);

  std::string head;
  char buf[4096];
  for (;;) {
    int c = accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    head.clear();
    while (!HeadComplete(head)) {
      ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
      if (head.size() > 65536) break;
    }
    if (HeadComplete(head)) {
      size_t sent = 0;
      while (sent < response.size()) {
        ssize_t n = send(c, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
    }
    close(c);
  }
}
