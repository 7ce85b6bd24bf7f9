#!/usr/bin/env bash
# bench/run.sh — walhook's end-to-end workloads (issue 5, "Targets") beside
# the raw limits measured in the same run, as ratios. Medians of REPS runs.
#
#   bash bench/run.sh                 # full run, 100k-row bursts, 3 repetitions
#   ROWS=20000 REPS=1 bash bench/run.sh   # quick look
#   BACKLOG=1000000 bash bench/run.sh     # also drain a 1M-row backlog (memory)
#
# Results: one JSON file per workload and a log in $OUT (printed at the
# end); the summary table is Markdown, ready for docs/benchmarks.md.
# Every step is bounded by STEP_TIMEOUT seconds and by an equal share of
# what is left of BUDGET; walhook's runs get a share of that as their
# --timeout, so a slow walhook shows as missing events, not as a hang. A
# step that fails or is cut is reported as "not run" and the script goes on.
set -uo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-100000}
REPS=${REPS:-3}
BACKLOG=${BACKLOG:-0}
STEP_TIMEOUT=${STEP_TIMEOUT:-240}
BUDGET=${BUDGET:-780} # seconds for all steps together (13 minutes)
STEPS_LEFT=12
OUT=${OUT:-$(mktemp -d /tmp/walhook-bench.XXXXXX)}
BIN=$OUT/bin
mkdir -p "$BIN"

echo "building walhook and the baselines into $BIN" >&2
go build -o "$BIN/walhook" ./cmd/walhook || exit 1
go build -o "$BIN/baseline" ./bench/baseline || exit 1
W=$BIN/walhook
B=$BIN/baseline

machine() {
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- cores: $(nproc); CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
	echo "- memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "- PostgreSQL: $( (command -v postgres >/dev/null && postgres --version) || ls /usr/lib/postgresql 2>/dev/null | tail -1)"
	echo "- Go: $(go version | cut -d' ' -f3-)"
	echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- commit: $(git rev-parse --short HEAD 2>/dev/null)"
}

# slot prints the seconds the next step may take: STEP_TIMEOUT, or an
# equal share of what is left of BUDGET when that is less.
slot() {
	local left=$((BUDGET - SECONDS))
	local share=$((left / (STEPS_LEFT > 0 ? STEPS_LEFT : 1)))
	[ "$share" -lt 30 ] && share=30
	[ "$share" -gt "$STEP_TIMEOUT" ] && share=$STEP_TIMEOUT
	echo "$share"
}

# step NAME COMMAND... runs one workload, its JSON on stdout to $OUT/NAME.json.
step() {
	local name=$1
	shift
	local t0=$SECONDS limit
	limit=$(slot)
	STEPS_LEFT=$((STEPS_LEFT - 1))
	printf '%-12s ' "$name" >&2
	if timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.json" 2>"$OUT/$name.log"; then
		echo "done in $((SECONDS - t0))s" >&2
	else
		echo "FAILED or cut after $((SECONDS - t0))s of $limit (see $OUT/$name.log)" >&2
		[ -s "$OUT/$name.json" ] || : >"$OUT/$name.json"
	fi
}

# wstep NAME FLAGS... runs walhook bench, each run's --timeout a share of
# the step's time (the warm-up and REPS runs).
wstep() {
	local name=$1
	shift
	local per=$(($(slot) / (REPS + 2)))
	step "$name" "${BENCH[@]}" --timeout "${per}s" "$@"
}

BENCH=("$W" bench --json --progress=false --repeat "$REPS")
{
	machine
} >"$OUT/machine.md"

# Raw limits.
step decode "$B" decode -rows "$ROWS" -repeat "$REPS"
step post1 "$B" post -walhook "$W" -rows 20000 -in-flight 1 -repeat "$REPS"
step post16 "$B" post -walhook "$W" -rows "$ROWS" -in-flight 16 -repeat "$REPS"
step bare "$B" bare -walhook "$W" -rows "$ROWS" -tx-size 100 -in-flight 8 -repeat "$REPS"
step bare_1000 "$B" bare -walhook "$W" -rows 10000 -tx-size 1 -rate 1000 -in-flight 8 -repeat "$REPS"

# walhook, every guarantee on.
wstep wh_burst --object-count "$ROWS" --tx-size 100 --warmup=5000
wstep wh_batch50 --object-count "$ROWS" --tx-size 100 --warmup=5000 --batch-size 50
wstep wh_batch50_backlog --object-count "$ROWS" --tx-size 100 --warmup=5000 --batch-size 50 --backlog
wstep wh_1000 --object-count 10000 --tx-size 1 --rate 1000 --warmup=2000
wstep wh_5000 --object-count 25000 --tx-size 5 --rate 5000 --warmup=2000
wstep wh_logoff --object-count "$ROWS" --tx-size 100 --warmup=5000 --delivery-log off
wstep wh_down --object-count "$ROWS" --tx-size 100 --warmup=5000 --down-endpoint
if [ "$BACKLOG" -gt 0 ]; then
	STEP_TIMEOUT=$((STEP_TIMEOUT * 3)) step wh_backlog "$W" bench --json --progress=false --repeat 1 \
		--timeout 600s --object-count "$BACKLOG" --tx-size 1000 --backlog
fi

echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.md"
echo
echo "## Machine"
echo
cat "$OUT/machine.md"
echo
echo "## Figures (medians of $REPS; raw JSON in $OUT)"
echo
"$B" report "$OUT"
