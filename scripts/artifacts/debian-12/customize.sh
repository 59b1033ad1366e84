#!/usr/bin/env bash
# mmdebstrap customize hook of the debian-12 image
# (scripts/artifacts/debian-image.sh): makes the root a cloud guest.
#   debian-12/customize.sh ROOT ROOT_LABEL
# Runs on the host while the chroot is set up; the few commands that must
# run inside it (systemctl, apt-mark) run under qemu-user for arm64.
set -euo pipefail
root=${1:?usage: customize.sh ROOT ROOT_LABEL}
label=${2:?usage: customize.sh ROOT ROOT_LABEL}
here=$(cd "$(dirname "$0")" && pwd)

# cloud-init's settings, the readiness unit and its script.
cp -R --no-preserve=ownership "$here/overlay/." "$root/"

printf '# The root file system, by the label the image build gives it.\nLABEL=%s / ext4 defaults,errors=remount-ro 0 1\n' \
	"$label" >"$root/etc/fstab"
echo localhost >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

# systemd-networkd does DHCP (or the seed's network-config); resolved is
# enabled by its package. e2scrub_reap only serves LVM snapshots, and sits
# before multi-user.target, which cloud-init's last stage waits for.
chroot "$root" systemctl enable systemd-networkd.service loam-ready.service
# cloud-init runs on every boot, whatever its generator decides: systemd
# kills generators after 90 s, which an arm64 guest under TCG on a loaded
# host can take, and then cloud-init (and readiness) never ran.
chroot "$root" systemctl add-wants multi-user.target cloud-init.target
chroot "$root" systemctl disable e2scrub_reap.service

# The kernel that boots is the one in the UKI on the ESP, built with the
# image: apt must not swap the modules under it. A newer kernel comes with
# a newer image.
mapfile -t kernels < <(chroot "$root" dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'linux-image-*' |
	awk '$1 == "ii" { print $2 }')
chroot "$root" apt-mark hold "${kernels[@]}"
