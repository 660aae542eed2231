#!/usr/bin/env bash
# Installs what Spool needs on a Debian machine with Swift, skipping what is already there:
# the C libraries it links (libuv, WiredTiger, jemalloc, OpenSSL), pkg-config, and the real peers and clients the
# tests and benchmarks drive (redis-server, redis-cli, redis-benchmark, redis-py, hiredis, pytest,
# and for Tests/integration/test_real_clients.py: node-redis with node, redis-rb with ruby, C
# hiredis with a C compiler, FastStream's Redis broker), and for cluster mode etcd (coordination)
# iptables (the tests cut nodes off from each other) and faketime (Tools/chaos.py shifts a node's clock),
# libfuse2 with fusepy for Tools/lazyfs.py (power loss: writes not yet fsync'd are dropped), and
# prometheus-redis-exporter (Tests/integration/test_exporter.py scrapes spoold through it), and
# chromium (Tests/integration/test_dashboard.py loads the admin port's page headless).
set -euo pipefail

packages=(libuv1-dev libwiredtiger-dev libjemalloc-dev libssl-dev pkg-config redis-server redis-tools
          nodejs node-redis ruby ruby-redis gcc libc6-dev libhiredis-dev etcd-server iptables faketime libfuse2
          prometheus-redis-exporter chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python_missing=()
# redis-py 8.1 or later: the tests use its Redis 8.8 stream API (xnack, xackdel, idmp, claim).
python3 -c "import redis, sys; sys.exit(tuple(map(int, redis.__version__.split('.')[:2])) < (8, 1))" 2>/dev/null \
    || python_missing+=("redis>=8.1")
python3 -c "import hiredis" 2>/dev/null || python_missing+=(hiredis)
python3 -c "import pytest" 2>/dev/null || python_missing+=(pytest)
python3 -c "import faststream.redis" 2>/dev/null || python_missing+=("faststream[redis]")
python3 -c "from fuse import FUSE" 2>/dev/null || python_missing+=(fusepy)
if ((${#python_missing[@]})); then
    echo "installing python packages: ${python_missing[*]}" >&2
    python3 -m pip install -q "${python_missing[@]}" 2>&1 | grep -v "Running pip as the 'root' user" || true
fi
