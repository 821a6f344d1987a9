#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost for the SLURM test (tests/test_slurm.py), kept
# entirely in one folder: it writes nothing under /etc, and uninstalls what it installed.
#   cluster.sh install DIR     apt-get install the daemons if missing (needs root); the packages it
#                              added are listed in DIR/installed
#   cluster.sh start DIR       configs, munge key and socket under DIR; start munged, slurmctld,
#                              slurmd (PIDs in DIR/pids); DIR/bin/srun carries the config
#   cluster.sh stop DIR        stop every daemon this script started, by PID
#   cluster.sh uninstall DIR   purge the packages that install added (none if they were there)
# Facts it builds on (measured on the CI machine): no systemd, so daemons start directly;
# proctrack/linuxproc and task/none; fake GPUs are character devices named in gres.conf with
# AutoDetect=off; the plugin's inner srun drops every SLURM_* variable, SLURM_CONF included, but
# keeps PATH, so DIR/bin/srun (first on the test's PATH) sets it again; no slurmdbd, so jobs are
# polled with squeue and MinJobAge is long. Every client reads DIR/slurm.conf through SLURM_CONF:
# a config left at /etc/slurm/slurm.conf would make every later `snakemake` call on the machine
# wait ~9 s for a controller that no longer runs (the plugin asks `scontrol show config`).
set -euo pipefail

packages() { dpkg-query -W -f '${Package}\n' | sort; }

install() {
    local dir=$1
    mkdir -p "$dir"
    : >"$dir/installed"
    if command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return 0
    fi
    packages >"$dir/packages-before"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
    packages | comm -13 "$dir/packages-before" - >"$dir/installed"
}

uninstall() {
    local dir=$1
    [ -s "$dir/installed" ] || return 0
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $(cat "$dir/installed") >/dev/null
    : >"$dir/installed"
}

start() {
    local dir=$1
    mkdir -p "$dir"/{state,spool,log,dev,munge,bin}
    chmod 700 "$dir/munge"
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048))
    for i in 0 1 2 3; do
        [ -e "$dir/dev/nvidia$i" ] || mknod -m 666 "$dir/dev/nvidia$i" c 1 3  # like /dev/null
    done
    local socket="$dir/munge/munge.socket"
    cat >"$dir/slurm.conf" <<CONF
ClusterName=breakingbert
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
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
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
CONF
    # slurmd finds gres.conf beside the slurm.conf it was started with
    cat >"$dir/gres.conf" <<CONF
AutoDetect=off
NodeName=$host Name=gpu File=$dir/dev/nvidia[0-3]
CONF
    : >"$dir/plugstack.conf"
    printf '#!/bin/sh\nSLURM_CONF=%s exec %s "$@"\n' "$dir/slurm.conf" "$(command -v srun)" >"$dir/bin/srun"
    chmod 755 "$dir/bin/srun"
    [ -s "$dir/munge.key" ] || dd if=/dev/urandom bs=1 count=1024 of="$dir/munge.key" status=none
    chmod 400 "$dir/munge.key"
    : >"$dir/pids"
    # as root, munged needs --force; every path it uses is this folder's
    munged --force --key-file="$dir/munge.key" --socket="$socket" --pid-file="$dir/munged.pid" \
        --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
    cat "$dir/munged.pid" >>"$dir/pids"
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$dir/slurm.conf"
    slurmd -f "$dir/slurm.conf"
    for _ in $(seq 1 60); do
        [ -s "$dir/slurmctld.pid" ] && [ -s "$dir/slurmd.pid" ] && break
        sleep 0.5
    done
    cat "$dir/slurmctld.pid" "$dir/slurmd.pid" >>"$dir/pids"
    for _ in $(seq 1 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE "^idle"; then
            return 0
        fi
        sleep 0.5
    done
    echo "SLURM node did not become idle" >&2
    sinfo >&2 || true
    tail -n 30 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" "$dir/log/munged.log" >&2 || true
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

case "${1:-}" in
install) install "$2" ;;
uninstall) uninstall "$2" ;;
start) start "$2" ;;
stop) stop "$2" ;;
*) echo "usage: $0 install DIR|start DIR|stop DIR|uninstall DIR" >&2; exit 2 ;;
esac
