# Sourced by scripts/slurm-up, slurm-down, e2e-slurm and test-slurm-isolation: where the test
# Slurm lives, and whether a pid file names one of its own daemons. Everything of the test Slurm
# is under one directory of its own (never /etc/slurm, /var/spool/slurm*, /run, /etc/munge: a
# machine's own Slurm and munge stay as they are):
#   SLURM_UP_DIR   that directory (default /var/tmp/codex-tools-slurm: kept across reboots, as
#                  job state should be; an absolute path of letters, digits and ._+-/, since
#                  slurm.conf holds it unquoted; it must be root's and writable by root alone)
#   SLURM_UP_PORT  SlurmctldPort (default 16817; SlurmdPort is the next one): not Slurm's
#                  6817/6818, which a real slurmctld/slurmd on the machine listens on
# Its clients find it by SLURM_CONF=$SLURM_UP_DIR/slurm.conf (every Slurm command and daemon
# honours it; scripts/e2e-slurm exports it to the suite and so to the tools).
slurm_dir=${SLURM_UP_DIR:-/var/tmp/codex-tools-slurm}
slurm_port=${SLURM_UP_PORT:-16817}
slurm_conf=$slurm_dir/slurm.conf
slurm_ctld_pid=$slurm_dir/run/slurmctld.pid
slurm_slurmd_pid=$slurm_dir/run/slurmd.pid
slurm_log=$slurm_dir/log
slurm_munge=$slurm_dir/munge
slurm_munge_socket=$slurm_munge/munge.socket
slurm_munge_pid=$slurm_munge/munged.pid
slurm_cluster=codextest

# slurm_dir_ok: why SLURM_UP_DIR cannot be the test Slurm's (on stdout), or nothing.
slurm_dir_ok() {
  case $slurm_dir in
    /*) ;;
    *) echo "SLURM_UP_DIR is not an absolute path: $slurm_dir"; return ;;
  esac
  if [[ ! $slurm_dir =~ ^/[A-Za-z0-9._+/-]+$ ]]; then
    echo "SLURM_UP_DIR has characters other than letters, digits and ._+-/: $slurm_dir"; return
  fi
  case $slurm_port in
    '' | *[!0-9]*) echo "SLURM_UP_PORT is not a port number: $slurm_port"; return ;;
  esac
  if [ "$slurm_port" -lt 1024 ] || [ "$slurm_port" -gt 65534 ] \
     || { [ "$slurm_port" -ge 6816 ] && [ "$slurm_port" -le 6818 ]; }; then
    echo "SLURM_UP_PORT is not in 1024-65534 or it or the next is Slurm's 6817/6818: $slurm_port"
    return
  fi
  [ -e "$slurm_dir" ] || [ -L "$slurm_dir" ] || return 0
  if [ -L "$slurm_dir" ] || [ ! -d "$slurm_dir" ]; then
    echo "$slurm_dir is not a directory (a symlink or a file)"; return
  fi
  local st
  st=$(stat -c '%u %a' "$slurm_dir")
  if [ "${st% *}" != 0 ] || (( 8#${st#* } & 8#022 )); then
    echo "$slurm_dir is not root's alone (owner uid, mode: $st)"
  fi
}

# slurm_ours PIDFILE COMM ARG: the pid file names a live process called COMM with ARG among its
# arguments (the test Slurm's config or munge socket): one of ours, not a reused pid or another
# Slurm's daemon.
slurm_ours() {
  local pid
  [ -s "$1" ] && [ ! -L "$1" ] || return 1
  pid=$(head -c 20 "$1")
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$3"
}

# slurm_stop PIDFILE COMM ARG: stop that process if it is ours (TERM, KILL after 10 s); the pid
# file goes either way (it is ours: in the test Slurm's directory).
slurm_stop() {
  local pid
  if slurm_ours "$@"; then
    pid=$(head -c 20 "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; sleep 0.2; fi
  fi
  rm -f "$1"
}
