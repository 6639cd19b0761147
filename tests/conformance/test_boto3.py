"""Conformance of the ferry test-bed store's S3 face with Amazon's own SDK
(boto3): the store also accepts AWS SigV4, header-signed and presigned, so
S3 tools (rclone in `make bench`, ferry's `s3://` path) can write to the very
store the OSS tools write to.

Starts `ferry-testbed store` on 127.0.0.1:0 with a data directory and
drives it with boto3, path-style, in the store's region.

Run: pytest tests/conformance/test_boto3.py
"""

import hashlib
import os
import time

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from teststore import running_store

REGION = "cn-hangzhou"
BUCKET = "s3-conformance"
KEY_ID, SECRET = "AKIDS3CONFORMANCE", "s3-conformance-secret"
STS_ID, STS_SECRET, STS_TOKEN = "ASIAS3CONFORMANCE", "s3-sts-secret", "FwoG+token/with=odd&chars"
PART = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with running_store(tmp_path_factory.mktemp("store"), REGION, BUCKET,
                       [f"{KEY_ID}:{SECRET}", f"{STS_ID}:{STS_SECRET}:{STS_TOKEN}"]) as url:
        yield url


def client(endpoint, key_id=KEY_ID, secret=SECRET, token=None, region=REGION):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))


@pytest.fixture(params=["key", "sts"])
def s3(request, endpoint):
    if request.param == "key":
        c = client(endpoint)
    else:
        c = client(endpoint, STS_ID, STS_SECRET, STS_TOKEN)
    c.mode = request.param
    return c


def code_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_put_get_range_head(s3):
    key = f"dir/a b+c-{s3.mode}.bin"
    data = os.urandom(1000)
    put = s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    assert put["ETag"].strip('"').lower() == hashlib.md5(data).hexdigest()
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    ranged = s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=10-19")
    assert ranged["Body"].read() == data[10:20]
    assert ranged["ContentRange"] == "bytes 10-19/1000"
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 1000


def test_multipart_with_presigned_parts_and_copy(s3):
    key = f"multi-{s3.mode}.bin"
    chunks = [os.urandom(PART), os.urandom(1234)]
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etags = []
    for n, chunk in enumerate(chunks, 1):
        url = s3.generate_presigned_url(
            "upload_part", Params={"Bucket": BUCKET, "Key": key, "UploadId": upload_id, "PartNumber": n},
            ExpiresIn=300)
        r = requests.put(url, data=chunk, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["ETag"].strip('"').lower() == hashlib.md5(chunk).hexdigest()
        etags.append(r.headers["ETag"])
    listed = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, PART), (2, 1234)]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    data = b"".join(chunks)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data

    # UploadPartCopy with x-amz-copy-source and a range, then the rest.
    copy = f"copy-{s3.mode}.bin"
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=copy)["UploadId"]
    parts = []
    for n, (first, last) in enumerate([(0, PART - 1), (PART, len(data) - 1)], 1):
        r = s3.upload_part_copy(Bucket=BUCKET, Key=copy, UploadId=upload_id, PartNumber=n,
                                CopySource={"Bucket": BUCKET, "Key": key},
                                CopySourceRange=f"bytes={first}-{last}")
        etag = r["CopyPartResult"]["ETag"]
        assert etag.strip('"').lower() == hashlib.md5(data[first:last + 1]).hexdigest()
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=BUCKET, Key=copy, UploadId=upload_id,
                                 MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=BUCKET, Key=copy)["Body"].read() == data


def test_abort_and_list_uploads(s3):
    key = f"aborted-{s3.mode}.bin"
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
    assert [u["UploadId"] for u in listed] == [upload_id]
    s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)
    assert code_of(lambda: s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)) == "NoSuchUpload"


def test_refusals(endpoint):
    assert code_of(lambda: client(endpoint, secret="wrong").head_bucket(Bucket=BUCKET)) in ("403", "SignatureDoesNotMatch")
    assert code_of(lambda: client(endpoint, secret="wrong").get_object(Bucket=BUCKET, Key="x")) == "SignatureDoesNotMatch"
    assert code_of(lambda: client(endpoint, key_id="AKIDUNKNOWN").get_object(Bucket=BUCKET, Key="x")) == "InvalidAccessKeyId"
    # A temporary key without its token, or with another one.
    assert code_of(lambda: client(endpoint, STS_ID, STS_SECRET).get_object(Bucket=BUCKET, Key="x")) == "InvalidAccessKeyId"
    assert code_of(lambda: client(endpoint, STS_ID, STS_SECRET, "other").get_object(Bucket=BUCKET, Key="x")) == "InvalidAccessKeyId"
    # The signing region must be the store's.
    assert code_of(lambda: client(endpoint, region="us-east-1").get_object(Bucket=BUCKET, Key="x")) == "AccessDenied"
    # Presigned URLs: tampered and expired ones are refused.
    s3 = client(endpoint)
    s3.put_object(Bucket=BUCKET, Key="presigned.bin", Body=b"hello")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "presigned.bin"}, ExpiresIn=300)
    assert requests.get(url, timeout=10).content == b"hello"
    assert requests.get(url.replace("presigned.bin", "other.bin"), timeout=10).status_code == 403
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "presigned.bin"}, ExpiresIn=1)
    time.sleep(2)
    assert requests.get(expired, timeout=10).status_code == 403
