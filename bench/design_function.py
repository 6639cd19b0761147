#!/usr/bin/env python3
"""The FC design's copy function, in its own shape, for `make bench` to run on
this machine against the same source and store as ferry.

    design_function.py SOURCE_URL ENDPOINT BUCKET KEY [--region R] [--workers 99]
                       [--part-size 6291456]

What it does, as the design's function does it:
1. the coordinator reads the source's size and x-oss-hash-crc64ecma with one HEAD;
2. initiates a multipart upload with oss2 and cuts the object into 6 MiB parts;
3. a multiprocessing Pool of 99 workers copies the parts: each part is one ranged
   GET streamed (requests, stream=True) straight into oss2's Bucket.upload_part
   (oss2 computes the part's CRC-64 on the way and checks it against the store's);
4. completes the upload and compares the object's CRC-64 with the source's.

Credentials come from OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET. It prints one
JSON object: ok, size, parts, seconds (HEAD to Complete, without the Python start),
crc64 (the store's), source_crc64, and on failure message; exit 0 only when the
object was completed with the source's CRC-64. On failure the upload is aborted.
"""
import argparse
import json
import multiprocessing
import os
import sys
import time

import oss2
import requests

CHUNK = 64 * 1024  # bytes a read of the streamed GET hands to upload_part

_bucket = None  # one oss2.Bucket a worker process, made by _start_worker


def make_bucket(endpoint, name, region):
    auth = oss2.AuthV4(os.environ["OSS_ACCESS_KEY_ID"], os.environ["OSS_ACCESS_KEY_SECRET"])
    return oss2.Bucket(auth, endpoint, name, region=region)


def _start_worker(endpoint, name, region):
    global _bucket
    _bucket = make_bucket(endpoint, name, region)


def copy_part(task):
    """One part: a ranged GET of the source, streamed into UploadPart."""
    url, key, upload_id, number, first, last = task
    with requests.get(url, headers={"Range": f"bytes={first}-{last}"}, stream=True, timeout=600) as resp:
        if resp.status_code != 206:
            raise RuntimeError(f"part {number}: the source answered HTTP {resp.status_code} to a ranged GET")
        result = _bucket.upload_part(key, upload_id, number, resp.iter_content(chunk_size=CHUNK))
    return oss2.models.PartInfo(number, result.etag, size=last - first + 1, part_crc=result.crc)


def copy(args):
    bucket = make_bucket(args.endpoint, args.bucket, args.region)
    head = requests.head(args.source, timeout=60)
    head.raise_for_status()
    size = int(head.headers["Content-Length"])
    source_crc = head.headers.get("x-oss-hash-crc64ecma")
    upload_id = bucket.init_multipart_upload(args.key).upload_id
    tasks = []
    for number, first in enumerate(range(0, size, args.part_size), start=1):
        last = min(first + args.part_size, size) - 1
        tasks.append((args.source, args.key, upload_id, number, first, last))
    try:
        with multiprocessing.Pool(args.workers, initializer=_start_worker,
                                  initargs=(args.endpoint, args.bucket, args.region)) as pool:
            parts = pool.map(copy_part, tasks, chunksize=1)
        done = bucket.complete_multipart_upload(args.key, upload_id, parts)
    except BaseException:
        try:
            bucket.abort_multipart_upload(args.key, upload_id)
        except oss2.exceptions.OssError:
            pass
        raise
    crc = done.crc
    ok = source_crc is not None and crc is not None and int(source_crc) == int(crc)
    return {"ok": ok, "size": size, "parts": len(tasks), "crc64": crc,
            "source_crc64": None if source_crc is None else int(source_crc),
            **({} if ok else {"message": "the object's CRC-64 differs from the source's (or one is missing)"})}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source")
    p.add_argument("endpoint")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--region", default="cn-hangzhou")
    p.add_argument("--workers", type=int, default=99)
    p.add_argument("--part-size", type=int, default=6 * 1024 * 1024)
    args = p.parse_args()
    t0 = time.monotonic()
    try:
        out = copy(args)
    except Exception as e:  # one line for the bench's table
        out = {"ok": False, "message": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
    out["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()
