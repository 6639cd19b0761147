#!/usr/bin/env bash
# The same copy under each runtime, in one run: the ferry host (sandboxed
# fan-out), the stock `wasmtime run` (parts in flight inside one instance),
# the stock `wasmtime serve` (fan-out to its own URL) and `jco run` (Node.js).
# Loopback only: the test bed's source and a null-sink store (CRC-64 and
# signatures still checked). Needs `make build tools`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/venv.sh

SIZE=${RUNTIMES_SIZE:-1073741824}       # 1 GiB
JCO_SIZE=${RUNTIMES_JCO_SIZE:-67108864} # 64 MiB: jco is far slower
export OSS_ACCESS_KEY_ID=bench-key OSS_ACCESS_KEY_SECRET=bench-secret
unset OSS_SESSION_TOKEN OSS_ENDPOINT OSS_REGION
WASMTIME=${WASMTIME:-wasmtime}
JCO=${JCO:-target/jco/node_modules/.bin/jco}

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

first_url() { for _ in $(seq 200); do [ -s "$1" ] && { awk 'NR==1{print $2}' "$1"; return; }; sleep 0.05; done; echo "no URL in $1" >&2; exit 1; }
target/release/ferry-testbed source --listen 127.0.0.1:0 >"$work/src" 2>/dev/null </dev/null & pids+=($!)
target/release/ferry-testbed store --listen 127.0.0.1:0 --null --cheap-etags --region cn-hangzhou \
  --bucket bench --credential "$OSS_ACCESS_KEY_ID:$OSS_ACCESS_KEY_SECRET" >"$work/store" 2>/dev/null </dev/null & pids+=($!)
SOURCE=$(first_url "$work/src"); STORE=$(first_url "$work/store")

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1/2**20/($3-$2):8.1f} MiB/s  ({$1/2**20:.0f} MiB in {$3-$2:.2f} s)')"; }
row() { printf '| %-34s | %s |\n' "$1" "$2"; }
copy_args() { echo "copy $SOURCE/obj/$1/$2 oss://bench/$3 --endpoint $STORE --region cn-hangzhou --json"; }
ok() { python3 -c "import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); sys.exit(0 if r.get('ok', 'crc64' in r) else 1)"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; commit $(git rev-parse --short HEAD)"
echo
row "runtime" "throughput"
row "---" "---"

# Warm-up, not timed: the host compiles the component into target/ferry.cwasm
# the first time it sees a new build, and wasmtime fills its own cache.
target/release/ferry $(copy_args 9 8388608 warm) --instances 2 | ok
"$WASMTIME" run -S http --env OSS_ACCESS_KEY_ID --env OSS_ACCESS_KEY_SECRET target/ferry.wasm \
  $(copy_args 9 8388608 warm) 2>/dev/null | ok

t0=$(now); target/release/ferry $(copy_args 1 "$SIZE" host) --instances 16 | ok; t1=$(now)
row "ferry host, 16 instances" "$(rate "$SIZE" "$t0" "$t1")"

t0=$(now)
"$WASMTIME" run -S http --env OSS_ACCESS_KEY_ID --env OSS_ACCESS_KEY_SECRET target/ferry.wasm \
  $(copy_args 2 "$SIZE" run) --parallel 16 2>/dev/null | ok
t1=$(now); row "wasmtime run, 16 parts in flight" "$(rate "$SIZE" "$t0" "$t1")"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$WASMTIME" serve -S cli --addr "127.0.0.1:$port" --env OSS_ACCESS_KEY_ID --env OSS_ACCESS_KEY_SECRET \
  target/ferry.wasm >/dev/null 2>&1 </dev/null & pids+=($!)
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
job=$(printf '{"source_url":"%s/obj/3/%s","target_bucket_name":"bench","target_object_name":"serve","target_region":"cn-hangzhou","endpoint":"%s","parallel":16}' "$SOURCE" "$SIZE" "$STORE")
t0=$(now); curl -sf -X POST "http://127.0.0.1:$port/jobs" -d "$job" | ok; t1=$(now)
row "wasmtime serve, fan-out to itself" "$(rate "$SIZE" "$t0" "$t1")"

t0=$(now); "$JCO" run target/ferry.wasm $(copy_args 4 "$JCO_SIZE" jco) --parallel 16 2>/dev/null | ok; t1=$(now)
row "jco run (Node.js), 16 in flight" "$(rate "$JCO_SIZE" "$t0" "$t1") (includes jco's transpile)"
