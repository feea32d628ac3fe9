#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests and CI.
#
#   scripts/slurm-cluster.sh start    install (apt) if needed, start munged + slurmctld + slurmd,
#                                     wait until the node is idle; already running -> ok
#   scripts/slurm-cluster.sh stop     cancel jobs, stop exactly the daemons started here (pid files)
#   scripts/slurm-cluster.sh status   exit 0 if the cluster answers, 1 otherwise
#   scripts/slurm-cluster.sh env      print `export SLURM_CONF=...` (eval it in a shell)
#
# Everything lives in one directory, $SSGAN_SLURM_DIR (default /tmp/ssgan-slurm): slurm.conf,
# gres.conf, munge key/socket, state, spool, pid and log files. The only file outside it is
# a symlink /etc/slurm/slurm.conf -> $SSGAN_SLURM_DIR/slurm.conf (see ETC_CONF below; `start`
# refuses to replace a real one, `stop` removes the link). SLURM_CONF works as well for
# clients and is printed by `start`. Needs root (slurmd runs jobs as their submitting user).
#
# Environment: SSGAN_SLURM_DIR, SSGAN_SLURM_PARTITION (default debug),
#   SSGAN_SLURM_CTLD_PORT / SSGAN_SLURM_SLURMD_PORT (default 6817 / 6818),
#   SSGAN_SLURM_GPUS (default 0): number of fake `gpu` GRES on the node, so that jobs asking
#     for GPUs (`sbatch --gpus=1`, the profile's `gpu: 1`) get scheduled; see docs/slurm.md,
#   SSGAN_SLURM_START_TIMEOUT (seconds to wait for an idle node, default 60).
# A running cluster whose configuration differs from the requested one is restarted.
set -euo pipefail

DIR="${SSGAN_SLURM_DIR:-/tmp/ssgan-slurm}"
PARTITION="${SSGAN_SLURM_PARTITION:-debug}"
CTLD_PORT="${SSGAN_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${SSGAN_SLURM_SLURMD_PORT:-6818}"
FAKE_GPUS="${SSGAN_SLURM_GPUS:-0}"
START_TIMEOUT="${SSGAN_SLURM_START_TIMEOUT:-60}"
CONF="$DIR/slurm.conf"
# Where SLURM clients look without SLURM_CONF. It must point at our config: the executor
# plugin's job step (snakemake-executor-plugin-slurm-jobstep) strips every SLURM_* variable
# except the job ids before its nested `srun`, so SLURM_CONF alone does not reach it.
ETC_CONF="${SSGAN_SLURM_ETC_CONF:-/etc/slurm/slurm.conf}"
MUNGE_SOCKET="$DIR/munge/munge.socket"
export SLURM_CONF="$CONF"

log() { echo "slurm-cluster: $*" >&2; }
STARTING=0
die() {
    echo "slurm-cluster: ERROR: $*" >&2
    # a failed start stops what it had started (logs stay in $DIR/log)
    if ((STARTING)); then STARTING=0; cmd_stop >/dev/null 2>&1 || true; fi
    exit 1
}

# daemon name -> pid file, binary (for checking that a pid is really ours)
pidfile() { echo "$DIR/run/$1.pid"; }

# pid of daemon $1 if its pid file names a live process running the expected binary
live_pid() {
    local f pid
    f="$(pidfile "$1")"
    [[ -s "$f" ]] || return 1
    pid="$(tr -dc '0-9' <"$f")"
    [[ -n "$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1" ]] || return 1
    echo "$pid"
}

tail_logs() {
    local f
    for f in "$DIR/log/munged.log" "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log"; do
        [[ -f "$f" ]] || continue
        echo "----- last lines of $f -----" >&2
        # (slurmd always complains about the optional PMIx MPI plugin: not the problem)
        grep -v -e 'pmix' -e 'MPI: Cannot create context' "$f" | tail -n 15 >&2
    done
}

node_state() {
    sinfo --noheader --partition="$PARTITION" -o '%T' 2>/dev/null | head -n 1 | tr -d '*~#!%$@^-'
}

cluster_up() {
    live_pid munged >/dev/null && live_pid slurmctld >/dev/null && live_pid slurmd >/dev/null \
        && [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]
}

ensure_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null || die "SLURM is not installed (${missing[*]}) and apt-get is unavailable"
    log "installing ${missing[*]} slurm-wlm with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    local opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! apt-get install "${opts[@]}" slurm-wlm munge >"$DIR/log/apt.log" 2>&1; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q >>"$DIR/log/apt.log" 2>&1 || true
        apt-get install "${opts[@]}" slurm-wlm munge >>"$DIR/log/apt.log" 2>&1 \
            || { tail -n 20 "$DIR/log/apt.log" >&2; die "cannot install slurm-wlm/munge with apt-get (log: $DIR/log/apt.log)"; }
    fi
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
        die "apt-get finished but slurmctld/slurmd/munged are still missing"
    fi
}

