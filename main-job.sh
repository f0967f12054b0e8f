#!/bin/sh
# The main job: sets everything up, builds, and runs pixcached with eight
# clients needing the same real icons (Adwaita and hicolor), with and
# without the cache, pinned to one CPU and not; prints what it did and
# what it cost (tools/main-job.py). Stops everything it started.
set -eu
cd "$(dirname "$0")"

./setup.sh
if [ -f build/build.ninja ]; then
	meson setup --reconfigure build >/dev/null
else
	meson setup build >/dev/null
fi
ninja -C build
exec python3 tools/main-job.py --build build "$@"
