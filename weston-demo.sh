#!/bin/sh
# The demo inside Weston: sets everything up, builds, starts headless
# Weston 10 with the pixcache plugin in a private runtime directory, shows
# the demo window (Adwaita icons through the cache), captures the
# screen into weston-demo.png, and stops everything it started.
# On a desktop, run Weston yourself instead:
#   weston --modules=$PWD/build/tools/pixcache.so &
#   WAYLAND_DISPLAY=wayland-1 build/tools/pixcache-demo /usr/share/icons/Adwaita/48x48/legacy/*.png
set -eu
cd "$(dirname "$0")"

tools/build.sh

runtime=$(mktemp -d)
chmod 700 "$runtime"
weston_pid=
demo_pid=
cleanup() {
	[ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
	[ -n "$weston_pid" ] && kill "$weston_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$runtime"
}
trap cleanup EXIT INT TERM

printf '[shell]\nstartup-animation=none\nanimation=none\n[pixcache]\nbudget=64M\n' \
	>"$runtime/weston.ini"
export XDG_RUNTIME_DIR="$runtime" WAYLAND_DISPLAY=pixcache-demo
weston --backend=headless-backend.so --use-pixman --shell=desktop-shell.so \
	--socket="$WAYLAND_DISPLAY" --modules="$PWD/build/tools/pixcache.so" \
	-c "$runtime/weston.ini" --debug --log="$runtime/weston.log" \
	>/dev/null 2>&1 &
weston_pid=$!
for _ in $(seq 100); do
	grep -q "pixcache: manager ready" "$runtime/weston.log" 2>/dev/null && break
	sleep 0.1
done
grep "pixcache:" "$runtime/weston.log"

icons=
for name in accessories-calculator accessories-text-editor address-book-new \
		applications-games camera-photo edit-copy edit-paste folder \
		help-browser input-keyboard mail-send media-optical network-wired \
		preferences-desktop-font system-run user-trash; do
	for f in /usr/share/icons/Adwaita/48x48/*/"$name".png; do
		[ -f "$f" ] && icons="$icons $f" && break
	done
done
# shellcheck disable=SC2086
build/tools/pixcache-demo --columns 4 --seconds 30 $icons >"$runtime/demo.json" &
demo_pid=$!
for _ in $(seq 100); do
	[ -s "$runtime/demo.json" ] && break
	sleep 0.1
done
sleep 0.3
(cd "$runtime" && weston-screenshooter)
cp "$runtime"/wayland-screenshot-*.png weston-demo.png
echo "weston-demo: the demo drew $(grep -o '"icons": \[.*' "$runtime/demo.json" | grep -o '"name"' | wc -l) icons through the cache; the screen is in weston-demo.png"
