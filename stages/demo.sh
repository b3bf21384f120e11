#!/usr/bin/env bash
# demo.sh: walk through the stages, printing for each the command it runs and
# what still leaks, then the two finales: the fork bomb held at pids.max, and
# the memory hog ended by the OOM killer at the memory limit (stages/oom.sh,
# make oom). `make demo` runs it after
# building everything. Each stage's part comes from its container.c's header
# comment: the first line (what the stage does), the "Try:" line (the
# command, run as written there, without its sudo) and the "Still leaks:"
# paragraph. So a new stage is shown with no edit here. The first stage with
# pivot_root and the one before it also run the double-chroot breakout
# (escapes/breakout.c) against a file the demo puts in /var/tmp, and the
# first with a user namespace shows its root as the host sees it (ps).
# Needs root. Usage: stages/demo.sh
set -euo pipefail

kit=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/kit.bash
. "$kit/lib/kit.bash"
prog=$0
cd "$kit"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    echo "Usage: $0    (as root, after: make all rootfs)"
    exit 0
fi
((EUID == 0)) || die "namespaces and cgroups need root: run as root, e.g. with sudo"
# In a network namespace of its own (lib/kit.bash: own_network): from stage
# 09 each run lays a veth pair, which stays there, off the machine's network.
own_network "$kit/stages/demo.sh" "$@"
for binary in "${STAGES[@]/#/build/}" build/rootfs/bin/busybox build/rootfs/usr/local/bin/breakout; do
    [[ -x $binary ]] || die "$binary is missing: build it with: make all rootfs"
done

bold=''
plain=''
if [[ -t 1 ]]; then
    bold=$(tput bold 2>/dev/null || true)
    plain=$(tput sgr0 2>/dev/null || true)
fi

heading() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$plain"; }
say() { printf '%s\n' "$*"; }

# Print a command line as a student would type it, then run it; its exit
# status is show's.
show() {
    printf '%s# %s%s\n' "$bold" "$1" "$plain"
    eval "$1"
}

# show_status STATUS: what a Try: line's exit status other than 0 means
# (07's hog, say, ends with 137: SIGKILL, from the OOM killer).
show_status() {
    if (($1 > 128)); then
        say "Exit status $1: 128 + $(($1 - 128)), killed by SIG$(kill -l $(($1 - 128)))."
    else
        say "Exit status $1."
    fi
}

# header_part STAGE PART: from the header comment of STAGE's container.c,
# the paragraph that starts with "PART:", as one line without it.
header_part() {
    awk -v part="$2:" '
        NR > 1 && /^ \*\/$/ { exit }
        started && /^ \*$/ { exit }
        !started && index($0, " * " part) == 1 { started = 1; sub(" \\* " part " *", "") }
        started { sub(/^ \* */, ""); text = text (text == "" ? "" : " ") $0 }
        END { print text }
    ' "stages/$1/container.c"
}

# The breakout escapes the last chroot stage and not the pivot_root one: it
# reads the marker, a file of the host's, or fails to find it.
pivot_stage=$(stage_name 06)
chroot_stage=$(stage_before "$pivot_stage")
marker=$(mktemp /var/tmp/minidocker-demo.XXXXXX)
trap 'rm -f -- "$marker"' EXIT
echo "a file of the host's, which no container should read" >"$marker"
breakout() {
    local status=0
    show "build/$1 run breakout $marker" || status=$?
    if ((status == 0)); then
        say "Escaped: root in a chroot climbs out of it to the host's /."
    else
        say "Blocked (status $status): the climb ends at the container's own root."
    fi
}

# The first stage with a user namespace: root inside, and the same process
# as the host's ps shows it, a user with no name. The ps waits until the
# container's shell has run id and become the sleep (sh execs its last
# command), the runtime's child.
userns_stage=$(stage_name 10)
userns_root() {
    local runtime_pid tries
    show "build/$1 run sh -c 'id; sleep 1' &"
    runtime_pid=$!
    for ((tries = 0; tries < 50; tries++)); do
        ! pgrep -x -P "$runtime_pid" sleep >/dev/null || break
        sleep 0.1
    done
    show 'ps -o uid,pid,args --ppid $!' || say "(the container has ended already)"
    wait "$runtime_pid" || true
    say "Root inside is the UID above on the host (--userns-base): no file, device or process of the host's is its."
}

for stage in "${STAGES[@]}"; do
    heading "$(sed -n '2s/^ \* //p' "stages/$stage/container.c")"
    try=$(header_part "$stage" Try)
    status=0
    [[ -z $try ]] || show "${try#sudo }" || status=$?
    ((status == 0)) || show_status "$status"
    [[ $stage != "$chroot_stage" && $stage != "$pivot_stage" ]] || breakout "$stage"
    [[ $stage != "$userns_stage" ]] || userns_root "$stage"
    leaks=$(header_part "$stage" 'Still leaks')
    [[ -z $leaks ]] || say "Still leaks: $leaks"
done

heading "Next"
say "make diff STAGE=03     the lesson of a stage: its diff against the one before"
say "make shell STAGE=04    a shell inside a stage's container"
say "make forkbomb          the first finale below, on its own (PIDS_MAX=20 DURATION=5)"
say "make oom               the second, its twin, on its own (MEMORY=64M DURATION=5)"

heading "The finale: a fork bomb held at pids.max"
stages/forkbomb.sh

heading "Its twin: a memory hog ended by the OOM killer at the memory limit"
stages/oom.sh
