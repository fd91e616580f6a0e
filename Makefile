# prefloss-server: the two commands a newcomer needs are `make run` and `make test`.
# Both install their own system dependencies first (Debian/Ubuntu, as root or with sudo).

HOST ?= 127.0.0.1
PORT ?= 8080
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV := .venv
# Where deploy/build.sh stages the release server (the Dockerfile uses /stage).
STAGE := .build/stage
# Seconds `make fuzz` runs libFuzzer for, per target.
FUZZ_SECONDS ?= 30
# The seed `make fuzz` runs with: a new one (1 to 2^31 - 1) each time, logged, so that runs explore
# differently; FUZZ_SEED=<seed> repeats a logged run over the same corpora (Swift's hashing is made
# deterministic for that; only address-dependent paths still vary, unless run under `setarch -R`).
ifndef FUZZ_SEED
FUZZ_SEED := $(shell echo $$(( $$(od -An -N4 -tu4 /dev/urandom) % 2147483647 + 1 )))
endif
FUZZ_TARGETS := requests headers inflate
# Every pytest run: with Tests/support/strict_ci.py, under CI=true a skipped test or a loose xfail fails.
PYTEST := PYTHONPATH=Tests/support $(VENV)/bin/python -m pytest -p strict_ci
# A line `swift test` prints for a test it did not run: Swift Testing's skip or cancel, XCTest's skip.
SWIFT_SKIPPED := ^[^ ]* ?(Test|Suite) .* (skipped(\.|: ".*")|was cancelled after .*)$$|^Test Case .* skipped \(
# Every Python package the Makefile installs, pinned. -c applies it to each install, PIP_CONSTRAINT to
# pip's isolated build of the client too (setuptools).
CONSTRAINTS := python-constraints.txt
PIP_INSTALL := PIP_CONSTRAINT=$(CURDIR)/$(CONSTRAINTS) $(VENV)/bin/pip install --quiet --disable-pip-version-check \
	-c $(CONSTRAINTS)
# The torch the client's tests install, as pinned: its CPU-only wheel where pip can find it.
TORCH_VERSION := $(shell sed -n 's/^torch==//p' $(CONSTRAINTS))
# The fuzz build: libFuzzer's coverage and AddressSanitizer in Swift and in the C and C++ targets
# (-Xcc reaches C++ compiles too; fuzzer-no-link there, as the Swift link brings in libFuzzer).
FUZZ_BUILD_FLAGS := --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld \
	-Xcc -fsanitize=fuzzer-no-link,address

.PHONY: deps test-tools python-deps python-constraints build run test debug-build swift-test api-test client-test \
	deploy-test deploy-tools fuzz fuzz-replay bench json-ceiling loadtest profile profile-health profile-saturated profile-tools capacity \
	load-tools limits floods example

## System libraries the build needs (installed only when missing).
deps:
	@deploy/install-build-deps.sh

## Tools the tests use, installed only when missing: python3 with venv, and openssl (the TLS tests'
## certificates). After deps, so that one apt runs at a time.
test-tools: deps
	@missing=""; \
	python3 -m venv --help >/dev/null 2>&1 || missing="python3 python3-venv"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	[ -z "$$missing" ] || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; }

## A virtualenv with the API test tools (pytest, schemathesis, openapi-spec-validator), and the
## client with torch (CPU) and TRL for its trainer-parity tests, each at its pinned version. The
## CPU-only torch wheel is preferred (pip's find-links may hold it); where it is absent, the
## default wheel of the same version is installed. Installed again only when a list changes.
python-deps: $(VENV)/.python-deps

PYTHON_LISTS := $(CONSTRAINTS) Tests/api/requirements.txt Tests/deploy/requirements.txt clients/python/pyproject.toml
$(VENV)/.python-deps: $(PYTHON_LISTS) | test-tools
	@[ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV)
	$(PIP_INSTALL) "torch==$(TORCH_VERSION)+cpu" 2>/dev/null || $(PIP_INSTALL) "torch==$(TORCH_VERSION)"
	$(PIP_INSTALL) -r Tests/api/requirements.txt -r Tests/deploy/requirements.txt -e 'clients/python[test,trl]'
	touch $@

