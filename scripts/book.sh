#!/usr/bin/env bash
# Builds the book under docs/ (mdBook) into target/book, failing on any warning or error that
# mdBook reports (a chapter missing from SUMMARY.md, an include that does not resolve, ...).
# mdBook is installed from crates.io when missing, as fuzz/run.sh installs cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mdbook >/dev/null || cargo install --locked --quiet mdbook --version 0.5.4 \
  --no-default-features --features search
log=$(mktemp)
trap 'rm -f "$log"' EXIT
mdbook build docs 2>&1 | tee "$log"
if grep -Eq ' (WARN|ERROR) ' "$log"; then
  echo "the book built with warnings" >&2
  exit 1
fi
# An include whose anchor is gone includes nothing, silently: the introduction must hold the
# README's front part.
grep -q "runs Redis behind mutual TLS" target/book/introduction.html ||
  { echo "docs/src/introduction.md did not include the README's front part" >&2; exit 1; }
# Every chapter in docs/src is in the book, and the README stays a front door.
for f in docs/src/*.md; do
  case $f in */SUMMARY.md) continue ;; esac
  grep -q "(${f#docs/src/})" docs/src/SUMMARY.md || { echo "$f is not in SUMMARY.md" >&2; exit 1; }
done
lines=$(wc -l <README.md)
[ "$lines" -le 300 ] || { echo "README.md has $lines lines; the front door holds 300" >&2; exit 1; }
