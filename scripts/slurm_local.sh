#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for testing profiles/slurm (README, "Running on
# a cluster"). Needs root and Debian's packages:
#   apt-get install -y slurm-wlm munge mariadb-server slurmdbd
#
#   scripts/slurm_local.sh up     # munged, MariaDB, slurmdbd, slurmctld, slurmd; waits for the node
#   scripts/slurm_local.sh down   # stops them all again (by their pid files), removes the configs
#
# The node declares what `slurmd -C` reports (CPUs, memory) plus two *fake* GPUs: gres.conf
# maps them to /dev/null and /dev/zero, so sbatch accepts `--gpus=1` / `--gres=gpu:1` on a machine
# without one (the job sees CUDA_VISIBLE_DEVICES=0, torch finds no CUDA and trains on the CPU).
# Accounting goes to slurmdbd + MariaDB so that `sacct` works: the Snakemake SLURM plugin checks
# job status with sacct, and tests check with it that every job went through sbatch.
#
# The config must live at the default /etc/slurm/slurm.conf: the plugin's job step drops SLURM_CONF
# before its inner srun. Everything else (state, spool, logs, pid files, the database) lives in
# $SLURM_LOCAL_STATE. The daemons are machine-wide: run `down` when done.
set -euo pipefail

STATE=${SLURM_LOCAL_STATE:-/var/tmp/slurm-local}
CONF_DIR=/etc/slurm
HOST=$(hostname -s)
MYSQL_SOCKET=/run/mysqld/mysqld.sock
MARKER="Written by scripts/slurm_local.sh"
FAKE_GPUS=2  # two, so that two GPU jobs (e.g. two trainings) can run at the same time

die() { echo "slurm_local.sh: $*" >&2; exit 1; }

# Poll "$@" every 0.2 s for up to $1 seconds.
wait_for() {
  local seconds=$1; shift
  for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

write_configs() {
  mkdir -p "$STATE"/{ctld,spool,log} "$CONF_DIR"
  # CPUs, sockets, cores, threads and memory of this machine, as slurmd sees them.
  local node
  node=$(slurmd -C | grep '^NodeName=' | sed 's/ UpTime=.*//')
  cat >"$CONF_DIR/slurm.conf" <<EOF
# $MARKER: a single-node test cluster on localhost.
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# No cgroups in this container: track processes by parent id, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# Cores and memory are consumable; a job without --mem gets 1 GB per CPU, not the whole node.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
# Keep finished jobs visible to squeue for a while (the plugin may also poll with squeue).
MinJobAge=600
# Accounting through slurmdbd, so that sacct works; count GPUs as a trackable resource.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
# Keep the plugin's --comment (rule_<rule>_wildcards_<...>) in sacct, to tell which rule a job ran.
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
$node Gres=gpu:$FAKE_GPUS State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # The fake GPUs: no detection, and any existing device file will do for each.
  cat >"$CONF_DIR/gres.conf" <<EOF
AutoDetect=off
Name=gpu File=/dev/null
Name=gpu File=/dev/zero
EOF
  cat >"$CONF_DIR/slurmdbd.conf" <<EOF
DbdHost=localhost
SlurmUser=root
AuthType=auth/munge
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$CONF_DIR/slurmdbd.conf"  # slurmdbd refuses a config others can read
}

start_mariadb() {
  local datadir=$STATE/mysql
  if [ ! -d "$datadir/mysql" ]; then
    mkdir -p "$datadir" && chown mysql:mysql "$datadir"
    mariadb-install-db --user=mysql --datadir="$datadir" >"$STATE/log/mariadb-install.log" 2>&1 \
      || die "mariadb-install-db failed, see $STATE/log/mariadb-install.log"
  fi
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  # No TCP port: slurmdbd reaches "localhost" through the default socket. The pid and log files go
  # into the data folder, which is the one place the mysql user may write.
  nohup mariadbd --user=mysql --datadir="$datadir" --socket=$MYSQL_SOCKET --skip-networking \
    --pid-file="$datadir/mariadb.pid" --log-error="$datadir/mariadb.log" >/dev/null 2>&1 &
  wait_for 30 mariadb-admin --socket=$MYSQL_SOCKET ping || die "MariaDB did not start, see $datadir/mariadb.log"
  mariadb --socket=$MYSQL_SOCKET -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

up() {
  [ "$(id -u)" = 0 ] || die "must run as root (it writes $CONF_DIR and starts system daemons)"
  for cmd in slurmctld slurmd slurmdbd munged mariadbd; do
    command -v "$cmd" >/dev/null || die "$cmd not found: apt-get install -y slurm-wlm munge mariadb-server slurmdbd"
  done
  if sinfo -h >/dev/null 2>&1; then die "a SLURM controller is already running (scripts/slurm_local.sh down)"; fi
  # Never overwrite a real cluster's configuration, only our own.
  if [ -f "$CONF_DIR/slurm.conf" ] && ! head -1 "$CONF_DIR/slurm.conf" | grep -q "$MARKER"; then
    die "$CONF_DIR/slurm.conf was not written by this script; move it away first"
  fi
  write_configs

  mkdir -p /run/munge && chown munge:munge /run/munge
  pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged
  wait_for 10 munge -n || die "munged did not start"

  start_mariadb
  slurmdbd
  wait_for 30 sacctmgr -n list cluster || die "slurmdbd did not start, see $STATE/log/slurmdbd.log"
  # Register the cluster before slurmctld starts, so that it reports jobs from the first one on.
  sacctmgr -n list cluster format=cluster | grep -qw local || sacctmgr -i add cluster local >/dev/null

  slurmctld
  slurmd
  # Jobs of a run that was killed with the daemons (their snakemake gone) come back from the saved
  # state and would hold the node: this test cluster starts with none.
  wait_for 30 squeue -h || die "slurmctld did not answer, see $STATE/log/slurmctld.log"
  local leftover
  leftover=$(squeue -h -o %i)
  if [ -n "$leftover" ]; then
    echo "cancelling $(echo "$leftover" | wc -l) jobs left from an earlier run"
    # shellcheck disable=SC2086  # one job id per word
    scancel $leftover
  fi
  wait_for 60 sh -c "sinfo -h -N -o %T | grep -qx idle" \
    || die "the node did not become idle: $(sinfo -N 2>&1), see $STATE/log/"
  echo "SLURM is up: $(sinfo -h -N -o '%N %c CPUs %m MB %G %T')"
}

# Stop the daemon whose pid file is $1, and wait until it has gone.
stop_pidfile() {
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$1"
}

down() {
  stop_pidfile "$STATE/slurmd.pid"
  stop_pidfile "$STATE/slurmctld.pid"
  stop_pidfile "$STATE/slurmdbd.pid"
  stop_pidfile "$STATE/mysql/mariadb.pid"
  if [ -f /run/munge/munged.pid ]; then stop_pidfile /run/munge/munged.pid; fi
  # Remove our configs too: while a slurm.conf names a controller that is gone, every SLURM
  # client waits about 9 s for it, and the Snakemake SLURM plugin runs `scontrol show config`
  # whenever snakemake starts (measured: each `snakemake -n` took 12 s instead of 3).
  if [ -f "$CONF_DIR/slurm.conf" ] && head -1 "$CONF_DIR/slurm.conf" | grep -q "$MARKER"; then
    rm -f "$CONF_DIR/slurm.conf" "$CONF_DIR/gres.conf" "$CONF_DIR/slurmdbd.conf"
  fi
  echo "SLURM is down (its configs removed from $CONF_DIR; state stays in $STATE)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