## Rewrites $(CONSTRAINTS) from what the virtualenv holds: to move a package, delete its pin and run
## this, which installs it at its newest beside everything else (the load kit's packages too).
python-constraints: python-deps
	$(PIP_INSTALL) -r Benchmarks/loadtest/requirements.txt
	{ sed -n '/^#/p' $(CONSTRAINTS); $(VENV)/bin/pip freeze --all --exclude-editable \
		| sed -e '/^#/d' -e '/ @ /d' -e '/^pip==/d' -e 's/^torch==\([^+]*\)+.*/torch==\1/'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

## The Python client's wheel, for installing it where there is no clone:
## .build/wheel/prefloss-<version>-py3-none-any.whl (clients/python/README.md says how). It is built
## from a copy of clients/python, so that setuptools' build/ folder stays out of the tree.
.PHONY: wheel
wheel:
	@python3 -m pip --version >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends python3-pip; }
	rm -rf .build/wheel
	@copy=$$(mktemp -d) && cp -R clients/python/. $$copy \
		&& python3 -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir .build/wheel $$copy; \
		status=$$?; rm -rf $$copy; exit $$status
	@ls .build/wheel/prefloss-*.whl

## The release server, statically linked against the Swift runtime, as the image ships it.
build: deps
	deploy/build.sh $(STAGE)

## Build and run the server on HOST:PORT (default 127.0.0.1:8080).
run: build
	$(STAGE)/prefloss-server --host $(HOST) --port $(PORT)

## Every test: the Swift suites, the spec and live-server API tests, the Python client,
## the deployment, and a bounded fuzzing run. The Python packages install while the debug build
## runs (on a fresh machine, the two longest preparations); either failing stops the run. Then the
## suites run one at a time.
test: test-tools
	$(MAKE) --no-print-directory -j2 python-deps debug-build
	$(MAKE) --no-print-directory -j1 swift-test api-test client-test deploy-test fuzz-replay fuzz

## The debug build, with the tests.
debug-build: deps
	swift build --build-tests

## The Swift suites. Under CI=true a test they skip or cancel fails the run, as in the Python suites.
swift-test: debug-build
	bash -o pipefail -c 'swift test --skip-build 2>&1 | tee .build/swift-test.log'
	@if grep -E '$(SWIFT_SKIPPED)' .build/swift-test.log; then \
		echo "swift test did not run the tests above" >&2; [ "$$CI" != true ]; fi

api-test: deps python-deps
	swift build --product prefloss-server
	$(PYTEST) -q Tests/api

## The Python client against a live debug server: numbers, torch autograd, and the TRL trainers
## trained beside their Remote twins.
client-test: deps python-deps
	swift build --product prefloss-server
	$(PYTEST) -q clients/python/tests

## libFuzzer (with AddressSanitizer) over each target (request decoders, header grammars, the
## inflater) for FUZZ_SECONDS with FUZZ_SEED, seeded with Tests/corpus/<target>, with the words of
## Fuzz/dictionaries/<target>.dict where there is one; a crash's input lands in .build-fuzz/crashes/
## and belongs in Tests/corpus/<target> as a regression case.
fuzz: deps
	swift build --product prefloss-fuzz $(FUZZ_BUILD_FLAGS)
	mkdir -p .build-fuzz/crashes
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p .build-fuzz/corpus/$$target; \
		dict=Fuzz/dictionaries/$$target.dict; \
		echo "fuzzing $$target for $(FUZZ_SECONDS) s with seed $(FUZZ_SEED) (make fuzz FUZZ_SEED=$(FUZZ_SEED) repeats it)"; \
		SWIFT_DETERMINISTIC_HASHING=1 PREFLOSS_FUZZ_TARGET=$$target .build-fuzz/debug/prefloss-fuzz \
			-seed=$(FUZZ_SEED) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
			-artifact_prefix=.build-fuzz/crashes/$$target- \
			$$([ -f $$dict ] && echo -dict=$$dict) .build-fuzz/corpus/$$target Tests/corpus/$$target || exit 1; \
	done

