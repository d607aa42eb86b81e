#!/bin/sh
# Runs a command next to a throwaway redis-server: a free loopback port, a
# fresh temporary directory, AOF with `appendfsync always` (as the HA tests'
# fixture: a write is on disk before it is answered). The command finds the
# server in $REDIS_URL; the server and its directory are gone afterwards.
#
# Usage: scripts/with-redis.sh COMMAND [ARGS...]
# Example: scripts/with-redis.sh sh -c 'hydrogen bench e2e --store "$REDIS_URL"'
set -eu

if ! command -v redis-server >/dev/null 2>&1; then
    echo "with-redis.sh: redis-server is not on PATH (apt-get install redis-server)" >&2
    exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/hydrogen-redis.XXXXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" \
    --appendonly yes --appendfsync always --dir "$dir" >"$dir/redis.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tries=0
until redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 400 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "with-redis.sh: redis-server did not start; its log:" >&2
        cat "$dir/redis.log" >&2
        exit 1
    fi
    sleep 0.05
done

REDIS_URL="redis://127.0.0.1:$port/0" "$@"
