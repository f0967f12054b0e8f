#!/bin/sh
# Installs what is needed and builds into build/: what main-job.sh and
# weston-demo.sh do first.
set -eu
cd "$(dirname "$0")/.."

./setup.sh
if [ -f build/build.ninja ]; then
	meson setup --reconfigure build >/dev/null
else
	meson setup build >/dev/null
fi
ninja -C build
