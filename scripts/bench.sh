#!/usr/bin/env bash
# Layer overhead of the demo's fingerprinted article page, measured with wrk on loopback:
# the same app with and without the fingerprint layer, in one run, for new visitors (no cookie:
# every request is a new session and is recorded) and for one returning session (debounced).
#
#   scripts/bench.sh                        # SQLite
#   FINGERPRINT_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test scripts/bench.sh
#   DURATION=30s CONNECTIONS=16 THREADS=2 scripts/bench.sh
#
# Only 127.0.0.1 is ever a target; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
PATH_UNDER_TEST="/articles/1"
SESSION_COOKIE="fingerprint_session=0123456789abcdef0123456789abcdef"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk" >&2
    apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release -p demo >&2
DEMO=target/release/demo
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${PG_SCHEMA:-}" ]; then
        psql "$FINGERPRINT_BENCH_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# start PORT DATABASE_URL [--without-fingerprint]
start() {
    local port="$1" url="$2"; shift 2
    RUST_LOG=warn "$DEMO" --port "$port" --database-url "$url" "$@" >"$WORK/demo-$port.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/about" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo on port $port did not start:" >&2; cat "$WORK/demo-$port.log" >&2; exit 1
}

# run PORT [HEADER...] -> "req/s p99"
run() {
    local port="$1"; shift
    local args=()
    for header in "$@"; do args+=(-H "$header"); done
    local out
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${args[@]}" "http://127.0.0.1:$port$PATH_UNDER_TEST")"
    local rps p99 errors
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')"
    [ -n "$errors" ] && echo "  wrk on $port: $errors" >&2
    echo "$rps $p99"
}

# stored/dropped of the fingerprinted server once its queue is empty
recorder() {
    local port="$1" json
    for _ in $(seq 1 100); do
        json="$(curl -sf "http://127.0.0.1:$port/stats.json")"
        grep -q '"pending":0' <<<"$json" && break
        sleep 0.2
    done
    sed -E 's/.*"dropped":([0-9]+).*"enqueued":([0-9]+).*"stored":([0-9]+).*/enqueued \2, stored \3, dropped \1/' <<<"$json"
}

ROWS=()
bench_store() {
    local store="$1" url="$2" base_port="$3"
    local plain=$((base_port)) fingerprinted=$((base_port + 1))
    start "$plain" "${url}" --without-fingerprint
    start "$fingerprinted" "${url}"
    # Warm up both (URL row, caches, connections).
    wrk -t1 -c2 -d1s "http://127.0.0.1:$plain$PATH_UNDER_TEST" >/dev/null
    wrk -t1 -c2 -d1s -H "Cookie: $SESSION_COOKIE" "http://127.0.0.1:$fingerprinted$PATH_UNDER_TEST" >/dev/null
    for scenario in new returning; do
        local headers=()
        [ "$scenario" = returning ] && headers=("Cookie: $SESSION_COOKIE")
        local without with
        without="$(run "$plain" "${headers[@]}")"
        with="$(run "$fingerprinted" "${headers[@]}")"
        local note=""
        [ "$scenario" = new ] && note="$(recorder "$fingerprinted")"
        ROWS+=("$store|$scenario|$without|$with|$note")
    done
}

PORT=39100
bench_store sqlite "sqlite://$WORK/bench.db" "$PORT"
if [ -n "${FINGERPRINT_BENCH_POSTGRES_URL:-}" ]; then
    PG_SCHEMA="fp_bench_$$"
    psql "$FINGERPRINT_BENCH_POSTGRES_URL" -qc "CREATE SCHEMA $PG_SCHEMA" >/dev/null
    sep='?'; [[ "$FINGERPRINT_BENCH_POSTGRES_URL" == *\?* ]] && sep='&'
    bench_store postgres "${FINGERPRINT_BENCH_POSTGRES_URL}${sep}options=-c%20search_path%3D${PG_SCHEMA}" $((PORT + 10))
fi

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION http://127.0.0.1:PORT$PATH_UNDER_TEST ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "| store | visitors | without layer (req/s) | with layer (req/s) | with / without | p99 without | p99 with | recorder after the run |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
for row in "${ROWS[@]}"; do
    IFS='|' read -r store scenario without with note <<<"$row"
    read -r rps0 p990 <<<"$without"
    read -r rps1 p991 <<<"$with"
    ratio="$(awk -v a="$rps1" -v b="$rps0" 'BEGIN { if (b > 0) printf "%.0f %%", 100 * a / b; else print "-" }')"
    label="new visitor per request"; [ "$scenario" = returning ] && label="one returning session"
    echo "| $store | $label | $rps0 | $rps1 | $ratio | $p990 | $p991 | ${note:--} |"
done
