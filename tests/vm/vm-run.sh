#!/bin/sh
# vm-run.sh: runs one command as root in a throw-away QEMU guest booted with
# a stock Debian kernel, so that tests see that kernel (and modules such as
# vgem) rather than the host's.  The guest's root is the host's / (read-only,
# writes go to RAM) and the current directory is shared read-write.
# See README.md next to this file.
#
# usage: vm-run.sh [--kernel 6.1|6.12] [--modules MOD,...] [--mem MIB]
#                  [--timeout SEC] [--cache DIR] -- COMMAND [ARG...]
#
# Exit status: COMMAND's; 124 on timeout; 77 (skipped) when the guest cannot
# be run here at all; 125 on any other failure.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
kernel=6.1
modules=
mem=2048
limit=600
cache=${PXC_VM_CACHE:-/var/tmp/pixcache-vm}
qemu=${PXC_VM_QEMU:-qemu-system-x86_64}

skip() {
	echo "vm-run: skip: $*" >&2
	exit 77
}

fail() {
	echo "vm-run: $*" >&2
	exit 125
}

usage() {
	fail "usage: $0 [--kernel 6.1|6.12] [--modules MOD,...] [--mem MIB]" \
		"[--timeout SEC] [--cache DIR] -- COMMAND [ARG...]"
}

# Quotes $1 for sh.  Piped through sed rather than captured with $(...),
# which would drop trailing newlines from the argument.
quote() {
	printf "'"
	printf '%s' "$1" | sed "s/'/'\\\\''/g"
	printf "'"
}

# QEMU option values are comma-separated: a literal comma is doubled.
qesc() {
	printf '%s' "$1" | sed 's/,/,,/g'
}

check_tools() {
	command -v "$qemu" >/dev/null 2>&1 ||
		skip "$qemu not found (apt-get install qemu-system-x86)"
	for t in cpio:cpio depmod:kmod modprobe:kmod xz:xz-utils zstd:zstd \
		apt-get:apt dpkg-deb:dpkg flock:util-linux; do
		command -v "${t%%:*}" >/dev/null 2>&1 ||
			skip "${t%%:*} not found (apt-get install ${t#*:})"
	done
	# The initramfs has no libraries, so its busybox must be static.
	if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
		skip "no static /bin/busybox (apt-get install busybox-static)"
	fi
}

# The Debian mirror that the host's apt uses for suite $1.  indextargets
# reads both sources formats and works before the host's lists exist.
host_mirror() {
	# shellcheck disable=SC2016 # apt expands $(...), not sh
	apt-get indextargets --no-release-info \
		--format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v suite="$1" '$2 == suite { print $1; exit }'
}

# apt with state of its own under $apt: own sources, lists, archives and an
# empty dpkg status (so packages installed on the host do not change what
# is picked), and the host's preferences are ignored.  The host's
# apt.conf.d (proxies) still applies.
papt() {
	cmd=$1
	shift
	"$cmd" -q -o Dir::State="$apt" -o Dir::State::status="$apt/status" \
		-o Dir::Cache="$apt/cache" \
		-o Dir::Etc::SourceList="$apt/sources.list" \
		-o Dir::Etc::SourceParts="$apt/none" \
		-o Dir::Etc::Preferences="$apt/none" \
		-o Dir::Etc::PreferencesParts="$apt/none" "$@"
}

# Writes the private sources for $kernel.  The backports kernel gets a
# sources list of its own: next to bookworm, apt would prefer bookworm's.
write_sources() {
	main=$(host_mirror bookworm)
	main=${main:-http://deb.debian.org/debian/}
	key=/usr/share/keyrings/debian-archive-keyring.gpg
	if [ "$kernel" = 6.12 ]; then
		echo "deb [signed-by=$key] $main bookworm-backports main"
		return
	fi
	echo "deb [signed-by=$key] $main bookworm main"
	echo "deb [signed-by=$key] $main bookworm-updates main"
	sec=$(host_mirror bookworm-security)
	if [ -n "$sec" ]; then
		echo "deb [signed-by=$key] $sec bookworm-security main"
	fi
}

# QEMU can start the uncompressed ELF vmlinux at its PVH entry point,
# which saves the guest from decompressing the bzImage (seconds under
# TCG).  The bzImage header says where the compressed payload is: setup
# sectors at 0x1f1, payload offset and length at 0x248 and 0x24c.  The
# payload's last 4 bytes are its uncompressed size, not compressed data.
extract_vmlinux() {
	u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
	sects=$(od -An -tu1 -j 497 -N1 "$1" | tr -d ' ')
	start=$(( (${sects:-4} + 1) * 512 + $(u32 "$1" 584) ))
	len=$(( $(u32 "$1" 588) - 4 ))
	case $(od -An -tx1 -j "$start" -N4 "$1" | tr -d ' ') in
	fd377a58) unpack='xz -dc' ;;
	28b52ffd) unpack='zstd -dcq' ;;
	*) return 1 ;;
	esac
	tail -c +$((start + 1)) "$1" | head -c "$len" | $unpack >"$2"
	[ "$(od -An -c -N4 "$2" | tr -d ' ')" = '177ELF' ]
}

