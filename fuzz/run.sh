#!/usr/bin/env bash
# A bounded fuzzing run of every target: the duration parser, the host-list parser, the ACL
# rule grammar, the users.acl linter and the YAML role loader.
#
#   bash fuzz/run.sh              (FUZZ_SECONDS=60 per target by default)
#
# Uses libFuzzer through cargo-fuzz, installed from crates.io when missing, without a
# sanitizer (the code is safe Rust; this runs on the stable toolchain). A crash fails the run
# and leaves its input under fuzz/artifacts/TARGET/: turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2

# The lock file is part of the source: refuse to resolve anew (cargo fuzz has no --locked of
# its own; with a complete, current lock file its build changes nothing). It was made from the
# crate's own Cargo.lock, so both build the same versions.
cargo metadata --locked --format-version 1 >/dev/null
cargo fuzz build -s none
for target in duration hosts acl_rule acl_lint role_yaml; do
  mkdir -p "corpus/$target"
  seeds=()
  case $target in
    role_yaml) seeds=(../fixtures/roles) ;;
    acl_lint) seeds=(../fixtures/acl) ;;
  esac
  echo "fuzzing $target for ${SECONDS_PER_TARGET}s"
  cargo fuzz run -s none "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -print_final_stats=1 2>&1 \
    | grep -E '^(Done|stat::number_of_executed_units|==|SUMMARY|thread)' || true
  if compgen -G "artifacts/$target/crash-*" >/dev/null; then
    echo "fuzz target $target found a crash: see fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzzing: no crash in any target"
