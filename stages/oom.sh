#!/usr/bin/env bash
# oom.sh: the fork bomb's twin. A memory hog climbs, a few megabytes a second,
# in stage 07's container, while the host shows once a second the cgroup's
# memory against its limit, the OOM kills the kernel counted, and the host's
# own free memory, unchanged; the kernel's OOM killer ends the hog at the
# limit. Then the container is stopped and the aftermath is checked: the hog
# died of SIGKILL (137), the kill was counted, the runtime said so, no
# process and no cgroup is left, and the host has its memory back.
#
# Usage: stages/oom.sh    (as root, after: make all rootfs)
# Environment: MEMORY (default 64M: M or G, from 8M to 1G), DURATION (default
# 5, at most 30: about how many seconds the climb to the limit takes),
# RUNTIME (default build/07-cgroup-memory; the tests pass one that makes no
# memory cgroup), ARM_TIMEOUT (default 5), the seconds it waits for the
# limit to be in place.
# `make oom` runs it; `make demo` ends with it.
set -euo pipefail

kit=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/kit.bash
. "$kit/lib/kit.bash"
prog=oom
runtime=${RUNTIME:-$kit/build/07-cgroup-memory}
memory=${MEMORY:-64M}
duration=${DURATION:-5}
arm_timeout=${ARM_TIMEOUT:-5}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    echo "Usage: $0    (as root; MEMORY=64M DURATION=5 by default)"
    exit 0
fi
# The limit in whole megabytes: 8M leaves room for the container's shell,
# 1G keeps the hog (twice the limit, were there none) a guest of the host.
memory_mb=
if [[ $memory =~ ^([1-9][0-9]{0,4})([MG])$ ]]; then
    memory_mb=${BASH_REMATCH[1]}
    [[ ${BASH_REMATCH[2]} == M ]] || memory_mb=$((memory_mb * 1024))
fi
if [[ -z $memory_mb ]] || ((memory_mb < 8 || memory_mb > 1024)); then
    die "MEMORY must be a size in M or G from 8M to 1G (64M, 1G), not '$memory'"
fi
# (At most 30: the hog ends itself after 60 s, and must meet the limit first.)
[[ $duration =~ ^([1-9]|[12][0-9]|30)$ ]] || die "DURATION must be a whole number of seconds from 1 to 30, not '$duration'"
[[ $arm_timeout =~ ^[1-9][0-9]?$ ]] || die "ARM_TIMEOUT must be a whole number of seconds from 1 to 99, not '$arm_timeout'"
((EUID == 0)) || die "namespaces and cgroups need root: run as root, e.g. with sudo"
# In a network namespace of its own (lib/kit.bash: own_network): from stage
# 09 each run lays a veth pair, which stays there, off the machine's network.
own_network "$kit/stages/oom.sh" "$@"
[[ -x $runtime && -x $kit/build/rootfs/bin/busybox ]] || die "build it first with: make all rootfs"
[[ -x $kit/build/rootfs/usr/local/bin/hog ]] || die "build/rootfs has no hog: build it with: make all rootfs"

# Where the runtime makes its memory cgroup, and the files that tell about
# it: cgroup v1 has a tree for memory alone (/sys/fs/cgroup/memory), v2 one
# tree for every controller (/sys/fs/cgroup).
memory_root=$(cgroup_root memory)
[[ -n $memory_root ]] || die "this machine has no memory cgroup controller (make doctor says more)"
if [[ $memory_root == */memory ]]; then
    limit_file=memory.limit_in_bytes usage_file=memory.usage_in_bytes
    kills_file=memory.oom_control peak_file=memory.max_usage_in_bytes
else
    limit_file=memory.max usage_file=memory.current
    kills_file=memory.events peak_file=memory.peak # (peak: Linux 5.19 on)
fi
limit_bytes=$((memory_mb * 1024 * 1024))

# mem_available_mb: the host's MemAvailable, in M (what it could still give
# to programs without swapping, as free(1)'s "available").
mem_available_mb() {
    local name value _
    while read -r name value _; do
        [[ $name == MemAvailable: ]] && echo $((value / 1024)) && return
    done </proc/meminfo
}

# oom_kills: how many processes the OOM killer killed in the cgroup (the
# line "oom_kill N"); empty if the file cannot be read.
oom_kills() {
    local name value
    { while read -r name value; do
        [[ $name == oom_kill ]] && echo "$value" && return
    done <"$cgroup/$kills_file"; } 2>/dev/null
    return 0
}

