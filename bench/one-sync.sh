#!/usr/bin/env bash
# One node's `redis sync` with nothing due, at N registered servers on one etcd member (no
# rotation before it, nothing else running): the per-node cost that fleet.sh measures right
# after a whole rotation, here without the leases of thousands of answered requests expiring
# around it. N servers on N nodes are registered (4 admins at a time; a registration that loses
# a race to another is left out), the signer answers the last node's first sync, then
# hyperfine times 20 more syncs of that node, on etcd's history as it is and again after a
# compaction and defragmentation (what etcd's --auto-compaction-* does in production).
#
#   bash bench/one-sync.sh [N]        (N=5000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
source bench/lib.sh
install_missing etcd:etcd-server etcdctl:etcd-client curl:curl hyperfine:hyperfine
cargo build --release --locked --bin rctl >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
work_folder
start_etcd --quota-backend-bytes=8589934592
S="--state=etcd://127.0.0.1:$client/fleet"
until $RCTL $S status >/dev/null 2>&1; do sleep 0.2; done
printf 'fleet passphrase\n' >pass && chmod 600 pass
$RCTL $S --ca-passphrase-file=pass auth init --cluster-name=fleet >/dev/null
mkdir nodes
echo "registering $N servers..." >&2
seq 1 "$((N - 1))" | xargs -P 4 -I{} "$RCTL" $S redis add "r{}" --addr="127.0.0.1:{}" \
  --cert-prefix="nodes/r{}" --acl-file="nodes/r{}.acl" --node="n{}" >/dev/null 2>&1 || true
$RCTL $S redis add "r$N" --addr="127.0.0.1:$N" --cert-prefix="nodes/r$N" \
  --acl-file="nodes/r$N.acl" --node="n$N" >/dev/null
registered=$($RCTL $S redis ls --format=json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
$RCTL $S --ca-passphrase-file=pass auth sign-requests --watch >signer.log 2>&1 &
pids+=($!)
$RCTL $S redis sync --node="n$N" --wait=60s --no-reload >/dev/null

metric() { curl -s "http://127.0.0.1:$client/metrics" | awk -v m="$1" '$1 == m {s += $2} END {print s}'; }
cpu() { awk '{print $14 + $15}' "/proc/$etcd_pid/stat"; }
measure() {
  local r0 c0 r1 c1
  r0=$(metric etcd_debugging_mvcc_range_total) c0=$(cpu)
  for _ in $(seq 20); do $RCTL $S redis sync --node="n$N" --no-reload >/dev/null; done
  r1=$(metric etcd_debugging_mvcc_range_total) c1=$(cpu)
  hyperfine -N --warmup 2 --runs 20 --export-json one.json \
    "$RCTL $S redis sync --node=n$N --no-reload" >/dev/null 2>&1
  python3 - "$1" "$r0" "$r1" "$c0" "$c1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
label = sys.argv[1]
r0, r1, c0, c1, tick = (float(x) for x in sys.argv[2:7])
res = json.load(open("one.json"))["results"][0]
print(f"{label}: median {res['median'] * 1000:.1f} ms, mean {res['mean'] * 1000:.1f} ms "
      f"(user {res['user'] * 1000:.1f} ms, system {res['system'] * 1000:.1f} ms); "
      f"etcd reads {(r1 - r0) / 20:.0f}, etcd CPU {(c1 - c0) / tick / 20 * 1000:.1f} ms per sync")
PY
}
echo "$registered servers registered"
measure "history as it is"
rev=$(ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" endpoint status -w json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" compact "$rev" >/dev/null
ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$client" defrag >/dev/null
measure "compacted and defragmented"
