#!/usr/bin/env bash
# Runs a Runnel cluster in containers with docker compose: a three-node
# cluster (deploy/docker-compose.yml), or with --roles three controllers and
# three brokers (deploy/docker-compose.roles.yml). See docs/deployment.md.
#
#   deploy/cluster.sh up [--roles] [--build] [--timeout S]
#   deploy/cluster.sh down [--roles] [--volumes]
#   deploy/cluster.sh status [--roles]
#   deploy/cluster.sh logs [--roles] [SERVICE...] [-f]
#   deploy/cluster.sh restart [--roles] [--timeout S]   (one node at a time)
#   deploy/cluster.sh wait [--roles] [--timeout S]      (until every node is healthy)
#   deploy/cluster.sh compose [--roles] ARGS...         (the compose tool, set up for this cluster)
#
# Environment: RUNNEL_COMPOSE_PROJECT (runnel), RUNNEL_IMAGE (runnel:latest),
# RUNNEL_BUILD_DIR (build), RUNNEL_HOST (localhost), RUNNEL_PORT_1..3
# (19092, 29092, 39092), RUNNEL_COMPOSE_OVERRIDE (extra compose files,
# separated by ':'), RUNNEL_UP_TIMEOUT_S (180), and the node settings the
# compose files pass through (RUNNEL_BROKER_SESSION_TIMEOUT_MS, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

project=${RUNNEL_COMPOSE_PROJECT:-runnel}
image=${RUNNEL_IMAGE:-runnel:latest}
build_dir=${RUNNEL_BUILD_DIR:-build}
timeout_s=${RUNNEL_UP_TIMEOUT_S:-180}
# How often the wait loop looks at the containers' health.
poll_s=2
roles=
compose_cmd=()

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() {
  cat >&2 <<'EOF'
usage: deploy/cluster.sh up [--roles] [--build] [--timeout S]
       deploy/cluster.sh down [--roles] [--volumes]
       deploy/cluster.sh status [--roles]
       deploy/cluster.sh logs [--roles] [SERVICE...] [-f]
       deploy/cluster.sh restart [--roles] [--timeout S]
       deploy/cluster.sh wait [--roles] [--timeout S]
       deploy/cluster.sh compose [--roles] ARGS...
EOF
  exit 2
}

# Picks `docker compose` where the plugin works, else `docker-compose`.
find_compose() {
  if docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    compose_cmd=(docker-compose)
  else
    die "neither 'docker compose' nor 'docker-compose' is installed"
  fi
}

# Chooses the topology: --roles, else what this project already runs (so
# that down, status and logs need no flag), else the three-node file.
pick_topology() {
  if [ -z "$roles" ]; then
    local label="label=com.docker.compose.project=$project"
    if docker ps -a --filter "$label" --format '{{.Names}}' | grep -q controller1 ||
       docker volume ls --filter "$label" --format '{{.Name}}' | grep -q controller1-data; then
      roles=1
    fi
  fi
  load_settings
}

compose_file() {
  if [ -n "$roles" ]; then echo deploy/docker-compose.roles.yml; else echo deploy/docker-compose.yml; fi
}

# Runs the compose tool with this cluster's files and project name.
compose() {
  local args=(-p "$project" -f "$(compose_file)") f
  if [ -n "${RUNNEL_COMPOSE_OVERRIDE:-}" ]; then
    local IFS=:
    for f in $RUNNEL_COMPOSE_OVERRIDE; do args+=(-f "$f"); done
  fi
  "${compose_cmd[@]}" "${args[@]}" "$@"
}

# The settings a cluster was started with are remembered, so that a later
# command from another shell (restart recreates containers) does not
# silently change its ports, image or node settings. A variable set in the
# environment wins over the remembered value; down --volumes forgets them.
state_file() {
  echo "${XDG_STATE_HOME:-${HOME:-/tmp}/.local/state}/runnel/compose-$project.env"
}

# The variables the compose file interpolates or passes through, and the
# ones this script reads.
setting_names() {
  {
    grep -o '\${RUNNEL_[A-Z0-9_]*' "$(compose_file)" | cut -c3-
    sed -n 's/^ *\(RUNNEL_[A-Z0-9_]*\): *\(\${.*\)\{0,1\}$/\1/p' "$(compose_file)"
    echo RUNNEL_IMAGE RUNNEL_BUILD_DIR RUNNEL_COMPOSE_OVERRIDE | tr ' ' '\n'
  } | sort -u
}

save_settings() {
  local file name
  file=$(state_file)
  mkdir -p "$(dirname "$file")"
  for name in $(setting_names); do
    if [ -n "${!name+set}" ]; then printf '%s=%q\n' "$name" "${!name}"; fi
  done >"$file"
}

