#!/usr/bin/env bash
# Install Debian's SLURM (slurmctld, slurmd, client tools) and munge, if missing.
# Idempotent: does nothing when every binary is already on PATH. Needs root (or sudo) and
# Debian's package archive; the test cluster itself is configured by start.sh.
set -euo pipefail

need=(sbatch squeue sinfo scontrol slurmctld slurmd munged mungekey)
missing=()
for b in "${need[@]}"; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing+=("$b")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[slurm-install] slurm and munge already installed: slurm $(dpkg-query -W -f "\${Version}" slurm-client 2>/dev/null || echo "?")"
  exit 0
fi
echo "[slurm-install] missing: ${missing[*]}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "[slurm-install] not root and no sudo: cannot install slurm-wlm and munge" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[slurm-install] apt-get not found: install slurm-wlm and munge with your package manager" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The package scripts try to start services; on a machine without systemd that must not fail
# the install, so services are kept from starting (start.sh runs the daemons itself).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends slurm-wlm munge
echo "[slurm-install] installed: slurm $(dpkg-query -W -f "\${Version}" slurm-client)"
