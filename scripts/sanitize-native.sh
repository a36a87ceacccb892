#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer (gcc's
# libasan/libubsan) in a scratch copy, so the normal build/Release/azmi.node
# that other processes load is never replaced, then runs the mocha transport
# suite against it (AZMI_NATIVE_PATH) with libasan preloaded into node.
# Also runs the native unit tests built with the same sanitizers.
#
#   scripts/sanitize-native.sh            # transport + netns mocha suites
#   AZMI_LEAK_ROUNDS=2000 scripts/sanitize-native.sh
#
# LeakSanitizer is off for node itself (V8 keeps allocations until exit by
# design); ASan still catches overflows, use-after-free and double frees, and
# UBSan aborts on undefined behaviour.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/build/sanitize"
rm -rf "$work"
mkdir -p "$work/native"
cp "$root/binding.gyp" "$work/"
cp "$root"/native/*.cc "$root"/native/*.h "$work/native/"

prefix="$(cd "$(dirname "$(command -v node)")/.." && pwd)"
nodedir=()
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$prefix/include/node/node.h" ]; then nodedir=(--nodedir="$prefix"); fi
node_gyp="${npm_config_node_gyp:-$prefix/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js}"

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
echo "== building the addon with: $san"
(cd "$work" && NODE_PATH="$root/node_modules" CXXFLAGS="$san" LDFLAGS="$san" \
  node "$node_gyp" rebuild "${nodedir[@]}" > "$work/build.log" 2>&1) || { tail -30 "$work/build.log"; exit 1; }
addon="$work/build/Release/azmi.node"

libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
echo "== mocha transport suites under ASan+UBSan ($addon)"
cd "$root"
npx tsc -p . > /dev/null || true
export LD_PRELOAD="$libasan $libubsan" AZMI_NATIVE_PATH="$addon" AZMI_TRANSPORT=native
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
kind="$(node -e 'console.log(require("./dist/src/transport/http.js").transportKind())')"
[ "$kind" = native ] || { echo "the sanitized addon did not load (transport: $kind)"; exit 1; }
node node_modules/mocha/bin/mocha.js --no-config --timeout 60000 --exit \
  dist/test/transport/*.spec.js dist/test/netns/*.spec.js

echo "== native unit tests under ASan+UBSan"
unset LD_PRELOAD
AZMI_SANITIZE=1 node scripts/test-native.js
