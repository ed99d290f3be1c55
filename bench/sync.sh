#!/usr/bin/env bash
# Whole-process `rctl redis sync` against live redis-servers on loopback, in one run on one
# machine: one server with nothing due; one server renewed, reloaded and verified; 20 servers
# with nothing due and with every one renewed; `redis check` of 20. Prints hyperfine's table.
#
#   bash bench/sync.sh            (RUNS=30, SERVERS=20 by default; CPU per command after the table)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
SERVERS=${SERVERS:-20}

source bench/lib.sh
install_missing hyperfine:hyperfine redis-server:redis-server

cargo build --release --locked --bin rctl >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
work_folder
export RCTL_STATE_DIR=$W/state
$RCTL auth init --cluster-name=bench >/dev/null
mkdir tls

for i in $(seq -w 1 "$SERVERS"); do
  port=$(free_port)
  $RCTL redis add "s$i" --addr="127.0.0.1:$port" --cert-prefix="tls/s$i" --acl-file="tls/s$i.acl" \
    --ttl=720h >/dev/null
  $RCTL redis sync "s$i" --no-reload >/dev/null
  mkdir "data$i"
  cat > "s$i.conf" <<EOF
port 0
tls-port $port
tls-cert-file $W/tls/s$i.crt
tls-key-file $W/tls/s$i.key
tls-ca-cert-file $W/tls/s$i.cas
tls-auth-clients yes
aclfile $W/tls/s$i.acl
bind 127.0.0.1
save ""
appendonly no
dir $W/data$i
logfile $W/data$i/redis.log
EOF
  redis-server "s$i.conf" &
  pids+=($!)
done
for i in $(seq -w 1 "$SERVERS"); do
  until grep -q "Ready to accept" "data$i/redis.log" 2>/dev/null; do sleep 0.05; done
done
# Client outputs on the same state, and a person to log in.
CLIENTS=${CLIENTS:-5}
$RCTL users add app --roles=access --db-users=app > "$W/app.password"
mkdir out
clients=()
for c in $(seq 1 "$CLIENTS"); do
  $RCTL clients add "c$c" --user=app --db-user=app --out="out/c$c" --ttl=24h >/dev/null
  clients+=("c$c")
done
# Every server and client output in line before timing.
$RCTL redis sync --all >/dev/null

first=s$(seq -w 1 "$SERVERS" | head -1)
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$W/sync.md" --export-json "$W/sync.json" \
  -n "sync 1 server, nothing due" "$RCTL redis sync $first" \
  -n "sync 1 server + $CLIENTS client outputs, nothing due" "$RCTL redis sync $first ${clients[*]}" \
  -n "sync 1 server: renew + reload + verify" "$RCTL redis sync $first --renew-within=8760h" \
  -n "sync $SERVERS servers + $CLIENTS client outputs (--all), nothing due" "$RCTL redis sync --all" \
  -n "sync $SERVERS servers: each renewed + reloaded + verified" "$RCTL redis sync --all --renew-within=8760h" \
  -n "check $SERVERS servers" "$RCTL redis check --all" \
  -n "db login (one person's certificate into a profile)" "$RCTL db login $first --user=app --profile=$W/profile" \
  -n "auth sign --user (the same certificate, for comparison)" "$RCTL auth sign --user=app --db-user=app --out=$W/signed --overwrite"
cat "$W/sync.md"
# CPU (user + system) of each, beside its wall time: the goal for 50 servers is CPU, not wall.
python3 - "$W/sync.json" <<'PY'
import json, sys
print()
print("| command | CPU (user + system), mean |")
print("|---|---:|")
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"| {r['command']} | {(r['user'] + r['system']) * 1000:.1f} ms |")
PY
