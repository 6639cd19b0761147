#!/usr/bin/env bash
# `make test`: every test, after `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== guest unit tests (native build of the engine's pure modules)"
cargo test --release -p ferry-guest
echo "== host and test bed: unit, conformance vectors, end-to-end copies"
cargo test --release -p ferry-host -p ferry-testbed
echo "== OSS conformance of the test store, driven by Alibaba's oss2 SDK"
python3 -m pytest -q tests/conformance
