#!/usr/bin/env bash
# Builds rctl's Debian package and proves it with its consumers:
#   1. cargo-deb (installed from crates.io when missing, as fuzz/run.sh installs cargo-fuzz) packs the release
#      build, the man pages and shell completions rendered by that build, the systemd units and
#      the example configurations (Cargo.toml's [package.metadata.deb]);
#   2. dpkg installs it on this machine; /usr/bin/rctl --version must answer;
#   3. systemd-analyze verifies every installed unit and rates each service's exposure
#      (`security --offline`), which must be OK or MEDIUM;
#   4. dpkg removes it again (the rctl user stays, as Debian leaves system users).
# The .deb is left in target/debian/. Run as root (dpkg).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb --version 3.8.0

cargo build --release --locked
assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
bin=target/release/rctl
# rctl(1), a page per command and per subcommand (rctl-auth-sign(1), ...).
commands() { # the subcommand names the help of "$@" lists
  "$bin" "$@" --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}' |
    grep -v '^help$' || true
}
"$bin" man > "$assets/man/rctl.1"
for c in $(commands); do
  "$bin" man "$c" > "$assets/man/rctl-$c.1"
  for s in $(commands "$c"); do
    "$bin" man "$c" "$s" > "$assets/man/rctl-$c-$s.1"
  done
done
"$bin" completion bash > "$assets/completions/rctl.bash"
"$bin" completion zsh > "$assets/completions/_rctl"
"$bin" completion fish > "$assets/completions/rctl.fish"

cargo deb --no-build --no-strip --quiet >/dev/null
deb=$(ls -t target/debian/rctl_*.deb | head -1)
echo "package: $deb, $(stat -c %s "$deb") bytes, $(ls "$assets/man" | wc -l) man pages"

dpkg -i "$deb" >/dev/null
/usr/bin/rctl --version
getent passwd rctl >/dev/null || { echo "the package made no rctl user" >&2; exit 1; }
units=(/lib/systemd/system/rctl-*.service /lib/systemd/system/rctl-*.timer)
systemd-analyze verify "${units[@]}"
for unit in /lib/systemd/system/rctl-*.service; do
  line=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | tail -1)
  echo "$line"
  case "$line" in
    *" OK "* | *" MEDIUM "*) ;;
    *) echo "$unit is rated worse than MEDIUM" >&2; exit 1 ;;
  esac
done
man -l "/usr/share/man/man1/rctl-auth-sign.1.gz" >/dev/null 2>&1 ||
  zcat /usr/share/man/man1/rctl-auth-sign.1.gz | grep -q 'rctl' || { echo "no rctl-auth-sign(1)" >&2; exit 1; }
dpkg -r rctl >/dev/null
echo "package: installed, verified and removed"
