#!/usr/bin/env bash
# Runs the correctness checks and the benchmarks for the three drivers, one
# package (= one driver) at a time, never two benchmark binaries on the 2
# cores at once. The drivers are interleaved (round i runs modernc, mattn,
# ncruces once each) so that slow drift of the shared VM's disk and CPU
# does not land on one driver. Output goes to results/. About 6 minutes on
# 2 cores with the defaults.
#   COUNT=6 BENCHTIME=1s ./bench.sh
# Summarise with:
#   go run golang.org/x/perf/cmd/benchstat@latest -ignore pkg -col /driver results/bench.txt
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p results
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}

{
	go test -count=1 -v -run . ./modernc ./mattn ./ncruces
	go test -count=1 -v -tags sqlite_fts5 -run 'FTS5' ./mattn
} 2>&1 | grep -E -- '--- (PASS|FAIL)|PLACEHOLDER|FTS5|conn [0-9]|FK|^(ok|FAIL)' > results/checks.txt

{ echo "# $(date -u +%FT%TZ) nproc=$(nproc) $(go version)"; uptime
for i in $(seq "$COUNT"); do
	for p in modernc mattn ncruces; do
		echo "# round $i $p: $(uptime)"
		go test -count=1 -benchtime="$BENCHTIME" -run '^$' -bench . -benchmem "./$p"
	done
done
uptime; } 2>&1 | tee results/bench.txt
