#!/bin/sh
# Installs every Debian 12 package pixcache needs to build, test and benchmark.
# Idempotent: when everything is installed it only checks and returns.
set -eu

packages="
	meson ninja-build pkg-config gcc g++ python3
	libwayland-dev libwayland-bin wayland-protocols
	libpixman-1-dev libdrm-dev libpng-dev
	libegl-dev libgles-dev libegl-mesa0 libgl1-mesa-dri
	weston libweston-10-dev
	clang-14 libclang-rt-14-dev llvm-14
	qtbase5-dev libkf5coreaddons-dev libkf5guiaddons-dev cmake
	valgrind python3-matplotlib
	adwaita-icon-theme hicolor-icon-theme
	qemu-system-x86 busybox-static cpio kmod xz-utils zstd
	libgtk-4-dev librsvg2-dev libwlroots-dev libxkbcommon-dev scdoc xsltproc man-db
"

missing=
for p in $packages; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "setup: all $(echo $packages | wc -w) packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages:$missing" >&2
	echo "setup: run as root (or install them with apt-get) and try again" >&2
	exit 1
fi

echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
echo "setup: done"