# Downloads the kernel package into $cache/$kernel and prepares it:
# modules.dep, vmlinux and the initramfs.
fetch_kernel() {
	apt=$cache/apt-$kernel
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	: >"$apt/status"
	write_sources >"$apt/sources.list"
	echo "vm-run: downloading Debian's $kernel kernel into $cache" >&2
	papt apt-get update --error-on=any >"$apt/log" 2>&1 ||
		skip "cannot fetch the Debian package lists" \
			"($(grep -m1 '^[EW]:' "$apt/log" || echo 'see '"$apt/log"))"
	# linux-image-amd64 only depends on the current linux-image-X package.
	pkg=$(papt apt-cache depends linux-image-amd64 2>>"$apt/log" |
		sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
	[ -n "$pkg" ] || skip "linux-image-amd64 not found for kernel $kernel"

	tmp=$cache/$kernel.new
	rm -rf "$tmp"
	mkdir -p "$tmp/root"
	(cd "$tmp" && papt apt-get download "$pkg") >>"$apt/log" 2>&1 ||
		skip "cannot download $pkg ($(grep -m1 '^E:' "$apt/log"))"
	dpkg-deb -x "$tmp/$pkg"_*.deb "$tmp/root"
	rm "$tmp/$pkg"_*.deb
	kver=$(ls "$tmp/root/lib/modules")
	depmod -b "$tmp/root" "$kver"
	extract_vmlinux "$tmp/root/boot/vmlinuz-$kver" "$tmp/vmlinux" ||
		rm -f "$tmp/vmlinux"
	echo "$kver" >"$tmp/kver"
	rm -rf "${cache:?}/$kernel"
	mv "$tmp" "$cache/$kernel"
}

# The initramfs: static busybox, vm-init.sh as /init and, decompressed in
# load order, the modules needed to reach the host's root and the output
# ports (Debian builds them as modules).
build_initrd() {
	img=$kdir/initrd.img
	tmp=$kdir/initrd.new
	rm -rf "$tmp"
	mkdir -p "$tmp/bin" "$tmp/early" "$tmp/dev" "$tmp/proc" "$tmp/sys" \
		"$tmp/host" "$tmp/rw" "$tmp/root"
	cp /bin/busybox "$tmp/bin/"
	cp "$here/vm-init.sh" "$tmp/init"
	for m in virtio_pci virtio_console 9pnet_virtio 9p overlay; do
		modprobe -d "$kdir/root" -S "$kver" --show-depends "$m"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' |
	while read -r ko; do
		name=${ko##*/}
		name=${name%.*}
		case $ko in
		*.xz) xz -dc "$ko" ;;
		*.zst) zstd -dcq "$ko" ;;
		*) cat "$ko" ;;
		esac >"$tmp/early/$name"
		echo "$name" >>"$tmp/early/order"
	done
	(cd "$tmp" && find . | cpio -o -H newc --quiet) >"$img.new"
	mv "$img.new" "$img"
	rm -rf "$tmp"
}

# Fills the cache once; a lock keeps parallel first runs from racing.
prepare() {
	mkdir -p "$cache"
	exec 9>"$cache/lock"
	flock 9
	[ -f "$cache/$kernel/kver" ] || fetch_kernel
	kdir=$cache/$kernel
	kver=$(cat "$kdir/kver")
	# shellcheck disable=SC3013 # dash has -nt
	[ "$kdir/initrd.img" -nt "$here/vm-init.sh" ] || build_initrd
	exec 9>&-
	image=$kdir/vmlinux
	[ -f "$image" ] || image=$kdir/root/boot/vmlinuz-$kver
}

# The script the guest runs (with sh, chrooted into the host's root): the
# caller's environment less what ties it to the host's session or temp
# dir, the modules, the directory, and COMMAND.
write_cmd() {
	(
		unset DISPLAY WAYLAND_DISPLAY WAYLAND_SOCKET XDG_RUNTIME_DIR \
			XDG_SESSION_ID XDG_SESSION_TYPE XDG_SESSION_CLASS \
			XDG_SESSION_DESKTOP XDG_SEAT XDG_VTNR \
			DBUS_SESSION_BUS_ADDRESS SSH_AUTH_SOCK SSH_AGENT_PID \
			SSH_CONNECTION SSH_CLIENT SSH_TTY TMPDIR PWD OLDPWD SHLVL
		export -p
	)
	for m in $(echo "$modules" | tr , ' '); do
		printf '/sbin/modprobe -q %s || { echo %s >&2; exit 77; }\n' \
			"$(quote "$m")" \
			"$(quote "vm-run: skip: cannot load module $m into $kver")"
	done
	printf 'cd %s || exit 125\nexec' "$(quote "$cwd")"
	for a; do
		printf ' '
		quote "$a"
	done
	echo
}