# bar CURRENT MAX: the usage against the limit, 20 characters wide.
bar() {
    local filled=$(($1 * 20 / $2)) text=
    ((filled <= 20)) || filled=20
    for ((i = 0; i < 20; i++)); do
        if ((i < filled)); then text+='#'; else text+='.'; fi
    done
    echo "[$text]"
}

# The hog (escapes/hog.c, in the rootfs) takes twice the limit, at a pace
# that reaches the limit in about DURATION seconds: slow enough to watch.
# It is not the container's PID 1 but a child of it, busybox sh, which
# starts it only when told "go" on its stdin, says how it ended, and keeps
# the container, and so its cgroup, until told to stop: the host reads the
# OOM kill count there after the kill, and the runtime's exit status is the
# hog's. (A hog as PID 1 would take the cgroup with it at once.)
rate_mb=$(((memory_mb + duration - 1) / duration))
hog_size=$((memory_mb * 2))M
work=$(mktemp -d)
# If this script ends early (Ctrl-C, a closed pipe), the runtime it started
# is stopped too, and the container's sh, whose stdin loses its last writer,
# reads the end of it; so the runtime must not hold that writer itself (7>&-).
runtime_pid=
trap '[[ -z $runtime_pid ]] || kill -TERM "$runtime_pid" 2>/dev/null; exec 7>&- 2>/dev/null; rm -rf "$work"' EXIT
mkfifo "$work/stdin"
exec 7<>"$work/stdin"

before_mb=$(mem_available_mb)
echo "Before: the host has ${before_mb}M of memory available (MemAvailable)."
echo "# ${RUNTIME:-build/07-cgroup-memory} run --memory $memory hog $hog_size ${rate_mb}M"
"$runtime" run --hostname oom --memory "$memory" --stop-timeout 1 \
    sh -c "read go; [ \"\$go\" = go ] || exit 99; hog $hog_size ${rate_mb}M; status=\$?
           echo \"hog ended with status \$status\"; read stop; exit \$status" \
    <"$work/stdin" >"$work/stdout" 2>"$work/stderr" 7>&- &
runtime_pid=$!
# The runtime names its cgroups minidocker-PIDNS-PID: its pid, and the
# inode number of its PID namespace (a pid alone is unique only within one).
runtime_ns=$(readlink "/proc/$runtime_pid/ns/pid") || die "the runtime ended at once: $(cat "$work/stderr")"
runtime_ns=${runtime_ns#pid:[}
cgroup_name=minidocker-${runtime_ns%]}-$runtime_pid
cgroup=$memory_root/$cgroup_name

