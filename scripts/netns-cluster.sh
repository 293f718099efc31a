#!/bin/bash
# A multi-host spinnaker-emu cluster on one Linux machine: N emulated hosts as
# network namespaces on a bridge, each running `spinnaker-emu host serve`, and the
# allocator in the calling namespace, which reaches every host like a client
# machine on the cluster's network (so SpiNNMan, spalloc and PyNN run from here
# unchanged).  docs/CLUSTER.md.
#
#   scripts/netns-cluster.sh up [N]     # N hosts (default 2); prints `spalloc ADDRESS PORT`
#   scripts/netns-cluster.sh down       # stops everything it started, removes what it made
#   scripts/netns-cluster.sh kill-host K | start-host K   # faults: SIGKILL / restart host K's agent
#   scripts/netns-cluster.sh cut-link A B | heal-link A B # faults: hosts A and B lose each other
#
# Addresses (all inside 10.77.0.0/16, only on the interfaces this script creates):
#   bridge mhbr0 in the calling namespace   10.77.0.1   (the allocator, port 22244)
#   host k = namespace mh-hostk, eth0       10.77.k.1   (agent), 10.77.k.10 (its frame's BMP),
#                                           10.77.k.11.. (its boards)
# The machine: ceil(N/2) triads in a row, boards dealt to the hosts in order, so that
# with N=2 the single triad has two boards on host1 and one on host2.
# Environment: PYTHON (default: the checkout's .venv, else python3),
# NETNS_CLUSTER_DIR (state: cluster.toml, logs, pids; default /tmp/spinnaker-emu-netns).
set -u
ME=$(basename "$0")
HERE=$(cd "$(dirname "$0")/.." && pwd)
STATE=${NETNS_CLUSTER_DIR:-/tmp/spinnaker-emu-netns}
BR=mhbr0
PORT=22244
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$HERE/.venv/bin/python" ]; then PYTHON=$HERE/.venv/bin/python; else PYTHON=python3; fi
fi

die() { echo "$ME: $*" >&2; exit 2; }

need_root() {
    [ "$(id -u)" = 0 ] || die "needs root (it creates network namespaces, veth pairs and a bridge); run it with sudo"
    command -v ip >/dev/null || die "needs the ip command (iproute2)"
}

