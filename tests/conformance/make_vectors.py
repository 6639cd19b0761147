"""Records requests signed by oss2 at a fixed time, as test vectors for the
store's V1 and V4 verification (tests/vectors/oss2_signatures.json).

Run: python3 tests/conformance/make_vectors.py
The Rust test `oss2_vectors` replays each request through the store's
authenticator at the recorded time.
"""

import datetime
import json
import os

import oss2
import oss2.auth
import oss2.utils
import requests

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "oss2_signatures.json")
ENDPOINT = "http://127.0.0.1:9000"
BUCKET = "vectors"
REGION = "cn-hangzhou"
KEY_ID, SECRET = "LTAI-vector", "vector-secret"
STS_ID, STS_SECRET, STS_TOKEN = "STS.vector", "sts-vector-secret", "CAIS+vector/token="
NOW = 1_700_000_000  # 2023-11-14T22:13:20Z


class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return datetime.datetime(2023, 11, 14, 22, 13, 20)


class FixedTime:
    @staticmethod
    def time():
        return float(NOW)


oss2.utils.http_date = lambda timeval=None: "Tue, 14 Nov 2023 22:13:20 GMT"
oss2.auth.datetime = FixedDatetime
oss2.auth.time = FixedTime

AUTHS = {
    "v1": oss2.Auth(KEY_ID, SECRET),
    "v4": oss2.AuthV4(KEY_ID, SECRET),
    "sts-v1": oss2.StsAuth(STS_ID, STS_SECRET, STS_TOKEN),
    "sts-v4": oss2.StsAuth(STS_ID, STS_SECRET, STS_TOKEN, auth_version=oss2.AUTH_VERSION_4),
}

# (name, method, key, params, headers, additional V4 headers)
REQUESTS = [
    ("put-object", "PUT", "dir/a b+c.bin", {}, {"Content-Type": "application/octet-stream", "x-oss-meta-who": "ferry", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, None),
    ("get-range", "GET", "dir/a b+c.bin", {}, {"Range": "bytes=0-99"}, ["range"]),
    ("initiate", "POST", "big.iso", {"uploads": ""}, {}, None),
    ("upload-part", "PUT", "big.iso", {"partNumber": "7", "uploadId": "0004B999EF5A239BB9138C6227D69F95"}, {}, None),
    ("list-parts", "GET", "big.iso", {"uploadId": "0004B999EF5A239BB9138C6227D69F95", "max-parts": "1000", "part-number-marker": "5"}, {}, None),
    ("list-uploads", "GET", "", {"uploads": "", "prefix": "a/", "max-uploads": "10", "key-marker": ""}, {}, None),
]


def prepared_url(req):
    return requests.Request(req.method, req.url, params=req.params).prepare().path_url


def header_vector(mode, name, method, key, params, headers, additional):
    req = oss2.http.Request(method, oss2.api._UrlMaker(ENDPOINT, False, False)(BUCKET, key),
                            params=dict(params), headers=dict(headers), region=REGION, product="oss")
    auth = AUTHS[mode]
    if additional and mode.endswith("v4"):
        target = auth._StsAuth__auth if isinstance(auth, oss2.StsAuth) else auth
        target._sign_request(req, BUCKET, key, in_additional_headers=additional)
    else:
        auth._sign_request(req, BUCKET, key)
    return {
        "name": f"{mode}/header/{name}",
        "method": method,
        "path": prepared_url(req),
        "headers": {k.lower(): v for k, v in req.headers.items() if v is not None},
        "now": NOW,
    }


def url_vector(mode, method, key, headers, additional=None):
    bucket = oss2.Bucket(AUTHS[mode], ENDPOINT, BUCKET, region=REGION)
    url = bucket.sign_url(method, key, 300, headers=dict(headers), additional_headers=additional)
    return {
        "name": f"{mode}/url/{method.lower()}" + ("-additional" if additional else ""),
        "method": method,
        "path": url[len(ENDPOINT):],
        "headers": {k.lower(): v for k, v in headers.items()},
        "now": NOW,
        "expires_after": 300,
    }


def main():
    vectors = {
        "region": REGION,
        "credentials": [
            {"id": KEY_ID, "secret": SECRET},
            {"id": STS_ID, "secret": STS_SECRET, "token": STS_TOKEN},
        ],
        "vectors": [],
    }
    for mode in AUTHS:
        for r in REQUESTS:
            vectors["vectors"].append(header_vector(mode, *r))
        vectors["vectors"].append(url_vector(mode, "GET", "dir/a b+c.bin", {}))
        vectors["vectors"].append(url_vector(mode, "PUT", "up/load.bin", {"Content-Type": "text/plain"}))
        if mode == "v4":
            # x-oss-additional-headers: the Range header is signed too
            # (oss2's StsAuth.sign_url cannot pass additional headers).
            vectors["vectors"].append(url_vector(mode, "GET", "r.bin", {"Range": "bytes=0-9"}, ["range"]))
    with open(OUT, "w") as f:
        json.dump(vectors, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(vectors['vectors'])} vectors -> {OUT}")


if __name__ == "__main__":
    main()
