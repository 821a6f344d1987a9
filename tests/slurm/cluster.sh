#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost for the SLURM test (tests/test_slurm.py).
#   cluster.sh install        apt-get install the daemons (idempotent; needs root)
#   cluster.sh start DIR      write configs under DIR, start munged, slurmctld, slurmd; PIDs in DIR/pids
#   cluster.sh stop DIR       stop every daemon this script started, by PID
# Facts it builds on (measured on the CI machine): no systemd, so daemons start directly;
# proctrack/linuxproc and task/none; fake GPUs are character devices named in gres.conf with
# AutoDetect=off; the plugin's inner srun drops SLURM_CONF, so the config is also put at
# /etc/slurm/slurm.conf; no slurmdbd, so jobs are polled with squeue and MinJobAge is long.
set -euo pipefail

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

start() {
    local dir=$1
    mkdir -p "$dir"/{state,spool,log,dev} /etc/slurm /run/munge /var/log/munge /var/lib/munge
    local host
    host=$(hostname -s)
    local cpus
    cpus=$(nproc)
    local mem
    mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048))
    for i in 0 1 2 3; do
        [ -e "$dir/dev/nvidia$i" ] || mknod -m 666 "$dir/dev/nvidia$i" c 1 3  # like /dev/null
    done
    cat >"$dir/slurm.conf" <<CONF
ClusterName=breakingbert
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
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
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=86400
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    cat >"$dir/gres.conf" <<CONF
AutoDetect=off
NodeName=$host Name=gpu File=$dir/dev/nvidia[0-3]
CONF
    cp "$dir/slurm.conf" /etc/slurm/slurm.conf
    cp "$dir/gres.conf" /etc/slurm/gres.conf
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
    chmod 400 /etc/munge/munge.key
    : >"$dir/pids"
    su -s /bin/sh munge -c "munged --pid-file=$dir/munged.pid" || munged --force --pid-file="$dir/munged.pid"
    cat "$dir/munged.pid" >>"$dir/pids"
    slurmctld -f "$dir/slurm.conf"
    slurmd -f "$dir/slurm.conf"
    for _ in $(seq 1 60); do
        [ -s "$dir/slurmctld.pid" ] && [ -s "$dir/slurmd.pid" ] && break
        sleep 0.5
    done
    cat "$dir/slurmctld.pid" "$dir/slurmd.pid" >>"$dir/pids"
    for _ in $(seq 1 60); do
        if SLURM_CONF="$dir/slurm.conf" sinfo -h -o %T 2>/dev/null | grep -qE "^idle"; then
            return 0
        fi
        sleep 0.5
    done
    echo "SLURM node did not become idle" >&2
    SLURM_CONF="$dir/slurm.conf" sinfo >&2 || true
    tail -n 30 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    return 1
}

stop() {
    local dir=$1
    [ -f "$dir/pids" ] || return 0
    while read -r pid; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done <"$dir/pids"
    sleep 1
    while read -r pid; do
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done <"$dir/pids"
    rm -f "$dir/pids"
}

case "$1" in
install) install ;;
start) start "$2" ;;
stop) stop "$2" ;;
*) echo "usage: $0 install|start DIR|stop DIR" >&2; exit 2 ;;
esac