# Refuse to start the hog unless the limit is in place. limit_in_place: the
# memory cgroup exists, its limit reads back as asked, and the container's
# first process, the runtime's child, is in it; sets first_process.
limit_in_place() {
    first_process=$(head -n 1 "$cgroup/cgroup.procs" 2>/dev/null) || return 1
    [[ -n $first_process && $(cat "$cgroup/$limit_file" 2>/dev/null) == "$limit_bytes" ]] || return 1
    [[ $(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$first_process/status" 2>/dev/null) == "$runtime_pid" ]]
}
armed=
deadline=$((SECONDS + arm_timeout))
while ((SECONDS < deadline)); do
    if limit_in_place; then
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
    cat "$work/stdout"
    die "the container is not in a memory cgroup whose $limit_file reads $limit_bytes ($memory);" \
        "the hog was not started.$(sed 's/^/ /' "$work/stderr")"
fi
namespace=$(readlink "/proc/$first_process/ns/pid")
echo "Limit in place: $cgroup/$limit_file reads $limit_bytes ($memory). Starting the hog: $hog_size, ${rate_mb}M a second."
echo go >&7

# Once a second, until a second after the hog has ended: its cgroup's
# memory and OOM kills, and the host's MemAvailable. Bounded: the hog should
# meet the limit in about DURATION seconds; 5 more, and it is stopped.
peak=0 kills=0 hog_pids=() ended_at=
for ((second = 1; second <= duration + 5; second++)); do
    sleep 1
    usage=$(cat "$cgroup/$usage_file" 2>/dev/null) || usage=0
    kills=$(oom_kills)
    kills=${kills:-0}
    ((usage <= peak)) || peak=$usage
    # The hog's pid on the host, to prove later that it is gone.
    while read -r pid; do
        [[ $pid == "$first_process" || " ${hog_pids[*]} " == *" $pid "* ]] || hog_pids+=("$pid")
    done < <(cat "$cgroup/cgroup.procs" 2>/dev/null)
    host_mb=$(mem_available_mb)
    hog_state=$(sed -n 's/^hog ended with status /hog ended: /p' "$work/stdout")
    printf '%2d s  memory %4dM/%dM %s  OOM kills %d  host: MemAvailable %dM (before: %dM)%s\n' \
        "$second" $((usage / 1024 / 1024)) "$memory_mb" "$(bar "$usage" "$limit_bytes")" "$kills" \
        "$host_mb" "$before_mb" "${hog_state:+  $hog_state}"
    if [[ -n $hog_state ]]; then
        [[ -n $ended_at ]] && break
        ended_at=$second
    fi
done
# The kernel's own record of the peak, where it keeps one (v1; v2 from 5.19).
if read -r kernel_peak 2>/dev/null <"$cgroup/$peak_file" && ((kernel_peak > peak)); then
    peak=$kernel_peak
fi

# Stop it: "stop" to PID 1, which exits with the hog's status; if the hog is
# still running (the limit did not hold), SIGTERM to the runtime, which
# passes it on and kills the container after its --stop-timeout.
echo stop >&7
if [[ -z $ended_at ]]; then
    echo "The hog has not ended in $((duration + 5)) s: SIGTERM to the runtime (pid $runtime_pid)."
    kill -TERM "$runtime_pid"
fi
status=0
wait "$runtime_pid" || status=$?
runtime_pid=
hog_status=$(sed -n 's/^hog ended with status //p' "$work/stdout")
# (Its stderr also holds the shell's "Killed": show the runtime's own lines.)
sed -n 's/^[0-9][0-9]-[a-z0-9-]*: /  &/p' "$work/stderr"
said=no
grep -q "the container hit its memory limit ($memory): the OOM killer killed [1-9]" "$work/stderr" && said=yes

# The aftermath, checked rather than assumed: no process of the container's
# PID namespace and no hog, no cgroup of this run in any hierarchy (the hog's
# memory was charged there: gone with the hog, the charge goes too). And
# the host's MemAvailable back, give or take the limit, which is all the hog
# could ever hold; but MemAvailable is the whole machine's, and on a busy
# one other programs move it more than that: then it says so, and the
# checks above are the proof.
left=0
for ns_link in /proc/[0-9]*/ns/pid; do
    [[ $(readlink "$ns_link" 2>/dev/null) == "$namespace" ]] && left=$((left + 1))
done
for pid in "${hog_pids[@]}"; do
    [[ ! -e /proc/$pid ]] || left=$((left + 1))
done
cgroups_left=()
for leftover in /sys/fs/cgroup/"$cgroup_name" /sys/fs/cgroup/*/"$cgroup_name"; do
    [[ ! -e $leftover ]] || cgroups_left+=("$leftover")
done
cgroup_state="cgroups removed"
((${#cgroups_left[@]} == 0)) || cgroup_state="CGROUPS LEFT: ${cgroups_left[*]}"
after_mb=$(mem_available_mb)
hog_text="the hog died with status ${hog_status:-unknown}"
[[ $hog_status != 137 ]] || hog_text+=" (SIGKILL)"
said_text="the runtime said so"
[[ $said == yes ]] || said_text="the runtime did NOT say so"
kills_text="$kills OOM kills counted"
((kills != 1)) || kills_text="1 OOM kill counted"
host_text="host MemAvailable back: ${after_mb}M (before: ${before_mb}M)"
if ((after_mb < before_mb - memory_mb)); then
    host_text="host MemAvailable ${after_mb}M, $((before_mb - after_mb))M below before (${before_mb}M):"
    host_text+=" more than the hog could hold, so other programs took it meanwhile"
fi
echo "oom: memory limit $memory, peak usage $((peak / 1024 / 1024))M; $hog_text, $kills_text;" \
    "$said_text and exited $status; $left processes left, $cgroup_state; $host_text"
if [[ $hog_status != 137 || $status != 137 || $said != yes ]] ||
    ((kills < 1 || peak > limit_bytes || left > 0 || ${#cgroups_left[@]} > 0)); then
    die "the limit did not hold or the aftermath is not clean (see the line above)"
fi
