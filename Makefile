# Hydrogen developer entry points. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: all build test test-console console-screenshots console-venv test-real-mesos lint fmt bench chaos fuzz clean clients clients-check test-clients

all: build

build:
	$(CARGO) build --release

## Lints and every test: unit, property, integration (simulator, real
## binary, real redis-server), the real-Mesos suite, then the generated
## clients' suites.
test: lint
	env -u MESOS_HOME $(CARGO) test --workspace --all-targets
	clients/tools.sh
	$(MAKE) clients-check
	$(MAKE) test-clients
	$(MAKE) test-console
	$(MAKE) test-real-mesos

## The real-Mesos suite (the real_mesos* modules of tests/integration/: real
## mesos-master and mesos-agents on loopback, the real hydrogen binary, a
## real redis-server).
## Uses MESOS_HOME, else target/real-mesos (unpacked there by .ci/run); with
## neither it prints a banner and skips. `make test` runs the other targets
## without MESOS_HOME (they skip there) and this one after them. Three test
## threads: the tests mostly wait on real processes.
REAL_MESOS_HOME := $(or $(MESOS_HOME),$(if $(wildcard $(CURDIR)/target/real-mesos/sbin/mesos-master),$(CURDIR)/target/real-mesos))
REAL_MESOS_THREADS ?= 3
## The filter matches a substring of `module::test`: every test of the
## real_mesos* modules and no other test.
REAL_MESOS_FILTER := real_mesos
test-real-mesos:
ifeq ($(REAL_MESOS_HOME),)
	@echo '##########################################################################'
	@echo '##  REAL-MESOS SUITE SKIPPED: no MESOS_HOME and no target/real-mesos.  ##'
	@echo '##  Enable it with   MESOS_HOME=/path/to/mesos make test               ##'
	@echo '##  (a Mesos install with sbin/mesos-master), or run the unpack step   ##'
	@echo '##  of .ci/run (../shared/real-mesos/mesos-*.tar.xz -> target/real-mesos). ##'
	@echo '##########################################################################'
else
	MESOS_HOME=$(REAL_MESOS_HOME) $(CARGO) test --test integration $(REAL_MESOS_FILTER) \
		-- --test-threads $(REAL_MESOS_THREADS)
endif

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Every benchmark, then target/bench-report.md. Reports, never asserts.
## real_vs_sim needs a real Mesos (as `make test-real-mesos`); without one it
## prints a `skipped` line.
## E2E_AGENTS: agent counts of the end-to-end runs (default "1000 10000"),
## ten tasks per agent (10,000 and 100,000 tasks, issue 17's sizes), each
## with the memory store and with Redis (a throwaway redis-server
## started by scripts/with-redis.sh). Needs redis-server on PATH.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
E2E_AGENTS ?= 1000 10000
bench:
	$(CARGO) bench --bench recordio --bench placement --bench launch --bench status_updates
	$(CARGO) bench --bench memory | tee $(TARGET_DIR)/bench-memory.json
	$(CARGO) bench --bench api_load | tee $(TARGET_DIR)/bench-api-load.json
	$(CARGO) bench --bench failover | tee $(TARGET_DIR)/bench-failover.txt
	FAILOVER_APPS=100 FAILOVER_INSTANCES=1000 FAILOVER_KILLS=5 $(CARGO) bench --bench failover \
		| tee $(TARGET_DIR)/bench-failover-100k.txt
	API_BENCH_APPS=100 API_BENCH_INSTANCES=1000 API_BENCH_SETUPS=memory $(CARGO) bench --bench api_load \
		| tee $(TARGET_DIR)/bench-api-load-100k.json
	$(CARGO) bench --bench sentinel | tee $(TARGET_DIR)/bench-sentinel.txt
	MESOS_HOME=$(REAL_MESOS_HOME) $(CARGO) bench --bench real_vs_sim | tee $(TARGET_DIR)/bench-real-vs-sim.json
	$(CARGO) bench --bench watch_storm | tee $(TARGET_DIR)/bench-watch-storm.txt
	$(CARGO) build --release
	scripts/dev_app_memory.py $(TARGET_DIR)/release/hydrogen | tee $(TARGET_DIR)/bench-dev-apps.json
	for n in $(E2E_AGENTS); do \
		$(TARGET_DIR)/release/hydrogen bench e2e --agents $$n --apps 100 --instances $$(((n + 9) / 10)) \
			| tee $(TARGET_DIR)/bench-e2e-memory-$$n-agents.json || exit 1; \
	done
	scripts/with-redis.sh sh -c 'for n in $(E2E_AGENTS); do \
		$(TARGET_DIR)/release/hydrogen bench e2e --agents $$n --apps 100 --instances $$(((n + 9) / 10)) \
			--store "$$REDIS_URL" | tee $(TARGET_DIR)/bench-e2e-redis-$$n-agents.json || exit 1; \
	done'
	python3 scripts/bench_report.py $(TARGET_DIR)

