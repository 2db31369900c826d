#!/usr/bin/env bash
# Starts a small strand cluster on loopback: 2 distributors, 3 ingesters (replication factor 2),
# a querier, a query-frontend and a compactor, each its own `strand` process, sharing
# ./data/cluster. Ctrl-C stops them all (SIGTERM: ingesters flush first).
#
#   deploy/cluster/run-local.sh [path/to/strand]
#
#   send spans:  OTLP gRPC 127.0.0.1:4317 or :4327, OTLP HTTP 127.0.0.1:4318 or :4328
#   read:        Tempo API / Grafana data source at http://127.0.0.1:3200
#   logs:        ./data/cluster/logs/<process>.log
#   ring health: curl -s 127.0.0.1:3201/metrics | grep strand_ring_members
#
# docs/cluster.md explains the roles, the ring and what to try (e.g. kill -9 an ingester).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STRAND=${1:-}
if [[ -z $STRAND ]]; then
    cargo build --release --bin strand
    STRAND=target/release/strand
fi
CONFIG="$HERE/local.yaml"
DATA=./data/cluster
mkdir -p "$DATA/logs"
PIDS=()
NAMES=()
HTTP_PORTS=()

# start <name> <target> <http port> <grpc port> [VAR=value …]
start() {
    local name=$1 target=$2 http=$3 grpc=$4
    shift 4
    env STRAND_SERVER__HTTP_LISTEN_ADDRESS=127.0.0.1 STRAND_SERVER__HTTP_LISTEN_PORT="$http" \
        STRAND_SERVER__GRPC_LISTEN_ADDRESS=127.0.0.1 STRAND_SERVER__GRPC_LISTEN_PORT="$grpc" \
        STRAND_STORAGE__TRACE__WAL__PATH="$DATA/$name/wal" "$@" \
        "$STRAND" -config.file="$CONFIG" -target="$target" >"$DATA/logs/$name.log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
    HTTP_PORTS+=("$http")
    echo "started $name ($target): http 127.0.0.1:$http, grpc 127.0.0.1:$grpc, pid $!"
}

otlp() {
    echo "STRAND_DISTRIBUTOR__RECEIVERS__OTLP__PROTOCOLS__GRPC__ENDPOINT=127.0.0.1:$1" \
        "STRAND_DISTRIBUTOR__RECEIVERS__OTLP__PROTOCOLS__HTTP__ENDPOINT=127.0.0.1:$2"
}

stop_all() {
    echo "stopping…"
    kill -TERM "${PIDS[@]}" 2>/dev/null || true
    wait "${PIDS[@]}" 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start ingester-1 ingester 3211 9211
start ingester-2 ingester 3212 9212
start ingester-3 ingester 3213 9213
start querier querier 3221 9221
start query-frontend query-frontend 3200 9231
start compactor compactor 3241 9241
# shellcheck disable=SC2046 # one word per variable
start distributor-1 distributor 3201 9201 $(otlp 4317 4318)
# shellcheck disable=SC2046
start distributor-2 distributor 3202 9202 $(otlp 4327 4328)

# Waits for every process's /ready; a process that exits instead stops the whole cluster.
for i in "${!PIDS[@]}"; do
    until curl -sf "http://127.0.0.1:${HTTP_PORTS[$i]}/ready" >/dev/null; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            echo "${NAMES[$i]} exited while starting; the end of $DATA/logs/${NAMES[$i]}.log:" >&2
            tail -n 20 "$DATA/logs/${NAMES[$i]}.log" >&2
            exit 1
        fi
        sleep 0.2
    done
done
echo "cluster ready: Grafana/Tempo API at http://127.0.0.1:3200; Ctrl-C stops it"
wait
