#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `start` prints its URL, `stop` removes it. Both are
# idempotent: `start` on a running cluster prints the URL again, `stop` on none does nothing.
#
#   url=$(scripts/postgres-test-cluster.sh start)   # postgresql://postgres@127.0.0.1:PORT/postgres
#   scripts/postgres-test-cluster.sh stop
#
# The cluster lives in $TOKENSCAN_PG_DIR (default /tmp/tokenscan-pg), listens on 127.0.0.1 on a free
# port and on a socket in that folder, trusts local connections (user postgres), and trades durability
# for speed (fsync=off, as only tests use it). Run as root, the server runs as the `postgres` user
# (PostgreSQL refuses to run as root); otherwise as the calling user.
set -euo pipefail

dir="${TOKENSCAN_PG_DIR:-/tmp/tokenscan-pg}"
data="$dir/data"

die() { echo "postgres-test-cluster: $*" >&2; exit 1; }

# The server's binaries: pg_ctl on PATH, else Debian's newest /usr/lib/postgresql/N/bin.
bindir() {
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$newest" && -x "$newest/pg_ctl" ]] || die "no PostgreSQL server found (install it: scripts/install-deps.sh --test)"
    echo "$newest"
}

# Runs a command as the cluster's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        local quoted
        printf -v quoted '%q ' "$@"
        su postgres -s /bin/sh -c "$quoted"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
    local port
    for port in $(seq 55432 55532); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    die "no free port found"
}

running() {
    [[ -f "$data/postmaster.pid" ]] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
    if running && [[ -f "$dir/url" ]]; then cat "$dir/url"; return; fi
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres "$dir"; fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
        rm -rf "$data"
        as_owner "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
            || die "initdb failed: $(cat "$dir/initdb.log")"
    fi
    local port
    port=$(free_port)
    as_owner "$bin/pg_ctl" -D "$data" -l "$dir/log" -w -t 60 start \
        -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        >/dev/null || die "the server did not start: $(tail -n 20 "$dir/log" 2>/dev/null)"
    echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url"
    cat "$dir/url"
}

stop() {
    if running; then as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    rm -rf "$dir"
}

bin=$(bindir)
case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
