#!/usr/bin/env bash
# `make demo`: a real end-to-end copy on loopback. Starts the test source and
# the OSS-protocol store, copies 1 GiB through sandboxed part instances,
# shows progress and verification, reads the object back, stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${FERRY_DEMO_SIZE:-1073741824}
INSTANCES=${FERRY_DEMO_INSTANCES:-16}
KEY=demo/ferry-demo-$SIZE.bin
# The test bed's public demo key; never a real one.
export OSS_ACCESS_KEY_ID=ferry-demo-key
export OSS_ACCESS_KEY_SECRET=ferry-demo-secret
unset OSS_SESSION_TOKEN OSS_ENDPOINT OSS_REGION

work=$(mktemp -d)
bed_pid=
cleanup() {
  [ -n "$bed_pid" ] && kill "$bed_pid" 2>/dev/null && wait "$bed_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A FIFO on stdin keeps the test bed up until this script ends.
mkfifo "$work/hold"
target/release/ferry-testbed up --crc --data-dir "$work/data" <"$work/hold" >"$work/up.out" 2>"$work/up.err" &
bed_pid=$!
exec 3>"$work/hold"
for _ in $(seq 100); do
  [ "$(grep -c . "$work/up.out" 2>/dev/null || true)" -ge 2 ] && break
  sleep 0.1
done
SOURCE=$(awk '$1=="source"{print $2}' "$work/up.out")
STORE=$(awk '$1=="store"{print $2}' "$work/up.out")
[ -n "$SOURCE" ] && [ -n "$STORE" ] || { cat "$work/up.err"; echo "the test bed did not start" >&2; exit 1; }

echo "source     $SOURCE/obj/1/$SIZE (deterministic bytes, offers x-oss-hash-crc64ecma)"
echo "store      $STORE (OSS protocol, V4 signatures checked, bucket ferry-demo)"
echo "command    ferry copy $SOURCE/obj/1/$SIZE oss://ferry-demo/$KEY --endpoint $STORE --region cn-hangzhou --instances $INSTANCES"
echo
target/release/ferry copy "$SOURCE/obj/1/$SIZE" "oss://ferry-demo/$KEY" \
  --endpoint "$STORE" --region cn-hangzhou --instances "$INSTANCES"
echo
echo "read back through the store:"
target/release/ferry-testbed verify --store "$STORE" --bucket ferry-demo --key "$KEY" --seed 1 --size "$SIZE"
