#!/usr/bin/env bash
# Start (or reuse) a one-node SLURM cluster on this machine for the SLURM tests:
#   bash .ci/slurm-up.sh            # installs slurm-wlm + munge when missing (needs root)
# Everything the daemons write lives under $MST_SLURM_DIR (default /tmp/mst-slurm); the
# configuration is linked as /etc/slurm/slurm.conf so sbatch, squeue and scontrol find it.
# Idempotent: a cluster that already answers with this very configuration is reused as it is; one
# started with another configuration is shut down and started again.
set -euo pipefail

dir="${MST_SLURM_DIR:-/tmp/mst-slurm}"
conf="$dir/slurm.conf"

say() { echo "slurm-up: $*"; }

node_state() { sinfo -h -n localhost -o %T 2>/dev/null | head -n1; }

if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    say "slurm-wlm and munge are missing and this is not root: install them with apt-get" >&2
    exit 1
  fi
  say "installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

mkdir -p "$dir"/{state,spool,log}

# --- munge: a key, and the daemon on its default socket ------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  say "creating the munge key"
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key 2>/dev/null || true
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
if ! munge -n </dev/null >/dev/null 2>&1; then
  say "starting munged"
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged
  else
    munged --force
  fi
  for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n </dev/null | unmunge >/dev/null

# --- slurm.conf ------------------------------------------------------------------------------
# The node declares 8 CPUs on this 2-core machine (config_overrides lets slurmd accept that): the
# test jobs are light, and the tests run several at once — a lock test needs two jobs running side
# by side — which 2 CPUs would serialise.
cat >"$conf.new" <<EOF
# One-node cluster for mst-search's tests (written by .ci/slurm-up.sh).
ClusterName=mst
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Finished jobs stay visible to scontrol (exit codes) for 10 minutes; kills are quick.
MinJobAge=600
KillWait=5
SlurmdParameters=config_overrides
NodeName=localhost CPUs=8 RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if cmp -s "$conf.new" "$conf"; then
  rm -f "$conf.new"
  case "$(node_state)" in
    idle|mixed|allocated|completing)
      say "reusing the running cluster (node $(node_state)); config $conf"
      exit 0 ;;
  esac
else
  if running "$dir/slurmctld.pid" || running "$dir/slurmd.pid"; then
    say "the running cluster has another configuration: restarting it"
    scontrol shutdown >/dev/null 2>&1 || true
    for _ in $(seq 100); do
      running "$dir/slurmctld.pid" || running "$dir/slurmd.pid" || break
      sleep 0.1
    done
  fi
  mv "$conf.new" "$conf"
fi
mkdir -p /etc/slurm
if [ -e /etc/slurm/slurm.conf ] && [ "$(readlink -f /etc/slurm/slurm.conf)" != "$(readlink -f "$conf")" ]; then
  if [ -L /etc/slurm/slurm.conf ] || grep -qF 'ci/slurm-up.sh' /etc/slurm/slurm.conf; then
    ln -sfn "$conf" /etc/slurm/slurm.conf
  else
    say "/etc/slurm/slurm.conf exists and is not ours; export SLURM_CONF=$conf to use this cluster" >&2
    export SLURM_CONF="$conf"
  fi
else
  ln -sfn "$conf" /etc/slurm/slurm.conf
fi

# --- daemons ---------------------------------------------------------------------------------
if ! running "$dir/slurmctld.pid"; then
  say "starting slurmctld"
  slurmctld -f "$conf"
fi
if ! running "$dir/slurmd.pid"; then
  say "starting slurmd"
  slurmd -f "$conf"
fi

for _ in $(seq 120); do
  state="$(node_state || true)"
  case "$state" in
    idle|mixed|allocated) say "node localhost is $state; config $conf"; exit 0 ;;
    down*|drain*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
say "the node never became idle (last state: ${state:-none}); logs in $dir/log" >&2
tail -n 20 "$dir"/log/*.log >&2 || true
exit 1
