# shellcheck shell=bash
# Sourced by netns.sh and two-hosts.sh.
#
# supervise PID_FILE_OR_EMPTY CMD ARGS...
#   Runs CMD as a child with our stdin, forwards TERM/INT/HUP to it, waits
#   until it is gone and returns its exit status. Used on both sides of the
#   namespace boundary:
#   - outside, CMD is `unshare ...`; signals go to the namespace's init (the
#     child of unshare), because unshare --fork itself blocks TERM and INT
#     until its child exits. A second signal, or 10 s without exit, kills
#     unshare, and --kill-child then takes the whole namespace down. Callers
#     start unshare through `setpriv --pdeathsig KILL` so that this also
#     happens when the calling shell itself is killed.
#   - inside, the shell is the namespace's PID 1, which the kernel spares
#     from signals it has no handler for; it must also outlive CMD to clean up.
#
# supervise_namespace TMP_NAME UNSHARE_ARGS...
#   The outside of netns.sh and two-hosts.sh: `unshare UNSHARE_ARGS...` run by
#   supervise (init-of-child), through `setpriv --pdeathsig KILL`, with TMPDIR
#   a new folder ${TMPDIR:-/tmp}/TMP_NAME.XXXXXX that is deleted once unshare,
#   and with it everything inside, has ended: browsers and their drivers leave
#   profiles there (chromedriver's scoped_dir, geckodriver's rust_mozprofile,
#   30-60 MB each) that they do not always remove when killed. Returns
#   unshare's exit status.
supervise() {
  local target_of_signals="$1"
  shift
  # Bash gives background jobs /dev/null as stdin unless redirected. Our
  # stdin may also be closed (CI runs with none): then /dev/null it is.
  { exec 3<&0; } 2>/dev/null || exec 3</dev/null
  "$@" <&3 3<&- &
  _sv_child=$!
  exec 3<&-
  _sv_target="$target_of_signals"
  _sv_signalled=0
  trap '_sv_forward TERM' TERM
  trap '_sv_forward INT' INT
  trap '_sv_forward HUP' HUP
  # wait returns early (>128) when a trapped signal arrives: keep waiting
  # until CMD is gone, then collect its real status (bash remembers it).
  while kill -0 "$_sv_child" 2>/dev/null; do
    wait "$_sv_child" || true
  done
  local status=0
  wait "$_sv_child" || status=$?
  trap - TERM INT HUP
  return "$status"
}

_sv_forward() {
  local sig="$1" to="$_sv_child"
  if [[ "$_sv_target" == "init-of-child" ]]; then
    if ((_sv_signalled)); then
      kill -KILL "$_sv_child" 2>/dev/null || true
      return
    fi
    to="$(pgrep -P "$_sv_child" | head -n1)"
    [[ -n "$to" ]] || to="$_sv_child"
    # Escalate if the namespace has not ended in 10 s; the watchdog ends by
    # itself as soon as unshare has.
    (
      for _ in $(seq 50); do
        sleep 0.2
        kill -0 "$_sv_child" 2>/dev/null || exit 0
      done
      kill -KILL "$_sv_child" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
  fi
  _sv_signalled=1
  kill "-$sig" "$to" 2>/dev/null || true
}

supervise_namespace() {
  local name="$1" dir status=0
  shift
  dir="$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")" || return 1
  TMPDIR="$dir" supervise init-of-child setpriv --pdeathsig KILL unshare "$@" || status=$?
  rm -rf "$dir"
  return "$status"
}
