# Shared by every tests/NN-*.bats file (`load helpers`).
#
# Which binary is tested:
#   STAGE      stage name, e.g. 03-mountns-proc (or 03, or 3). Default: the
#              name of the .bats file, so `bats tests/03-mountns-proc.bats`
#              tests build/03-mountns-proc. tests/run sets it to run the
#              tests of one stage against a later (or the previous) stage.
#   CONTAINER  the binary (default $KIT/build/$STAGE)
#   ROOTFS     the root filesystem it uses by default (default $KIT/build/rootfs)
#
# Every test runs one container at a time, bounded in time, and teardown checks
# that the host is as setup found it: same hostname, same mount table, no
# minidocker-* cgroup of the tests' PID namespace, no process left in a UTS namespace made during the test.
#
# Commands stay portable (bash, coreutils or busybox, /proc) so the same files
# run inside a minimal busybox VM.

bats_require_minimum_version 1.5.0

# bats-support and bats-assert, as bats_load_library finds them (in
# BATS_LIB_PATH), but their files sourced here: their load.bash finds each
# file with $(dirname ...), a subshell apiece, and this file is read again
# for every test; that is some fifteen forks a test, 100 ms here and two
# seconds in a VM under tcg. Their files only define functions.
IFS=: read -r -a bats_lib_dirs <<<"${BATS_LIB_PATH:-/usr/lib/bats}"
for bats_lib in bats-support bats-assert; do
    for bats_lib_dir in "${bats_lib_dirs[@]}" ''; do
        if [[ -z $bats_lib_dir ]]; then
            bats_load_library "$bats_lib" # not found: let bats say so
        elif [[ -f $bats_lib_dir/$bats_lib/load.bash ]]; then
            for bats_lib_file in "$bats_lib_dir/$bats_lib"/src/*.bash; do
                # shellcheck source=/dev/null
                source "$bats_lib_file"
            done
            break
        fi
    done
done
unset bats_lib bats_lib_dir bats_lib_dirs bats_lib_file

# bats gives the test file's directory as an absolute path: no cd, no fork.
KIT=${BATS_TEST_DIRNAME%/tests}
[[ $KIT == /* && -d $KIT/lib ]] || KIT=$(cd -P "$BATS_TEST_DIRNAME/.." && pwd)
# The stage list, stage names, the cgroup layout and root: lib/kit.bash.
# shellcheck source=lib/kit.bash
. "$KIT/lib/kit.bash"

if [[ -z ${STAGE:-} ]]; then
    STAGE=${BATS_TEST_FILENAME##*/}
    STAGE=${STAGE%.bats}
fi
# STAGE=3, STAGE=03 and STAGE=03-mountns-proc all name 03-mountns-proc.
# (A loop, not $(stage_name ...): this runs for every test, and forks cost.)
for known_stage in "${STAGES[@]}"; do
    if [[ $STAGE == "$known_stage" || $STAGE == "${known_stage%%-*}" || 0$STAGE == "${known_stage%%-*}" ]]; then
        STAGE=$known_stage
    fi
done
unset known_stage
STAGE_NUM=${STAGE%%-*}
CONTAINER=${CONTAINER:-$KIT/build/$STAGE}
ROOTFS=${ROOTFS:-$KIT/build/rootfs}

# Computed once per file (this runs for every test) and kept in the file's
# own temporary directory:
#   TEST_PIDNS         the PID namespace of the tests (lib's pidns). A
#                      runtime started by a test names its cgroup
#                      minidocker-TEST_PIDNS-<its pid>, and the tests look at
#                      those cgroups only: a suite run in another PID
#                      namespace (two gradings side by side) is not theirs
#                      to see or remove.
#   PIDS_CGROUP_ROOT   lib's cgroup_root pids: where those cgroups are made
#                      (/sys/fs/cgroup/pids on v1 and hybrid, /sys/fs/cgroup
#                      on v2), empty if the machine has no pids controller.
if [[ -n ${BATS_FILE_TMPDIR:-} && -r $BATS_FILE_TMPDIR/.kit-cache ]]; then
    read -r TEST_PIDNS PIDS_CGROUP_ROOT <"$BATS_FILE_TMPDIR/.kit-cache"
