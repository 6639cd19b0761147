#!/usr/bin/env bash
# `make test`: every test, after `make build tools venv`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/venv.sh

echo "== guest: unit tests and fuzz targets (native build of the engine's pure modules), and the rules it shares with the host"
cargo test --release -p ferry-guest -p ferry-rules
echo "== host and test bed: unit, conformance vectors, end-to-end copies"
cargo test --release -p ferry-host -p ferry-testbed -- --skip fault_matrix --skip killed_copy_resumes --skip interrupted_copy --skip copy_through_three_workers
echo "== remote fan-out: 2 GiB through three ferry serve workers, one killed with SIGKILL mid-copy"
cargo test --release -p ferry-testbed --test workers -- --nocapture 2>&1 | grep -E '^workers:|^  host:|^test result|panicked'
echo "== fault matrix: every fault x small, multi-part and many-part inputs"
cargo test --release -p ferry-testbed --test fault_matrix -- --nocapture --test-threads=1 2>&1 \
  | grep -vE '^\s*$|^running|^test [a-z_]+ \.\.\.|^stack backtrace|^note:'
echo "== packaging: the Dockerfile (hadolint) and deploy/s.yaml"
bash tests/lint-packaging.sh
echo "== OSS conformance of the test store, driven by Alibaba's oss2 SDK"
python3 -m pytest -q tests/conformance
