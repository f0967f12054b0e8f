#!/bin/sh
# Sets everything up and runs the whole test suite: a plain build (run on
# this kernel, then under Debian 12's 6.1 in a QEMU guest), the
# whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer,
# the threaded tests under ThreadSanitizer, and the fuzzers for a minute
# each. Ends with one line
# "N passed, N failed" counting every test case, and exits non-zero if any
# failed.
set -eu
cd "$(dirname "$0")"

./setup.sh

jobs=$(nproc 2>/dev/null || echo 2)

# configure DIR [meson options...]: (re)configures a build directory.
configure() {
	dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
}

status=0
configure build
meson test -C build --num-processes "$jobs" --print-errorlogs || status=1

# The same build's suite again under Debian 12's own kernel (6.1, what the
# users run), with vgem loaded, in a QEMU guest (tests/vm/vm-run.sh): its
# seals, memfds and DRM, not the development machine's. Logged apart
# (vm-6.1); skipped, with the reason, where no guest can run.
logs=build/meson-logs
rm -f "$logs/vm-6.1.json" "$logs/vm-6.1.skip"
vm=0
PXC_TEST_TIMEOUT_SCALE=4 tests/vm/vm-run.sh --kernel 6.1 --modules vgem \
	--timeout 2400 -- meson test -C build --no-rebuild \
	--num-processes "$jobs" --print-errorlogs --timeout-multiplier 4 \
	--logbase vm-6.1 2>"$logs/vm-6.1.err" || vm=$?
cat "$logs/vm-6.1.err" >&2
if [ "$vm" -eq 77 ]; then
	sed -n 's/^vm-run: skip: //p' "$logs/vm-6.1.err" >"$logs/vm-6.1.skip"
elif [ "$vm" -ne 0 ]; then
	status=1
fi

configure build-asan -Dbench=disabled -Db_sanitize=address,undefined \
	-Dc_args=-fno-sanitize-recover=all
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp":print_suppressions=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
PXC_TEST_TIMEOUT_SCALE=4 \
	meson test -C build-asan --num-processes "$jobs" --print-errorlogs \
	--timeout-multiplier 4 || status=1

configure build-tsan -Dbench=disabled -Db_sanitize=thread
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
PXC_TEST_TIMEOUT_SCALE=4 \
	meson test -C build-tsan --suite thread --num-processes 1 \
	--print-errorlogs --timeout-multiplier 4 || status=1

# The fuzzers: clang 14's libFuzzer, every library instrumented, ASan and
# UBSan; each runs for fuzz_seconds (60) from its seed corpus.
(
	CC=clang-14
	export CC
	configure build-fuzz -Dtests=false -Dbench=disabled -Dweston=disabled \
		-Dwlroots=disabled -Dexamples=disabled -Dgtk=disabled \
		-Dqt=disabled -Dman=disabled -Dhtml=disabled \
		-Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false \
		"-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
) || status=1
meson test -C build-fuzz --suite fuzz --num-processes 1 --print-errorlogs \
	|| status=1

python3 tests/summarize.py build build:vm-6.1 build-asan build-tsan build-fuzz \
	|| status=1
exit $status
