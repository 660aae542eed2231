#!/usr/bin/env bash
# A local Spool cluster for trying cluster mode by hand: one etcd and N spoold nodes on loopback
# addresses 127.0.0.2, 127.0.0.3, … (all of 127/8 reaches this machine), each with its own data
# directory. See `Tools/cluster.sh help`.
set -euo pipefail

usage() {
    cat <<EOF
usage: Tools/cluster.sh up [N] | down [--wipe] | status | help

  up [N]      start etcd on 127.0.0.1:\$ETCD_PORT and N spoold nodes (default 3) on
              127.0.0.2, 127.0.0.3, … port \$PORT, wait until every node answers and every shard
              has a leader, and print how to connect (redis-cli -c -h 127.0.0.2 -p 7379)
  down        stop what 'up' started (by the PIDs it recorded): SIGTERM, SIGKILL after 10 s;
              --wipe also deletes the data directory
  status      whether each process runs, and each shard's slots and leader (CLUSTER SHARDS)

Environment (defaults in brackets):
  SPOOL_CLUSTER_DIR     data, logs and the PID file [<repo>/cluster-data]
  SPOOLD                the spoold binary [.build/release/spoold if built, else .build/debug/spoold]
  ETCD                  the etcd binary [etcd on PATH, else /usr/bin/etcd]
  PORT                  client port of every node; the bus port is PORT + 10000 [7379]
  ETCD_PORT             etcd client port; its peer port is ETCD_PORT + 1 [2379]
  SPOOL_CLUSTER_NAME    cluster name (etcd key prefix) [spool]
  SPOOL_CLUSTER_SHARDS  shards the 16384 hash slots fold onto [16]
  SPOOL_LEASE_TTL       leader lease TTL in seconds [2]
  SPOOL_QUORUM_TIMEOUT  ms without a majority before a leader steps down [1000]
  START_TIMEOUT         seconds to wait for the nodes and the leaders [30]
EOF
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${SPOOL_CLUSTER_DIR:-$repo/cluster-data}"
pidfile="$dir/pids"
port="${PORT:-7379}"
etcd_port="${ETCD_PORT:-2379}"
etcd_peer_port=$((etcd_port + 1))
name="${SPOOL_CLUSTER_NAME:-spool}"
shards="${SPOOL_CLUSTER_SHARDS:-16}"
lease_ttl="${SPOOL_LEASE_TTL:-2}"
quorum_timeout="${SPOOL_QUORUM_TIMEOUT:-1000}"
start_timeout="${START_TIMEOUT:-30}"
etcd_bin="${ETCD:-$(command -v etcd || echo /usr/bin/etcd)}"
if [ -n "${SPOOLD:-}" ]; then
    spoold="$SPOOLD"
elif [ -x "$repo/.build/release/spoold" ]; then
    spoold="$repo/.build/release/spoold"
else
    spoold="$repo/.build/debug/spoold"
fi

die() { echo "cluster.sh: $*" >&2; exit 1; }

host_of() { echo "127.0.0.$(($1 + 1))"; }  # node 1 -> 127.0.0.2

# True if something accepts connections on host:port.
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# The PIDs 'up' recorded whose process is still the one it started (its command line names our
# data directory), so a recycled PID is never signalled.
live_entries() {
    [ -f "$pidfile" ] || return 0
    local what pid
    while read -r what pid; do
        [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || continue
        if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$dir"; then
            echo "$what $pid"
        fi
    done <"$pidfile"
}

node_count() {
    [ -f "$dir/nodes" ] && cat "$dir/nodes" || echo 0
}

ping_node() {
    [ "$(redis-cli -h "$1" -p "$2" PING 2>/dev/null)" = "PONG" ]
}

cluster_ok() {
    redis-cli -h "$1" -p "$2" CLUSTER INFO 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'
}

cmd_up() {
    local count="${1:-3}"
    [[ "$count" =~ ^[1-9][0-9]*$ ]] && [ "$count" -le 200 ] || die "N must be a number of nodes (1-200), not '$count'"
    [ -z "$(live_entries)" ] || die "already up (see '$0 status'); run '$0 down' first"
    command -v redis-cli >/dev/null || die "redis-cli is missing (apt-get install redis-tools)"
    [ -x "$spoold" ] || die "no spoold at $spoold: build it (swift build [-c release]) or set SPOOLD"
    if ! "$spoold" --help 2>&1 | grep -q cluster-enabled; then
        # A release build from before cluster mode: the debug build may be newer.
        if [ -z "${SPOOLD:-}" ] && [ -x "$repo/.build/debug/spoold" ] &&
            "$repo/.build/debug/spoold" --help 2>&1 | grep -q cluster-enabled; then
            echo "note: $spoold has no cluster mode (an old build?); using $repo/.build/debug/spoold" >&2
            spoold="$repo/.build/debug/spoold"
        else
            die "$spoold has no cluster mode (an old build?): rebuild it (swift build -c release) or set SPOOLD"
        fi
    fi
    [ -x "$etcd_bin" ] || die "no etcd at $etcd_bin: apt-get install etcd-server, or set ETCD"
    ((port + 10000 <= 65535)) || die "PORT + 10000 (the bus port) must be a valid port"

    listening 127.0.0.1 "$etcd_port" && die "something already listens on 127.0.0.1:$etcd_port (set ETCD_PORT)"
    listening 127.0.0.1 "$etcd_peer_port" && die "something already listens on 127.0.0.1:$etcd_peer_port (set ETCD_PORT)"
    local i members=""
    for ((i = 1; i <= count; i++)); do
        listening "$(host_of "$i")" "$port" && die "something already listens on $(host_of "$i"):$port (set PORT)"
        listening "$(host_of "$i")" $((port + 10000)) && die "something already listens on $(host_of "$i"):$((port + 10000))"
        members+="${members:+,}n$i=$(host_of "$i"):$port"
    done

    mkdir -p "$dir/etcd"
    : >"$pidfile"
    echo "$count" >"$dir/nodes"
    echo "data and logs in $dir; spoold is $spoold"

    local etcd_url="http://127.0.0.1:$etcd_port" peer_url="http://127.0.0.1:$etcd_peer_port"
    nohup "$etcd_bin" --name spool-etcd --data-dir "$dir/etcd" \
        --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
        --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
        --initial-cluster "spool-etcd=$peer_url" \
        --heartbeat-interval 50 --election-timeout 500 --log-level warn \
        >>"$dir/etcd.log" 2>&1 </dev/null &
    echo "etcd $!" >>"$pidfile"
    local deadline=$((SECONDS + start_timeout))
    until curl -fsS "$etcd_url/health" 2>/dev/null | grep -q '"health":"true"'; do
        ((SECONDS < deadline)) || die "etcd did not get healthy in ${start_timeout}s; see $dir/etcd.log ('$0 down' stops it)"
        sleep 0.1
    done
    echo "etcd      $etcd_url (pid $!)"

    for ((i = 1; i <= count; i++)); do
        mkdir -p "$dir/n$i"
        nohup "$spoold" --bind "$(host_of "$i")" --port "$port" --dir "$dir/n$i/data" \
            --cluster-enabled yes --cluster-name "$name" --cluster-node-id "n$i" \
            --cluster-members "$members" --cluster-etcd-endpoints "$etcd_url" \
            --cluster-shards "$shards" --cluster-lease-ttl "$lease_ttl" \
            --cluster-quorum-timeout "$quorum_timeout" \
            >>"$dir/n$i/spoold.log" 2>&1 </dev/null &
        echo "n$i $!" >>"$pidfile"
    done

    for ((i = 1; i <= count; i++)); do
        until ping_node "$(host_of "$i")" "$port"; do
            ((SECONDS < deadline)) || die "n$i did not answer PING in ${start_timeout}s; see $dir/n$i/spoold.log"
            grep -q "^n$i " <(live_entries) || die "n$i exited; see $dir/n$i/spoold.log ('$0 down' stops the rest)"
            sleep 0.1
        done
    done
    for ((i = 1; i <= count; i++)); do
        until cluster_ok "$(host_of "$i")" "$port"; do
            ((SECONDS < deadline)) || die "n$i does not see a leader for every shard after ${start_timeout}s; '$0 status' shows which"
            sleep 0.1
        done
    done

    echo
    live_entries | while read -r what pid; do
        case "$what" in
            etcd) ;;
            n*) echo "$what        $(host_of "${what#n}"):$port (bus $((port + 10000)), pid $pid, log $dir/$what/spoold.log)" ;;
        esac
    done
    echo
    echo "every one of the $shards shards has a leader. Connect with a cluster-aware client, e.g.:"
    echo "  redis-cli -c -h $(host_of 1) -p $port"
    echo "  python3 -c \"from redis.cluster import RedisCluster; r = RedisCluster(host='$(host_of 1)', port=$port); print(r.xadd('s', {'f': 'v'}))\""
    echo "stop it with: $0 down"
}

cmd_down() {
    local wipe=no
    case "${1:-}" in
        "") ;;
        --wipe) wipe=yes ;;
        *) die "down takes only --wipe, not '$1'" ;;
    esac
    local entries what pid
    entries="$(live_entries)"
    if [ -z "$entries" ]; then
        echo "nothing running (no live PIDs in $pidfile)"
    else
        # Nodes first, then etcd, so that the nodes do not spend their last seconds failing over.
        while read -r what pid; do
            [ "$what" = etcd ] || kill -TERM "$pid" 2>/dev/null || true
        done <<<"$entries"
        while read -r what pid; do
            [ "$what" = etcd ] && kill -TERM "$pid" 2>/dev/null || true
        done <<<"$entries"
        local deadline=$((SECONDS + 10))
        while read -r what pid; do
            while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then
                echo "$what (pid $pid) did not stop on SIGTERM within 10 s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            else
                echo "stopped $what (pid $pid)"
            fi
        done <<<"$entries"
    fi
    rm -f "$pidfile"
    if [ "$wipe" = yes ]; then
        rm -rf "$dir"
        echo "removed $dir"
    fi
}

