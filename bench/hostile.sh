#!/usr/bin/env bash
# Hostile input, whole processes: how long rctl takes to refuse YAML nested 200,000 levels deep
# (flow `[[[…` and block `- - - …`), which a YAML parser alone spent minutes on; refused by
# one linear pass before any parser sees it. Prints hyperfine's table.
#
#   bash bench/hostile.sh        (RUNS=20, LEVELS=200000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
LEVELS=${LEVELS:-200000}

source bench/lib.sh
install_missing hyperfine:hyperfine protoc:protobuf-compiler
cargo build --release --locked --bin rctl >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
work_folder

python3 -c "print('[' * $LEVELS)" > flow.yaml
python3 -c "print('kind: role\nspec:\n' + '- ' * $LEVELS + 'x')" > block.yaml
$RCTL --state-dir state auth init >/dev/null 2>&1
# -i: each run is refused (exit 2), which is what is timed.
hyperfine -N -i --warmup 2 --runs "$RUNS" --export-markdown hostile.md \
  -n "create -f: $LEVELS levels of [" "$RCTL --state-dir state create -f flow.yaml" \
  -n "create -f: $LEVELS levels of - " "$RCTL --state-dir state create -f block.yaml" >/dev/null
cat hostile.md
