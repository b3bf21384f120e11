#!/usr/bin/env bash
# forkbomb.sh: the workshop's finale. A fork bomb runs in stage 05's container
# for a few seconds, held at its pids limit, while the host shows once a
# second that the limit holds and that the host itself is fine; then the
# container is stopped and the aftermath is checked: every bomb process gone,
# the cgroup removed, the host's process count back where it was.
#
# Usage: stages/forkbomb.sh    (as root, after: make all rootfs)
# Environment: PIDS_MAX (default 20), DURATION seconds (default 5), RUNTIME
# (default build/05-cgroup-pids; the tests pass one that makes no cgroup),
# ARM_TIMEOUT (default 5), the seconds it waits for the limit to be in place.
# `make forkbomb` runs it; `make demo` ends with it.
set -euo pipefail

kit=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/kit.bash
. "$kit/lib/kit.bash"
prog=forkbomb
runtime=${RUNTIME:-$kit/build/05-cgroup-pids}
pids_max=${PIDS_MAX:-20}
duration=${DURATION:-5}
arm_timeout=${ARM_TIMEOUT:-5}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    echo "Usage: $0    (as root; PIDS_MAX=20 DURATION=5 by default)"
    exit 0
fi
[[ $pids_max =~ ^[1-9][0-9]{0,6}$ ]] || die "PIDS_MAX must be a whole number from 1 up, not '$pids_max'"
[[ $duration =~ ^[1-9][0-9]?$ ]] || die "DURATION must be a whole number of seconds from 1 to 99, not '$duration'"
[[ $arm_timeout =~ ^[1-9][0-9]?$ ]] || die "ARM_TIMEOUT must be a whole number of seconds from 1 to 99, not '$arm_timeout'"
((EUID == 0)) || die "namespaces and cgroups need root: run as root, e.g. with sudo"
# In a network namespace of its own (lib/kit.bash: own_network): from stage
# 09 each run lays a veth pair, which stays there, off the machine's network.
own_network "$kit/stages/forkbomb.sh" "$@"
[[ -x $runtime && -x $kit/build/rootfs/bin/busybox ]] || die "build it first with: make all rootfs"

# Where the runtime makes its cgroup: the v1 pids hierarchy, or the v2 root.
pids_root=$(cgroup_root pids)
[[ -n $pids_root ]] || die "this machine has no pids cgroup controller (make doctor says more)"

# count_processes: how many processes the host has.
count_processes() {
    local count=0
    for _ in /proc/[0-9]*; do
        count=$((count + 1))
    done
    echo "$count"
}

