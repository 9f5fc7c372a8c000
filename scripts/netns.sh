#!/usr/bin/env bash
# Runs CMD ARGS... inside a fresh private network namespace with a veth pair and
# a default route, and ends everything CMD started when CMD ends.
#
#   scripts/netns.sh CMD ARGS...      exit status: CMD's
#
# Why: with loopback alone Chromium gathers no ICE candidates and peers never
# connect; the machine's real interface is never a test target. Inside:
#   lo up, v0 10.77.0.1/24 <-> v1 10.77.0.2/24, default route via 10.77.0.2.
# Nothing routes out of the namespace, so no packet leaves the machine.
#
# Lifetime: the namespace is also a new PID namespace whose init is this
# script (inside). When CMD exits, the kernel kills every process left inside,
# and the network namespace with its veth pair disappears with its last
# process. TERM/INT/HUP sent to this script reach CMD (a second signal, or
# 10 s, kills the namespace); if this script is killed outright, unshare gets
# SIGKILL (setpriv --pdeathsig) and takes the namespace down (--kill-child).
# Where PID namespaces are not allowed, the script falls back to finding and
# killing the processes that share its network namespace.
#
# Temporary files: CMD gets a private TMPDIR, removed when it ends.
#
# Inside, PEERLINK_NETNS=1 is set; running this script again from inside just
# runs the command (no nesting).
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
  if [[ "${PEERLINK_NETNS:-}" == 1 ]]; then
    exec "$@"
  fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "netns.sh: needs root (unshare -n)" >&2
    exit 1
  fi
  if unshare --net --pid --fork --kill-child --mount-proc true 2>/dev/null; then
    supervise_namespace peerlink-netns --net --pid --fork --kill-child --mount-proc bash "$SELF" --inside "$@" && exit 0 || exit $?
  fi
  echo "netns.sh: PID namespaces unavailable; cleaning up by network namespace instead" >&2
  supervise_namespace peerlink-netns --net --fork --kill-child bash "$SELF" --inside "$@" && exit 0 || exit $?
fi
shift # --inside

ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.77.0.1/24 dev v0
ip addr add 10.77.0.2/24 dev v1
ip link set v0 up
ip link set v1 up
ip route add default via 10.77.0.2 dev v0
export PEERLINK_NETNS=1

my_netns="$(readlink /proc/$$/ns/net)"

# Every process in this network namespace except this shell.
others() {
  local p
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    [[ "$p" == "$$" ]] && continue
    [[ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" == "$my_netns" ]] && echo "$p"
  done
  return 0
}

cleanup() {
  local pids i
  pids="$(others)"
  [[ -z "$pids" ]] && return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for i in 1 2 3 4 5 6 7 8 9 10; do
    pids="$(others)"
    [[ -z "$pids" ]] && return 0
    sleep 0.2
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
}
trap cleanup EXIT

status=0
supervise "" "$@" || status=$?
exit "$status"
