#!/usr/bin/env bash
# Builds the Runnel container image (runnel:latest) from the binaries of a
# local build, with deploy/Dockerfile and no base image.
#
# The build context is staged here: rootfs/ holds runneld and runnel, every
# shared library ldd lists for them and the dynamic loader (at the paths the
# binaries ask for), the glibc name-service modules and a minimal /etc;
# data/ is the empty data directory. Nothing is pulled, so this works on a
# machine that reaches no registry. Run ./scripts/setup.sh first.
#
# Environment:
#   RUNNEL_BUILD_DIR  meson build directory holding the binaries (default build)
#   RUNNEL_IMAGE      image name and tag (default runnel:latest)
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${RUNNEL_BUILD_DIR:-build}
image=${RUNNEL_IMAGE:-runnel:latest}
bins=("$build_dir/broker/runneld" "$build_dir/clients/runnel")

die() { echo "build-image: $*" >&2; exit 1; }

for b in "${bins[@]}"; do
  [ -x "$b" ] || die "$b is missing; run ./scripts/setup.sh (or ninja -C $build_dir)"
done
command -v docker >/dev/null || die "docker is not installed"
command -v ldd >/dev/null || die "ldd is not installed"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/runnel-image-XXXXXX")
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$ctx/data"
chmod 1777 "$root/tmp"
cp "${bins[@]}" "$root/usr/local/bin/"

# Copies a file to the same path under the root file system, following
# symbolic links so that the image holds the library itself.
stage() {
  mkdir -p "$root$(dirname "$1")"
  cp -L "$1" "$root$1"
}

# For each binary ldd prints a "binary:" header, then indented lines:
# "name => /path (addr)" for each library, "/path (addr)" for the loader
# and no path for vdso.
libs=$(ldd "${bins[@]}" |
  awk '/^[ \t]/ && $2 == "=>" && $3 ~ /^\// {print $3} /^[ \t]/ && $1 ~ /^\// {print $1}' | sort -u)
[ -n "$libs" ] || die "ldd listed no libraries for ${bins[*]}"
libc_dir=
for lib in $libs; do
  stage "$lib"
  case $lib in */libc.so.*) libc_dir=$(dirname "$lib") ;; esac
done
[ -n "$libc_dir" ] || die "ldd did not list libc"

# glibc loads these at run time (not listed by ldd) to resolve host names
# such as the compose service names; older glibc keeps DNS outside libc.
for mod in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
  if [ -e "$libc_dir/$mod" ]; then stage "$libc_dir/$mod"; fi
done

# Docker bind-mounts /etc/hosts and /etc/resolv.conf into each container;
# the rest of /etc is written here.
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/nonexistent\nrunnel:x:10001:10001:runnel:/data:/nonexistent\n' \
  >"$root/etc/passwd"
printf 'root:x:0:\nrunnel:x:10001:\n' >"$root/etc/group"

version=$("$build_dir/broker/runneld" --version 2>/dev/null | awk '{print $NF; exit}') || true
# BuildKit when the buildx plugin is there, else the classic builder: a
# FROM scratch build needs nothing else from either. The classic builder's
# deprecation notice is shown only when the build fails.
builder_env=()
if ! docker buildx version >/dev/null 2>&1; then builder_env=(DOCKER_BUILDKIT=0); fi
start=$(date +%s)
if ! env "${builder_env[@]}" docker build -q -f deploy/Dockerfile \
       --build-arg "RUNNEL_VERSION=${version:-unknown}" \
       -t "$image" "$ctx" >"$ctx/build.log" 2>&1; then
  cat "$ctx/build.log" >&2
  die "docker build failed"
fi
echo "built $image in $(($(date +%s) - start)) s" \
  "($(docker image inspect -f '{{.Size}}' "$image") bytes, from $build_dir)"