load_settings() {
  local file line name used=()
  file=$(state_file)
  [ -f "$file" ] || return 0
  while IFS= read -r line; do
    name=${line%%=*}
    [[ $name =~ ^RUNNEL_[A-Z0-9_]+$ ]] || continue
    if [ -z "${!name+set}" ]; then
      eval "export $line"
      used+=("$line")
    fi
  done <"$file"
  if [ ${#used[@]} -gt 0 ]; then
    echo "cluster.sh: as when '$project' was started: ${used[*]}" >&2
  fi
  # The image and build directory may have been among them.
  image=${RUNNEL_IMAGE:-runnel:latest}
  build_dir=${RUNNEL_BUILD_DIR:-build}
}

# Prints the id of a service's container, stopped or running (plain `ps`
# of the newer compose tool lists only running ones).
container_id() {
  compose ps -a -q "$1" 2>/dev/null | head -n1
}

services() {
  if [ -n "$roles" ]; then
    echo controller1 controller2 controller3 broker1 broker2 broker3
  else
    echo node1 node2 node3
  fi
}

broker_services() {
  if [ -n "$roles" ]; then echo broker1 broker2 broker3; else echo node1 node2 node3; fi
}

addresses() {
  local host=${RUNNEL_HOST:-localhost}
  echo "$host:${RUNNEL_PORT_1:-19092},$host:${RUNNEL_PORT_2:-29092},$host:${RUNNEL_PORT_3:-39092}"
}

# Builds the image when it is missing or when asked; warns when the local
# binaries are newer than the image, since compose would run the old ones.
ensure_image() {
  local force=$1 created bin_time
  if [ -n "$force" ] || ! docker image inspect "$image" >/dev/null 2>&1; then
    RUNNEL_IMAGE=$image RUNNEL_BUILD_DIR=$build_dir deploy/build-image.sh
    return
  fi
  created=$(date -d "$(docker image inspect -f '{{.Created}}' "$image")" +%s 2>/dev/null || echo 0)
  if [ -f "$build_dir/broker/runneld" ]; then
    bin_time=$(stat -c %Y "$build_dir/broker/runneld")
    if [ "$bin_time" -gt "$created" ]; then
      echo "cluster.sh: $build_dir/broker/runneld is newer than $image; 'up --build' rebuilds it" >&2
    fi
  fi
}

# Prints "<state> <health>" of a service's container, or "missing".
service_state() {
  local id
  id=$(container_id "$1")
  if [ -z "$id" ]; then echo missing; return; fi
  docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id" 2>/dev/null ||
    echo missing
}

# Prints the state and the last log lines of every node that is not healthy.
report_unhealthy() {
  local svc state
  for svc in $(services); do
    state=$(service_state "$svc")
    [ "$state" = "running healthy" ] && continue
    echo "--- $svc: $state; last log lines:" >&2
    compose logs --no-color --tail 40 "$svc" >&2 || true
  done
}

# Waits until every container of the cluster reports healthy. Gives up at
# the timeout, or at once when a node exits with status 2 (a configuration
# error, which restarting cannot cure).
wait_healthy() {
  local deadline=$(($(date +%s) + timeout_s)) svcs ids=() i state all
  read -r -a svcs <<<"$(services)"
  while :; do
    all=1
    for i in "${!svcs[@]}"; do
      # Looked up until found: a container may not exist yet.
      [ -n "${ids[$i]:-}" ] || ids[$i]=$(container_id "${svcs[$i]}")
      state=$(docker inspect -f \
        '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' \
        "${ids[$i]:-none}" 2>/dev/null || echo missing)
      case $state in
        "running "*" healthy") ;;
        "exited 2 "*|"restarting 2 "*)
          echo "cluster.sh: a node stopped with a configuration error" >&2
          report_unhealthy
          return 1 ;;
        *) all= ;;
      esac
    done
    [ -n "$all" ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "cluster.sh: the cluster did not become healthy within ${timeout_s} s" >&2
      report_unhealthy
      return 1
    fi
    sleep "$poll_s"
  done
}