## The ten-minute chaos soak (release build, random seed, printed first);
## the summary JSON lands in target/chaos.json. Needs redis-server.
## CHAOS_ARGS: more flags, e.g. `--seed 42` to replay a run.
CHAOS_DURATION ?= 600
chaos:
	$(CARGO) build --release
	$(TARGET_DIR)/release/hydrogen chaos --duration $(CHAOS_DURATION) $(CHAOS_ARGS) \
		> $(TARGET_DIR)/chaos.txt; status=$$?; cat $(TARGET_DIR)/chaos.txt; \
		tail -n 1 $(TARGET_DIR)/chaos.txt > $(TARGET_DIR)/chaos.json; exit $$status

## Fuzzes the REST app parser and the Mesos event stream decoder for
## FUZZ_SECONDS each (nightly; installs cargo-fuzz when missing). Not part
## of `make test`. New inputs go to fuzz/corpus/, crashes to fuzz/artifacts/;
## a crash becomes a regression test next to the code it broke. No
## sanitizer by default (the crate has no unsafe code; panics, timeouts and
## memory blow-ups are what we look for, at twice the speed): set
## FUZZ_FLAGS="-a" for AddressSanitizer too.
FUZZ_SECONDS ?= 120
FUZZ_FLAGS ?= -s none -a
FUZZ_TARGETS := rest_app_json mesos_event_stream
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t && \
		$(CARGO) +nightly fuzz run $(FUZZ_FLAGS) $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 || exit 1; \
	done

clean:
	$(CARGO) clean

## Generated gRPC clients (clients/): regenerate from proto/hydrogen/v1 with
## generators from PyPI, the Go module proxy and npm (clients/tools.sh).
clients:
	clients/generate.sh

## Fails when the checked-in generated code is stale or hydrogen.v1 broke
## compatibility with clients/hydrogen.v1.descriptor.pb.
clients-check:
	clients/check.sh

## The Python, Go and TypeScript client suites against live `hydrogen dev`
## servers (needs the debug binary: `cargo build`).
test-clients:
	clients/test.sh

## The web console in a real headless Chromium (tests/console/): Debian's
## chromium and chromedriver (apt-get install chromium chromium-driver, done
## by .ci/run) driven by selenium from a venv under target/, against the
## debug binary's `hydrogen dev`. Selenium is pointed at /usr/bin/chromedriver
## and never downloads a browser or driver.
CONSOLE_VENV := $(TARGET_DIR)/console-venv
console-venv:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ echo 'test-console needs chromium and chromedriver: apt-get install -y chromium chromium-driver' >&2; exit 1; }
	@test -x $(CONSOLE_VENV)/bin/python || python3 -m venv $(CONSOLE_VENV)
	@$(CONSOLE_VENV)/bin/python -c 'import selenium' 2>/dev/null || \
		$(CONSOLE_VENV)/bin/pip install -q 'selenium>=4.11,<5'

test-console: console-venv
	$(CARGO) build
	HYDROGEN_BIN=$(TARGET_DIR)/debug/hydrogen $(CONSOLE_VENV)/bin/python tests/console/test_console.py

## Re-takes the README's console screenshots (docs/console/*.png) with the
## same scenario.
console-screenshots: console-venv
	$(CARGO) build
	HYDROGEN_BIN=$(TARGET_DIR)/debug/hydrogen CONSOLE_SCREENSHOTS=docs/console \
		$(CONSOLE_VENV)/bin/python tests/console/test_console.py
