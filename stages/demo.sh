#!/usr/bin/env bash
# demo.sh: walk through the five stages, printing for each the command it
# runs and what that shows. `make demo` runs it after building everything.
# Needs root. Usage: stages/demo.sh
set -euo pipefail

kit=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$kit"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    echo "Usage: $0    (as root, after: make all rootfs)"
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    echo "$0: namespaces and cgroups need root: run as root, e.g. with sudo" >&2
    exit 1
fi
for binary in build/0{1..5}-* build/rootfs/bin/busybox; do
    if [[ ! -x $binary ]]; then
        echo "$0: $binary is missing: build it with: make all rootfs" >&2
        exit 1
    fi
done

bold=''
plain=''
if [[ -t 1 ]]; then
    bold=$(tput bold 2>/dev/null || true)
    plain=$(tput sgr0 2>/dev/null || true)
fi

heading() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$plain"; }
say() { printf '%s\n' "$*"; }

# Print a command line as a student would type it, then run it.
show() {
    printf '%s# %s%s\n' "$bold" "$1" "$plain"
    eval "$1"
}

heading "01-uts: its own hostname"
show 'build/01-uts run --hostname box hostname'
show 'hostname'
say "The container is 'box'; the host kept its name."

heading "02-pid: the command is PID 1"
# shellcheck disable=SC2016 # the container's shell expands $$
show 'build/02-pid run sh -c '\''echo "my PID is $$"; echo "ps lists $(ps -e | wc -l) lines"'\'''
say "PID 1 in its own namespace, but ps still reads the host's /proc."

heading "03-mountns-proc: ps shows only the container"
show 'build/03-mountns-proc run ps -e'
say "A fresh /proc in a private mount namespace; the host's mounts are untouched."

heading "04-chroot: a root filesystem of its own"
show 'build/04-chroot run ls /'
say "That is the busybox rootfs in build/rootfs, not the host's /."

heading "Next"
say "make forkbomb          the finale below, on its own (PIDS_MAX=20 DURATION=5)"
say "make diff STAGE=03     the lesson of a stage: its diff against the one before"
say "make shell STAGE=04    a shell inside a stage's container"

heading "05-cgroup-pids: a fork bomb held at pids.max"
say "The finale, also run alone by make forkbomb:"
stages/forkbomb.sh
