"""Conformance of the ferry test-bed store with Alibaba's own SDK (oss2).

Starts `ferry-testbed store` on 127.0.0.1:0 (binary from FERRY_TESTBED_BIN,
default target/release/ferry-testbed), reads its URL from the first stdout
line and drives it with oss2 with CRC checking on (the default), using every
signing mode oss2 has: Auth (V1), AuthV4 / ProviderAuthV4, StsAuth V1 and V4,
and presigned URLs used through `requests`.

Run: pytest tests/conformance/test_oss2.py
"""

import base64
import hashlib
import os
import time

import oss2
import pytest
import requests
from oss2.credentials import StaticCredentialsProvider

from teststore import running_store

REGION = "cn-hangzhou"
BUCKET = "conformance"
KEY_ID, SECRET = "LTAI-conformance", "conformance-secret"
STS_ID, STS_SECRET, STS_TOKEN = "STS.conformance", "sts-secret", "CAIS+token/with=odd&chars"
MIN_PART = 100 * 1024


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with running_store(tmp_path_factory.mktemp("store"), REGION, BUCKET,
                       [f"{KEY_ID}:{SECRET}", f"{STS_ID}:{STS_SECRET}:{STS_TOKEN}"]) as url:
        yield url


AUTHS = {
    "v1": lambda: oss2.Auth(KEY_ID, SECRET),
    "v4": lambda: oss2.AuthV4(KEY_ID, SECRET),
    "provider-v4": lambda: oss2.ProviderAuthV4(StaticCredentialsProvider(KEY_ID, SECRET)),
    "sts-v1": lambda: oss2.StsAuth(STS_ID, STS_SECRET, STS_TOKEN),
    "sts-v4": lambda: oss2.StsAuth(STS_ID, STS_SECRET, STS_TOKEN, auth_version=oss2.AUTH_VERSION_4),
}


def make_bucket(endpoint, auth, region=REGION, name=BUCKET):
    return oss2.Bucket(auth, endpoint, name, region=region)


@pytest.fixture(params=sorted(AUTHS))
def bucket(request, endpoint):
    b = make_bucket(endpoint, AUTHS[request.param]())
    b.mode = request.param
    return b


def crc64(data):
    c = oss2.utils.Crc64(0)
    c.update(data)
    return c.crc


def md5_hex(data):
    return hashlib.md5(data).hexdigest().upper()


def expect_error(call, status, code):
    with pytest.raises(oss2.exceptions.OssError) as info:
        call()
    assert info.value.status == status, info.value
    assert info.value.code == code, info.value
    assert info.value.request_id, "every error carries x-oss-request-id"
    return info.value


