#!/usr/bin/env bash
# The benchmark runner (BENCHMARKS.md): starts the demo as the bench server itself, loads it on
# 127.0.0.1 only, and prints one table. Every figure is measured in this run next to a
# baseline measured in the same run.
#
#   1  layer overhead: the demo's article page with and without the fingerprint layer (wrk),
#      new visitors (no cookie) and one returning session
#   2  zero-loss capacity: the highest new-visitor rate with every request answered and stored
#      (fp-bench capacity, a fixed-rate generator), and what happens at twice that rate
#   3  ingest through the recorder (1M events) and 4  hit counts on the result (fp-bench store)
#   5  peak RSS of the bench server under overload with its queue full (writes held back)
#
#   scripts/bench.sh                                    # SQLite
#   FINGERPRINT_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test scripts/bench.sh
#   ITEMS="1 2" DURATION=30s STEP_DURATION=10 scripts/bench.sh
#
# Knobs (defaults keep a full run with both stores within about 15 minutes):
#   DURATION=10s        each wrk run of item 1
#   ROUNDS=3            item 1: alternating runs of each server; the medians are compared
#   CONNECTIONS=16 THREADS=2   wrk's connections and threads (items 1 and 5)
#   STEP_DURATION=5     seconds of each step of the item-2 search
#   EVENTS=1000000 SWEEP_EVENTS=50000 BATCH_SIZES=512,2048,8192   item 3
#   KEY_EXPERIMENT_EVENTS=100000   item 3: ingest with fully random session keys, for comparison (0: off)
#   MEMORY_DURATION=60  seconds of overload in item 5
#   QUEUE_CAPACITY=     the demo's recorder queue (default: the library's, 16,384)
#   ITEMS="1 2 3 4 5"   what to measure (3 and 4 run together)
#   BROWSER_HEADERS=1   send a browser's User-Agent, Accept, Accept-Language and
#                       Accept-Encoding (0: only what wrk sends, as the first tables did)
#   OUT=target/bench    where results.md (the table) and the logs are written
#   DEMO=               another build of the demo to measure (default: the release build)
#
# Only 127.0.0.1 is ever a target; every run is bounded by its duration or event count.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
STEP_DURATION="${STEP_DURATION:-5}"
EVENTS="${EVENTS:-1000000}"
SWEEP_EVENTS="${SWEEP_EVENTS:-50000}"
KEY_EXPERIMENT_EVENTS="${KEY_EXPERIMENT_EVENTS:-100000}"
BATCH_SIZES="${BATCH_SIZES:-512,2048,8192}"
MEMORY_DURATION="${MEMORY_DURATION:-60}"
ITEMS="${ITEMS:-1 2 3 4 5}"
OUT="${OUT:-target/bench}"
BROWSER_HEADERS="${BROWSER_HEADERS:-1}"
PATH_UNDER_TEST="/articles/1"
BROWSER=()
if [ "$BROWSER_HEADERS" = 1 ]; then
    BROWSER=(
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
        "Accept-Language: cs-CZ,cs;q=0.9,en;q=0.8"
        "Accept-Encoding: gzip, deflate, br, zstd"
    )
fi
SESSION_COOKIE="fingerprint_session=0123456789abcdef0123456789abcdef"
SAME_HOST="Host: bench.example"

want() { [[ " $ITEMS " == *" $1 "* ]]; }

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk" >&2
    apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release -p demo -p bench >&2
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
DEMO="${DEMO:-$TARGET_DIR/release/demo}"
FP_BENCH="$TARGET_DIR/release/fp-bench"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOGS="$OUT/logs"
rm -rf "$LOGS" && mkdir -p "$LOGS"
: >"$OUT/rows.txt"
WORK="$(mktemp -d)"
PIDS=()
SCHEMAS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for schema in "${SCHEMAS[@]}"; do
        psql "$FINGERPRINT_BENCH_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# 12345.6 -> 12,346
