#!/usr/bin/env bash
# Builds the runnel:latest container image without pulling a base image:
# the root file system holds the built binaries, the shared libraries they
# load (found with ldd) and a few files from this machine, and `docker
# import` turns it into an image.  Run ./scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${RUNNEL_IMAGE:-runnel:latest}
bins=(build/broker/runneld build/clients/runnel)
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "build-image: $b is missing; run ./scripts/setup.sh" >&2; exit 1; }
done

root=$(mktemp -d /tmp/runnel-rootfs-XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr/local/bin,etc,tmp,data,lib64,usr/lib/x86_64-linux-gnu}
chmod 1777 "$root/tmp"
cp "${bins[@]}" "$root/usr/local/bin/"

# Every shared library the binaries load, and the dynamic loader, at the
# paths the binaries expect.
for lib in $(ldd "${bins[@]}" | awk '/=> \// {print $3} /^\t\// {print $1}' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# Name resolution for peers named by host name (compose service names).
for lib in /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 \
           /lib/x86_64-linux-gnu/libresolv.so.2; do
  [ -e "$lib" ] && { mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; }
done
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/usr/local/bin/runnel\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin' \
  --change 'ENV RUNNEL_DATA_DIR=/data' \
  --change 'WORKDIR /data' \
  --change 'EXPOSE 9092' \
  --change 'ENTRYPOINT ["/usr/local/bin/runneld"]' \
  - "$image" >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