# Prints the number of under-replicated partitions as the first running
# broker sees it, or nothing when no broker answers.
under_replicated() {
  local svc id json
  for svc in $(broker_services); do
    id=$(container_id "$svc")
    [ -n "$id" ] || continue
    # Exit status 3 (unhealthy) still comes with the counts.
    json=$(docker exec "$id" runnel cluster status --format json 2>/dev/null || true)
    if [[ $json =~ \"under_replicated\":([0-9]+) ]]; then
      echo "${BASH_REMATCH[1]}"
      return 0
    fi
  done
}

# Waits until every partition has its full set of in-sync replicas, so that
# restarting the next node never leaves a partition short of
# min.insync.replicas.
wait_in_sync() {
  local deadline=$(($(date +%s) + timeout_s)) n
  while :; do
    n=$(under_replicated)
    [ "$n" = 0 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "cluster.sh: ${n:-some} partitions still under-replicated after ${timeout_s} s" >&2
      return 1
    fi
    sleep "$poll_s"
  done
}

print_addresses() {
  local addrs file_args
  addrs=$(addresses)
  file_args="-p $project -f $(compose_file)"
  cat <<EOF
Runnel cluster '$project' is healthy ($(services | wc -w) nodes).
Bootstrap addresses for clients on this host:
  $(echo "$addrs" | sed 's/,/  /g')

  export RUNNEL_BOOTSTRAP=$addrs
  $build_dir/clients/runnel topic create events -p 6 -r 3
  printf 'k1:hello\\nk2:world\\n' | $build_dir/clients/runnel produce events -K :
  $build_dir/clients/runnel consume events -o beginning -e
  ${compose_cmd[*]} $file_args exec $(broker_services | cut -d' ' -f1) runnel cluster status
  deploy/cluster.sh down          # add --volumes to delete the data
EOF
}

cmd_up() {
  local build=
  while [ $# -gt 0 ]; do
    case $1 in
      --roles) roles=1 ;;
      --build) build=1 ;;
      --timeout) timeout_s=${2:?--timeout needs seconds}; shift ;;
      *) usage ;;
    esac
    shift
  done
  pick_topology
  if [ -n "$roles" ] && docker volume ls --filter "label=com.docker.compose.project=$project" \
       --format '{{.Name}}' | grep -q node1-data; then
    die "project '$project' holds a three-node cluster; 'down --volumes' it first or set RUNNEL_COMPOSE_PROJECT"
  fi
  ensure_image "$build"
  local start=$(date +%s)
  compose up -d
  echo "waiting for the cluster to become healthy (up to ${timeout_s} s)..."
  wait_healthy
  echo "healthy after $(($(date +%s) - start)) s"
  # Only settings that gave a healthy cluster are remembered.
  save_settings
  print_addresses
}

cmd_down() {
  local args=()
  while [ $# -gt 0 ]; do
    case $1 in
      --roles) roles=1 ;;
      --volumes|-v) args+=(--volumes) ;;
      *) usage ;;
    esac
    shift
  done
  pick_topology
  compose down "${args[@]}"
  if [ ${#args[@]} -gt 0 ]; then rm -f "$(state_file)"; fi
}

cmd_status() {
  while [ $# -gt 0 ]; do
    case $1 in --roles) roles=1 ;; *) usage ;; esac
    shift
  done
  pick_topology
  compose ps
  # Ask from inside the first running broker: its RUNNEL_BOOTSTRAP names
  # the INTERNAL listeners, so this works without a host build.
  local svc
  for svc in $(broker_services); do
    if [ "$(service_state "$svc" | cut -d' ' -f1)" = running ]; then
      echo
      compose exec -T "$svc" runnel cluster status
      return
    fi
  done
  die "no broker container of project '$project' is running"
}

cmd_logs() {
  local args=()
  while [ $# -gt 0 ]; do
    case $1 in --roles) roles=1 ;; *) args+=("$1") ;; esac
    shift
  done
  pick_topology
  compose logs "${args[@]}"
}

# Restarts one node at a time, waiting until the cluster is healthy and
# every partition has all its replicas in sync before the next, so topics
# with three replicas stay available throughout.
# The containers are recreated, so an image built since they started is
# taken up: this is the upgrade procedure.
cmd_restart() {
  while [ $# -gt 0 ]; do
    case $1 in
      --roles) roles=1 ;;
      --timeout) timeout_s=${2:?--timeout needs seconds}; shift ;;
      *) usage ;;
    esac
    shift
  done
  pick_topology
  wait_healthy && wait_in_sync || die "not restarting: the cluster is not healthy"
  local svc start
  for svc in $(services); do
    start=$(date +%s)
    echo "restarting $svc..."
    compose up -d --no-deps --force-recreate "$svc"
    wait_healthy
    wait_in_sync
    echo "$svc is back; healthy and in sync after $(($(date +%s) - start)) s"
  done
}

cmd_wait() {
  while [ $# -gt 0 ]; do
    case $1 in
      --roles) roles=1 ;;
      --timeout) timeout_s=${2:?--timeout needs seconds}; shift ;;
      *) usage ;;
    esac
    shift
  done
  pick_topology
  wait_healthy
}

cmd_compose() {
  if [ "${1:-}" = --roles ]; then roles=1; shift; fi
  pick_topology
  compose "$@"
}

[ $# -ge 1 ] || usage
command -v docker >/dev/null || die "docker is not installed"
find_compose
sub=$1
shift
case $sub in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  logs) cmd_logs "$@" ;;
  restart) cmd_restart "$@" ;;
  wait) cmd_wait "$@" ;;
  compose) cmd_compose "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
