# simpo-server: the two commands a newcomer needs are `make run` and `make test`.
# Both install their own system dependencies first (Debian/Ubuntu, as root or with sudo).

HOST ?= 127.0.0.1
PORT ?= 8080
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := libsimdjson-dev

.PHONY: deps build run test bench

## Install the system libraries the build needs (skipped when already present).
deps:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES); }

build: deps
	swift build -c release --product simpo-server

## Build and run the server on HOST:PORT (default 127.0.0.1:8080).
run: build
	.build/release/simpo-server --host $(HOST) --port $(PORT)

## Every test: the Swift suites.
test: deps
	swift test

## The loss micro-benchmark (release build).
bench: deps
	swift run -c release simpo-benchmarks
