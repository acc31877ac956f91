#!/usr/bin/env bash
# Runs Runnel's benchmark matrix on this machine and rewrites the generated
# part of docs/benchmarks.md and docs/benchmarks.png.
#   bench/run_matrix.sh [--quick] [--build-dir DIR] [--no-build] [--work-dir DIR] [--json FILE] [--only GROUPS]
# Installs gnuplot and Redis (the peer it is compared with) from Debian when
# missing, builds DIR (default build/, set up by scripts/setup.sh), then runs
# bench/matrix.py.  Not part of the test suite: it takes minutes and its
# numbers depend on how busy the machine is.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
compile=yes
args=()
for ((i = 1; i <= $#; i++)); do
  case "${!i}" in
    --no-build) compile=no; continue ;;
    --build-dir) j=$((i + 1)); build=${!j:-build} ;;
    --build-dir=*) build=${!i#--build-dir=} ;;
  esac
  args+=("${!i}")
done

PACKAGES=(gnuplot-nox redis-server redis-tools util-linux)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "run_matrix: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$compile" = no ]; then
  :
elif [ "$build" = build ]; then
  ./scripts/setup.sh
else
  [ -f "$build/build.ninja" ] || meson setup "$build"
  ninja -C "$build"
fi
exec python3 bench/matrix.py "${args[@]}"
