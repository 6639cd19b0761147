"""Starts the ferry test-bed store for the SDK conformance tests.

`ferry-testbed store` on 127.0.0.1:0 (binary from FERRY_TESTBED_BIN, default
target/release/ferry-testbed) with a data directory; its URL is the first
line of its stdout, and closing its stdin stops it.
"""

import os
import subprocess
from contextlib import contextmanager

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FERRY_TESTBED_BIN", os.path.join(REPO, "target", "release", "ferry-testbed"))


@contextmanager
def running(args):
    """Runs `ferry-testbed ARGS...`; yields the URL it prints first. Closing
    its stdin stops it."""
    proc = subprocess.Popen([BIN] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith(f"{args[0]} http://127.0.0.1:"), line
        yield line.split(" ", 1)[1]
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0


@contextmanager
def running_source():
    """The test-bed source on 127.0.0.1: pattern objects at /obj/SEED/SIZE."""
    with running(["source", "--listen", "127.0.0.1:0"]) as url:
        yield url


@contextmanager
def running_store(data_dir, region, bucket, credentials):
    """Yields the store's URL; `credentials` are `ID:SECRET[:TOKEN]` strings."""
    args = ["store", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
            "--region", region, "--bucket", bucket]
    for c in credentials:
        args += ["--credential", c]
    with running(args) as url:
        yield url
