#!/usr/bin/env bash
# Builds prefloss-server as it was at a git ref, for `make loadtest BASELINE=<ref>`, and prints
# the binary's path. The ref is checked out in a detached worktree under .build-baseline/<commit>
# and built there like deploy/build.sh builds it (release, Swift runtime linked statically), so a
# second run against the same commit reuses the build. Everything it writes stays in .build-baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
ref="${1:?usage: build_baseline.sh <git ref>}"
commit="$(git rev-parse --verify --quiet "$ref^{commit}")" || { echo "build_baseline.sh: no commit '$ref'" >&2; exit 2; }
tree=".build-baseline/$commit"
if [ ! -d "$tree" ]; then
    git worktree prune
    git worktree add --detach --quiet "$tree" "$commit"
fi
# The server's product as that commit names it (simpo-server before the rename).
product="$(sed -n 's/.*\.executable(name: "\([^"]*\)".*/\1/p' "$tree/Package.swift" | head -n 1)"
[ -n "$product" ] || { echo "build_baseline.sh: no executable product in $tree/Package.swift" >&2; exit 2; }
# Its build's progress goes to stderr: stdout is the path alone.
(cd "$tree" && swift build -c release --static-swift-stdlib --product "$product" >&2)
echo "$(cd "$tree" && swift build -c release --static-swift-stdlib --show-bin-path)/$product"