fmt() { awk -v n="$1" 'BEGIN { n = sprintf("%.0f", n); s = ""; while (length(n) > 3) { s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) } print n s }'; }
# verdict VALUE TARGET UNIT: "met" or "missed by N UNIT" for a figure that must be >= TARGET
verdict() { awk -v v="$1" -v t="$2" -v u="$3" 'BEGIN { if (v >= t) print "met"; else printf "missed by %.0f%s\n", t - v, u }'; }

# start PORT DATABASE_URL [--without-fingerprint]; sets STARTED_PID. The demo runs without
# accounts: no session layer, so the fingerprint cookie carries the session (what the layer
# costs, not what a session store costs).
start() {
    local port="$1" url="$2"; shift 2
    local queue=()
    [ -n "${QUEUE_CAPACITY:-}" ] && queue=(--queue-capacity "$QUEUE_CAPACITY")
    RUST_LOG=warn "$DEMO" --port "$port" --database-url "$url" --without-accounts "${queue[@]}" "$@" >"$LOGS/demo-$port.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/about" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo on port $port did not start:" >&2; cat "$LOGS/demo-$port.log" >&2; exit 1
}

# forget PID: it has ended (so cleanup never signals a reused id)
forget() {
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

# wrk_run PORT [HEADER...] -> "req/s p99"
wrk_run() {
    local port="$1"; shift
    local args=()
    for header in "${BROWSER[@]}" "$@"; do args+=(-H "$header"); done
    local out
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${args[@]}" "http://127.0.0.1:$port$PATH_UNDER_TEST")"
    local rps p99 errors
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')"
    [ -n "$errors" ] && echo "  wrk on $port: $errors" >&2
    echo "$rps $p99"
}

stats() { curl -sf "http://127.0.0.1:$1/stats.json"; }
counter() { jq -r --arg k "$2" '.[$k]' <<<"$1"; }

# Waits until the recorder of the server on PORT has an empty queue; prints its stats.
drained() {
    local json
    for _ in $(seq 1 600); do
        json="$(stats "$1")"
        [ "$(counter "$json" pending)" = 0 ] && break
        sleep 0.2
    done
    echo "$json"
}

# median X...: the middle value (of an even count, the lower middle)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# median_time T...: the same for wrk's times (1.65ms, 850.00us, 1.02s), printed as wrk does
median_time() {
    printf '%s\n' "$@" | awk '{ v = $1; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        f = (u == "us") ? 0.001 : (u == "s") ? 1000 : 1; print v * f, $1 }' |
        sort -g | awk '{ v[NR] = $2 } END { print v[int((NR + 1) / 2)] }'
}

kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

ROWS=()
# row TEXT: keeps a result row (also appended to $OUT/rows.txt at once, so an interrupted run
# leaves what it measured)
row() {
    ROWS+=("$1")
    echo "$1" >>"$OUT/rows.txt"
    echo "$1" >&2
}

bench_overhead() {  # store db_url base_port
    local store="$1" url="$2" port="$3"
    local plain=$((port)) fingerprinted=$((port + 1))
    start "$plain" "$url" --without-fingerprint; local plain_pid=$STARTED_PID
    start "$fingerprinted" "$url"; local fp_pid=$STARTED_PID
    # Warm up both (URL row, caches, connections).
    wrk -t1 -c2 -d1s -H "$SAME_HOST" -H "Cookie: $SESSION_COOKIE" "http://127.0.0.1:$fingerprinted$PATH_UNDER_TEST" >/dev/null
    wrk -t1 -c2 -d1s -H "$SAME_HOST" "http://127.0.0.1:$plain$PATH_UNDER_TEST" >/dev/null
    if want 1; then
        # The returning session first: after a burst of new visitors a process pays for a
        # while for freeing the burst's memory (about +20, +10, +2 µs a request in three
        # successive 5 s windows after 200,000 new visitors), which is not the layer's cost
        # for a returning session.
        for scenario in returning new; do
            # One Host for both servers: the same absolute URL, so both pages read the same
            # stored count (without it the plain server's URL is never in the store).
            local headers=("$SAME_HOST") label="new visitor per request" target=90
            if [ "$scenario" = returning ]; then
                headers+=("Cookie: $SESSION_COOKIE"); label="one returning session"; target=95
            fi
            # ROUNDS runs of each, alternating (plain, then fingerprinted), so that a slow
            # spell of the machine falls on both; the medians are compared.
            local rps0=() p990=() rps1=() p991=() note="" ratio rps p99 round m0 m1 t0 t1
            for round in $(seq 1 "$ROUNDS"); do
                read -r rps p99 <<<"$(wrk_run "$plain" "${headers[@]}")"; rps0+=("$rps"); p990+=("$p99")
                read -r rps p99 <<<"$(wrk_run "$fingerprinted" "${headers[@]}")"; rps1+=("$rps"); p991+=("$p99")
                # The recorder's backlog is written before the next plain run starts.
                if [ "$scenario" = new ]; then drained "$fingerprinted" >/dev/null; fi
            done
            echo "  $store $scenario: without ${rps0[*]}; with ${rps1[*]} req/s" >&2
            m0="$(median "${rps0[@]}")"; t0="$(median_time "${p990[@]}")"
            m1="$(median "${rps1[@]}")"; t1="$(median_time "${p991[@]}")"
            if [ "$scenario" = new ]; then
                local json; json="$(drained "$fingerprinted")"
                note="; recorder: enqueued $(fmt "$(counter "$json" enqueued)"), stored $(fmt "$(counter "$json" stored)"), debounced by the store $(counter "$json" "debounced by the store"), dropped $(counter "$json" dropped)"
            fi
            ratio="$(awk -v a="$m1" -v b="$m0" 'BEGIN { printf "%.0f", 100 * a / b }')"
            row "| 1 | $store | layer overhead, $label (wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $ROUNDS alternating runs) | $(fmt "$m1") req/s, p99 $t1$note | $(fmt "$m0") req/s, p99 $t0 (without the layer) | $ratio % | >= $target % | $(verdict "$ratio" "$target" " points") |"
        done
    fi
    if want 2; then
        local rows header_args=()
        for header in "${BROWSER[@]}"; do header_args+=(--header "$header"); done
        rows="$("$FP_BENCH" capacity --store "$store" "${header_args[@]}" \
            --url "http://127.0.0.1:$fingerprinted$PATH_UNDER_TEST" \
            --plain-url "http://127.0.0.1:$plain$PATH_UNDER_TEST" \
            --stats-url "http://127.0.0.1:$fingerprinted/stats.json" \
            --database-url "$url" --duration "$STEP_DURATION" 2> >(tee "$LOGS/capacity-$store.log" >&2))"
        while IFS= read -r line; do row "$line"; done <<<"$rows"
    fi
    stop "$fp_pid"; stop "$plain_pid"
}

