#!/usr/bin/env bash
# End-to-end test of the container deployment: builds a private image from
# the build directory, starts a cluster with deploy/cluster.sh on free host
# ports under a private compose project, produces and consumes from the host
# through every published port and from inside a container, kills one
# broker and checks the cluster keeps taking acks=all writes, starts it
# again, restarts every node in turn (three-node topology), and removes
# everything (containers, volumes, image).
#
#   deploy/test_cluster.sh [--roles]
#
# Environment: RUNNEL_BUILD_DIR (build). Exits 77 (skipped) when Docker or
# a compose tool is not usable here.
set -euo pipefail
cd "$(dirname "$0")/.."

roles_flag=
[ "${1:-}" = --roles ] && roles_flag=--roles
build_dir=${RUNNEL_BUILD_DIR:-build}
cli=$build_dir/clients/runnel
# Records produced in each phase; enough to fill all six partitions.
records=300

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "[$(($(date +%s) - t0)) s] $*"; }

docker info >/dev/null 2>&1 || skip "docker is not reachable"
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null ||
  skip "no compose tool"
[ -x "$cli" ] || fail "$cli is missing"

# Three free TCP ports for the published listeners (the kernel picks them;
# they are released just before compose binds them).
read -r p1 p2 p3 < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

export RUNNEL_COMPOSE_PROJECT=rntest$$
export RUNNEL_IMAGE=runnel:test-$$
export RUNNEL_BUILD_DIR=$build_dir
export RUNNEL_PORT_1=$p1 RUNNEL_PORT_2=$p2 RUNNEL_PORT_3=$p3
export RUNNEL_HOST=127.0.0.1
# Passed through to every node: fence a dead broker quickly.
export RUNNEL_BROKER_SESSION_TIMEOUT_MS=4000
unset RUNNEL_BOOTSTRAP RUNNEL_COMPOSE_OVERRIDE
all=127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3
work=$(mktemp -d)
t0=$(date +%s)

cleanup() {
  deploy/cluster.sh down $roles_flag --volumes >/dev/null 2>&1 || true
  docker image rm -f "$RUNNEL_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "$roles_flag" ]; then
  first=broker1 victim=broker2 victim_port=$p2 inside=controller1
else
  first=node1 victim=node2 victim_port=$p2 inside=node1
fi

step "up $roles_flag on ports $p1 $p2 $p3"
deploy/cluster.sh up $roles_flag --build --timeout 150 >"$work/up.log" 2>&1 ||
  { cat "$work/up.log"; fail "cluster.sh up failed"; }
grep -q "$all" "$work/up.log" || { cat "$work/up.log"; fail "up did not print the addresses"; }
step "healthy"

# The pass-through setting reached the nodes; an unset one did not.
env_of_first=$(docker inspect -f '{{join .Config.Env " "}}' \
  "$(deploy/cluster.sh compose $roles_flag ps -q "$first")")
case $env_of_first in *RUNNEL_BROKER_SESSION_TIMEOUT_MS=4000*) ;;
  *) fail "RUNNEL_BROKER_SESSION_TIMEOUT_MS not passed to $first" ;; esac
case $env_of_first in *RUNNEL_LOG_FLUSH_INTERVAL_MS=*) fail "an unset setting was passed" ;; esac

"$cli" -b "127.0.0.1:$p1" topic create t -p 6 -r 3 >/dev/null
seq 1 $records | awk '{print "k" $1 ":v" $1}' >"$work/in1"
"$cli" -b "127.0.0.1:$p2" produce t -K : <"$work/in1"
"$cli" -b "127.0.0.1:$p3" consume t -o beginning -e -f '%k:%s\n' | sort >"$work/out1"
sort "$work/in1" | cmp -s - "$work/out1" ||
  fail "consumed $(wc -l <"$work/out1") records, expected the $records produced"
step "produced $records through port $p2, read them all back through port $p3"

# Inside a container the CLI reaches the INTERNAL listeners.
n=$(deploy/cluster.sh compose $roles_flag exec -T "$inside" runnel consume t -o beginning -e | wc -l)
[ "$n" -eq "$records" ] || fail "exec $inside read $n records, expected $records"
deploy/cluster.sh status $roles_flag >"$work/status" 2>&1 || { cat "$work/status"; fail "status"; }
step "exec $inside read $n records; status healthy"

deploy/cluster.sh compose $roles_flag kill "$victim" >/dev/null 2>&1
seq 1001 $((1000 + records)) | awk '{print "k" $1 ":v" $1}' >"$work/in2"
"$cli" -b "$all" produce t -K : --delivery-timeout 60000 <"$work/in2" ||
  fail "acks=all produce failed with $victim down"
step "$victim killed; $records more records acknowledged"

deploy/cluster.sh compose $roles_flag start "$victim" >/dev/null 2>&1
deploy/cluster.sh wait $roles_flag --timeout 120 || fail "not healthy after restarting $victim"
cat "$work/in1" "$work/in2" | sort >"$work/in"
"$cli" -b "127.0.0.1:$victim_port" consume t -o beginning -e -f '%k:%s\n' | sort >"$work/out"
cmp -s "$work/in" "$work/out" ||
  fail "after restart read $(wc -l <"$work/out") records, expected $((2 * records))"
step "$victim back, healthy; all $((2 * records)) records read through its port"

if [ -z "$roles_flag" ]; then
  # A rolling restart from an environment without the ports or image: the
  # settings remembered at `up` keep the nodes where they were.
  env -u RUNNEL_PORT_1 -u RUNNEL_PORT_2 -u RUNNEL_PORT_3 -u RUNNEL_IMAGE -u RUNNEL_HOST \
    deploy/cluster.sh restart --timeout 120 >"$work/restart.log" 2>&1 ||
    { cat "$work/restart.log"; fail "rolling restart failed"; }
  n=$("$cli" -b "127.0.0.1:$p1" consume t -o beginning -e | wc -l)
  [ "$n" -eq $((2 * records)) ] || fail "after the rolling restart read $n records"
  step "rolling restart kept ports and image; $n records read through port $p1"
fi

deploy/cluster.sh down $roles_flag --volumes >/dev/null 2>&1
left=$(docker ps -aq --filter "label=com.docker.compose.project=$RUNNEL_COMPOSE_PROJECT")
vols=$(docker volume ls -q --filter "label=com.docker.compose.project=$RUNNEL_COMPOSE_PROJECT")
[ -z "$left$vols" ] || fail "down --volumes left containers or volumes: $left $vols"
step "down --volumes removed everything; PASS"