wait_line() {   # file pattern seconds: wait until the file has a line matching pattern
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

write_config() {   # N -> $STATE/cluster.toml
    local n=$1 w=$(( (n + 1) / 2 )) k h x z
    local -a count
    {
        echo "# made by $ME up $n"
        echo "[cluster]"
        echo "fabric_port = 20000"
        for ((h = 1; h <= n; h++)); do echo "[[host]]"; echo "name = \"host$h\""; done
        echo "[server]"
        echo "ip = \"10.77.0.1\""
        echo "port = $PORT"
        echo "bmp_check_interval = 1.0"
        echo "[[machine]]"
        echo "name = \"cluster\""
        echo "tags = [\"default\"]"
        echo "width = $w"
        echo "height = 1"
        echo "bmps = ["
        for ((h = 1; h <= n; h++)); do
            echo "    {cabinet = 0, frame = $((h - 1)), ip = \"10.77.$h.10\", host = \"host$h\"},"
        done
        echo "]"
        echo "boards = ["
        for ((k = 0; k < 3 * w; k++)); do
            h=$(( k * n / (3 * w) + 1 )); x=$(( k / 3 )); z=$(( k % 3 ))
            b=${count[$h]:-0}; count[$h]=$((b + 1))
            echo "    {x = $x, y = 0, z = $z, cabinet = 0, frame = $((h - 1)), board = $b, ip = \"10.77.$h.$((11 + b))\"},"
        done
        echo "]"
    } > "$STATE/cluster.toml"
    for ((h = 1; h <= n; h++)); do echo "${count[$h]:-0}" > "$STATE/host$h.boards"; done
}

start_agent() {   # K: start host K's agent in its namespace (log appended)
    local h=$1
    mkdir -p "$STATE/run-host$h"
    ip netns exec "mh-host$h" env SPINNAKER_EMU_RUN_DIR="$STATE/run-host$h" \
        "$PYTHON" -m spinnaker_emu.cli host serve --config "$STATE/cluster.toml" --name "host$h" \
        >> "$STATE/host$h.log" 2>&1 < /dev/null &
    echo $! > "$STATE/host$h.pid"
}

host_cmd() {   # kill-host K | start-host K: fault injection for tools under test
    local what=$1 h=${2:-}
    need_root
    [ -e "$STATE/up" ] || die "no cluster is up"
    [[ "$h" =~ ^[0-9]+$ ]] && [ -e "$STATE/host$h.boards" ] || die "no host '$h' in this cluster"
    if [ "$what" = kill ]; then
        [ -f "$STATE/host$h.pid" ] && kill -KILL "$(cat "$STATE/host$h.pid")" 2>/dev/null
        rm -f "$STATE/host$h.pid"
        echo "host$h agent killed"
    else
        [ -f "$STATE/host$h.pid" ] && kill -0 "$(cat "$STATE/host$h.pid")" 2>/dev/null \
            && die "the agent of host$h is running"
        local before
        before=$(grep -c "^READY" "$STATE/host$h.log" 2>/dev/null)
        start_agent "$h"
        local i
        for ((i = 0; i < 600; i++)); do
            [ "$(grep -c "^READY" "$STATE/host$h.log")" -gt "$before" ] && { echo "host$h agent started"; return 0; }
            sleep 0.1
        done
        die "the agent of host$h did not start ($STATE/host$h.log)"
    fi
}

link_cmd() {   # cut-link A B | heal-link A B: hosts A and B stop / start reaching each
    # other (blackhole routes in both namespaces), while both still reach the rest
    local what=$1 a=${2:-} b=${3:-} op
    need_root
    [ -e "$STATE/up" ] || die "no cluster is up"
    for h in "$a" "$b"; do
        [[ "$h" =~ ^[0-9]+$ ]] && [ -e "$STATE/host$h.boards" ] || die "no host '$h' in this cluster"
    done
    [ "$a" != "$b" ] || die "a link joins two different hosts"
    op=add; [ "$what" = heal ] && op=del
    ip -n "mh-host$a" route $op blackhole "10.77.$b.0/24" 2>/dev/null
    ip -n "mh-host$b" route $op blackhole "10.77.$a.0/24" 2>/dev/null
    echo "link host$a-host$b $([ "$what" = heal ] && echo healed || echo cut)"
}

up() {
    local n=${1:-2} h b
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 50 ] || die "N must be 1..50, got '$n'"
    need_root
    [ -e "$STATE/up" ] && die "a cluster is already up ($STATE); run '$ME down' first"
    ip link show "$BR" >/dev/null 2>&1 && die "interface $BR exists already; run '$ME down' first"
    mkdir -p "$STATE" && echo "$n" > "$STATE/up"
    write_config "$n"
    ip link add "$BR" type bridge && ip addr add 10.77.0.1/16 dev "$BR" && ip link set "$BR" up \
        || { down; die "cannot make the bridge $BR"; }
    for ((h = 1; h <= n; h++)); do
        ip netns add "mh-host$h" \
            && ip link add "mhv$h" type veth peer name eth0 netns "mh-host$h" \
            && ip link set "mhv$h" master "$BR" up \
            && ip -n "mh-host$h" link set lo up \
            && ip -n "mh-host$h" addr add "10.77.$h.1/16" dev eth0 \
            && ip -n "mh-host$h" addr add "10.77.$h.10/16" dev eth0 \
            || { down; die "cannot make namespace mh-host$h"; }
        for ((b = 0; b < $(cat "$STATE/host$h.boards"); b++)); do
            ip -n "mh-host$h" addr add "10.77.$h.$((11 + b))/16" dev eth0
        done
        ip -n "mh-host$h" link set eth0 up
    done
    for ((h = 1; h <= n; h++)); do start_agent "$h"; done
    for ((h = 1; h <= n; h++)); do
        wait_line "$STATE/host$h.log" "^READY" 60 \
            || { cat "$STATE/host$h.log" >&2; down; die "the agent of host$h did not start (log above)"; }
    done
    SPINNAKER_EMU_RUN_DIR="$STATE/run-alloc" "$PYTHON" -m spinnaker_emu.cli spalloc serve \
        --config "$STATE/cluster.toml" > "$STATE/spalloc.log" 2>&1 < /dev/null &
    echo $! > "$STATE/spalloc.pid"
    wait_line "$STATE/spalloc.log" "listening on" 60 \
        || { cat "$STATE/spalloc.log" >&2; down; die "the allocator did not start (log above)"; }
    echo "cluster of $n host(s), config $STATE/cluster.toml, logs $STATE/*.log"
    for ((h = 1; h <= n; h++)); do
        echo "host host$h netns mh-host$h agent 10.77.$h.1 bmp 10.77.$h.10 boards $(
            for ((b = 0; b < $(cat "$STATE/host$h.boards"); b++)); do printf '10.77.%d.%d ' $h $((11 + b)); done)"
    done
    echo "spalloc 10.77.0.1 $PORT"
}

stop_pid() {   # pidfile: SIGTERM, wait up to 20 s, then SIGKILL
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$f"
}

down() {
    need_root
    local ns pid
    stop_pid "$STATE/spalloc.pid"
    for f in "$STATE"/host*.pid; do [ -e "$f" ] && stop_pid "$f"; done
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^mh-host[0-9]+$/ {print $1}'); do
        # whatever still runs in our namespaces (boards of a killed agent) is ours
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns"
    done
    for v in $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^mhv[0-9]+@/ {split($2, a, "@"); print a[1]}'); do
        ip link del "$v" 2>/dev/null
    done
    ip link show "$BR" >/dev/null 2>&1 && ip link del "$BR"
    rm -rf "$STATE"
    echo "cluster down"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    kill-host) host_cmd kill "${2:-}" ;;
    start-host) host_cmd start "${2:-}" ;;
    cut-link) link_cmd cut "${2:-}" "${3:-}" ;;
    heal-link) link_cmd heal "${2:-}" "${3:-}" ;;
    *) echo "usage: $ME up [N] | down | kill-host K | start-host K | cut-link A B | heal-link A B" >&2
       exit 2 ;;
esac
