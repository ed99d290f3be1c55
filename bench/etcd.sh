#!/usr/bin/env bash
# Whole-process rctl on a 3-member loopback etcd against the local state directory, in one run
# on one machine: `users add` and `auth sign` (median and p99), 4 concurrent admins against
# one, and `users ls` / `users add` / `acl generate` at 100,000 users.
#
#   bash bench/etcd.sh            (RUNS=60 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-60}

source bench/lib.sh
install_missing hyperfine:hyperfine etcd:etcd-server etcdctl:etcd-client protoc:protobuf-compiler
cargo build --release --locked --bin rctl --example seed_users >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
SEED=$PWD/target/release/examples/seed_users
work_folder

start_etcd_cluster

printf 'bench passphrase\n' > pass && chmod 600 pass
ETCD="--state=etcd://$ENDPOINTS/bench"
LOCAL="--state-dir=$W/local"
$RCTL $ETCD --ca-passphrase-file=pass auth init --cluster-name=bench >/dev/null
$RCTL $LOCAL auth init --cluster-name=bench >/dev/null
$RCTL --state-dir="$W/local-enc" --ca-passphrase-file=pass auth init --cluster-name=bench >/dev/null

# users add: a fresh name each run (the shell's pid), the same `sh -c` on both sides.
hyperfine -N --warmup 3 --runs "$RUNS" --export-json add.json \
  -n "users add, local" "sh -c '$RCTL $LOCAL users add l\$\$ --roles=readonly >pw.txt'" \
  -n "users add, etcd" "sh -c '$RCTL $ETCD users add e\$\$ --roles=readonly >pw.txt'" >/dev/null
hyperfine -N --warmup 3 --runs "$RUNS" --export-json sign.json \
  -n "auth sign, local (key in clear)" "$RCTL $LOCAL auth sign --host=localhost --out=a --overwrite" \
  -n "auth sign, local (key encrypted)" "$RCTL --state-dir=$W/local-enc --ca-passphrase-file=pass auth sign --host=localhost --out=b --overwrite" \
  -n "auth sign, etcd (key encrypted)" "$RCTL $ETCD --ca-passphrase-file=pass auth sign --host=localhost --out=c --overwrite" >/dev/null
python3 - add.json sign.json <<'EOF'
import json, sys
print("| command | median | p99 |")
print("|---|---:|---:|")
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        t = sorted(r["times"])
        p99 = t[min(len(t) - 1, int(round(0.99 * (len(t) - 1))))]
        print(f"| {r['command']} | {r['median']*1000:.1f} ms | {p99*1000:.1f} ms |")
EOF

# Throughput: one admin adding 100 users, then 4 admins adding 100 each at once; three rounds,
# each figure the median of its three.
through() { # ROUND N_ADMINS PER_ADMIN STATE
  local start end
  start=$(date +%s.%N)
  for a in $(seq 1 "$2"); do
    ( for i in $(seq 1 "$3"); do $RCTL $4 users add "t${1}n${2}a${a}x$i" --roles=readonly >pw$a.txt; done ) &
  done
  wait
  end=$(date +%s.%N)
  python3 -c "print(f'{$2 * $3 / ($end - $start):.0f}')"
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
for s in LOCAL ETCD; do
  ones=() fours=()
  for r in 1 2 3; do
    ones+=("$(through "$r" 1 100 "${!s}")")
    fours+=("$(through "$r" 4 100 "${!s}")")
  done
  one=$(median3 "${ones[@]}") four=$(median3 "${fours[@]}")
  echo "| $s: users add/s, 1 admin | $one (${ones[*]}) | 4 admins at once | $four (${fours[*]}) | $(python3 -c "print(f'{$four / $one:.2f}x')") |"
done

# 100,000 users: seeded locally, migrated into etcd.
$SEED "$W/big" 100000 >/dev/null
$RCTL --state-dir="$W/big" --ca-passphrase-file=pass auth encrypt >/dev/null
$RCTL --state-dir="$W/big" state migrate --to="etcd://$ENDPOINTS/big" >/dev/null
BIG_ETCD="--state=etcd://$ENDPOINTS/big"
BIG_LOCAL="--state-dir=$W/big"
hyperfine -N --warmup 1 --runs 10 \
  -n "users ls, 100k, local" "sh -c '$RCTL $BIG_LOCAL users ls >/dev/null'" \
  -n "users ls, 100k, etcd" "sh -c '$RCTL $BIG_ETCD users ls >/dev/null'" \
  -n "users add, 100k, local" "sh -c '$RCTL $BIG_LOCAL users add b\$\$ --roles=readonly >pw.txt'" \
  -n "users add, 100k, etcd" "sh -c '$RCTL $BIG_ETCD users add c\$\$ --roles=readonly >pw.txt'" \
  -n "acl generate, 100k, local" "sh -c '$RCTL $BIG_LOCAL acl generate >/dev/null'" \
  -n "acl generate, 100k, etcd" "sh -c '$RCTL $BIG_ETCD acl generate >/dev/null'" \
  --export-markdown big.md >/dev/null
cat big.md
