"""Prints the URLs and headers that Alibaba's oss2 and Amazon's botocore sign at
2025-11-25T10:00:00Z with an STS key (AKID/SECRET/TOKEN) for the requests the
component's store tests replay (guest/src/store.rs, mod sdk_shapes): OSS
presigned UploadPart URLs on a CNAME, the internal and the accelerate endpoint
(V1 and V4), and S3 ones virtual-hosted and path-style, plus a header-signed
InitiateMultipartUpload.

Run: python3 tests/conformance/sdk_shapes.py
"""
import datetime

import botocore.auth
import botocore.credentials
import oss2
import oss2.auth
import oss2.utils
from botocore.awsrequest import AWSRequest
NOW = 1_764_064_800
class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return datetime.datetime(2025, 11, 25, 10, 0, 0)
class FixedTime:
    @staticmethod
    def time():
        return float(NOW)
oss2.utils.http_date = lambda timeval=None: "Tue, 25 Nov 2025 10:00:00 GMT"
oss2.auth.datetime = FixedDatetime
oss2.auth.time = FixedTime
auths = {"v1": oss2.StsAuth("AKID", "SECRET", "TOKEN"), "v4": oss2.StsAuth("AKID", "SECRET", "TOKEN", auth_version=oss2.AUTH_VERSION_4)}
params = {"partNumber": "3", "uploadId": "UP"}
for mode, auth in auths.items():
    for label, endpoint, cname in [("cname", "https://files.example.com", True), ("internal", "https://oss-cn-hangzhou-internal.aliyuncs.com", False), ("accelerate", "https://oss-accelerate.aliyuncs.com", False)]:
        b = oss2.Bucket(auth, endpoint, "bkt", is_cname=cname, region="cn-hangzhou")
        print(mode, label, b.sign_url("PUT", "dir/a b.bin", 3600, params=dict(params)))

class FixedBoto(datetime.datetime):
    @classmethod
    def utcnow(cls): return datetime.datetime(2025, 11, 25, 10, 0, 0)
    @classmethod
    def now(cls, tz=None): return datetime.datetime(2025, 11, 25, 10, 0, 0, tzinfo=tz)
botocore.auth.datetime.datetime = FixedBoto
creds = botocore.credentials.Credentials("AKID", "SECRET", "TOKEN")
for url in ["https://bkt.s3.us-west-2.amazonaws.com/dir/a%20b.bin?partNumber=3&uploadId=UP",
            "http://127.0.0.1:9000/bkt/dir/a%20b.bin?partNumber=3&uploadId=UP"]:
    req = AWSRequest(method="PUT", url=url)
    botocore.auth.S3SigV4QueryAuth(creds, "s3", "us-west-2", expires=3600).add_auth(req)
    print(req.url)
# header-signed initiate
req = AWSRequest(method="POST", url="http://127.0.0.1:9000/bkt/dir/a%20b.bin?uploads", data=b"")
req.headers["x-amz-content-sha256"] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
botocore.auth.S3SigV4Auth(creds, "s3", "us-west-2").add_auth(req)
print(dict(req.headers))
