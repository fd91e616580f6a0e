#!/usr/bin/env bash
# Exits 0 when GET /health on this host answers 200; for Docker's HEALTHCHECK, which
# runs in the slim runtime image where there is no curl. Port: $1, else $PREFLOSS_PROBE_PORT
# (the probe listener, which clients of the main port cannot crowd out), else $PREFLOSS_PORT,
# else 8080.
set -euo pipefail
port="${1:-${PREFLOSS_PROBE_PORT:-${PREFLOSS_PORT:-8080}}}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status <&3
[[ "$status" == "HTTP/1.1 200 "* ]]