# now_ms: the time in milliseconds (bash's clock: busybox's date has no %N).
now_ms() {
    local microseconds=${EPOCHREALTIME//[.,]/}
    echo $((microseconds / 1000))
}

# start_50_ms: how long the host takes to start 50 processes, in ms.
start_50_ms() {
    local start
    start=$(now_ms)
    for _ in {1..50}; do /bin/true; done
    echo $(($(now_ms) - start))
}

# bar CURRENT MAX: pids.current against pids.max, 20 characters wide.
bar() {
    local filled=$(($1 * 20 / $2)) text=
    ((filled <= 20)) || filled=20
    for ((i = 0; i < 20; i++)); do
        if ((i < filled)); then text+='#'; else text+='.'; fi
    done
    echo "[$text]"
}

processes_before=$(count_processes)
start_before=$(start_50_ms)
echo "Before: the host runs $processes_before processes and starts 50 more in $start_before ms."

# The bomb is the classic :(){ :|:& };: run by bash, which the rootfs has for
# this (busybox's sh refuses ':' as a function name, and gives up at the
# first refused fork where bash retries). The container's PID 1, busybox sh,
# starts it only when told "go" on its stdin, then waits in `read`, a shell
# builtin, which needs no fork. PID 1 ignores SIGTERM (it has no handler), so
# stopping it takes the runtime's kill after --stop-timeout.
bomb=':(){ :|:& };:'
[[ -x $kit/build/rootfs/bin/bash ]] || die "build/rootfs has no bash: rebuild it with: make rootfs"
work=$(mktemp -d)
# If this script ends early (Ctrl-C, a closed pipe), the runtime it started
# is stopped too, and the container's sh, whose stdin loses its last writer,
# reads the end of it; so the runtime must not hold that writer itself (7>&-).
runtime_pid=
trap '[[ -z $runtime_pid ]] || kill -TERM "$runtime_pid" 2>/dev/null; exec 7>&- 2>/dev/null; rm -rf "$work"' EXIT
mkfifo "$work/stdin"
exec 7<>"$work/stdin"
echo "# build/05-cgroup-pids run --pids-max $pids_max bash -c '$bomb'"
"$runtime" run --hostname forkbomb --pids-max "$pids_max" --stop-timeout 1 \
    sh -c "read go; [ \"\$go\" = go ] || exit 99; bash -c '$bomb'; read stop" \
    <"$work/stdin" 2>"$work/stderr" 7>&- &
runtime_pid=$!
# The runtime names its cgroup minidocker-PIDNS-PID: its pid, and the inode
# number of its PID namespace (a pid alone is unique only within one).
runtime_ns=$(readlink "/proc/$runtime_pid/ns/pid") || die "the runtime ended at once: $(cat "$work/stderr")"
runtime_ns=${runtime_ns#pid:[}
cgroup=$pids_root/minidocker-${runtime_ns%]}-$runtime_pid

# Refuse to start the bomb unless the limit is in place: the cgroup exists,
# its pids.max reads back as asked, and the container's first process is in it.
armed=
deadline=$((SECONDS + arm_timeout))
while ((SECONDS < deadline)); do
    if [[ $(cat "$cgroup/pids.max" 2>/dev/null) == "$pids_max" &&
    -n $(cat "$cgroup/cgroup.procs" 2>/dev/null) ]]; then
        armed=yes
        break
    fi
    kill -0 "$runtime_pid" 2>/dev/null || break
    sleep 0.05
done
if [[ -z $armed ]]; then
    echo no >&7
    wait "$runtime_pid" || true
    runtime_pid=
    die "the container is not in a pids cgroup with pids.max $pids_max; the bomb was not started. $(cat "$work/stderr")"
fi
first_process=$(head -n 1 "$cgroup/cgroup.procs")
namespace=$(readlink "/proc/$first_process/ns/pid")
echo "Limit in place: $cgroup/pids.max reads $pids_max. Starting the bomb for $duration s."
echo go >&7

peak=0 refused=0 slowest=0
for ((second = 1; second <= duration; second++)); do
    sleep 1
    current=$(cat "$cgroup/pids.current")
    refused=$(sed -n 's/^max //p' "$cgroup/pids.events")
    ((current <= peak)) || peak=$current
    host_ms=$(start_50_ms)
    ((host_ms <= slowest)) || slowest=$host_ms
    printf '%2d s  pids %3d/%d %s  refused forks %7d  host: 50 processes in %d ms (before: %d ms)\n' \
        "$second" "$current" "$pids_max" "$(bar "$current" "$pids_max")" "$refused" "$host_ms" "$start_before"
done

# Stop it as `docker stop` would: SIGTERM, which the runtime passes on, then
# the kill when the container has not stopped within its --stop-timeout.
echo "Stopping: SIGTERM to the runtime (pid $runtime_pid)."
stop_start=$(now_ms)
kill -TERM "$runtime_pid"
status=0
wait "$runtime_pid" || status=$?
runtime_pid=
stop_ms=$(($(now_ms) - stop_start))
# (Its stderr also holds bash's "fork: retry" lines: show the runtime's own.)
sed -n 's/^05-cgroup-pids: /  &/p' "$work/stderr"

# The aftermath, checked rather than assumed.
left=0
for ns_link in /proc/[0-9]*/ns/pid; do
    [[ $(readlink "$ns_link" 2>/dev/null) == "$namespace" ]] && left=$((left + 1))
done
cgroup_state=removed
[[ ! -e $cgroup ]] || cgroup_state="STILL THERE"
processes_after=$(count_processes)
echo "forkbomb: pids.max $pids_max, peak pids.current $peak, $refused forks refused in $duration s;" \
    "host started 50 processes in at most $slowest ms (before: $start_before ms);" \
    "stopped in $stop_ms ms with status $status; $left bomb processes left, cgroup $cgroup_state;" \
    "host processes $processes_after (before: $processes_before)"
if ((peak > pids_max || refused == 0 || left > 0)) || [[ $cgroup_state != removed ]]; then
    die "the limit did not hold or the aftermath is not clean (see the line above)"
fi
