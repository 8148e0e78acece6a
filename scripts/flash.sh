#!/bin/sh
# flash.sh writes an edgegate appliance image to a disk (USB stick, SD card,
# SSD in an adapter) with safety checks:
#   - the target must be a whole block device, not a partition;
#   - it must not be mounted, hold the running system, or be a system disk
#     (anything mounted at /, /boot, /usr, /var, /home or used as swap);
#   - it must be at least as large as the image;
#   - you confirm by typing the device name (or pass --yes for scripts);
#   - after writing, the image's bytes are read back and compared.
#
# usage: scripts/flash.sh [--yes] build/amd64/disk.img /dev/sdX
set -eu

yes=0
if [ "${1:-}" = "--yes" ]; then yes=1; shift; fi
if [ $# -ne 2 ]; then
	echo "usage: $0 [--yes] IMAGE DEVICE   (e.g. $0 build/amd64/disk.img /dev/sdb)" >&2
	exit 2
fi
img=$1
dev=$2

die() { echo "flash.sh: $*" >&2; exit 1; }

[ -f "$img" ] || die "$img: no such image (build it: make image TARGET=amd64)"
[ -b "$dev" ] || die "$dev is not a block device"
name=$(basename "$(readlink -f "$dev")")
[ -e "/sys/block/$name" ] || die "$dev is a partition, not a whole disk: give the disk (e.g. /dev/sdb, not /dev/sdb1)"

# Refuse mounted disks and disks holding the running system.
for part in "/sys/block/$name" /sys/block/"$name"/"$name"*; do
	[ -e "$part" ] || continue
	p=/dev/$(basename "$part")
	if grep -q "^$p " /proc/mounts; then
		die "$p is mounted ($(grep "^$p " /proc/mounts | awk '{print $2}' | head -1)): unmount it first, and make sure it is the right disk"
	fi
	if grep -q "^$p " /proc/swaps 2>/dev/null; then
		die "$p is in use as swap: this looks like a system disk"
	fi
done
for mp in / /boot /usr /var /home; do
	src=$(findmnt -n -o SOURCE "$mp" 2>/dev/null || true)
	case "$src" in
	/dev/"$name"*) die "$dev holds $mp of this machine: refusing to overwrite a system disk" ;;
	esac
done

imgsize=$(stat -c %s "$img")
devsize=$(blockdev --getsize64 "$dev")
[ "$devsize" -ge "$imgsize" ] || die "$dev has $devsize bytes, the image needs $imgsize"

model=$(cat "/sys/block/$name/device/model" 2>/dev/null || echo unknown)
echo "About to ERASE $dev ($model, $((devsize / 1000000)) MB) and write $img ($((imgsize / 1000000)) MB)."
if [ $yes -eq 0 ]; then
	printf 'Type the device name (%s) to continue: ' "$name"
	read -r answer
	[ "$answer" = "$name" ] || die "not confirmed; nothing written"
fi

dd if="$img" of="$dev" bs=4M conv=fsync status=progress 2>&1 || die "writing failed"
sync
echo "verifying ..."
cmp -n "$imgsize" "$img" "$dev" >/dev/null || die "verification FAILED: $dev does not hold the image; the medium may be faulty"
echo "done: $dev holds $img. Plug in a provisioning stick (edgegate provision) and boot the appliance."
