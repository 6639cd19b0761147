#!/usr/bin/env python3
"""The S3 tests' client: boto3, the AWS SDK, so what ferry wrote is read back
by a client ferry did not write. Credentials come from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; every command prints one JSON line.

  s3_tool.py bootstrap ENDPOINT            an IAM key with s3:* on a moto
                                           server that enforces auth
  s3_tool.py mkbucket ENDPOINT BUCKET
  s3_tool.py get ENDPOINT BUCKET KEY FILE  the object's bytes into FILE
  s3_tool.py missing ENDPOINT BUCKET KEY   whether the object is absent
  s3_tool.py uploads ENDPOINT BUCKET       the open multipart uploads
  s3_tool.py parts ENDPOINT BUCKET KEY ID  how many parts an upload holds
  s3_tool.py list ENDPOINT                 every bucket and every key in it,
                                           with sizes (ListBuckets, ListObjectsV2)
  s3_tool.py checksum ENDPOINT BUCKET KEY  the object's full-object checksum
                                           (HeadObject, ChecksumMode ENABLED)
"""
import json
import sys
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint, service="s3", **keys):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
        ),
        **keys,
    )


def bootstrap(endpoint):
    # moto lets the next N actions through unauthenticated: enough to make
    # a user, its key and a policy, after which every request must be signed.
    req = urllib.request.Request(
        endpoint + "/moto-api/reset-auth",
        data=b"3",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(req, timeout=10).read()
    iam = client(endpoint, "iam", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="ferry")
    key = iam.create_access_key(UserName="ferry")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="ferry", PolicyName="s3", PolicyDocument=json.dumps(policy))
    return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def main(cmd, endpoint, *args):
    if cmd == "bootstrap":
        return bootstrap(endpoint)
    s3 = client(endpoint)
    if cmd == "mkbucket":
        s3.create_bucket(Bucket=args[0])
        return {"ok": True}
    if cmd == "get":
        bucket, key, path = args
        obj = s3.get_object(Bucket=bucket, Key=key)
        with open(path, "wb") as f:
            for chunk in obj["Body"].iter_chunks(1 << 20):
                f.write(chunk)
        return {"size": obj["ContentLength"], "etag": obj["ETag"]}
    if cmd == "missing":
        bucket, key = args
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return {"missing": False}
        except ClientError as e:
            return {"missing": e.response["Error"]["Code"] in ("404", "NoSuchKey")}
    if cmd == "uploads":
        listed = s3.list_multipart_uploads(Bucket=args[0])
        return {"uploads": [u["UploadId"] for u in listed.get("Uploads", [])]}
    if cmd == "parts":
        bucket, key, upload_id = args
        listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
        return {"parts": len(listed.get("Parts", []))}
    if cmd == "checksum":
        bucket, key = args
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        return {
            "crc64nvme": head.get("ChecksumCRC64NVME"),
            "type": head.get("ChecksumType"),
            "etag": head.get("ETag"),
        }
    if cmd == "list":
        listing = {}
        for b in s3.list_buckets().get("Buckets", []):
            keys = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b["Name"]):
                for o in page.get("Contents", []):
                    keys[o["Key"]] = o["Size"]
            listing[b["Name"]] = keys
        return {"buckets": listing}
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
