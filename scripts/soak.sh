#!/usr/bin/env bash
# Soak test (not part of CI): the demo as the bench server under a steady new-visitor load
# for SOAK_DURATION seconds (default 300), on 127.0.0.1 only. Reports whether RSS stayed flat,
# whether any request failed, and whether every request was stored. Exits 1 when one of the
# checks fails.
#
#   scripts/soak.sh                                   # SQLite, 5 minutes at 5,000 req/s
#   RATE=8000 SOAK_DURATION=600 scripts/soak.sh
#   STORE=postgres FINGERPRINT_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test scripts/soak.sh
#
# Knobs: RATE (req/s, fixed; keep it under the zero-loss capacity that scripts/bench.sh
# reports), SOAK_DURATION (s), SAMPLE (s between RSS samples), RSS_GROWTH (largest allowed
# growth, in %, of the peak RSS of the last minute over the peak of the second minute; the
# first minute is warm-up: caches fill), OUT (results and logs; default target/soak).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE="${RATE:-5000}"
SOAK_DURATION="${SOAK_DURATION:-300}"
SAMPLE="${SAMPLE:-5}"
RSS_GROWTH="${RSS_GROWTH:-10}"
STORE="${STORE:-sqlite}"
OUT="${OUT:-target/soak}"
PORT=39200
PAGE="/articles/1"

if [ "$SOAK_DURATION" -lt 180 ]; then
    echo "SOAK_DURATION must be at least 180 s (a minute of warm-up, a reference minute, the last minute)" >&2
    exit 2
fi

cargo build --release -p demo -p bench >&2
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
DEMO="$TARGET_DIR/release/demo"
FP_BENCH="$TARGET_DIR/release/fp-bench"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d)"
PIDS=()
SCHEMA=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$SCHEMA" ]; then
        psql "$FINGERPRINT_BENCH_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

case "$STORE" in
    sqlite) URL="sqlite://$WORK/soak.db" ;;
    postgres)
        : "${FINGERPRINT_BENCH_POSTGRES_URL:?set FINGERPRINT_BENCH_POSTGRES_URL for STORE=postgres}"
        SCHEMA="fp_soak_$$"
        psql "$FINGERPRINT_BENCH_POSTGRES_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
        sep='?'; [[ "$FINGERPRINT_BENCH_POSTGRES_URL" == *\?* ]] && sep='&'
        URL="${FINGERPRINT_BENCH_POSTGRES_URL}${sep}options=-c%20search_path%3D${SCHEMA}"
        ;;
    *) echo "STORE must be sqlite or postgres" >&2; exit 2 ;;
esac

RUST_LOG=warn "$DEMO" --port "$PORT" --database-url "$URL" --without-accounts >"$OUT/demo.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/about" >/dev/null 2>&1 && break
    sleep 0.1
done
stats() { curl -sf "http://127.0.0.1:$PORT/stats.json"; }
counter() { jq -r --arg k "$2" '.[$k]' <<<"$1"; }
rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$SERVER/status"; }
# drained: waits until the recorder has written everything; leaves its stats in $json
drained() {
    for _ in $(seq 1 600); do
        json="$(stats)"
        [ "$(counter "$json" pending)" = 0 ] && return 0
        sleep 0.2
    done
}
curl -sf "http://127.0.0.1:$PORT$PAGE" >/dev/null   # warm-up (one recorded request)
drained

rows_before="$("$FP_BENCH" rows --database-url "$URL")"
echo "soak: $STORE, $RATE req/s of new visitors for $SOAK_DURATION s (pid $SERVER)" >&2
"$FP_BENCH" load --url "http://127.0.0.1:$PORT$PAGE" --rate "$RATE" --duration "$SOAK_DURATION" \
    --header "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36" \
    --header "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8" \
    --header "Accept-Language: cs-CZ,cs;q=0.9,en;q=0.8" \
    >"$OUT/load.json" 2>"$OUT/load.log" &
LOAD=$!
PIDS+=("$LOAD")
started=$(date +%s)
echo "seconds rss_kib pending dropped stored" >"$OUT/samples.txt"
while kill -0 "$LOAD" 2>/dev/null; do
    sleep "$SAMPLE"
    kill -0 "$LOAD" 2>/dev/null || break
    json="$(stats)"
    echo "$(( $(date +%s) - started )) $(rss_kb) $(counter "$json" pending) $(counter "$json" dropped) $(counter "$json" stored)" >>"$OUT/samples.txt"
    tail -n1 "$OUT/samples.txt" >&2
done
wait "$LOAD"
PIDS=("$SERVER")
drained
rows_after="$("$FP_BENCH" rows --database-url "$URL")"
hwm="$(awk '$1 == "VmHWM:" {print $2}' "/proc/$SERVER/status")"
load="$(cat "$OUT/load.json")"
sent="$(jq .sent <<<"$load")"; ok="$(jq .ok <<<"$load")"
errors="$(jq .errors <<<"$load")"; non2xx="$(jq .non_2xx <<<"$load")"
stored=$((rows_after - rows_before))
# Peak RSS of the second minute (reference) and of the last minute.
reference="$(awk 'NR > 1 && $1 > 60 && $1 <= 120 { if ($2 > m) m = $2 } END { print m + 0 }' "$OUT/samples.txt")"
last="$(awk -v end="$SOAK_DURATION" 'NR > 1 && $1 > end - 60 { if ($2 > m) m = $2 } END { print m + 0 }' "$OUT/samples.txt")"
growth="$(awk -v a="$last" -v b="$reference" 'BEGIN { if (b > 0) printf "%.1f", 100 * (a - b) / b; else print "nan" }')"

failed=0
check() {  # NAME OK(0/1) DETAIL
    if [ "$2" = 1 ]; then echo "PASS  $1: $3"; else echo "FAIL  $1: $3"; failed=1; fi
}
{
    echo "scripts/soak.sh: $STORE, $RATE req/s new visitors, $SOAK_DURATION s, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "load: $load"
    check "no error" "$([ "$errors" = 0 ] && [ "$non2xx" = 0 ] && [ "$ok" = "$sent" ] && echo 1 || echo 0)" \
        "$sent sent, $ok answered 2xx, $non2xx other statuses, $errors errors"
    check "no loss" "$([ "$stored" = "$sent" ] && echo 1 || echo 0)" \
        "$stored rows stored for $sent requests (dropped $(counter "$json" dropped), failed $(counter "$json" failed))"
    check "RSS flat" "$(awk -v g="$growth" -v max="$RSS_GROWTH" 'BEGIN { print (g != "nan" && g <= max) ? 1 : 0 }')" \
        "peak RSS $((reference / 1024)) MiB in the second minute, $((last / 1024)) MiB in the last minute (${growth} %, at most ${RSS_GROWTH} %); VmHWM $((hwm / 1024)) MiB"
} >"$OUT/result.txt"   # not a pipeline: check() must set $failed in this shell
cat "$OUT/result.txt"
echo "samples in $OUT/samples.txt" >&2
exit "$failed"