port_free() {
    # true when nothing listens on TCP port $1
    if command -v ss >/dev/null; then
        if ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; then return 1; fi
    elif (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        return 1
    fi
    return 0
}

write_conf() {
    # write slurm.conf (and gres.conf) for this machine to ${1:-$CONF}
    local out="${1:-$CONF}" host cpus mem gres_line="" node_gres=""
    host="$(hostname -s)"
    cpus="$(nproc)"
    mem="$(free -m | awk '/^Mem:/ {print $2}')"
    [[ "$mem" =~ ^[0-9]+$ ]] || die "cannot read total memory from free -m"
    if [[ "$FAKE_GPUS" =~ ^[1-9][0-9]*$ ]]; then
        # Fake GPUs: gres/gpu needs device files, so plain files stand in for /dev/nvidiaN.
        # This lets `--gpus=N` requests (the executor plugin's `gpu` resource) schedule on a
        # machine without GPUs (SLURM counts them; the jobs see no device).
        gres_line="GresTypes=gpu"
        node_gres="Gres=gpu:$FAKE_GPUS"
        if [[ "$out" == "$CONF" ]]; then
            mkdir -p "$DIR/fakegpu"
            local i
            for ((i = 0; i < FAKE_GPUS; i++)); do : >"$DIR/fakegpu/nvidia$i"; done
            printf 'NodeName=%s Name=gpu File=%s/fakegpu/nvidia[0-%s]\n' \
                "$host" "$DIR" "$((FAKE_GPUS - 1))" >"$DIR/gres.conf"
        fi
    elif [[ "$out" == "$CONF" ]]; then
        rm -f "$DIR/gres.conf"
    fi
    cat >"$out" <<EOF
# Written by scripts/slurm-cluster.sh -- a single-node test cluster; edits are overwritten.
ClusterName=ssgantest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# a job without --mem gets its CPUs' share of memory (not the whole node), so jobs share
DefMemPerCPU=$((mem / cpus))
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue for 5 minutes: the executor plugin's squeue status
# command needs that (it falls back to sacct when MinJobAge < 3x its first poll delay).
MinJobAge=300
# Reject at submission what this node can never run (too many CPUs, too much memory), so
# a test fails at once instead of waiting forever with Reason=PartitionConfig.
EnforcePartLimits=ALL
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$gres_line
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem $node_gres State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

link_etc_conf() {
    # /etc/slurm/slurm.conf -> $CONF, unless it is someone else's real configuration
    if [[ -L "$ETC_CONF" ]]; then
        [[ "$(readlink "$ETC_CONF")" == "$CONF" ]] && return 0
        die "$ETC_CONF is a link to $(readlink "$ETC_CONF"), not to this test cluster; remove it or set SSGAN_SLURM_ETC_CONF"
    elif [[ -e "$ETC_CONF" ]]; then
        die "$ETC_CONF exists (another SLURM configuration on this machine); refusing to replace it. Remove it or set SSGAN_SLURM_ETC_CONF"
    fi
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -s "$CONF" "$ETC_CONF"
}

unlink_etc_conf() {
    if [[ -L "$ETC_CONF" && "$(readlink "$ETC_CONF")" == "$CONF" ]]; then rm -f "$ETC_CONF"; fi
}

start_munged() {
    if live_pid munged >/dev/null; then return 0; fi
    mkdir -p "$DIR/munge"
    chmod 0755 "$DIR/munge"   # clients of any user need to reach the socket; the key is 0400
    if [[ ! -s "$DIR/munge/munge.key" ]]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null 2>&1 \
                || die "mungekey could not create $DIR/munge/munge.key"
        else
            dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
        fi
        chmod 0400 "$DIR/munge/munge.key"
    fi
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    munged --force --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
        --pid-file="$(pidfile munged)" --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/munge/munged.seed" \
        || { tail_logs; die "munged failed to start"; }
    local i
    for i in $(seq 50); do
        [[ -S "$MUNGE_SOCKET" ]] && live_pid munged >/dev/null && return 0
        sleep 0.1
    done
    tail_logs
    die "munged did not create its socket $MUNGE_SOCKET"
}

cmd_start() {
    [[ "$(id -u)" == 0 ]] || die "must run as root (slurmd runs jobs as their users; apt-get installs packages)"
    [[ "$(uname -s)" == Linux ]] || die "needs Linux, found $(uname -s)"
    [[ "$FAKE_GPUS" =~ ^[0-9]+$ ]] || die "SSGAN_SLURM_GPUS must be a whole number, got '$FAKE_GPUS'"
    mkdir -p "$DIR"/{state,spool,run,log}
    ensure_packages
    local wanted
    wanted="$(write_conf /dev/stdout)"
    if cluster_up; then
        if [[ "$wanted" == "$(cat "$CONF" 2>/dev/null)" ]]; then
            link_etc_conf
            log "already running (SLURM_CONF=$CONF)"
            echo "export SLURM_CONF=$CONF"
            return 0
        fi
        log "running with a different configuration; restarting"
        cmd_stop
        mkdir -p "$DIR"/{state,spool,run,log}
    fi
    # partially running (a daemon died): restart everything from a clean slate
    if live_pid munged >/dev/null || live_pid slurmctld >/dev/null || live_pid slurmd >/dev/null; then
        log "cluster partially running; restarting it"
        cmd_stop
        mkdir -p "$DIR"/{state,spool,run,log}
    fi
    local p
    for p in "$CTLD_PORT" "$SLURMD_PORT"; do
        port_free "$p" || die "TCP port $p is already in use (another slurmctld/slurmd?); set SSGAN_SLURM_CTLD_PORT/SSGAN_SLURM_SLURMD_PORT"
    done
    STARTING=1
    local f
    for f in munged slurmctld slurmd; do
        if [[ -f "$DIR/log/$f.log" ]]; then mv -f "$DIR/log/$f.log" "$DIR/log/$f.log.old"; fi
    done
    mkdir -p "$DIR/spool/slurmd-$(hostname -s)"
    write_conf
    link_etc_conf
    start_munged
    munge --socket="$MUNGE_SOCKET" -n </dev/null | unmunge --socket="$MUNGE_SOCKET" >/dev/null 2>&1 \
        || { tail_logs; die "munge credential round trip failed"; }
    # -c: start from an empty job state (a test cluster keeps no history between starts)
    slurmctld -c -f "$CONF" || { tail_logs; die "slurmctld failed to start"; }
    slurmd -f "$CONF" || { tail_logs; die "slurmd failed to start"; }
    local deadline=$((SECONDS + START_TIMEOUT)) state=""
    while ((SECONDS < deadline)); do
        state="$(node_state || true)"
        if [[ "$state" == idle ]]; then
            STARTING=0
            log "node $(hostname -s) idle in partition $PARTITION (SLURM_CONF=$CONF)"
            echo "export SLURM_CONF=$CONF"
            return 0
        fi
        # a node that registered as down/drained (e.g. after an unclean stop) can be resumed
        if [[ "$state" =~ ^(down|drained|draining|drain)$ ]]; then
            scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
        fi
        if [[ "$state" =~ ^(inval|invalid)$ ]]; then
            tail_logs
            die "node registered as INVALID: $(sinfo -R --noheader -o '%E' 2>/dev/null | head -n 1)"
        fi
        for p in munged slurmctld slurmd; do
            live_pid "$p" >/dev/null || { tail_logs; die "$p exited during startup"; }
        done
        sleep 0.5
    done
    tail_logs
    sinfo -N -l >&2 2>&1 || true
    die "node did not become idle within ${START_TIMEOUT}s (last state: '${state:-unknown}')"
}

stop_daemon() {
    local name="$1" pid i
    if pid="$(live_pid "$name")"; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$(pidfile "$name")"
}

cmd_stop() {
    if live_pid slurmctld >/dev/null; then
        # end running jobs first, so no slurmstepd/job processes outlive the daemons
        local ids i
        ids="$(squeue --noheader -o %i 2>/dev/null | tr '\n' ' ')"
        # shellcheck disable=SC2086  # word splitting intended: one argument per job id
        if [[ -n "${ids// /}" ]]; then scancel --quiet $ids >/dev/null 2>&1 || true; fi
        for i in $(seq 40); do
            [[ -z "$(squeue --noheader --states=PENDING,RUNNING,COMPLETING,CONFIGURING,SUSPENDED -o %i 2>/dev/null)" ]] && break
            sleep 0.25
        done
    fi
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon munged
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    unlink_etc_conf
    # job state is discarded anyway at the next start (slurmctld -c)
    rm -rf "$DIR/state" "$DIR/spool" "$DIR/run"
    log "stopped (logs kept in $DIR/log)"
}

cmd_status() {
    local name pid rc=0
    for name in munged slurmctld slurmd; do
        if pid="$(live_pid "$name")"; then echo "$name: running (pid $pid)"; else echo "$name: not running"; rc=1; fi
    done
    if ((rc == 0)); then
        sinfo || rc=1
        squeue || rc=1
    fi
    echo "SLURM_CONF=$CONF"
    return "$rc"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