else
    TEST_PIDNS=$(pidns)
    PIDS_CGROUP_ROOT=$(cgroup_root pids)
    PIDS_CGROUP_ROOT=${PIDS_CGROUP_ROOT:--}
    [[ -z ${BATS_FILE_TMPDIR:-} ]] ||
        echo "$TEST_PIDNS $PIDS_CGROUP_ROOT" >"$BATS_FILE_TMPDIR/.kit-cache"
fi
[[ $PIDS_CGROUP_ROOT != - ]] || PIDS_CGROUP_ROOT=

# How long one container may run before timeout(1) stops it (seconds).
CONTAINER_TIMEOUT=${CONTAINER_TIMEOUT:-30}
# How long a test waits for a container to start, print or join its cgroup
# before it fails (seconds). make grade makes it short: a starter's failing
# checks wait this long for what never comes.
WAIT_TIMEOUT=${WAIT_TIMEOUT:-10}

# From 04-chroot on, the container runs in the rootfs (and CMD is looked up
# there), so the tests' commands are busybox applets: sh, cat, ls, hostname...
stage_has_rootfs() { ((10#$STAGE_NUM >= 4)); }
# From stage 09 on, each run lays a veth pair, with addresses and a route.
stage_has_veth() { ((10#$STAGE_NUM >= 9)); }

#-----------------------------------------------------------------------------
# Guards: `requires root pids_cgroup` skips the test, with the reason, when
# the machine lacks something. (Under CI=true, tests/run fails on any skip.)

requires() {
    local need
    for need in "$@"; do
        case $need in
            root)
                ((EUID == 0)) || skip "needs root (run as root, e.g. with sudo)"
                ;;
            pids_cgroup)
                [[ -n $(pids_cgroup_root) ]] || skip "needs the pids cgroup controller (v1 /sys/fs/cgroup/pids or v2 with pids)"
                ;;
            rootfs)
                [[ -d $ROOTFS ]] || skip "needs $ROOTFS (build it with: make rootfs)"
                ;;
            memory_cgroup)
                [[ -n $(cgroup_root memory) ]] || skip "needs the memory cgroup controller (v1 /sys/fs/cgroup/memory or v2 with memory)"
                ;;
            setpriv)
                command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
                ;;
            unshare)
                command -v unshare >/dev/null || skip "needs unshare (util-linux)"
                ;;
            *)
                fail "requires: unknown requirement '$need'"
                ;;
        esac
    done
}

#-----------------------------------------------------------------------------
# Running the binary under test.

# container ARGS...: the binary under test, e.g. `run container run hostname`.
# Bounded in time; fd 3 (bats' own output) is closed so nothing the container
# leaves behind can hold bats open.
container() {
    timeout -k 5 "$CONTAINER_TIMEOUT" "$CONTAINER" "$@" 3>&-
}

# container_as_nobody ARGS...: the same, as user and group 65534 with no groups.
container_as_nobody() {
    timeout -k 5 "$CONTAINER_TIMEOUT" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$CONTAINER" "$@" 3>&-
}

