#!/usr/bin/env bash
# A container engine for whisk's docker-factory: podman's Docker Engine API service.
#
#   scripts/engine.sh start          install podman if missing, start the API service,
#                                    print `export DOCKER_HOST=unix://…` on stdout
#   scripts/engine.sh stop           stop the service and remove every container of it
#   scripts/engine.sh stop-service   stop only the API service; containers keep running
#                                    (what a daemon crash looks like; `start` brings it back)
#   scripts/engine.sh status         say whether it answers; exit 1 when it does not
#   scripts/engine.sh env            print the exports (DOCKER_HOST, CONTAINERS_CONF, …)
#   scripts/engine.sh podman ARGS…   run the podman CLI against this engine's storage
#
# Use it as `eval "$(scripts/engine.sh start)"`: everything but the exports goes to stderr.
#
# State lives in $WHISK_ENGINE_DIR (default: <repo>/target/engine): the engine's config
# files, its storage (images, containers), the socket, the pid file and the service's log.
# Keeping storage there (rather than /var/lib/containers) means `stop` removes only the
# containers of this engine, and two checkouts do not see each other's containers.
#
# Why this configuration (see shared DESIGN.md, "Facts verified on these machines"):
# - runtime = runc: crun refuses the hybrid cgroup layout of these kernels;
# - default_ulimits: root here may not raise nofile/nproc to podman's defaults, so a
#   container would fail to start;
# - cgroup_manager = cgroupfs, events_logger = file: there is no systemd.
# Networking: containers use `host` or `none` only; nothing here creates a network.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${WHISK_ENGINE_DIR:-$repo/target/engine}"
sock="$dir/podman.sock"
pidfile="$dir/podman.pid"
logfile="$dir/podman.log"

say() { echo "engine: $*" >&2; }
die() { say "$*"; exit 1; }

exports() {
    echo "export DOCKER_HOST=unix://$sock"
    echo "export CONTAINERS_CONF=$dir/containers.conf"
    echo "export CONTAINERS_STORAGE_CONF=$dir/storage.conf"
}

install_packages() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    command -v curl >/dev/null || missing+=(curl)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; install them as root (apt-get install ${missing[*]})"
    say "installing ${missing[*]} (apt)"
    local started=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    say "installed in $((SECONDS - started)) s"
}

write_config() {
    mkdir -p "$dir/storage" "$dir/run" "$dir/tmp" "$dir/volumes"
    cat >"$dir/containers.conf" <<EOF
# Written by scripts/engine.sh; rewritten on every start.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
tmp_dir = "$dir/tmp"
volume_path = "$dir/volumes"
EOF
    cat >"$dir/storage.conf" <<EOF
# Written by scripts/engine.sh; rewritten on every start.
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/run"
EOF
}

engine_env() {
    export CONTAINERS_CONF="$dir/containers.conf"
    export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
}

ping() {
    [ -S "$sock" ] || return 1
    [ "$(curl -s --max-time 2 --unix-socket "$sock" http://d/_ping 2>/dev/null)" = OK ]
}

service_pid() {
    [ -f "$pidfile" ] || return 1
    local pid
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    [ ${#sock} -lt 100 ] || die "socket path too long for a unix socket (${#sock} chars): $sock; set WHISK_ENGINE_DIR to a shorter path"
    if service_pid >/dev/null && ping; then
        say "already running (pid $(service_pid)), socket $sock"
        exports
        return 0
    fi
    install_packages
    write_config
    engine_env
    rm -f "$sock"
    local started
    started=$(date +%s%N)
    # setsid: the service outlives this shell and its job control; its pid is the one we kill.
    # Run from the state dir: conmon (2.1.6 with podman 4.3) drops an `oom` marker file into
    # its working directory when a container hits its memory limit.
    (cd "$dir" && exec setsid podman system service --time=0 "unix://$sock" </dev/null >>"$logfile" 2>&1) &
    echo $! >"$pidfile"
    for _ in $(seq 1 200); do
        if ping; then
            say "ready in $((($(date +%s%N) - started) / 1000000)) ms (pid $(cat "$pidfile")), socket $sock"
            exports
            return 0
        fi
        service_pid >/dev/null || break
        sleep 0.05
    done
    say "the service did not answer GET /_ping; its log ($logfile):"
    tail -n 20 "$logfile" >&2 || true
    exit 1
}

stop_service() {
    local pid
    if pid="$(service_pid)"; then
        kill "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        say "service stopped (pid $pid)"
    else
        say "service not running"
    fi
    rm -f "$pidfile" "$sock"
}

stop() {
    stop_service
    if command -v podman >/dev/null && [ -f "$dir/storage.conf" ]; then
        engine_env
        podman rm -af -t 0 >/dev/null 2>&1 || podman rm -af >/dev/null 2>&1 || true
        say "containers removed"
    fi
}

status() {
    if service_pid >/dev/null && ping; then
        say "running (pid $(service_pid)), socket $sock"
        exports
    else
        say "not running (state dir $dir)"
        exit 1
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
stop-service) stop_service ;;
status) status ;;
env) exports ;;
podman)
    shift
    [ -f "$dir/storage.conf" ] || die "no engine state in $dir: run scripts/engine.sh start first"
    engine_env
    exec podman "$@"
    ;;
*)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
