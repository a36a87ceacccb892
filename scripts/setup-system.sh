#!/usr/bin/env bash
# Debian packages the tests need that a fresh machine may lack. Idempotent:
# installs only what is missing, and runs `apt-get update` only then.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v clang >/dev/null || need+=(clang)
command -v openssl >/dev/null || need+=(openssl)
# wrk: the C load generator bench/serve.ts prefers (autocannon competes for the CPUs).
command -v wrk >/dev/null || need+=(wrk)
dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
dpkg -s libgtest-dev >/dev/null 2>&1 || need+=(libgtest-dev)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
