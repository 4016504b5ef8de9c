#!/usr/bin/env bash
# Stop a test cluster started by start.sh and remove its directory.
#
# Usage: scripts/slurm/stop.sh [--keep] STATE_DIR
#   --keep      stop the daemons but leave STATE_DIR (logs, jobcomp.txt) in place
# Cancels the cluster's jobs, stops slurmd, slurmctld and munged by the pids in their pid files
# (TERM, then KILL after a grace period), then removes STATE_DIR. Only a directory that start.sh
# made (it holds .srtod-slurm) is removed. Stopping a cluster that is not running is not an error.
set -uo pipefail
export PATH="$PATH:/usr/sbin"

keep=0
if [ "${1:-}" = "--keep" ]; then keep=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--keep] STATE_DIR" >&2; exit 2; }
state=$1
if [ ! -d "$state" ]; then echo "[slurm-stop] $state does not exist: nothing to stop"; exit 0; fi
if [ ! -e "$state/.srtod-slurm" ]; then
  echo "[slurm-stop] error: $state was not made by start.sh (no .srtod-slurm): refusing to touch it" >&2
  exit 1
fi

# Jobs first, so that no slurmstepd or job process outlives the daemons.
if [ -f "$state/slurm.conf" ]; then
  export SLURM_CONF="$state/slurm.conf"
  jobs=$(timeout 10 squeue -h -o '%i' 2>/dev/null || true)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null || true
    for _ in $(seq 20); do
      [ -z "$(timeout 5 squeue -h -t RUNNING,COMPLETING -o '%i' 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
fi

# Stop one daemon by its pid file: TERM, wait up to 10 s, then KILL.
stop_pid() {
  local pidfile=$1 name=$2 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # The pid must still be the daemon (not a recycled pid).
  grep -q "$name" "/proc/$pid/comm" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "[slurm-stop] $name ($pid) ignored SIGTERM; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}
for pidfile in "$state"/run/slurmd-*.pid; do
  [ -e "$pidfile" ] && stop_pid "$pidfile" slurmd
done
stop_pid "$state/run/slurmctld.pid" slurmctld
stop_pid "$state/munge/munged.pid" munged

# The default-config link start.sh made, if it still points here.
default_conf=/etc/slurm/slurm.conf
if [ -L "$default_conf" ] && [ "$(readlink "$default_conf")" = "$state/slurm.conf" ]; then
  rm -f "$default_conf"
fi

if [ "$keep" = 1 ]; then
  echo "[slurm-stop] stopped; kept $state"
else
  rm -rf "$state"
  echo "[slurm-stop] stopped and removed $state"
fi