bench_memory() {  # store db_url port
    local store="$1" url="$2" port="$3"
    start "$port" "$url"; local pid=$STARTED_PID
    wrk -t1 -c2 -d1s "http://127.0.0.1:$port$PATH_UNDER_TEST" >/dev/null
    local idle; idle="$(status_kb "$pid" VmRSS)"
    # Hold the store's write lock a little longer than the load, so the queue stays full.
    "$FP_BENCH" hold-lock --database-url "$url" --seconds $((MEMORY_DURATION + 3)) >"$LOGS/lock-$store.log" 2>&1 &
    local lock_pid=$!
    PIDS+=("$lock_pid")
    for _ in $(seq 1 100); do grep -qs locked "$LOGS/lock-$store.log" && break; sleep 0.1; done
    grep -qs locked "$LOGS/lock-$store.log" || { echo "could not lock $store:" >&2; cat "$LOGS/lock-$store.log" >&2; exit 1; }
    local args=()
    for header in "${BROWSER[@]}"; do args+=(-H "$header"); done
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${MEMORY_DURATION}s" "${args[@]}" "http://127.0.0.1:$port$PATH_UNDER_TEST" >"$LOGS/memory-wrk-$store.log" 2>&1 &
    local wrk_pid=$!
    PIDS+=("$wrk_pid")
    local samples=() peak=0 rss
    for _ in $(seq 1 "$MEMORY_DURATION"); do
        sleep 1
        rss="$(status_kb "$pid" VmRSS)"
        samples+=("$rss")
        [ "$rss" -gt "$peak" ] && peak="$rss"
    done
    wait "$wrk_pid" || true
    forget "$wrk_pid"
    local hwm json n=${#samples[@]}
    hwm="$(status_kb "$pid" VmHWM)"
    json="$(stats "$port")"
    local pending dropped requests
    pending="$(counter "$json" pending)"; dropped="$(counter "$json" dropped)"
    requests="$(awk '/requests in/ {print $1}' "$LOGS/memory-wrk-$store.log")"
    printf '%s\n' "${samples[@]}" >"$LOGS/memory-rss-$store.txt"
    wait "$lock_pid" || true
    forget "$lock_pid"
    json="$(drained "$port")"
    local q1="${samples[$((n / 4))]}" q2="${samples[$((n / 2))]}" last="${samples[$((n - 1))]}"
    local ratio; ratio="$(awk -v a="$hwm" -v b="$idle" 'BEGIN { printf "%.1fx", a / b }')"
    local mib; mib="$(kib "$hwm")"
    row "| 5 | $store | peak RSS (VmHWM), ${MEMORY_DURATION} s overload with writes held back, queue $(fmt "${QUEUE_CAPACITY:-16384}") ($(fmt "$requests") requests; at the end pending $(fmt "$pending"), dropped $(fmt "$dropped"); afterwards stored $(fmt "$(counter "$json" stored)") of $(fmt "$(counter "$json" enqueued)") enqueued) | $mib MiB (RSS at 1/4, 1/2, end of the load: $(kib "$q1"), $(kib "$q2"), $(kib "$last") MiB) | $(kib "$idle") MiB (same process, idle after warm-up) | $ratio | <= 64 MiB | $(awk -v v="$mib" 'BEGIN { if (v <= 64) print "met"; else printf "missed by %.0f %%\n", 100 * (v - 64) / 64 }') |"
    stop "$pid"
}

bench_store() {  # store db_url base_port
    local store="$1" url="$2" port="$3"
    if want 1 || want 2; then bench_overhead "$store" "$url" "$port"; fi
    if want 5; then bench_memory "$store" "$url" $((port + 5)); fi
    if want 3 || want 4; then
        local rows
        rows="$("$FP_BENCH" store --kind "$store" --dir "$WORK" --events "$EVENTS" \
            --sweep-events "$SWEEP_EVENTS" --batch-sizes "$BATCH_SIZES" \
            --key-experiment-events "$KEY_EXPERIMENT_EVENTS" \
            2> >(tee "$LOGS/store-$store.log" >&2))"
        while IFS= read -r line; do row "$line"; done <<<"$rows"
    fi
}

PORT=39100
echo "== sqlite" >&2
bench_store sqlite "sqlite://$WORK/bench.db" "$PORT"
if [ -n "${FINGERPRINT_BENCH_POSTGRES_URL:-}" ]; then
    echo "== postgres" >&2
    schema="fp_bench_$$"
    SCHEMAS+=("$schema")
    psql "$FINGERPRINT_BENCH_POSTGRES_URL" -qc "CREATE SCHEMA $schema" >/dev/null
    sep='?'; [[ "$FINGERPRINT_BENCH_POSTGRES_URL" == *\?* ]] && sep='&'
    bench_store postgres "${FINGERPRINT_BENCH_POSTGRES_URL}${sep}options=-c%20search_path%3D${schema}" $((PORT + 10))
fi

{
    echo "scripts/bench.sh on $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "ITEMS=\"$ITEMS\" BROWSER_HEADERS=$BROWSER_HEADERS DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS STEP_DURATION=$STEP_DURATION EVENTS=$EVENTS SWEEP_EVENTS=$SWEEP_EVENTS KEY_EXPERIMENT_EVENTS=$KEY_EXPERIMENT_EVENTS BATCH_SIZES=$BATCH_SIZES MEMORY_DURATION=$MEMORY_DURATION"
    echo
    echo "| item | store | figure | value | baseline (same run) | ratio | target | verdict |"
    echo "| --- | --- | --- | --- | --- | ---: | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
} >"$OUT/results.md"
echo
cat "$OUT/results.md"
echo
echo "written to $OUT/results.md (logs in $LOGS)" >&2