## Every saved input through its target in a plain build: the fuzzers' regression run.
## It fails on an unreadable path or an empty corpus, not only on a crash.
fuzz-replay: deps
	swift build --product prefloss-fuzz
	@for target in $(FUZZ_TARGETS); do PREFLOSS_FUZZ_TARGET=$$target .build/debug/prefloss-fuzz Tests/corpus/$$target || exit 1; done

## Kubernetes manifests against the API schemas; the image's staged server run as the pod runs it;
## the HAProxy config checked by haproxy and run in front of three staged servers.
deploy-test: build python-deps deploy-tools
	PREFLOSS_STAGE=$(STAGE) PREFLOSS_SERVER_BINARY=$(STAGE)/prefloss-server $(PYTEST) -q Tests/deploy

## haproxy for the deployment tests (Debian's, 2.6 on bookworm, as the manifests run), installed only
## when missing. After test-tools, so that one apt runs at a time.
deploy-tools: test-tools
	@PATH="$$PATH:/usr/sbin" command -v haproxy >/dev/null \
		|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends haproxy; }

## Micro-benchmarks (release build, with the flags deploy/build.sh uses so the two share one build),
## then the loss's numpy peer in the same run; BENCH_ARGS="encode safetensors" runs only those.
bench: deps python-deps
	swift build -c release --static-swift-stdlib --product prefloss-benchmarks
	.build/release/prefloss-benchmarks $(BENCH_ARGS)
	$(VENV)/bin/python Benchmarks/numpy_loss_peer.py

## The JSON path's ceiling (issue 26) on the load test's own bodies, written by make_payloads.py to
## .build/payloads: simdjson's parse alone, the request decode, then decode + loss + answer, per size,
## one thread (release build, shared with make bench).
json-ceiling: deps python-deps
	swift build -c release --static-swift-stdlib --product prefloss-benchmarks
	$(VENV)/bin/python Benchmarks/loadtest/make_payloads.py .build/payloads > /dev/null
	.build/release/prefloss-benchmarks json-ceiling .build/payloads

## The speed and memory bounds no test asserts (answer and timer latencies, peak RSS under floods,
## the client's waits), measured on the release build; a table of each against its bound, and a
## failure when one is exceeded. About 30 s.
limits: build python-deps
	PREFLOSS_SERVER_BINARY=$(STAGE)/prefloss-server $(VENV)/bin/python Benchmarks/limits/run.py

## The connection floods of issue 22 (idle sockets at the cap, pipelining non-readers, one-byte chunks,
## stalled bodies, large gzip bodies) against the release build: the probes' p99, memory over the resting
## set and a legitimate client's rate under each; rewrites the README's table, in about 2 minutes.
## FLOODS_ARGS="--duration 5" passes options to the driver.
floods: build python-deps
	PREFLOSS_SERVER_BINARY=$(STAGE)/prefloss-server $(VENV)/bin/python Benchmarks/limits/floods.py --update-readme \
		$(FLOODS_ARGS)

## Load test against the FastAPI + numpy peers (JSON and safetensors, token gradients on and off,
## the Python client beside in-process torch, 1 and 2 cores); rewrites the README's tables and
## Benchmarks/loadtest/loadtest.png, in about 6 minutes on 2 cores.
## BASELINE=<git ref> also builds that commit (in .build-baseline/, kept for the next run) and runs
## it beside this build on the same payloads: each row gets its ratio, flagged when >10% slower.
## LOADTEST_ARGS="--duration 10 --sweep-duration 3 --soak 60" passes options to the driver.
loadtest: build python-deps load-tools
	$(if $(BASELINE),Benchmarks/loadtest/build_baseline.sh $(BASELINE) > .build/baseline-server)
	$(if $(BASELINE),PREFLOSS_BASELINE_REF=$(BASELINE) PREFLOSS_BASELINE_SERVER=$$(cat .build/baseline-server)) \
		PREFLOSS_SERVER=$(STAGE)/prefloss-server $(VENV)/bin/python Benchmarks/loadtest/run.py --update-readme $(LOADTEST_ARGS)