# container_bg ARGS...: start the container in the background. Its stdout and
# stderr go to $BG_OUT and $BG_ERR. Its stdin is a fifo that the test holds
# open, so a container that runs `read line` waits there until the test has
# looked at it from the host and calls release_container (wait_container
# does). Sets RUNTIME_PID, the runtime's pid (the child of timeout(1)), or
# leaves it empty if the runtime ended at once.
container_bg() {
    BG_OUT=$BATS_TEST_TMPDIR/container.out
    BG_ERR=$BATS_TEST_TMPDIR/container.err
    BG_IN=$BATS_TEST_TMPDIR/container.in
    : >"$BG_OUT"
    : >"$BG_ERR"
    rm -f "$BG_IN"
    mkfifo "$BG_IN"
    # Read-write: opening does not block, and a write never raises SIGPIPE.
    exec {BG_IN_FD}<>"$BG_IN"
    (
        # A background job of a non-interactive shell starts with SIGINT and
        # SIGQUIT ignored; restore them, as a terminal would have them.
        trap - INT QUIT
        # Only the test keeps the fifo's write end, so closing it means EOF.
        exec timeout -k 5 "$CONTAINER_TIMEOUT" "$CONTAINER" "$@" \
            <"$BG_IN" >"$BG_OUT" 2>"$BG_ERR" 3>&- {BG_IN_FD}>&-
    ) &
    TIMEOUT_PID=$!
    BG_TIMEOUT_PIDS+=("$TIMEOUT_PID")
    RUNTIME_PID=
    local deadline=$((SECONDS + WAIT_TIMEOUT))
    while [[ -z $RUNTIME_PID ]] && ((SECONDS < deadline)); do
        RUNTIME_PID=$(children_of "$TIMEOUT_PID")
        RUNTIME_PID=${RUNTIME_PID%% *}
        [[ -n $RUNTIME_PID ]] || kill -0 "$TIMEOUT_PID" 2>/dev/null || break
        [[ -n $RUNTIME_PID ]] || sleep 0.02
    done
}

# tell_container LINE: give the container_bg container LINE on its stdin.
tell_container() {
    echo "$1" >&"$BG_IN_FD"
}

# release_container: give the container_bg container an empty line on its
# stdin, then end its stdin.
release_container() {
    if [[ -n ${BG_IN_FD:-} ]]; then
        echo >&"$BG_IN_FD"
        exec {BG_IN_FD}>&-
        BG_IN_FD=
    fi
}

# wait_container: release the container_bg container and wait for it to end;
# sets status, output (its stdout) and stderr as `run --separate-stderr` does.
wait_container() {
    release_container
    status=0
    wait "$TIMEOUT_PID" || status=$?
    output=$(cat "$BG_OUT")
    stderr=$(cat "$BG_ERR")
    # lines and stderr_lines, as bats' run sets them, for bats-assert.
    # shellcheck disable=SC2034
    {
        lines=() stderr_lines=()
        [[ -z $output ]] || mapfile -t lines <<<"$output"
        [[ -z $stderr ]] || mapfile -t stderr_lines <<<"$stderr"
    }
}

# container_is_running: the container_bg runtime has not ended yet.
container_is_running() {
    [[ -n ${RUNTIME_PID:-} ]] && kill -0 "$RUNTIME_PID" 2>/dev/null
}

# wait_for_output LINE: wait (WAIT_TIMEOUT s at most) until the container_bg container
# has printed LINE on stdout; fail, showing what it printed, if it does not.
wait_for_output() {
    local deadline=$((SECONDS + WAIT_TIMEOUT))
    until grep -qxF -- "$1" "$BG_OUT" 2>/dev/null; do
        if ! kill -0 "$TIMEOUT_PID" 2>/dev/null; then
            grep -qxF -- "$1" "$BG_OUT" 2>/dev/null && return 0
            wait_container
            fail "the container ended (exit status $status) before printing '$1'
stdout: $output
stderr: $stderr"
        fi
        if ((SECONDS >= deadline)); then
            fail "the container did not print '$1' within $WAIT_TIMEOUT s
stdout: $(cat "$BG_OUT")
stderr: $(cat "$BG_ERR")"
        fi
        sleep 0.02
    done
}

