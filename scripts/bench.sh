#!/usr/bin/env bash
# Runs every benchmark in release mode and prints one Markdown table row each
# (the rows BENCHMARKS.md records). Takes about 16 minutes on 2 cores after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product sluice-bench
BENCH="$(swift build -c release --show-bin-path)/sluice-bench"
echo "| benchmark | input | result |"
echo "|---|---|---|"
"$BENCH" plan-check --stages 1000
"$BENCH" pipeline
"$BENCH" csv-input --rows 1000000 --rounds 5
"$BENCH" apply --rows 1000000 --rounds 5 --review
"$BENCH" fetch
bash scripts/bench-throughput.sh
bash scripts/bench-plan.sh
"$BENCH" per-item --tracks 60
ROWS=200000 bash scripts/bench-apply.sh
ROWS=1000000 bash scripts/bench-apply.sh
bash scripts/bench-rss.sh
