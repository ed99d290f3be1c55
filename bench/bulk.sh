#!/usr/bin/env bash
# Bulk users through `rctl create -f` (Teleport kind: user documents, one transaction) into a
# fresh local state: 10,000 and 100,000 users, whole processes (hyperfine, medians), beside
# `users add` of one user into a state holding as many.
#
#   bash bench/bulk.sh            (RUNS=10 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}

source bench/lib.sh
install_missing hyperfine:hyperfine python3:python3

cargo build --release --locked --bin rctl >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
work_folder

for n in 10000 100000; do
  python3 - "$n" > "users$n.yaml" <<'PY'
import sys
n = int(sys.argv[1])
docs = (f"kind: user\nversion: v2\nmetadata:\n  name: user{i:06d}\nspec:\n  roles: [access]\n"
        f"  traits:\n    db_users: [user{i:06d}]\n" for i in range(n))
sys.stdout.write("---\n".join(docs))
PY
done
mkdir -p results
# The passwords go to a pipe: /dev/null (hyperfine's default) is refused for them.
for n in 10000 100000; do
  hyperfine -N --output=pipe --warmup 1 --runs "$RUNS" --export-json "results/create$n.json" \
    --prepare "rm -rf state$n" \
    "$RCTL --state-dir state$n create -f users$n.yaml" >/dev/null 2>&1
  hyperfine -N --output=pipe --warmup 1 --runs "$RUNS" --export-json "results/add$n.json" \
    --prepare "sh -c '$RCTL --state-dir state$n users rm one >/dev/null 2>&1; true'" \
    "$RCTL --state-dir state$n users add one --roles=access" >/dev/null 2>&1
done

python3 - <<'PY'
import json
def median(name):
    return json.load(open(f"results/{name}.json"))["results"][0]["median"] * 1000
for n in (10000, 100000):
    print(f"rctl create -f, {n:>7,} users (one transaction)      {median(f'create{n}'):>9.1f} ms")
    print(f"rctl users add, one user into {n:>7,}               {median(f'add{n}'):>9.1f} ms")
PY
