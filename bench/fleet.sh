#!/usr/bin/env bash
# A fleet on one etcd, whole processes, in one run on one machine: one etcd member, one signer
# (`auth sign-requests --watch`, the only holder of the passphrase), N nodes with one server
# each, the first REAL of them with a real TLS redis-server (Debian's) behind it. Every node's
# sync is its own `rctl redis sync --node=nK` process, PAR at a time, without the passphrase:
# its certificates come through signing requests. Then a full manual rotation (init,
# update_clients, update_servers, standby), each phase one admin `auth rotate` and a sync of
# every node; then one more pass with nothing due, over which etcd's own counters give the
# range reads and the CPU of one node's sync.
#
# The last line: `rotation N nodes S s, phases A/B/C/D s, failures F, etcd reads per node sync R`.
# The line before it estimates a 10,000-node phase from etcd's measured CPU per node sync (etcd
# is the one shared part; nodes and the signer scale out): 10,000 x that CPU, on one core.
#
#   bash bench/fleet.sh [N]        (N=1000, REAL=100, PAR=32 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
REAL=${REAL:-100}
PAR=${PAR:-32}
[ "$REAL" -gt "$N" ] && REAL=$N

source bench/lib.sh
install_missing etcd:etcd-server redis-server:redis-server curl:curl
cargo build --release --locked --bin rctl >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
work_folder

start_etcd --quota-backend-bytes=8589934592
URL="etcd://127.0.0.1:$client/fleet"
S="--state=$URL"
until $RCTL $S status >/dev/null 2>&1; do sleep 0.2; done

printf 'fleet passphrase\n' > pass && chmod 600 pass
$RCTL $S --ca-passphrase-file=pass auth init --cluster-name=fleet >/dev/null
$RCTL $S users add app --roles=access --db-users=app >/dev/null 2>&1 </dev/null || true
mkdir nodes
ports=()
for i in $(seq 1 "$N"); do ports+=("$(( 20000 + i ))"); done
echo "registering $N servers..." >&2
for i in $(seq 1 "$N"); do
  $RCTL $S redis add "r$i" --addr="127.0.0.1:${ports[$((i - 1))]}" --cert-prefix="nodes/r$i" \
    --acl-file="nodes/r$i.acl" --node="n$i" >/dev/null
done

$RCTL $S --ca-passphrase-file=pass auth sign-requests --watch >signer.log 2>&1 &
pids+=($!)

# sync_all LABEL: every node's sync, PAR at a time (--no-reload for the nodes with no real
# server behind them, and for all at the first, before the servers start); prints the seconds
# taken, counts failures.
sync_all() {
  local start end
  start=$(date +%s.%N)
  seq 1 "$N" | xargs -P "$PAR" -I{} sh -c \
    "reload=; [ {} -gt $REAL ] || [ $1 = first ] && reload=--no-reload
     out=\$($RCTL $S redis sync --node=n{} --wait=600s \$reload 2>&1) ||
       { echo \"\$out\" >>errors.log; echo n{} >>failed.$1; }"
  end=$(date +%s.%N)
  python3 -c "print(round($end - $start, 1))"
}
failures() { cat failed.* 2>/dev/null | wc -l; }

echo "first certificates for $N nodes..." >&2
first=$(sync_all first)
# The real servers, on the files their nodes' syncs wrote.
for i in $(seq 1 "$REAL"); do
  $RCTL $S redis config "r$i" >"nodes/r$i.conf"
  printf '\naclfile %s\ndir %s\nsave ""\nappendonly no\ndaemonize no\n' \
    "$W/nodes/r$i.acl" "$W/nodes" >>"nodes/r$i.conf"
  redis-server "nodes/r$i.conf" >"nodes/r$i.log" 2>&1 &
  pids+=($!)
done
sleep 2
echo "first sync ${first} s; servers up: $(pgrep -c redis-server || true)" >&2

phase_times=()
for phase in init update_clients update_servers standby; do
  $RCTL $S --ca-passphrase-file=pass auth rotate --phase="$phase" --manual >/dev/null
  t=$(sync_all "$phase")
  phase_times+=("$t")
  echo "phase $phase: $t s, failures so far $(failures)" >&2
done

# One more pass, nothing due: etcd's counters over it, per node sync.
metric() { curl -s "http://127.0.0.1:$client/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
cpu() { awk '{print $14 + $15}' "/proc/$etcd_pid/stat"; }
ranges0=$(metric etcd_debugging_mvcc_range_total) cpu0=$(cpu)
idle=$(sync_all idle)
ranges1=$(metric etcd_debugging_mvcc_range_total) cpu1=$(cpu)
# One node's sync with nothing due, by itself (the last node: no real server behind it).
install_missing hyperfine:hyperfine
hyperfine -N --warmup 2 --runs 20 --export-json one.json \
  "$RCTL $S redis sync --node=n$N --no-reload" >/dev/null 2>&1
one=$(python3 -c 'import json; print(round(json.load(open("one.json"))["results"][0]["median"] * 1000, 1))')
echo "one node's sync with nothing due, $N servers registered: $one ms (median of 20)"
tick=$(getconf CLK_TCK)
if [ "$(failures)" -gt 0 ]; then
  echo "the most frequent errors:" >&2
  sed -E 's/[0-9]+/N/g' errors.log | sort | uniq -c | sort -rn | head -8 >&2
fi
python3 - "$N" "$idle" "$ranges0" "$ranges1" "$cpu0" "$cpu1" "$tick" "$(failures)" "${phase_times[@]}" <<'PY'
import sys
n, idle = int(sys.argv[1]), float(sys.argv[2])
r0, r1, c0, c1, tick = (float(x) for x in sys.argv[3:8])
failures = int(sys.argv[8])
phases = [float(x) for x in sys.argv[9:13]]
reads = (r1 - r0) / n
cpu_ms = (c1 - c0) / tick / n * 1000
print(f"pass with nothing due: {idle} s for {n} node syncs; etcd CPU {cpu_ms:.2f} ms per node sync")
print(f"estimate: a 10,000-node pass needs {cpu_ms * 10000 / 1000:.0f} s of one etcd core")
print(f"rotation {n} nodes {sum(phases):.1f} s, phases {'/'.join(f'{p:.1f}' for p in phases)} s, "
      f"failures {failures}, etcd reads per node sync {reads:.1f}")
PY