## Instructions per request (valgrind's callgrind, so a busy machine measures as a quiet one) for
## /health and the load test's JSON and safetensors payloads. BASELINE=<git ref> profiles that
## commit's build (as make loadtest builds it) beside this one, and lists the functions whose cost
## differs most. PROFILE_ARGS="--requests 40 --only json-small" passes options to the driver.
profile: build python-deps profile-tools
	$(if $(BASELINE),Benchmarks/loadtest/build_baseline.sh $(BASELINE) > .build/baseline-server)
	$(VENV)/bin/python Benchmarks/profile/instructions.py $(STAGE)/prefloss-server \
		$(if $(BASELINE),--baseline $$(cat .build/baseline-server)) $(PROFILE_ARGS)

## /health's floor: prefloss-server beside Hummingbird alone answering the same (Benchmarks/minimal-hummingbird,
## none of our middleware): instructions and voluntary switches per request, the functions whose cost
## differs most, then req/s at 32 connections, 3 rounds alternating. About 2 minutes.
profile-health: build python-deps profile-tools
	swift build -c release --static-swift-stdlib --product minimal-hummingbird
	$(VENV)/bin/python Benchmarks/profile/instructions.py $(STAGE)/prefloss-server --only health \
		--baseline .build/release/minimal-hummingbird
	$(VENV)/bin/python Benchmarks/profile/health_rate.py $(STAGE)/prefloss-server .build/release/minimal-hummingbird

## A saturated server's time per request (CPU, user and system time, faults, switches), pinned to
## one core with wrk on the other, beside the BASELINE=<git ref> build (as make profile builds it) in
## alternating rounds: what instructions per request cannot show. About a minute a payload.
## SATURATED_ARGS="--payload json-small --token-grads --rounds 6" passes options to the driver;
## "--callgrind" runs each build saturated under callgrind's cache simulation instead (cache
## misses and reference-counting calls per request).
profile-saturated: build python-deps profile-tools
	$(if $(BASELINE),Benchmarks/loadtest/build_baseline.sh $(BASELINE) > .build/baseline-server)
	$(VENV)/bin/python Benchmarks/profile/saturated.py $(STAGE)/prefloss-server \
		$(if $(BASELINE),$$(cat .build/baseline-server)) $(SATURATED_ARGS)

## valgrind for the profiles, with the load kit, installed only when missing. After load-tools, so
## that one apt runs at a time.
profile-tools: load-tools
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends valgrind; }

## A replica's req/s and p99 for the trainer's safetensors batches (64x2048 and 8x512, token
## gradients) against 1 to 8 closed-loop trainers, alone and behind HAProxy with one and two
## replicas; rewrites deploy/README.md's capacity block (with the sizing it implies) and
## Benchmarks/capacity/capacity.png, in about 6 minutes. Run it on a quiet machine of 5 cores or more
## (each replica, HAProxy and wrk then get cores of their own).
## CAPACITY_ARGS="--duration 5 --step-time 10 --micro-batches 8" passes options to the driver.
capacity: build python-deps load-tools deploy-tools
	PREFLOSS_SERVER=$(STAGE)/prefloss-server $(VENV)/bin/python Benchmarks/capacity/run.py --update-readme $(CAPACITY_ARGS)

## The load kit: wrk, and the Python packages of Benchmarks/loadtest (the capacity run uses them too).
load-tools: python-deps
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends wrk; }
	$(PIP_INSTALL) -r Benchmarks/loadtest/requirements.txt
