#!/usr/bin/env bash
# Signing requests through a local etcd, whole processes, in one run on one machine: one
# signer (`auth sign-requests`, one pass) answering 100 nodes' requests at once (faked by
# examples/fake_node_requests.rs before each run); a node's `redis sync` renewing its
# certificate through a signer in --watch mode, end to end; the same node's sync with nothing
# due; and, behind a flood of JUNK requests that are no requests (put just before), the same
# node's renewal through the watching signer: every junk request is refused one by one, oldest
# first, and the honest one answered in the same run. Prints hyperfine's tables.
#
#   bash bench/requests.sh        (RUNS=10, NODES=100, JUNK=10000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
NODES=${NODES:-100}
JUNK=${JUNK:-10000}

source bench/lib.sh
install_missing hyperfine:hyperfine etcd:etcd-server protoc:protobuf-compiler
cargo build --release --locked --bin rctl --example fake_node_requests >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
FAKE=$PWD/target/release/examples/fake_node_requests
work_folder

start_etcd
URL="etcd://127.0.0.1:$client/bench"
until $RCTL --state="$URL" status >/dev/null 2>&1; do sleep 0.2; done

printf 'bench passphrase\n' > pass && chmod 600 pass
S="--state=$URL"
$RCTL $S --ca-passphrase-file=pass auth init --cluster-name=bench >/dev/null
mkdir nodes
for i in $(seq 1 "$NODES"); do
  $RCTL $S redis add "f$i" --addr="127.0.0.1:$((20000 + i))" --cert-prefix="nodes/f$i" \
    --hosts="f$i.example,127.0.0.1" --node="fake$i" >/dev/null
done
$RCTL $S redis add s1 --addr=127.0.0.1:19999 --cert-prefix=nodes/s1 --node=n1 >/dev/null
# Node n1 with its first certificate, through a signer.
$RCTL $S --ca-passphrase-file=pass auth sign-requests --watch >signer.log 2>&1 &
pids+=($!)
$RCTL $S redis sync --node=n1 --no-reload >/dev/null

hyperfine -N --warmup 1 --runs "$RUNS" --export-markdown node.md \
  -n "node sync, nothing due" "$RCTL $S redis sync --node=n1 --no-reload" \
  -n "node sync, renewed through the watching signer" \
  "$RCTL $S redis sync --node=n1 --no-reload --renew-within=100000h" >/dev/null
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
# The flood put while no signer runs, then a signer started just before the node's sync: the
# node's request is the newest, answered after every junk request (oldest first).
$FAKE "$URL" --junk "$JUNK"
$RCTL $S --ca-passphrase-file=pass auth sign-requests --watch >flood.log 2>&1 &
pids+=($!)
hyperfine -N --runs 1 --export-markdown flood.md \
  -n "node sync behind $JUNK junk requests, renewed through a signer started with them queued" \
  "$RCTL $S redis sync --node=n1 --no-reload --renew-within=100000h --wait=600s" >/dev/null
echo "signer: $(grep -c '^refused junk-' flood.log) junk requests refused, $(grep -c '^signed ' flood.log) signed"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
hyperfine -N --runs "$RUNS" --export-markdown signer.md \
  --prepare "$FAKE $URL f" \
  -n "auth sign-requests: $NODES nodes' requests" \
  "$RCTL $S --ca-passphrase-file=pass auth sign-requests" >/dev/null
cat node.md flood.md signer.md
