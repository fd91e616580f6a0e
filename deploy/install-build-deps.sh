#!/usr/bin/env bash
# Installs the Debian packages prefloss-server builds against, only those missing.
# Used by `make`, by CI and by the Dockerfile's builder stage alike.
set -euo pipefail

packages=(libsimdjson-dev zlib1g-dev)

missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
