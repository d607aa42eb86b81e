# Hydrogen developer entry points. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: all build test lint fmt bench clean

all: build

build:
	$(CARGO) build --release

## Lints and every test (unit, property, integration against the simulator).
test: lint
	$(CARGO) test --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench

clean:
	$(CARGO) clean