# On any exit: stops what is still running and removes the run directory.
# set -e ends the script with the status of the command that failed; that
# is our failure, and must not look like COMMAND's status or a skip.
# shellcheck disable=SC2317 # called by trap
finish() {
	st=$?
	for p in $vm $outp $errp; do
		kill "$p" 2>/dev/null || :
		wait "$p" 2>/dev/null || :
	done
	[ -z "$run" ] || rm -rf "$run"
	[ -n "$result" ] && exit "$result"
	case $st in
	0 | 77 | 124 | 125 | 130 | 143) ;;
	*) exit 125 ;;
	esac
}

# Boots the guest and waits for it; sets $status to that of timeout(1).
boot() {
	# KVM when it can be opened, except PVM's, which boots only kernels
	# built for it: a stock kernel hangs there.
	if { : <>/dev/kvm; } 2>/dev/null && [ ! -d /sys/module/kvm_pvm ]; then
		accel=kvm cpu=host
	else
		accel=tcg cpu=max
	fi
	cpus=$(nproc)
	[ "$cpus" -le 4 ] || cpus=4
	share() { # TAG PATH [OPTIONS]
		echo -virtfs
		echo "local,mount_tag=$1,path=$(qesc "$2"),security_model=none,multidevs=remap${3:-}"
	}
	port() { # NAME FILE
		echo -chardev
		echo "file,id=$1,path=$(qesc "$2"),append=on"
		echo -device
		echo "virtserialport,chardev=$1,name=$1"
	}
	: >"$run/console"
	: >"$run/out"
	: >"$run/err"
	# One option per line, so that paths with spaces survive; the globs
	# this would expand are switched off.
	set -f
	old_ifs=$IFS
	IFS='
'
	# shellcheck disable=SC2046
	timeout -k 5 "$limit" "$qemu" -M q35 -nodefaults -no-user-config \
		-no-reboot -display none -bios qboot.rom -accel "$accel" -cpu "$cpu" \
		-m "$mem" -smp "$cpus" -kernel "$image" -initrd "$kdir/initrd.img" \
		-append 'console=ttyS0 quiet panic=-1 mitigations=off' \
		-serial "file:$run/console" \
		$(share host / ,readonly=on) \
		$(share modules "$kdir/root/lib/modules/$kver" ,readonly=on) \
		$(share ctl "$run/ctl") \
		$(share cwd "$cwd") \
		-device virtio-serial-pci \
		$(port stdout "$run/out") \
		$(port stderr "$run/err") \
		</dev/null >"$run/qemu.log" 2>&1 &
	vm=$!
	IFS=$old_ifs
	set +f
	# Streams the output while the guest runs; tail exits after QEMU.
	tail -s 0.1 -c +1 -f --pid="$vm" "$run/out" &
	outp=$!
	tail -s 0.1 -c +1 -f --pid="$vm" "$run/err" >&2 &
	errp=$!
	status=0
	wait "$vm" || status=$?
	vm=
	wait "$outp" "$errp" || :
	outp='' errp=''
}

while [ $# -gt 0 ] && [ "$1" != -- ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--kernel) kernel=$2 ;;
	--modules) modules=$2 ;;
	--mem) mem=$2 ;;
	--timeout) limit=$2 ;;
	--cache) cache=$2 ;;
	*) usage ;;
	esac
	shift 2
done
[ $# -ge 2 ] || usage
shift
case $kernel in 6.1 | 6.12) ;; *) usage ;; esac
for n in "$mem" "$limit"; do
	case $n in '' | *[!0-9]*) usage ;; esac
done

vm='' outp='' errp='' run='' result=''
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
check_tools
prepare
cwd=$(pwd -P)
run=$(mktemp -d "${TMPDIR:-/tmp}/vm-run.XXXXXX")
mkdir "$run/ctl"
write_cmd "$@" >"$run/ctl/cmd"
printf '%s' "$cwd" >"$run/ctl/cwd"
boot

if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
	echo "vm-run: timed out after $limit s" >&2
	exit 124
fi
if [ -f "$run/ctl/status" ]; then
	result=$(cat "$run/ctl/status")
	exit "$result"
fi
# vm-init.sh prints its first line to the console: without it, the kernel
# did not get as far as running it.
if [ "$status" -eq 0 ] && ! grep -q '^vm-init: up' "$run/console"; then
	last=$(tail -n1 "$run/console" | tr -d '\r')
	skip "kernel $kver did not boot${last:+: $last}"
fi
echo "vm-run: the guest gave no exit status (qemu: $status)" >&2
tail -n 5 "$run/qemu.log" "$run/console" >&2
exit 125
