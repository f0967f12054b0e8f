#!/bin/sh
# The main job: sets everything up, builds, and runs pixcached with eight
# clients needing the same real icons (Adwaita and hicolor), with and
# without the cache, pinned to one CPU and not; prints what it did and
# what it cost (tools/main-job.py). Stops everything it started.
set -eu
cd "$(dirname "$0")"

tools/build.sh
exec python3 tools/main-job.py --build build "$@"