# children_of PID: the pids of PID's children, from /proc.
children_of() {
    local stat_file stat rest state ppid children=() task_children some
    if [[ -e /proc/$1/task/$1/children ]]; then
        for task_children in /proc/"$1"/task/*/children; do
            some=()
            read -r -a some 2>/dev/null <"$task_children" || true
            children+=("${some[@]}")
        done
        echo "${children[*]}"
        return 0
    fi
    # Kernels without CONFIG_PROC_CHILDREN: scan every process's parent.
    for stat_file in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$stat_file" || continue
        rest=${stat##*) } # the command name may hold spaces and ')'
        read -r state ppid _ <<<"$rest"
        [[ $ppid == "$1" && $state != Z ]] || continue
        stat_file=${stat_file#/proc/}
        children+=("${stat_file%/stat}")
    done
    echo "${children[*]}"
}

# first_process: the container's first process (the runtime's child), as the
# host sees it; waits up to WAIT_TIMEOUT s for it to appear.
first_process() {
    local deadline=$((SECONDS + WAIT_TIMEOUT)) child
    while ((SECONDS < deadline)); do
        child=$(children_of "$RUNTIME_PID")
        if [[ -n $child ]]; then
            echo "${child%% *}"
            return 0
        fi
        container_is_running || break
        sleep 0.02
    done
    fail "the runtime (pid ${RUNTIME_PID:-none}) has no child process"
}

#-----------------------------------------------------------------------------
# Assertions shared by several stages.

# assert_misuse WORD: after `run --separate-stderr`, the stage rejected its
# arguments as chroot(1) does: exit 125, nothing on stdout, a message on
# stderr that contains WORD (if given), and last the line
# "Try '<argv0> --help' for more information."
assert_misuse() {
    assert_equal "$status" 125
    assert_equal "$output" ""
    [[ ${#stderr_lines[@]} -ge 2 ]] ||
        fail "expected a message and a Try line on stderr, got: '$stderr'"
    if [[ -n ${1:-} && $stderr != *"$1"* ]]; then
        fail "the message on stderr does not name '$1': $stderr"
    fi
    assert_equal "${stderr_lines[-1]}" "Try '$CONTAINER --help' for more information."
}

# mount_entry MOUNTINFO MOUNTPOINT: "FSTYPE OPTIONS" of the topmost mount on
# MOUNTPOINT in the text of a /proc/PID/mountinfo; fails if there is none.
mount_entry() {
    local line mount_point mount_options fstype found=
    while IFS= read -r line; do
        read -r _ _ _ _ mount_point mount_options _ <<<"$line"
        [[ $mount_point == "$2" ]] || continue
        fstype=${line#* - }
        found="${fstype%% *} $mount_options"
    done <<<"$1"
    [[ -n $found ]] && echo "$found"
}

# mounts_under DIR: lines of the host's mount table for mount points in DIR.
mounts_under() {
    local line mount_point dir
    dir=$(cd -P "$1" && pwd)
    while IFS= read -r line; do
        read -r _ _ _ _ mount_point _ <<<"$line"
        [[ $mount_point == "$dir" || $mount_point == "$dir"/* ]] && echo "$line"
    done </proc/self/mountinfo
    return 0
}

# netdev_names: the interface names of a /proc/net/dev on stdin, sorted.
netdev_names() {
    sed -n 's/^ *\([^ :]*\):.*/\1/p' | sort
}

# assert_host_netdev: the container's /proc/net/dev lists exactly the host's
# interfaces (the lesson of every stage without a network namespace).
assert_host_netdev() {
    run container run cat /proc/net/dev
    assert_success
    local inside
    inside=$(netdev_names <<<"$output")
    [[ -n $inside ]] || fail "no interfaces in the container's /proc/net/dev: $output"
    assert_equal "$inside" "$(netdev_names </proc/net/dev)"
}

# assert_root_is_root: the container's uid_map maps its 0 to the host's 0,
# all of them (the lesson of every stage without a user namespace).
assert_root_is_root() {
    run container run cat /proc/self/uid_map
    assert_success
    local inside outside count
    read -r inside outside count <<<"$output"
    assert_equal "$inside $outside $count" "0 0 4294967295"
}

# host_marker DIR: make a file with unique contents in the host's DIR (removed
# in teardown); sets MARKER (its path) and MARKER_TEXT (its contents).
host_marker() {
    MARKER=$(mktemp "$1/minidocker-test-marker.XXXXXX")
    HOST_MARKERS+=("$MARKER")
    MARKER_TEXT="host secret ${MARKER##*.}"
    echo "$MARKER_TEXT" >"$MARKER"
}

#-----------------------------------------------------------------------------
# cgroups.

