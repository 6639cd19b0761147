# ferry: build, demo, test, bench.
# `make demo` and `make test` do all set-up on a fresh machine.

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
COMPONENT := target/ferry.wasm
HOST := target/release/ferry
TESTBED := target/release/ferry-testbed

.PHONY: all setup wasm host build demo test bench fmt clippy clean

all: build

# The wasm32-wasip2 target is not fetched on its own (RUSTUP_AUTO_INSTALL=0).
setup:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

wasm: setup
	$(CARGO) build --release -p ferry-guest --target $(WASM_TARGET)
	cp target/$(WASM_TARGET)/release/ferry_guest.wasm $(COMPONENT)

host:
	$(CARGO) build --release -p ferry-host -p ferry-testbed

build: wasm host

demo: build
	bash tests/demo.sh

test: build
	bash tests/run.sh

bench: build
	@echo "make bench: not yet written" && exit 1

fmt:
	$(CARGO) fmt --all

clippy: setup
	$(CARGO) clippy --release --all-targets -p ferry-host -p ferry-testbed -- -D warnings
	$(CARGO) clippy --release --all-targets -p ferry-guest --target $(WASM_TARGET) -- -D warnings

clean:
	$(CARGO) clean
