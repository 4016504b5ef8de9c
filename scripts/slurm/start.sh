#!/usr/bin/env bash
# Configure and start a single-node SLURM cluster on this machine, for tests.
#
# Usage: scripts/slurm/start.sh STATE_DIR
#   STATE_DIR   a new or empty directory (under /tmp) that will hold everything: munge key and
#               socket, slurm.conf, controller state, spool, logs, pid files and jobcomp.txt.
# Environment (all optional):
#   SRTOD_SLURM_PARTITION   partition name (default: debug)
#   SRTOD_SLURM_GPUS        stand-in GPUs (GRES gpu backed by /dev/null and such, no real
#                           device) so that jobs asking for --gpus can run (default: 0)
#   SRTOD_SLURM_MIN_JOB_AGE seconds finished jobs stay in squeue (default: 300, at least 120)
#   SRTOD_SLURM_TIMEOUT     seconds to wait for the node to become idle (default: 60)
# On success prints the line `export SLURM_CONF=STATE_DIR/slurm.conf` and writes it to
# STATE_DIR/env.sh; source that file before sbatch/squeue/snakemake. Stop with stop.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "[slurm-start] error: $*" >&2; exit 1; }
log() { echo "[slurm-start] $*" >&2; }

[ $# -eq 1 ] || die "usage: $0 STATE_DIR"
state=$1
case "$state" in /*) ;; *) state="$(pwd)/$state" ;; esac
if [ -e "$state" ] && [ -n "$(ls -A "$state" 2>/dev/null)" ]; then
  die "$state exists and is not empty; give a new directory (or stop.sh it first)"
fi
for b in munged mungekey slurmctld slurmd sinfo scontrol; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || die "$b not found: run scripts/slurm/install.sh"
done
export PATH="$PATH:/usr/sbin"

partition=${SRTOD_SLURM_PARTITION:-debug}
gpus=${SRTOD_SLURM_GPUS:-0}
min_job_age=${SRTOD_SLURM_MIN_JOB_AGE:-300}
timeout=${SRTOD_SLURM_TIMEOUT:-60}
[[ "$partition" =~ ^[A-Za-z0-9_-]+$ ]] || die "SRTOD_SLURM_PARTITION must be a plain name, got '$partition'"
[[ "$gpus" =~ ^[0-9]+$ ]] || die "SRTOD_SLURM_GPUS must be a count, got '$gpus'"
[[ "$min_job_age" =~ ^[0-9]+$ ]] && [ "$min_job_age" -ge 120 ] \
  || die "SRTOD_SLURM_MIN_JOB_AGE must be at least 120 (snakemake's squeue status needs it), got '$min_job_age'"

# srun inside a job finds no SLURM_CONF when the job's program drops the SLURM_* variables
# (snakemake's slurm-jobstep executor does, before its `srun -n1 ...`): such clients read the
# compiled-in default, so it is made a link to this cluster's file while the cluster runs
# (stop.sh removes it). A real configuration there is never replaced; a link left by an
# earlier test cluster is.
default_conf=/etc/slurm/slurm.conf
if [ -L "$default_conf" ]; then
  old_target=$(readlink "$default_conf")
  if [ -e "$old_target" ] && [ ! -e "$(dirname "$old_target")/.srtod-slurm" ]; then
    die "$default_conf is a link to $old_target, not to a test cluster's file; leaving it alone"
  fi
elif [ -e "$default_conf" ]; then
  die "$default_conf exists (a real SLURM configuration?); the test cluster does not start beside it, since srun inside its jobs would read that file"
fi
mkdir -p "$(dirname "$default_conf")"

mkdir -p "$state"/{munge,ctld,spool,run,log}
touch "$state/.srtod-slurm"          # marks the directory as ours: stop.sh removes only such
chmod 700 "$state" "$state/munge"

# A free TCP port on the loopback interface, from the kernel.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo "$1"
}
ctld_port=$(free_port 6817)
slurmd_port=$(free_port 6818)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port 6818); done

host=$(hostname -s)
cpus=$(nproc)
# The node's topology as slurmd detects it (CPUs alone, without sockets and cores, would make
# slurmctld count a single CPU).
node_hw=$(SLURM_CONF=/nonexistent slurmd -C 2>/dev/null | head -n 1 \
  | grep -o 'CPUs=[0-9]* Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' || true)
[ -n "$node_hw" ] || node_hw="CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1"
cpus=$(echo "$node_hw" | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
mem_mb=$(( mem_kb * 9 / 10 / 1024 ))   # leave slurmd's memory check some room
user=$(id -un)

# 1. munge: a private key, socket and daemon for this cluster only.
mungekey --create --keyfile="$state/munge/munge.key" --bits=1024 2>/dev/null \
  || dd if=/dev/urandom of="$state/munge/munge.key" bs=1 count=1024 status=none
chmod 400 "$state/munge/munge.key"
munged --force \
  --key-file="$state/munge/munge.key" \
  --socket="$state/munge/munge.socket" \
  --pid-file="$state/munge/munged.pid" \
  --log-file="$state/log/munged.log" \
  --seed-file="$state/munge/munged.seed" \
  || die "munged did not start; see $state/log/munged.log"
for _ in $(seq 50); do [ -S "$state/munge/munge.socket" ] && break; sleep 0.1; done
munge -S "$state/munge/munge.socket" -n | unmunge -S "$state/munge/munge.socket" >/dev/null \
  || die "munge round trip failed; see $state/log/munged.log"

# 2. slurm.conf (and gres.conf for count-only GPUs) from the template.
if [ "$gpus" -gt 0 ]; then
  gres_types="GresTypes=gpu"
  node_gres="Gres=gpu:$gpus"
  # Stand-in device files: slurmd drops a GPU without File= (the count would read 0).
  stand_ins=(/dev/null /dev/zero /dev/full /dev/random /dev/urandom)
  [ "$gpus" -le ${#stand_ins[@]} ] || die "SRTOD_SLURM_GPUS can be at most ${#stand_ins[@]}"
  files=$(IFS=,; echo "${stand_ins[*]:0:$gpus}")
  echo "NodeName=$host Name=gpu File=$files" > "$state/gres.conf"
else
  gres_types="" node_gres=""
fi
mkdir -p "$state/spool/slurmd-$host"
sed -e "s|@STATE_DIR@|$state|g" -e "s|@HOST@|$host|g" -e "s|@USER@|$user|g" \
    -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
    -e "s|@NODE_HW@|$node_hw|g" -e "s|@MEM_MB@|$mem_mb|g" -e "s|@PARTITION@|$partition|g" \
    -e "s|@MIN_JOB_AGE@|$min_job_age|g" -e "s|@GRES_TYPES@|$gres_types|g" \
    -e "s|@NODE_GRES@|$node_gres|g" \
    "$here/slurm.conf.in" > "$state/slurm.conf"
grep -q '@[A-Z_]*@' "$state/slurm.conf" && die "unfilled placeholder in $state/slurm.conf"
export SLURM_CONF="$state/slurm.conf"
echo "export SLURM_CONF=$SLURM_CONF" > "$state/env.sh"

ln -sfn "$SLURM_CONF" "$default_conf"

# 3. The daemons (they fork into the background and write their pid files).
slurmctld -f "$SLURM_CONF" -c || die "slurmctld did not start; see $state/log/slurmctld.log"
slurmd -f "$SLURM_CONF" || die "slurmd did not start; see $state/log/slurmd-$host.log"

# 4. Wait for the node to be idle.
deadline=$(( $(date +%s) + timeout ))
node_state=""
while [ "$(date +%s)" -lt "$deadline" ]; do
  node_state=$(sinfo -h -N -n "$host" -o '%t' 2>/dev/null | head -n 1 || true)
  case "$node_state" in
    idle) break ;;
    down*|drain*|drng*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 1
done
if [ "$node_state" != idle ]; then
  log "node $host is '${node_state:-unknown}' after ${timeout}s; last controller log lines:"
  tail -n 20 "$state/log/slurmctld.log" >&2 || true
  "$here/stop.sh" --keep "$state" >/dev/null 2>&1 || true
  die "cluster did not come up (logs kept in $state/log)"
fi
log "cluster up: node $host ($cpus CPUs, ${mem_mb} MB, $gpus GPUs), partition $partition, ports $ctld_port/$slurmd_port"
echo "export SLURM_CONF=$SLURM_CONF"
