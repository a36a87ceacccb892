#include "errors.h"

#include <errno.h>

namespace azmi {

const char* ErrnoName(int err) {
  switch (err) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ECONNABORTED: return "ECONNABORTED";
    case ENETDOWN: return "ENETDOWN";
    case EINVAL: return "EINVAL";
    case ENOTSOCK: return "ENOTSOCK";
    case EBADF: return "EBADF";
    default: return "EIO";
  }
}

const char* ErrnoCode(int err) {
  switch (err) {
    // A peer that vanished mid-write is a reset to the caller, as in Node.
    case EPIPE: return code::kReset;
    case ECONNABORTED: return code::kReset;
    // Host-side "no route" flavours all mean "nothing there, right now".
    case ENETDOWN: return code::kNetUnreach;
    default: return ErrnoName(err);
  }
}

const char* ErrnoDetail(int err) {
  switch (err) {
    case ECONNREFUSED: return "connection refused";
    case ENETUNREACH: return "network unreachable";
    case ENETDOWN: return "network unreachable";
    case EHOSTUNREACH: return "host unreachable";
    case ECONNRESET: return "connection reset by peer";
    case EPIPE: return "connection reset by peer";
    case ECONNABORTED: return "connection reset by peer";
    case EADDRNOTAVAIL: return "address not available";
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case EMFILE: return "too many open files";
    case ENFILE: return "too many open files";
    default: return "socket error";
  }
}

}  // namespace azmi
