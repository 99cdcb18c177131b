#!/usr/bin/env bash
# Makes a Debian 12 base image without a registry: debootstrap (minbase)
# from the machine's own apt mirror, then `podman import`, tagged
# docker.io/library/debian:12 so that the Dockerfile's `FROM debian:12`
# resolves locally (podman build --pull=never). About 3 minutes.
#   apt-get install podman runc debootstrap   # as root
#   bash make_base_image.sh [TAG]
set -euo pipefail
tag="${1:-docker.io/library/debian:12}"
# The mirror from the machine's apt sources (deb822 or one-line format).
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "made $tag (Debian $(cat "$rootfs/etc/debian_version"))"
