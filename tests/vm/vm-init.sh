#!/bin/busybox sh
# /init of the vm-run.sh initramfs.  Builds the guest's root from the
# host's / (9p, read-only) under a tmpfs overlay, mounts the caller's
# directory and the kernel's modules into it, runs the command that
# vm-run.sh wrote, hands back its exit status and powers off.
#
# The host shares (see vm-run.sh): host, modules, ctl (the command, the
# caller's directory name and, back, the status), cwd; and two
# virtio-serial ports, stdout and stderr.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
# The initramfs has no /dev/console, so the kernel could not give us one.
exec </dev/null >/dev/console 2>&1
echo "vm-init: up"	# vm-run.sh looks for this: the kernel booted

die() {
	echo "vm-init: $*"
	poweroff -f
}

while read -r m; do
	insmod "/early/$m" || die "cannot load $m"
done </early/order

# 9p's default message size is small; bigger ones make reads faster.
p9() { # TAG DIR OPTIONS
	mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,$3" "$1" "$2" ||
		die "cannot mount $1"
}

p9 host /host ro,cache=loose
mount -t tmpfs rw /rw
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work \
	root /root || die "cannot mount the overlay"

cd /root || die "cannot enter /root"
mount -t proc proc proc
mount -t sysfs sys sys
mount -t devtmpfs dev dev
mkdir -p dev/pts dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 pts dev/pts
mount -t tmpfs -o mode=1777 shm dev/shm
mount -t tmpfs -o mode=1777 tmp tmp
mount -t tmpfs -o mode=0755 run run
mkdir -p run/vm-run "lib/modules/$(uname -r)"
p9 ctl run/vm-run cache=none
p9 modules "lib/modules/$(uname -r)" ro,cache=loose
# The caller's directory, at the same path; cache=mmap lets it be mmapped.
cwd=$(cat run/vm-run/cwd)
if [ "$cwd" != / ]; then
	mkdir -p ".$cwd"
	p9 cwd ".$cwd" cache=mmap
fi

# The output ports appear once the host has named them, a little after
# virtio_console was loaded.
for _ in $(seq 50); do
	for p in /sys/class/virtio-ports/*; do
		[ -f "$p/name" ] || continue
		case $(cat "$p/name") in
		stdout) out=/dev/${p##*/} ;;
		stderr) err=/dev/${p##*/} ;;
		esac
	done
	[ -n "${out:-}" ] && [ -n "${err:-}" ] && break
	sleep 0.1
done
if [ -z "${out:-}" ] || [ -z "${err:-}" ]; then
	die "no output ports"
fi

env -i chroot . /bin/sh /run/vm-run/cmd >"$out" 2>"$err"
echo $? >run/vm-run/status
# Files written through mmap in the caller's directory are in the page
# cache until now.
sync
poweroff -f