def test_put_get_range_head_delete(bucket):
    key = f"dir/with space/{bucket.mode}/object+1.bin"
    data = os.urandom(300_001)
    put = bucket.put_object(key, data)  # oss2 compares its CRC with the store's
    assert put.status == 200
    assert put.crc == crc64(data)
    assert put.etag == md5_hex(data)
    assert put.request_id

    got = bucket.get_object(key)  # full GET: oss2 checks the CRC of the body
    assert got.read() == data
    assert got.server_crc == crc64(data)

    part = bucket.get_object(key, byte_range=(1000, 1999))
    assert part.status == 206
    assert part.read() == data[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    # The whole-object CRC is sent on ranged GETs too.
    assert int(part.headers["x-oss-hash-crc64ecma"]) == crc64(data)
    tail = bucket.get_object(key, byte_range=(None, 10))
    assert tail.read() == data[-10:]

    head = bucket.head_object(key)
    assert head.content_length == len(data)
    assert head.etag == md5_hex(data)
    assert head.server_crc == crc64(data)
    assert bucket.object_exists(key)

    assert bucket.delete_object(key).status == 204
    assert not bucket.object_exists(key)
    expect_error(lambda: bucket.get_object(key), 404, "NoSuchKey")


def test_list_objects_v2_pages_in_key_order(bucket):
    keys = [f"list-{bucket.mode}/{name}" for name in ("b", "a/../c", "a", "d e", "./z")]
    for k in keys:
        bucket.put_object(k, k.encode())
    prefix = f"list-{bucket.mode}/"
    listed = [(o.key, o.size) for o in oss2.ObjectIteratorV2(bucket, prefix=prefix, max_keys=2)]
    assert listed == sorted((k, len(k)) for k in keys)
    for k in keys:
        bucket.delete_object(k)
    assert list(oss2.ObjectIteratorV2(bucket, prefix=prefix)) == []


def test_empty_object(bucket):
    key = f"empty-{bucket.mode}"
    assert bucket.put_object(key, b"").crc == 0
    assert bucket.get_object(key).read() == b""
    assert bucket.head_object(key).content_length == 0


def test_multipart_upload_with_paging(bucket):
    key = f"multi/{bucket.mode}.bin"
    sizes = [MIN_PART, MIN_PART + 7, 3000]
    chunks = [os.urandom(n) for n in sizes]
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = []
    # Upload out of order, and one part twice: the last upload wins.
    bucket.upload_part(key, upload_id, 2, os.urandom(MIN_PART + 7))
    for n in (3, 1, 2):
        r = bucket.upload_part(key, upload_id, n, chunks[n - 1])
        assert r.crc == crc64(chunks[n - 1])
        assert r.etag == md5_hex(chunks[n - 1])
        parts.append(oss2.models.PartInfo(n, r.etag, size=sizes[n - 1], part_crc=r.crc))

    page = bucket.list_parts(key, upload_id, max_parts=2)
    assert [p.part_number for p in page.parts] == [1, 2]
    assert page.is_truncated and page.next_marker == "2"
    page = bucket.list_parts(key, upload_id, marker=page.next_marker, max_parts=2)
    assert [p.part_number for p in page.parts] == [3]
    assert not page.is_truncated
    listed = list(oss2.PartIterator(bucket, key, upload_id, max_parts=1))
    assert [(p.part_number, p.size) for p in listed] == [(1, sizes[0]), (2, sizes[1]), (3, sizes[2])]

    done = bucket.complete_multipart_upload(key, upload_id, parts)  # oss2 checks the combined CRC
    data = b"".join(chunks)
    assert done.crc == crc64(data)
    expected_etag = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in chunks)).hexdigest().upper() + "-3"
    assert done.etag == expected_etag
    assert bucket.get_object(key).read() == data
    head = bucket.head_object(key)
    assert head.etag == expected_etag
    assert head.object_type == "Multipart"
    # The upload is gone once completed.
    expect_error(lambda: bucket.list_parts(key, upload_id), 404, "NoSuchUpload")


