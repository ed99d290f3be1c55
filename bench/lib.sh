# Shared by the bench scripts (sourced): packages installed when missing, a work folder whose
# background servers are stopped and removed on exit, and a free loopback port.

# install_missing COMMAND:PACKAGE...: apt-get installs the packages whose command is missing.
install_missing() {
  local need=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# work_folder: W (a fresh temp folder) and pids (servers started in the background), both
# cleaned up on exit; then cd into it.
work_folder() {
  W=$(mktemp -d)
  pids=()
  trap 'for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT
  cd "$W"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_etcd [ETCD-FLAG...]: one etcd member on free loopback ports, its data in $W/etcd and its
# log in $W/etcd.log, stopped on exit; sets client (its client port) and etcd_pid.
start_etcd() {
  local peer
  client=$(free_port) peer=$(free_port)
  etcd --data-dir "$W/etcd" --listen-client-urls "http://127.0.0.1:$client" \
    --advertise-client-urls "http://127.0.0.1:$client" --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "default=http://127.0.0.1:$peer" "$@" >"$W/etcd.log" 2>&1 &
  pids+=($!)
  etcd_pid=$!
}

# start_etcd_cluster: a 3-member etcd on free loopback ports, data and logs in $W/mN, stopped
# on exit, healthy when it returns; sets clients (the members' client ports) and ENDPOINTS.
start_etcd_cluster() {
  local peers=() initial i
  clients=()
  for i in 0 1 2; do peers+=("$(free_port)"); clients+=("$(free_port)"); done
  initial="m0=http://127.0.0.1:${peers[0]},m1=http://127.0.0.1:${peers[1]},m2=http://127.0.0.1:${peers[2]}"
  for i in 0 1 2; do
    etcd --name "m$i" --data-dir "$W/m$i" \
      --listen-client-urls "http://127.0.0.1:${clients[$i]}" --advertise-client-urls "http://127.0.0.1:${clients[$i]}" \
      --listen-peer-urls "http://127.0.0.1:${peers[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${peers[$i]}" \
      --initial-cluster "$initial" --initial-cluster-state new >"$W/m$i.log" 2>&1 &
    pids+=($!)
  done
  ENDPOINTS="127.0.0.1:${clients[0]},127.0.0.1:${clients[1]},127.0.0.1:${clients[2]}"
  until ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" endpoint health >/dev/null 2>&1; do sleep 0.2; done
}
