#!/bin/sh
# One client filling an empty cache against one client decoding alone:
# the main job's icon list, ROUNDS (9) interleaved rounds, each on a fresh
# pixcached. Prints each round (the filler's icon CPU, pixcached's CPU
# meanwhile, the lone decoder's icon CPU, in ms) and the medians.
#
# usage: bench/fill-bench.sh [BUILD] (after build/ is built)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
rounds=${ROUNDS:-9}
runtime=$(mktemp -d)
trap 'rm -rf "$runtime"' EXIT
export XDG_RUNTIME_DIR="$runtime"
python3 - "$runtime/icons.txt" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("mj", "tools/main-job.py")
mj = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mj)
icons, _ = mj.collect_icons([16, 24, 32, 48])
with open(sys.argv[1], "w") as f:
    f.writelines(f"{n}\t{p}\n" for n, p in icons)
PY
: > "$runtime/rounds"
i=0
while [ $i -lt "$rounds" ]; do
	i=$((i + 1))
	"$build/tools/pixcached" --socket fill-$i 2>/dev/null &
	pid=$!
	while [ ! -S "$runtime/fill-$i" ]; do sleep 0.01; done
	m0=$(cut -d' ' -f1 /proc/$pid/schedstat)
	"$build/tools/pixcache-workload" --socket fill-$i \
		--list "$runtime/icons.txt" </dev/null >"$runtime/fill.json"
	sleep 0.05
	m1=$(cut -d' ' -f1 /proc/$pid/schedstat)
	kill $pid
	wait $pid || true
	"$build/tools/pixcache-workload" --no-cache \
		--list "$runtime/icons.txt" </dev/null >"$runtime/alone.json"
	python3 -c "
import json, sys
f = json.load(open('$runtime/fill.json'))
a = json.load(open('$runtime/alone.json'))
print(f['icon_cpu_ns'] / 1e6, ($m1 - $m0) / 1e6, a['icon_cpu_ns'] / 1e6)
" >>"$runtime/rounds"
done
python3 -c "
import statistics
rows = [list(map(float, l.split())) for l in open('$runtime/rounds')]
for r in rows:
    print('round: filler %.0f ms, pixcached %.0f ms, alone %.0f ms' % tuple(r))
med = lambda k: statistics.median(k(r) for r in rows)
print('median: filler %.0f ms + pixcached %.0f ms = %.0f ms, decoding '
      'alone %.0f ms: %.2fx (median of the ratios %.2fx)' % (
          med(lambda r: r[0]), med(lambda r: r[1]),
          med(lambda r: r[0] + r[1]), med(lambda r: r[2]),
          med(lambda r: r[0] + r[1]) / med(lambda r: r[2]),
          med(lambda r: (r[0] + r[1]) / r[2])))
"
