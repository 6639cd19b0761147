# Sourced by the test and bench scripts: puts the Python environment that
# `make venv` made (target/venv: oss2, pytest, moto, boto3, PyYAML, hadolint)
# first on PATH, so `python3`, `pytest` and `hadolint` are its own.
FERRY_VENV="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/venv"
if [[ ! -x $FERRY_VENV/bin/python3 ]]; then
  echo "$FERRY_VENV is missing: run \`make venv\` (\`make test\` and \`make bench\` make it)" >&2
  exit 1
fi
export PATH="$FERRY_VENV/bin:$PATH"
