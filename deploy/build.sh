#!/usr/bin/env bash
# Builds the release server with the Swift runtime linked in statically and stages it,
# with its health-check script, under OUT (default .build/stage).
# The Dockerfile's builder stage runs exactly this; so do `make build` and CI.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.build/stage}"

deploy/install-build-deps.sh
swift build -c release --static-swift-stdlib --product prefloss-server
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)"

mkdir -p "$out"
install -m 0755 "$bin/prefloss-server" "$out/prefloss-server"
install -m 0755 deploy/healthcheck.sh "$out/healthcheck.sh"
# The backtracer a statically linked program needs to print a crash's backtrace.
toolchain="$(dirname "$(readlink -f "$(command -v swift)")")/.."
install -m 0755 "$toolchain/libexec/swift/linux/swift-backtrace-static" "$out/swift-backtrace-static"

# A static Swift runtime means no libswift*/libFoundation* at run time.
if ldd "$out/prefloss-server" | grep -E 'libswift|libFoundation|libdispatch|libBlocksRuntime'; then
    echo "build.sh: the Swift runtime is linked dynamically" >&2
    exit 1
fi
echo "staged $out/prefloss-server"
