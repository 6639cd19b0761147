"""ferry writes keys with dot segments (`a/../b`, `./x`, `x/..`) under exactly
the key given: an object key is opaque to OSS, and a URL library that resolves
dot segments would write elsewhere (or fail to sign). ferry copies from the
test-bed source into the test store, signing with V4 and V1; oss2, Alibaba's
own SDK, then lists the bucket (that key and no other) and reads the object
back (the source's bytes).
"""

import os
import subprocess
import urllib.request

import oss2
import pytest

from teststore import REPO, running_source, running_store

REGION = "cn-hangzhou"
BUCKET = "dotkeys"
KEY_ID, SECRET = "LTAI-dotkeys", "dotkeys-secret"
FERRY = os.path.join(REPO, "target", "release", "ferry")
COMPONENT = os.environ.get("FERRY_COMPONENT", os.path.join(REPO, "target", "ferry.wasm"))
KEYS = ["dot/./x", "a/../up.bin", "../other/evil.bin", "a/./b", "x/..", "./x", "a/b/../../c"]


@pytest.fixture(scope="module")
def source():
    with running_source() as url:
        yield url


def pattern(source_url, seed, size):
    """The source's bytes for (seed, size), read with a plain GET."""
    with urllib.request.urlopen(f"{source_url}/obj/{seed}/{size}", timeout=30) as r:
        return r.read()


@pytest.mark.parametrize("signature", ["v4", "v1"])
def test_dot_segment_keys_land_as_named(tmp_path, source, signature):
    with running_store(tmp_path, REGION, BUCKET, [f"{KEY_ID}:{SECRET}"]) as endpoint:
        env = {"OSS_ACCESS_KEY_ID": KEY_ID, "OSS_ACCESS_KEY_SECRET": SECRET,
               "FERRY_COMPONENT": COMPONENT, "PATH": os.environ.get("PATH", "")}
        expected = {}
        for i, key in enumerate(KEYS):
            seed, size = 300 + i, 300_000 if i == 1 else 1000
            run = subprocess.run(
                [FERRY, "copy", f"{source}/obj/{seed}/{size}", f"oss://{BUCKET}/{key}",
                 "--endpoint", endpoint, "--region", REGION, "--signature", signature,
                 "--part-size", "100KiB", "--json"],
                env=env, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, f"{key}: {run.stdout}\n{run.stderr}"
            assert SECRET not in run.stdout + run.stderr
            expected[key] = size
            bucket = oss2.Bucket(oss2.AuthV4(KEY_ID, SECRET), endpoint, BUCKET, region=REGION)
            listed = {o.key: o.size for o in oss2.ObjectIteratorV2(bucket)}
            assert listed == expected, f"after copying to {key!r}"
            assert bucket.get_object(key).read() == pattern(source, seed, size), key