def test_abort_and_list_multipart_uploads(bucket):
    prefix = f"uploads-{bucket.mode}/"
    ids = [(prefix + k, bucket.init_multipart_upload(prefix + k).upload_id) for k in ("a", "b", "b", "c")]
    bucket.init_multipart_upload(f"other-{bucket.mode}")

    first = bucket.list_multipart_uploads(prefix=prefix, max_uploads=3)
    assert first.is_truncated
    assert [(u.key, u.upload_id) for u in first.upload_list] == ids[:3]
    rest = bucket.list_multipart_uploads(prefix=prefix, key_marker=first.next_key_marker,
                                         upload_id_marker=first.next_upload_id_marker)
    assert [(u.key, u.upload_id) for u in rest.upload_list] == ids[3:]
    assert not rest.is_truncated
    every = [(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(bucket, prefix=prefix, max_uploads=1)]
    assert every == ids

    key, upload_id = ids[1]
    bucket.upload_part(key, upload_id, 1, b"x" * 10)
    assert bucket.abort_multipart_upload(key, upload_id).status == 204
    expect_error(lambda: bucket.upload_part(key, upload_id, 2, b"y"), 404, "NoSuchUpload")
    expect_error(lambda: bucket.abort_multipart_upload(key, upload_id), 404, "NoSuchUpload")
    left = [(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(bucket, prefix=prefix)]
    assert left == [ids[0], ids[2], ids[3]]
    for k, u in left:
        bucket.abort_multipart_upload(k, u)


def test_upload_part_copy(bucket):
    src = f"copy-src/{bucket.mode}.bin"
    data = os.urandom(3 * MIN_PART + 5)
    bucket.put_object(src, data)
    etag = bucket.head_object(src).etag
    key = f"copy-dst/{bucket.mode}.bin"
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = []
    for n, (first, last) in enumerate([(0, 2 * MIN_PART - 1), (2 * MIN_PART, len(data) - 1)], 1):
        piece = data[first:last + 1]
        r = bucket.upload_part_copy(BUCKET, src, (first, last), key, upload_id, n,
                                    headers={"x-oss-copy-source-if-match": etag})
        assert r.crc == crc64(piece)
        assert r.etag == md5_hex(piece)
        parts.append(oss2.models.PartInfo(n, r.etag, size=len(piece), part_crc=r.crc))
    listed = list(oss2.PartIterator(bucket, key, upload_id))
    assert [(p.part_number, p.size) for p in listed] == [(1, 2 * MIN_PART), (2, MIN_PART + 5)]
    # A changed source fails the condition; a missing one is 404.
    expect_error(lambda: bucket.upload_part_copy(BUCKET, src, (0, 9), key, upload_id, 3,
                                                 headers={"x-oss-copy-source-if-match": "0" * 32}),
                 412, "PreconditionFailed")
    expect_error(lambda: bucket.upload_part_copy(BUCKET, "copy-src/none", (0, 9), key, upload_id, 3),
                 404, "NoSuchKey")
    done = bucket.complete_multipart_upload(key, upload_id, parts)
    assert done.crc == crc64(data)
    assert bucket.get_object(key).read() == data


def test_complete_errors(endpoint):
    bucket = make_bucket(endpoint, oss2.Auth(KEY_ID, SECRET))
    key = "complete-errors"
    upload_id = bucket.init_multipart_upload(key).upload_id
    small = bucket.upload_part(key, upload_id, 1, b"s" * 1000)
    last = bucket.upload_part(key, upload_id, 2, b"l" * 10)
    expect_error(lambda: bucket.complete_multipart_upload(
        key, upload_id, [oss2.models.PartInfo(1, small.etag), oss2.models.PartInfo(2, last.etag)]),
        400, "EntityTooSmall")
    expect_error(lambda: bucket.complete_multipart_upload(
        key, upload_id, [oss2.models.PartInfo(1, "0" * 32)]), 400, "InvalidPart")
    expect_error(lambda: bucket.complete_multipart_upload(
        key, upload_id, [oss2.models.PartInfo(7, small.etag)]), 400, "InvalidPart")
    expect_error(lambda: bucket.upload_part(key, upload_id, 10001, b"z"), 400, "InvalidArgument")
    # oss2 sorts the list it sends, so send the body in the wrong order by hand.
    body = ("<CompleteMultipartUpload>"
            f"<Part><PartNumber>2</PartNumber><ETag>\"{last.etag}\"</ETag></Part>"
            f"<Part><PartNumber>1</PartNumber><ETag>\"{small.etag}\"</ETag></Part>"
            "</CompleteMultipartUpload>")
    url = bucket.sign_url("POST", key, 60, params={"uploadId": upload_id})
    r = requests.post(url, data=body)
    assert r.status_code == 400 and "<Code>InvalidPartOrder</Code>" in r.text, r.text
    # A single small part is fine: only non-last parts have a minimum.
    done = bucket.complete_multipart_upload(key, upload_id, [oss2.models.PartInfo(1, small.etag, size=1000, part_crc=small.crc)])
    assert done.crc == crc64(b"s" * 1000)


def test_content_md5_is_verified(endpoint):
    bucket = make_bucket(endpoint, oss2.Auth(KEY_ID, SECRET))
    data = b"content-md5 checked"
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert bucket.put_object("md5-ok", data, headers={"Content-MD5": good}).status == 200
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    expect_error(lambda: bucket.put_object("md5-bad", data, headers={"Content-MD5": bad}), 400, "InvalidDigest")
    assert not bucket.object_exists("md5-bad")


@pytest.mark.parametrize("mode", ["v1", "v4", "sts-v1", "sts-v4"])
def test_presigned_urls_with_requests(endpoint, mode):
    bucket = make_bucket(endpoint, AUTHS[mode]())
    key = f"presigned/{mode}/file name.bin"
    data = os.urandom(150_000)
    put_url = bucket.sign_url("PUT", key, 60)
    r = requests.put(put_url, data=data)
    assert r.status_code == 200, r.text
    assert int(r.headers["x-oss-hash-crc64ecma"]) == crc64(data)
    assert r.headers["ETag"] == '"' + md5_hex(data) + '"'
    assert r.headers["x-oss-request-id"]

    get_url = bucket.sign_url("GET", key, 60)
    r = requests.get(get_url)
    assert r.status_code == 200 and r.content == data, r.status_code
    r = requests.get(get_url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20], r.status_code

    # Tampering with the URL breaks the signature.
    tampered = get_url.replace("name.bin", "name.bim")
    assert tampered != get_url
    r = requests.get(tampered)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text, r.text
    # A GET URL cannot be used to PUT.
    r = requests.put(get_url, data=b"nope")
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text


@pytest.mark.parametrize("mode", ["v1", "v4"])
def test_presigned_url_expires(endpoint, mode):
    bucket = make_bucket(endpoint, AUTHS[mode]())
    bucket.put_object("expiring", b"soon gone")
    url = bucket.sign_url("GET", "expiring", 1)
    time.sleep(2.2)
    r = requests.get(url)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text, r.text


@pytest.mark.parametrize("version", [oss2.AUTH_VERSION_1, oss2.AUTH_VERSION_4])
def test_wrong_secret_is_signature_mismatch(endpoint, version):
    bucket = make_bucket(endpoint, oss2.make_auth(KEY_ID, "not-the-secret", version))
    e = expect_error(lambda: bucket.put_object("denied", b"x"), 403, "SignatureDoesNotMatch")
    assert "not-the-secret" not in str(e.body) and SECRET not in str(e.body)
    expect_error(lambda: bucket.get_object("denied"), 403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("version", [oss2.AUTH_VERSION_1, oss2.AUTH_VERSION_4])
def test_unknown_key(endpoint, version):
    bucket = make_bucket(endpoint, oss2.make_auth("LTAI-nobody", SECRET, version))
    expect_error(lambda: bucket.put_object("denied", b"x"), 403, "InvalidAccessKeyId")


@pytest.mark.parametrize("version", [oss2.AUTH_VERSION_1, oss2.AUTH_VERSION_4])
def test_sts_token_required_and_checked(endpoint, version):
    wrong = make_bucket(endpoint, oss2.StsAuth(STS_ID, STS_SECRET, "wrong-token", auth_version=version))
    e = expect_error(lambda: wrong.put_object("denied", b"x"), 403, "InvalidAccessKeyId")
    assert "security token" in e.message
    missing = make_bucket(endpoint, oss2.make_auth(STS_ID, STS_SECRET, version))
    expect_error(lambda: missing.put_object("denied", b"x"), 403, "InvalidAccessKeyId")
    url = make_bucket(endpoint, oss2.StsAuth(STS_ID, STS_SECRET, "wrong-token", auth_version=version)).sign_url("GET", "denied", 60)
    assert requests.get(url).status_code == 403


def test_v4_region_must_match(endpoint):
    bucket = make_bucket(endpoint, oss2.AuthV4(KEY_ID, SECRET), region="cn-beijing")
    expect_error(lambda: bucket.put_object("denied", b"x"), 403, "AccessDenied")


def test_anonymous_is_refused(endpoint):
    make_bucket(endpoint, oss2.Auth(KEY_ID, SECRET)).put_object("private", b"p")
    bucket = make_bucket(endpoint, oss2.AnonymousAuth())
    expect_error(lambda: bucket.get_object("private"), 403, "AccessDenied")
    expect_error(lambda: bucket.put_object("private", b"x"), 403, "AccessDenied")


def test_no_such_bucket(endpoint):
    bucket = make_bucket(endpoint, oss2.Auth(KEY_ID, SECRET), name="not-a-bucket")
    expect_error(lambda: bucket.put_object("k", b"x"), 404, "NoSuchBucket")