# pids_cgroup_root: where per-container pids cgroups are made:
# /sys/fs/cgroup/pids (v1 or hybrid) or /sys/fs/cgroup (v2); empty if neither.
pids_cgroup_root() {
    [[ -z $PIDS_CGROUP_ROOT ]] || echo "$PIDS_CGROUP_ROOT"
}

# runtime_cgroup PID: the pids cgroup that the runtime PID (started by this
# test, in the tests' PID namespace) makes for its container.
runtime_cgroup() {
    echo "$PIDS_CGROUP_ROOT/minidocker-$TEST_PIDNS-$1"
}

# pids_cgroup_line CGROUP_FILE_TEXT: the line of a /proc/PID/cgroup that
# names the process's pids cgroup ("N:pids:/path" on v1, "0::/path" on v2).
pids_cgroup_line() {
    local line
    while IFS= read -r line; do
        if [[ $PIDS_CGROUP_ROOT == /sys/fs/cgroup/pids ]]; then
            [[ $line =~ ^[0-9]+:([^:]*,)?pids(,[^:]*)?: ]] && echo "$line"
        else
            [[ $line == 0::* ]] && echo "$line"
        fi
    done <<<"$1"
    return 0
}

# own_cgroups: every minidocker-* cgroup made by a runtime of the tests' PID
# namespace (lib's minidocker_cgroups TEST_PIDNS), one per line.
own_cgroups() {
    find_own_cgroups
    if ((${#OWN_CGROUPS[@]})); then
        printf '%s\n' "${OWN_CGROUPS[@]}"
    fi
}

# find_own_cgroups [ROOT]: the same into the array OWN_CGROUPS, without a
# fork (forks are what make a test slow): up to three levels under
# /sys/fs/cgroup, like lib's minidocker_cgroups; with ROOT, only those right
# under it (e.g. PIDS_CGROUP_ROOT: one a run, where v1 has a memory cgroup
# too from stage 07 on).
find_own_cgroups() {
    local cgroup name=minidocker-$TEST_PIDNS- places
    places=(/sys/fs/cgroup/"$name"* /sys/fs/cgroup/*/"$name"* /sys/fs/cgroup/*/*/"$name"*)
    [[ -z ${1:-} ]] || places=("$1/$name"*)
    OWN_CGROUPS=()
    for cgroup in "${places[@]}"; do
        [[ -d $cgroup ]] && OWN_CGROUPS+=("$cgroup")
    done
    return 0
}

# verified_pids_cgroup LIMIT: wait (WAIT_TIMEOUT s at most) until the container_bg
# container sits in a pids cgroup that will hold it: exactly one minidocker-*
# directory of the tests' PID namespace (own_cgroups), whose pids.max reads back as a number <= LIMIT and whose
# cgroup.procs holds the container's first process. Prints the directory;
# prints why not on stderr and fails otherwise.
verified_pids_cgroup() {
    local limit=$1 deadline=$((SECONDS + WAIT_TIMEOUT)) why='' first='' cgroups pids_max
    while ((SECONDS < deadline)); do
        [[ -n $first || -z ${RUNTIME_PID:-} ]] || first=$(children_of "$RUNTIME_PID")
        first=${first%% *}
        find_own_cgroups "$PIDS_CGROUP_ROOT"
        cgroups=("${OWN_CGROUPS[@]}")
        if ! container_is_running; then
            why="the runtime ended before its container was in a pids cgroup"
            break
        elif [[ ${#cgroups[@]} -ne 1 ]]; then
            why="expected one minidocker-* pids cgroup, found ${#cgroups[@]}: ${cgroups[*]}"
        elif ! pids_max=$(cat "${cgroups[0]}/pids.max" 2>/dev/null); then
            why="${cgroups[0]}/pids.max cannot be read"
        elif ! [[ $pids_max =~ ^[0-9]+$ && $pids_max -le $limit ]]; then
            why="${cgroups[0]}/pids.max is '$pids_max', not a number <= $limit"
        elif [[ -z $first ]]; then
            why="the runtime has no child process"
        elif ! grep -qx -- "$first" "${cgroups[0]}/cgroup.procs" 2>/dev/null; then
            why="the container's first process $first is not in ${cgroups[0]}/cgroup.procs"
        else
            echo "${cgroups[0]}"
            return 0
        fi
        sleep 0.05
    done
    echo "no verified pids cgroup: $why" >&2
    return 1
}

# run_guarded_fork_bomb LIMIT: run a fork bomb in a container started with
# --pids-max LIMIT, but arm it only once the host has checked that the
# container really is in a pids cgroup limited to LIMIT or less. The bomb
# waits on its stdin: "go" arms it, anything else makes it exit 99. While it
# runs, checks from the host that pids.current never exceeds pids.max, that
# pids.events counts refused forks, and that the host can still start a
# process; then ends it: the container's PID 1, back in `read line`, returns,
# and its end kills every process of its PID namespace. Bounded: timeout(1)
# stops the runtime after 20 s whatever happens.
run_guarded_fork_bomb() {
    local limit=$1 cgroup sample pids_max host_status='' events=''
    local samples=() over=() all_events=()
    # shellcheck disable=SC2016 # the script is for the container's sh
    CONTAINER_TIMEOUT=20 container_bg run --pids-max "$limit" \
        sh -c 'read go; [ "$go" = go ] || exit 99; bomb() { bomb | bomb & }; bomb; read line'
    if ! cgroup=$(verified_pids_cgroup "$limit"); then
        tell_container no
        wait_container
        fail "the fork bomb was not armed: the container is not in a verified pids cgroup (exit status $status)
stderr: $stderr"
    fi
    pids_max=$(cat "$cgroup/pids.max")
    tell_container go

    # Six samples at least, and on until a refused fork shows (10 s at most).
    local deadline=$((SECONDS + 10))
    until [[ ${#samples[@]} -ge 6 && $events =~ max\ [1-9] ]] || ((SECONDS >= deadline)); do
        sleep 0.1
        sample=$(cat "$cgroup/pids.current" 2>/dev/null) || break
        samples+=("$sample")
        ((sample <= pids_max)) || over+=("$sample")
        if events=$(cat "$cgroup/pids.events" 2>/dev/null); then
            all_events+=("${events//$'\n'/, }")
        fi
        if [[ -z $host_status ]]; then
            host_status=0
            timeout 5 /bin/true || host_status=$?
        fi
    done
    wait_container

    echo "pids.max $pids_max; pids.current samples: ${samples[*]}; pids.events: ${all_events[*]}"
    [[ ${#samples[@]} -ge 6 ]] ||
        fail "the fork bomb's cgroup went away early (${#samples[@]} samples); stderr: $(head -n 5 "$BG_ERR")"
    [[ ${#over[@]} -eq 0 ]] ||
        fail "pids.current exceeded pids.max $pids_max: ${over[*]}"
    [[ " ${all_events[*]} " =~ max\ ([1-9][0-9]*) ]] ||
        fail "pids.events shows no refused fork: ${all_events[*]}"
    [[ $host_status == 0 ]] ||
        fail "the host could not start /bin/true during the fork bomb (status $host_status)"
    [[ $status == 0 ]] ||
        fail "the fork bomb's container did not end with status 0 but $status"
}

#-----------------------------------------------------------------------------
# setup and teardown: the host as it was.

# snapshot_host: what check_host_restored compares against. Call it from setup.
snapshot_host() {
    HOST_SNAPSHOT=
    [[ -x $CONTAINER ]] || fail "$CONTAINER is not built (run: make)"
    if stage_has_rootfs; then
        requires rootfs
    fi
    if stage_has_veth && ! in_own_network; then
        fail "$STAGE makes a veth pair, addresses and a route each run: test it with tests/run, which gives the suite a network namespace of its own, never in the machine's"
    fi
    # read, not cat: a fork costs more than all of this put together.
    read -r HOST_HOSTNAME </proc/sys/kernel/hostname
    IFS= read -r -d '' HOST_MOUNTINFO </proc/self/mountinfo || true
    HOST_MOUNTINFO=${HOST_MOUNTINFO%$'\n'} # as $(cat ...) would give it
    host_interfaces HOST_INTERFACES
    # Usually every process shares the test's own UTS namespace, and then
    # there is nothing to list. If not (other containers on the machine),
    # the namespaces there are now are the host's.
    HOST_UTS_NAMESPACES=' '
    if other_uts_processes; then
        uts_namespace_of_each_process | awk '!seen[$2]++ { printf " %s", $2 } END { print "" }' \
            >"$BATS_TEST_TMPDIR/host-uts-namespaces"
        read -r HOST_UTS_NAMESPACES <"$BATS_TEST_TMPDIR/host-uts-namespaces"
        HOST_UTS_NAMESPACES=" $HOST_UTS_NAMESPACES "
    fi
    HOST_MARKERS=()
    BG_TIMEOUT_PIDS=()
    # An earlier run killed by SIGKILL may have left empty cgroups: remove them
    # (rmdir fails on a cgroup that still holds processes, which then counts).
    # Only the tests' own: another suite's, in another PID namespace, may be
    # in use (a new cgroup is empty for a moment).
    local cgroup
    find_own_cgroups
    for cgroup in "${OWN_CGROUPS[@]}"; do
        rmdir "$cgroup" 2>/dev/null || true
    done
    HOST_SNAPSHOT=taken
}

# host_interfaces VAR: the names of the host's network interfaces into VAR,
# on one line, as this process's /proc/net/dev lists them (the suite's own
# network namespace: tests/run). Read by bash itself: no fork.
host_interfaces() {
    local line names=()
    while IFS= read -r line; do
        [[ ! $line =~ ^\ *([^:\ ]+): ]] || names+=("${BASH_REMATCH[1]}")
    done </proc/net/dev
    printf -v "$1" '%s' "${names[*]}"
}

# other_uts_processes: succeeds if some process is in a UTS namespace other
# than this shell's. No fork: [[ -ef ]] compares the namespace files' inodes,
# so the common case, every process in one namespace, costs no program.
other_uts_processes() {
    local uts_link
    for uts_link in /proc/[0-9]*/ns/uts; do
        # (A process that ended meanwhile is no other namespace.)
        [[ $uts_link -ef /proc/self/ns/uts || ! -e $uts_link ]] || return 0
    done
    return 1
}

# uts_namespace_of_each_process: "PID uts:[INODE]", one line per process.
# (One ls for all of them: a readlink per process would be slow.)
uts_namespace_of_each_process() {
    # shellcheck disable=SC2012 # ls -l shows each link's target; busybox find has no -printf
    ls -l /proc/[0-9]*/ns/uts 2>/dev/null | awk '
    match($0, / \/proc\/[0-9]+\/ns\/uts -> uts:\[[0-9]+\]$/) {
      split(substr($0, RSTART + 1), field, "[/ ]")   # "" proc PID ns uts -> uts:[N]
      print field[3], field[7]
    }'
}

# stray_processes: "PID COMMAND NAMESPACE" of each process in a UTS namespace
# that did not exist at setup: a container process still alive.
stray_processes() {
    other_uts_processes || return 0
    # The test's own namespace is the host's too: that of $$, the test's
    # shell, alive all through. ($BASHPID here would be the awk's own pid,
    # which the ls on the left of the pipe may list before it is forked, or
    # not: then no namespace is the host's, and every process a stray.)
    uts_namespace_of_each_process | awk -v known="$HOST_UTS_NAMESPACES" -v self="$$" '
    { pid[NR] = $1; namespace[NR] = $2 }
    $1 == self { known = known " " $2 " " }
    END {
      for (i = 1; i <= NR; i++) {
        if (index(known, " " namespace[i] " ")) continue
        comm = "?"; getline comm <("/proc/" pid[i] "/comm"); close("/proc/" pid[i] "/comm")
        print pid[i], comm, namespace[i]
      }
    }'
}

# find_strays: stray_processes into STRAYS, looking twice if need be: a
# process the kernel is still tearing down is not a leftover.
find_strays() {
    stray_processes >"$BATS_TEST_TMPDIR/strays"
    if [[ -s $BATS_TEST_TMPDIR/strays ]]; then
        sleep 0.3
        stray_processes >"$BATS_TEST_TMPDIR/strays"
    fi
    STRAYS=
    IFS= read -r -d '' STRAYS <"$BATS_TEST_TMPDIR/strays" || true
    STRAYS=${STRAYS%$'\n'}
}

# kill_strays: SIGKILL the processes in STRAYS.
kill_strays() {
    local pid
    while read -r pid _; do
        [[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true
    done <<<"$STRAYS"
    return 0
}

# assert_no_strays: fail, naming them, if container processes are still
# alive; they are killed first so the host is restored.
assert_no_strays() {
    find_strays
    [[ -z $STRAYS ]] && return 0
    kill_strays
    fail "container processes outlived the container (now killed):
$STRAYS"
}

# check_host_restored: call it from teardown. Ends a container the test left
# running, removes the test's marker files, then fails, saying what, if
# anything was left behind; each leftover is also cleaned up so one failure
# does not cascade into the next test.
check_host_restored() {
    local problems=() pid cgroup
    # Nothing to compare with if setup skipped or failed before the snapshot.
    [[ ${HOST_SNAPSHOT:-} == taken ]] || return 0

    # A test that failed half-way may leave its container waiting on stdin:
    # release it and let the runtime clean up; kill it if it does not end.
    release_container
    local deadline=$((SECONDS + 5))
    for pid in "${BG_TIMEOUT_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            problems+=("a container started by the test was still running 5 s after its stdin closed; it was killed")
            pkill_tree "$pid"
        fi
        wait "$pid" 2>/dev/null || true
    done
    if ((${#HOST_MARKERS[@]})); then
        rm -f "${HOST_MARKERS[@]}"
    fi

    find_strays
    if [[ -n $STRAYS ]]; then
        problems+=("container processes were left running (now killed):"$'\n'"$STRAYS")
        kill_strays
    fi

    find_own_cgroups
    if ((${#OWN_CGROUPS[@]})); then
        problems+=("minidocker cgroups were left behind (now removed):$(printf '\n%s' "${OWN_CGROUPS[@]}")")
        for cgroup in "${OWN_CGROUPS[@]}"; do
            while read -r pid; do
                kill -KILL "$pid" 2>/dev/null || true
            done <"$cgroup/cgroup.procs"
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                rmdir "$cgroup" 2>/dev/null && break
                sleep 0.1
            done
        done
    fi

    local hostname_now
    read -r hostname_now </proc/sys/kernel/hostname
    if [[ $hostname_now != "$HOST_HOSTNAME" ]]; then
        problems+=("the host's hostname changed from '$HOST_HOSTNAME' to '$hostname_now' (restored)")
        [[ -z $HOST_HOSTNAME ]] || echo "$HOST_HOSTNAME" >/proc/sys/kernel/hostname
    fi

    local mountinfo_now
    IFS= read -r -d '' mountinfo_now </proc/self/mountinfo || true
    mountinfo_now=${mountinfo_now%$'\n'}
    if [[ $mountinfo_now != "$HOST_MOUNTINFO" ]]; then
        problems+=("the host's mount table changed:"$'\n'"$(diff <(echo "$HOST_MOUNTINFO") <(echo "$mountinfo_now"))")
    fi

    local interfaces_now
    host_interfaces interfaces_now
    if [[ $interfaces_now != "$HOST_INTERFACES" ]]; then
        problems+=("the host's network interfaces changed from '$HOST_INTERFACES' to '$interfaces_now'")
    fi

    if ((${#problems[@]})); then
        printf 'LEFTOVER: %s\n' "${problems[@]}" >&2
        return 1
    fi
}

# pkill_tree PID: SIGKILL PID and all its descendants, deepest first.
pkill_tree() {
    local child
    for child in $(children_of "$1"); do
        pkill_tree "$child"
    done
    kill -KILL "$1" 2>/dev/null || true
}
