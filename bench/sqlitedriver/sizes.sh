#!/usr/bin/env bash
# Build time and binary size of a tiny program (open, create, insert,
# select, try FTS5) per driver, against a baseline with no driver.
# "cold" = empty GOCACHE (includes compiling the standard library, the same
# for every row: compare with the baseline); "warm" = rebuild with the cache
# filled (relink). CPU = user+sys seconds. Also: CGO_ENABLED=0, static
# linking, and cross-compilation to linux/arm64. Output: results/sizes.txt.
# Takes ~10 minutes on 2 cores (mostly the cold builds).
set -uo pipefail
cd "$(dirname "$0")"
mkdir -p results
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
TIMEFORMAT='%R %U %S'

# name dir tags
variants=(
	"none tiny-none -"
	"modernc tiny-modernc -"
	"mattn tiny-mattn -"
	"mattn+fts5 tiny-mattn sqlite_fts5"
	"ncruces tiny-ncruces -"
	"ncruces+fts5 tiny-ncruces-fts5 -"
)

measure() { # cmd... ; prints "wall cpu"
	local t
	t=$( { time "$@" >/dev/null 2>"$out/err"; } 2>&1 ) || { echo "FAIL"; return 1; }
	awk '{printf "%.1f %.1f", $1, $2+$3}' <<<"$t"
}

{
echo "# $(date -u +%FT%TZ) nproc=$(nproc) $(go version) gcc: $(gcc -dumpfullversion)"
printf "%-13s %9s %9s %9s %9s %11s %11s  %s\n" variant cold_wall cold_cpu warm_wall warm_cpu size_bytes stripped run
for v in "${variants[@]}"; do
	read -r name dir tags <<<"$v"
	[ "$tags" = - ] && tags=""
	cache="$out/cache-$name"
	mkdir -p "$cache"
	cold=$(GOCACHE="$cache" measure go build -trimpath -tags "$tags" -o "$out/$name" "./cmd/$dir")
	warm=$(GOCACHE="$cache" measure go build -trimpath -tags "$tags" -o "$out/$name.2" "./cmd/$dir")
	GOCACHE="$cache" go build -trimpath -tags "$tags" -ldflags="-s -w" -o "$out/$name.s" "./cmd/$dir"
	run=$("$out/$name" 2>&1 | head -1)
	printf "%-13s %9s %9s %9s %9s %11s %11s  %s\n" "$name" $cold $warm \
		"$(stat -c %s "$out/$name")" "$(stat -c %s "$out/$name.s")" "$run"
	rm -rf "$cache"
done

echo
echo "## dynamic dependencies of the default builds"
for name in modernc mattn ncruces; do
	go build -trimpath -o "$out/$name" "./cmd/tiny-$name" 2>/dev/null
	echo "$name: $(file -b "$out/$name" | cut -d, -f1-2,4 ) | ldd: $(ldd "$out/$name" 2>&1 | awk '{print $1}' | tr '\n' ' ')"
done

echo
echo "## CGO_ENABLED=0 (static, no C toolchain)"
for name in modernc mattn ncruces; do
	if CGO_ENABLED=0 go build -trimpath -o "$out/$name.nocgo" "./cmd/tiny-$name" 2>"$out/err"; then
		echo "$name: build OK, run: $("$out/$name.nocgo" 2>&1 | head -1)"
	else
		echo "$name: build FAILED: $(head -2 "$out/err" | tr '\n' ' ')"
	fi
done

echo
echo "## mattn fully static with cgo (-linkmode external -extldflags -static)"
if go build -trimpath -ldflags '-linkmode external -extldflags "-static"' -o "$out/mattn.static" ./cmd/tiny-mattn 2>"$out/err"; then
	echo "build OK ($(grep -c warning "$out/err") linker warnings): $(file -b "$out/mattn.static" | cut -d, -f1-2,4), run: $("$out/mattn.static" 2>&1 | head -1)"
else
	echo "build FAILED: $(head -3 "$out/err" | tr '\n' ' ')"
fi

echo
echo "## cross-compile to linux/arm64"
for name in modernc mattn ncruces; do
	if GOARCH=arm64 go build -trimpath -o "$out/$name.arm64" "./cmd/tiny-$name" 2>"$out/err"; then
		echo "$name (default CGO_ENABLED, which is 0 when cross-compiling): build OK, $(file -b "$out/$name.arm64" | cut -d, -f1-2)"
	else
		echo "$name: build FAILED: $(head -2 "$out/err" | tr '\n' ' ')"
	fi
done
if CGO_ENABLED=1 GOARCH=arm64 go build -trimpath -o "$out/mattn.arm64cgo" ./cmd/tiny-mattn 2>"$out/err"; then
	echo "mattn (CGO_ENABLED=1, host gcc): build OK"
else
	echo "mattn (CGO_ENABLED=1, host gcc): build FAILED: $(grep -m2 -v '^#' "$out/err" | tr '\n' ' ' | cut -c1-200)"
fi
} 2>&1 | tee results/sizes.txt
