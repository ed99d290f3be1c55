#!/usr/bin/env bash
# Whole-process comparison, in one run on one machine: rctl against the floor (a bare rcgen +
# ring signer with the same fsyncs), mkcert, the openssl two-command chain and cfssl, each making a server key and certificate for
# localhost,127.0.0.1 from an existing CA; then rctl's users add and acl generate at 10,000 and
# 100,000 users. Prints a table of medians and ratios against rctl.
#
#   bash bench/compare.sh            (RUNS=50 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}

source bench/lib.sh
install_missing hyperfine:hyperfine mkcert:mkcert openssl:openssl cfssl:golang-cfssl python3:python3

cargo build --release --locked --bin rctl --example seed_users --example sign_floor >/dev/null 2>&1
RCTL=$PWD/target/release/rctl
SEED=$PWD/target/release/examples/seed_users
FLOOR=$PWD/target/release/examples/sign_floor
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
cd "$W"

# Existing CAs for each tool, made before timing.
$RCTL --state-dir rctl-state auth init --cluster-name=bench >/dev/null
$FLOOR floor-ca init
CAROOT=$W/mkcert-ca mkcert -ecdsa -cert-file warm.crt -key-file warm.key warm >/dev/null 2>&1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
  -subj /CN=bench-ca -days 3650 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > ext.cnf
echo '{"CN":"bench-ca","key":{"algo":"ecdsa","size":256}}' | cfssl gencert -initca - 2>/dev/null | cfssljson -bare cfssl-ca
echo '{"CN":"localhost","key":{"algo":"ecdsa","size":256}}' > csr.json
echo '{"signing":{"default":{"expiry":"2190h","usages":["signing","key encipherment","server auth","client auth"]}}}' > cfssl.json
mkdir -p results
$SEED users10k 10000 >/dev/null
$SEED users100k 100000 >/dev/null

hf() { hyperfine -N --warmup 3 --runs "$RUNS" --export-json "results/$1.json" "${@:2}" >/dev/null 2>&1; }
hf rctl --prepare 'rm -f server.crt server.key server.cas' \
  "$RCTL --state-dir rctl-state auth sign --format=redis --host=localhost,127.0.0.1 --out=server --ttl=2190h"
# The floor: bare rcgen + ring, the same three files with the same fsyncs (examples/sign_floor.rs).
hf floor --prepare 'rm -f f.crt f.key f.cas' "$FLOOR floor-ca sign f"
# The same signing into a folder that already holds 10,000 files: its cost must not grow.
mkdir crowded
(cd crowded && seq 1 10000 | xargs touch)
hf rctl_crowded --prepare 'rm -f crowded/server.crt crowded/server.key crowded/server.cas' \
  "$RCTL --state-dir rctl-state auth sign --format=redis --host=localhost,127.0.0.1 --out=crowded/server --ttl=2190h"
hf mkcert_ecdsa "env CAROOT=$W/mkcert-ca mkcert -ecdsa -cert-file m.crt -key-file m.key localhost 127.0.0.1"
hf mkcert_rsa "env CAROOT=$W/mkcert-ca mkcert -cert-file m.crt -key-file m.key localhost 127.0.0.1"
hf openssl "sh -c 'openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key -subj /CN=localhost -out o.csr 2>/dev/null && openssl x509 -req -in o.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 91 -extfile ext.cnf -out o.crt 2>/dev/null'"
hf cfssl "sh -c 'cfssl gencert -ca cfssl-ca.pem -ca-key cfssl-ca-key.pem -config cfssl.json -hostname=localhost,127.0.0.1 csr.json 2>/dev/null | cfssljson -bare c'"
# A generated password is refused on /dev/null (it would be lost): hyperfine pipes it instead.
hf users_add_10k --output=pipe --prepare "sh -c '$RCTL --state-dir users10k users rm bench >/dev/null 2>&1; true'" \
  "$RCTL --state-dir users10k users add bench --roles=access --db-users=bench"
hf acl_generate_10k "$RCTL --state-dir users10k acl generate --out=users10k.acl"
hf acl_generate_100k "$RCTL --state-dir users100k acl generate --out=users100k.acl"
rss=$( { /usr/bin/time -f '%M' "$RCTL" --state-dir users100k acl generate --out=rss.acl; } 2>&1 | tail -1 )

python3 - "$rss" <<'PY'
import json, sys
def median(name):
    return json.load(open(f"results/{name}.json"))["results"][0]["median"] * 1000
rctl = median("rctl")
print(f"{'command':<58} {'median':>10} {'vs rctl':>9}")
rows = [
    ("rctl auth sign --format=redis (ecdsa-p256)", "rctl"),
    ("the floor: bare rcgen + ring, same files and fsyncs", "floor"),
    ("rctl auth sign into a folder of 10,000 files", "rctl_crowded"),
    ("mkcert -ecdsa localhost 127.0.0.1", "mkcert_ecdsa"),
    ("mkcert localhost 127.0.0.1 (RSA 2048)", "mkcert_rsa"),
    ("openssl req -newkey ec + openssl x509 -req (via sh)", "openssl"),
    ("cfssl gencert | cfssljson (via sh)", "cfssl"),
]
for label, name in rows:
    m = median(name)
    print(f"{label:<58} {m:>8.1f}ms {m / rctl:>8.1f}x")
print()
for label, name in [
    ("rctl users add (10,000 existing users)", "users_add_10k"),
    ("rctl acl generate (10,000 users)", "acl_generate_10k"),
    ("rctl acl generate (100,000 users)", "acl_generate_100k"),
]:
    print(f"{label:<58} {median(name):>8.1f}ms")
print(f"{'peak RSS of rctl acl generate (100,000 users)':<58} {int(sys.argv[1]) / 1024:>8.1f}MiB")
PY
