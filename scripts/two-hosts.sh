#!/usr/bin/env bash
# Runs CMD ARGS... with two private test "hosts", a and b, joined by one veth
# link, for fault tests (loss, bandwidth, link cuts) that must touch the path
# between two browsers. Pages of ONE browser talk over local routing and never
# cross a veth, so each host runs its own Chromium.
#
#   scripts/two-hosts.sh CMD ARGS...      exit status: CMD's
#
# Layout (all inside fresh mount, network and PID namespaces of our own):
#   host a: netns "a", va 10.78.0.1/24, default route via 10.78.0.2
#   host b: netns "b", vb 10.78.0.2/24, default route via 10.78.0.1
# CMD itself runs in a third, empty namespace (lo only); it reaches the hosts
# through `ip netns exec a|b ...` or the wrappers exported below.
#
# Exported to CMD:
#   PEERLINK_HOST_A_IP=10.78.0.1   PEERLINK_HOST_B_IP=10.78.0.2
#   PEERLINK_CHROMIUM_A, PEERLINK_CHROMIUM_B: executables that start
#     /usr/bin/chromium inside host a / b; Playwright accepts them as
#     `executablePath` (its control pipe crosses namespaces).
#   PEERLINK_IN_HOST: `$PEERLINK_IN_HOST a CMD...` runs CMD in host a.
# Faults, e.g. 5 % UDP loss into host b:
#   $PEERLINK_IN_HOST b nft add table inet loss
#   $PEERLINK_IN_HOST b nft add chain inet loss in '{ type filter hook input priority 0; }'
#   $PEERLINK_IN_HOST b nft add rule inet loss in meta l4proto udp numgen random mod 100 \< 5 drop
# Bandwidth: `$PEERLINK_IN_HOST b tc qdisc add dev vb root tbf rate 20mbit burst 64kb latency 50ms`
# Link cut: `$PEERLINK_IN_HOST a ip link set va down` (and up again). No netem here.
#
# The hosts have no DNS: a server that looks up names when it starts (Python's
# http.server does getfqdn) stalls for seconds before it listens.
#
# Pages served from 10.78.0.x are not a secure context (only 127.0.0.1 and
# localhost are): pass Chromium
# --unsafely-treat-insecure-origin-as-secure=http://10.78.0.1:PORT where a page
# needs one (getUserMedia).
#
# Lifetime: as scripts/netns.sh: when CMD exits, or this script dies, the PID
# namespace's init exits, the kernel kills everything inside, and the hosts'
# namespaces (mounted on a private tmpfs) go with the mount namespace.
set -euo pipefail

if (($# == 0)); then
  echo "usage: $0 CMD ARGS..." >&2
  exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=lib/supervise.sh
. "$HERE/lib/supervise.sh"

if [[ "$1" != "--inside" ]]; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "two-hosts.sh: needs root (unshare -m -n -p)" >&2
    exit 1
  fi
  # /run/netns must exist to be a mount point; creating an empty folder is
  # the only trace this leaves outside.
  mkdir -p /run/netns
  supervise_namespace peerlink-hosts --mount --net --pid --fork --kill-child --mount-proc bash "$SELF" --inside "$@" && exit 0 || exit $?
fi
shift # --inside

# Private /run/netns: `ip netns add` bind-mounts the namespaces here, out of
# sight of the machine and of any other run.
mount --make-rprivate /
mount -t tmpfs tmpfs /run/netns

# The wrappers below live in the private TMPDIR the outside made (and removes).
tmp="$TMPDIR"
cleanup() {
  ip netns del a 2>/dev/null || true
  ip netns del b 2>/dev/null || true
}
trap cleanup EXIT

ip link set lo up
ip netns add a
ip netns add b
ip link add va netns a type veth peer name vb netns b
ip -n a link set lo up
ip -n b link set lo up
ip -n a addr add 10.78.0.1/24 dev va
ip -n b addr add 10.78.0.2/24 dev vb
ip -n a link set va up
ip -n b link set vb up
ip -n a route add default via 10.78.0.2 dev va
ip -n b route add default via 10.78.0.1 dev vb

for host in a b; do
  cat >"$tmp/chromium-$host" <<EOF
#!/bin/sh
exec ip netns exec $host /usr/bin/chromium "\$@"
EOF
  chmod +x "$tmp/chromium-$host"
done
cat >"$tmp/in-host" <<'EOF'
#!/bin/sh
# usage: in-host a|b CMD ARGS...
host="$1"; shift
exec ip netns exec "$host" "$@"
EOF
chmod +x "$tmp/in-host"

export PEERLINK_HOST_A_IP=10.78.0.1 PEERLINK_HOST_B_IP=10.78.0.2
export PEERLINK_CHROMIUM_A="$tmp/chromium-a" PEERLINK_CHROMIUM_B="$tmp/chromium-b"
export PEERLINK_IN_HOST="$tmp/in-host"
export PEERLINK_NETNS=1

status=0
supervise "" "$@" || status=$?
exit "$status"
