# Hydrogen developer entry points. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: all build test lint fmt bench clean clients clients-check test-clients

all: build

build:
	$(CARGO) build --release

## Lints and every test: unit, property, integration (simulator, real
## binary, real redis-server), then the generated clients' suites.
test: lint
	$(CARGO) test --all-targets
	clients/tools.sh
	$(MAKE) clients-check
	$(MAKE) test-clients

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench

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
