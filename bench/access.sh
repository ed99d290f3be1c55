#!/usr/bin/env bash
# How fast access is taken back on a fleet, whole processes, in one run on one machine: a
# 3-member loopback etcd, one signer, 2 nodes each running the watching agent (`redis sync
# --watch --node=nK`, no passphrase) for 10 Debian redis-servers (7.0, TLS, passwords) each.
# A person (alice) holds one connection on each of the 20 servers; `examples/access_probe.rs`
# times, from the start of an admin's command on the admin's host, until the last of those
# connections is closed by its server (and a new login is refused everywhere):
#   - `rctl lock add --user=alice` (then `lock rm`, and alice back everywhere, before the next run);
#   - `rctl users rm alice` (then `users add alice` with her password again).
# RUNS runs each: median and p99. Then the agents' CPU over IDLE seconds with nothing to do, and
# etcd's requests per second over the same span (the 3 members' gRPC counters).
#
# Then per-login accounts: alice logs in to each server (`db login`, each login its own
# account), holds a connection as each login; `db logout --user=alice` is timed to the last one
# closed, and, in EXPIRY_RUNS runs with `--ttl=30s`, each login's notAfter to its connection
# closed (the worst of the 20 each run).
#
# The last line: `lock p99 N ms, users rm p99 N ms, logout p99 N ms, expiry N ms, idle CPU N%`
# (expiry: the p99 over the runs of each run's worst login).
#
#   bash bench/access.sh          (RUNS=20, IDLE=600 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
IDLE=${IDLE:-600}
SERVERS_PER_NODE=10

source bench/lib.sh
install_missing etcd:etcd-server etcdctl:etcd-client redis-server:redis-server curl:curl openssl:openssl
cargo build --release --locked --bin rctl --example access_probe >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
PROBE=$PWD/target/release/examples/access_probe
work_folder

start_etcd_cluster
S="--state=etcd://$ENDPOINTS/access"

printf 'access passphrase\n' >pass && chmod 600 pass
A="$RCTL $S --ca-passphrase-file=pass"
$A auth init --cluster-name=access >/dev/null
openssl rand -hex 24 >alice.pw
$A users add alice --roles=access --db-users=alice --password-stdin <alice.pw >/dev/null
$A auth sign --user=alice --db-user=alice --out=alice --ttl=24h >/dev/null
mkdir nodes
ports=() named=()
for n in 1 2; do
  for k in $(seq 1 "$SERVERS_PER_NODE"); do
    name="n${n}r$k" port=$(free_port)
    ports+=("$port") named+=("$name:$port")
    $RCTL $S redis add "$name" --addr="127.0.0.1:$port" --cert-prefix="nodes/$name" \
      --acl-file="nodes/$name.acl" --node="n$n" >/dev/null
  done
done
$A auth sign-requests --watch >signer.log 2>&1 &
pids+=($!)
for n in 1 2; do $RCTL $S redis sync --node="n$n" --no-reload --wait=120s >/dev/null; done
for n in 1 2; do
  for k in $(seq 1 "$SERVERS_PER_NODE"); do
    name="n${n}r$k"
    $RCTL $S redis config "$name" >"nodes/$name.conf"
    printf '\naclfile %s\ndir %s\nsave ""\nappendonly no\ndaemonize no\n' \
      "$W/nodes/$name.acl" "$W/nodes" >>"nodes/$name.conf"
    redis-server "nodes/$name.conf" >"nodes/$name.log" 2>&1 &
    pids+=($!)
  done
done
agents=()
for n in 1 2; do
  $RCTL $S redis sync --watch --node="n$n" --wait=120s >"agent$n.log" 2>&1 &
  pids+=($!)
  agents+=($!)
done
sleep 3

PORTS=$(IFS=,; echo "${ports[*]}")
probe() {
  "$PROBE" "$PORTS" alice.crt alice.key alice.cas alice alice.pw "$RUNS" "$1" "$2"
}
echo "lock add --user=alice, $RUNS runs..." >&2
lock=$(probe "$A lock add --user=alice" "$A lock rm \"\$1\" >/dev/null 2>&1")
echo "lock add: $lock" >&2
echo "users rm alice, $RUNS runs..." >&2
rm_=$(probe "$A users rm alice >/dev/null 2>&1" \
  "$A users add alice --roles=access --db-users=alice --password-stdin <alice.pw >/dev/null 2>&1")
echo "users rm: $rm_" >&2
# Per-login accounts: alice logs in to each of the 20 servers (from the admin's host, where the
# state and the CA are; each node's agent makes the account), holds a connection as each login,
# then `db logout` (RUNS runs), and each login's expiry (EXPIRY_RUNS runs, --ttl=30s).
PROFILE=$W/profile
NAMED=$(IFS=,; echo "${named[*]}")
LOGIN="RCTL_PROFILE=$PROFILE $A db login \"\$1\" --user=alice"
echo "db logout --user=alice, $RUNS runs..." >&2
logout=$("$PROBE" logins "$PROFILE/alice" "$NAMED" "$RUNS" "$LOGIN >/dev/null 2>&1" \
  "RCTL_PROFILE=$PROFILE $A db logout --user=alice >/dev/null 2>&1")
echo "db logout: $logout" >&2
echo "a login's expiry, ${EXPIRY_RUNS:-5} runs..." >&2
expiry=$("$PROBE" logins "$PROFILE/alice" "$NAMED" "${EXPIRY_RUNS:-5}" \
  "$LOGIN --ttl=30s >/dev/null 2>&1" "")
echo "expiry (notAfter to connection closed): $expiry" >&2

# Idle: the agents' CPU (utime + stime, clock ticks) and etcd's gRPC requests over IDLE seconds.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
grpc() {
  local total=0 c
  for c in "${clients[@]}"; do
    total=$((total + $(curl -s "http://127.0.0.1:$c/metrics" |
      awk '/^grpc_server_handled_total/ { s += $2 } END { printf "%d", s }')))
  done
  echo "$total"
}
echo "idle for $IDLE s..." >&2
before=0; for a in "${agents[@]}"; do before=$((before + $(ticks "$a"))); done
g0=$(grpc)
sleep "$IDLE"
after=0; for a in "${agents[@]}"; do after=$((after + $(ticks "$a"))); done
g1=$(grpc)
hz=$(getconf CLK_TCK)
idle=$(python3 -c "print(round(100 * ($after - $before) / $hz / $IDLE / ${#agents[@]}, 3))")
rate=$(python3 -c "print(round(($g1 - $g0) / $IDLE, 2))")
echo "idle: ${idle}% of a core per agent; etcd ${rate} requests/s with ${#agents[@]} idle agents" >&2
lock_p99=$(sed -n 's/.*p99 \([0-9]*\) ms.*/\1/p' <<<"$lock")
rm_p99=$(sed -n 's/.*p99 \([0-9]*\) ms.*/\1/p' <<<"$rm_")
logout_p99=$(sed -n 's/.*p99 \([0-9]*\) ms.*/\1/p' <<<"$logout")
expiry_p99=$(sed -n 's/.*p99 \([0-9]*\) ms.*/\1/p' <<<"$expiry")
echo "lock p99 $lock_p99 ms, users rm p99 $rm_p99 ms, logout p99 $logout_p99 ms, expiry $expiry_p99 ms, idle CPU ${idle}%"