# CLUSTER SHARDS as redis-cli prints it without a terminal (one value per line) -> one line per
# shard: its slots, its leader and its replicas with their health.
summarize_shards() {
    awk '
        function flush() { if (shard >= 0) printf "shard %-3d slots %-13s leader %-22s replicas %s\n", shard, slots, (leader == "" ? "(none)" : leader), replicas }
        $0 == "slots" { flush(); shard++; slots = "(none)"; leader = ""; replicas = ""; state = "slots"; next }
        state == "slots" && $0 ~ /^[0-9]+$/ { if (slots == "(none)") slots = $0; else slots = slots "-" $0; next }
        $0 == "nodes" { state = "nodes"; next }
        state == "nodes" && key == "" && ($0 == "ip" || $0 == "port" || $0 == "role" || $0 == "health") { key = $0; next }
        key != "" {
            value[key] = $0; key = ""
            if ("health" in value) {
                address = value["ip"] ":" value["port"]
                if (value["role"] == "master") leader = address
                else replicas = replicas (replicas == "" ? "" : " ") address "(" value["health"] ")"
                delete value
            }
            next
        }
        END { flush() }
    ' shard=-1
}

cmd_status() {
    local count i host entries
    count="$(node_count)"
    entries="$(live_entries)"
    [ "$count" -gt 0 ] || { echo "no cluster was started from $dir"; return 0; }
    if grep -q "^etcd " <<<"$entries"; then echo "etcd  running (pid $(awk '$1 == "etcd" {print $2}' <<<"$entries"))"; else echo "etcd  not running"; fi
    local answering=""
    for ((i = 1; i <= count; i++)); do
        host="$(host_of "$i")"
        if ping_node "$host" "$port"; then
            echo "n$i    $host:$port up, $(redis-cli -h "$host" -p "$port" CLUSTER INFO | tr -d '\r' | grep -E '^cluster_state:')"
            answering="${answering:-$host}"
        elif grep -q "^n$i " <<<"$entries"; then
            echo "n$i    $host:$port running but not answering"
        else
            echo "n$i    $host:$port down"
        fi
    done
    if [ -n "$answering" ]; then
        echo
        echo "CLUSTER SHARDS as $answering:$port sees them:"
        redis-cli -h "$answering" -p "$port" CLUSTER SHARDS | summarize_shards
    fi
}

case "${1:-help}" in
    up) shift; cmd_up "$@" ;;
    down) shift; cmd_down "$@" ;;
    status) shift; cmd_status "$@" ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
esac
