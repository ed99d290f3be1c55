#!/usr/bin/env bash
# One host's state at 10,000 to 1,000,000 users, whole processes: `rctl create -f` of Teleport
# user documents (one transaction) into a fresh local state, timed once with its peak memory;
# `users add` of one user into a state that size (hyperfine, medians); `users ls
# --format=json` of all of them, once, with its peak memory.
#
#   bash bench/bulk.sh            (RUNS=10, SIZES="10000 100000 1000000" by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
SIZES=${SIZES:-10000 100000 1000000}

source bench/lib.sh
install_missing hyperfine:hyperfine python3:python3 /usr/bin/time:time

cargo build --release --locked --bin rctl >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
work_folder
mkdir -p results

# timed NAME COMMAND...: one run; its wall seconds and peak RSS (KiB) into results/NAME.
timed() {
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "results/$name" "$@" >/dev/null
}

for n in $SIZES; do
  python3 - "$n" > "users$n.yaml" <<'PY'
import sys
n = int(sys.argv[1])
docs = (f"kind: user\nversion: v2\nmetadata:\n  name: user{i:07d}\nspec:\n  roles: [access]\n"
        f"  traits:\n    db_users: [user{i:07d}]\n" for i in range(n))
sys.stdout.write("---\n".join(docs))
PY
  # The passwords go to a file: /dev/null is refused for them.
  timed "create$n" sh -c "$RCTL --state-dir state$n create -f users$n.yaml >passwords$n"
  rm "users$n.yaml" "passwords$n"
  # The first add after a bulk create builds the index of names; the runs time the adds after.
  "$RCTL" --state-dir "state$n" users add warm --roles=access >warm.password
  # Each run adds a user of its own (a removal would rewrite the file and its index).
  hyperfine -N --output=pipe --runs 1 --parameter-scan i 1 "$RUNS" \
    --export-json "results/add$n.json" \
    "$RCTL --state-dir state$n users add one{i} --roles=access" >/dev/null 2>&1
  timed "ls$n" "$RCTL" --state-dir "state$n" users ls --format=json
  rm -rf "state$n"
done

python3 - $SIZES <<'PY'
import json, sys
def median(name):
    times = sorted(r["median"] for r in json.load(open(f"results/{name}.json"))["results"])
    return times[len(times) // 2] * 1000
def timed(name):
    secs, kib = open(f"results/{name}").read().split()
    return float(secs), int(kib) / 1024
for n in map(int, sys.argv[1:]):
    s, mib = timed(f"create{n}")
    print(f"rctl create -f, {n:>9,} users (one transaction)   {s:>8.1f} s   {mib:>7.0f} MiB")
    print(f"rctl users add, one user into {n:>9,}            {median(f'add{n}'):>8.1f} ms")
    s, mib = timed(f"ls{n}")
    print(f"rctl users ls --format=json, {n:>9,} users       {s:>8.1f} s   {mib:>7.0f} MiB")
PY
