#!/usr/bin/env bats
# Reliability of stage 05, the whole runtime: what happens when things go wrong.
#
#   bad input   each refused with the step that failed, the errno, and a hint
#               where a person can act; exit 125 (126, 127 for CMD)
#   signals     SIGINT, SIGTERM and SIGHUP reach the container's first
#               process; one that ignores them is killed --stop-timeout
#               seconds later, and the runtime exits 128 + the signal
#   faults      a runtime killed with SIGKILL, processes that ignore SIGTERM,
#               orphans that escaped into a session of their own
#   load        20 containers at once, 500 runs in a row
#
# After every test, teardown checks that nothing is left behind: no
# minidocker-* cgroup, the same mount table and hostname, no process in a
# UTS namespace the test made (helpers.bash). Some tests check it themselves
# too, at the moment it matters.
#
# Already covered elsewhere, against stage 05 as well (tests/run phase 1):
# no arguments, an unknown option, a missing CMD, a hostname over 64
# characters, CMD not found (127), not root (01-uts.bats); a missing rootfs
# (04-chroot.bats); --pids-max 0, -1, abc, 20x and 99999999, and the guarded
# fork bomb (05-cgroup-pids.bats).
#
#   STAGE=05 bats tests/reliability.bats
#
# shellcheck disable=SC2016 # the single-quoted scripts are for the container's sh
# shellcheck disable=SC2154 # bats' run and wait_container set status, output, stderr
# shellcheck disable=SC2030,SC2031 # each test adds to BG_TIMEOUT_PIDS for its own teardown

# The file is named for no stage: it tests 05 unless STAGE names another.
STAGE=${STAGE:-05-cgroup-pids}
load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# mini_rootfs NAME DIR...: a rootfs that holds only the empty directories
# DIR..., made in the test's own directory (so it goes with the test);
# prints its path.
mini_rootfs() {
    local rootfs=$BATS_TEST_TMPDIR/$1 dir
    shift
    mkdir -p "$rootfs"
    for dir in "$@"; do
        mkdir -p "$rootfs/$dir"
    done
    echo "$rootfs"
}

# stop_container SIGNAL: send SIGNAL to the container_bg runtime, watch it
# until it ends, then wait_container. KILL_MS is the time from the signal
# until the container's first process was gone (dead, or a zombie once its
# PID namespace is empty); STOP_MS until the runtime itself ended, its
# cleanup done. Polled every 10 ms without a fork (bash 5's EPOCHREALTIME,
# and read -t on a fifo that nobody writes), so the watch costs no time.
stop_container() {
    local first start stat state tick
    first=$(first_process)
    mkfifo "$BATS_TEST_TMPDIR/tick"
    exec {tick}<>"$BATS_TEST_TMPDIR/tick"
    KILL_MS=
    start=${EPOCHREALTIME/[.,]/}
    kill -"$1" "$RUNTIME_PID"
    while kill -0 "$TIMEOUT_PID" 2>/dev/null; do
        if [[ -z $KILL_MS ]]; then
            stat=
            read -r stat 2>/dev/null <"/proc/$first/stat" || true
            state=${stat##*) }
            if [[ -z $stat || ${state%% *} == Z ]]; then
                KILL_MS=$(((${EPOCHREALTIME/[.,]/} - start) / 1000))
            fi
        fi
        read -r -t 0.01 -u "$tick" || true
    done
    STOP_MS=$(((${EPOCHREALTIME/[.,]/} - start) / 1000))
    KILL_MS=${KILL_MS:-$STOP_MS}
    exec {tick}>&-
    wait_container
    echo "SIG$1 to the runtime: its container was gone $KILL_MS ms later, the runtime $STOP_MS ms later, exit status $status"
}

# assert_killed_after_grace SIGNAL SECONDS: the runtime, sent SIGNAL, killed
# its container SECONDS (--stop-timeout) later: not before, and well short of
# the next whole second; it said so as its last line, and exited 128 + SIGNAL.
assert_killed_after_grace() {
    local signal=$1 seconds=$2 number
    number=$(kill -l "$signal")
    assert_equal "$status" $((128 + number))
    # Last: the runtime says it only once the container is gone.
    assert_equal "${stderr##*$'\n'}" \
        "$STAGE: the container did not stop within $seconds s of SIG$signal; killing it"
    ((KILL_MS >= seconds * 1000)) ||
        fail "the container was gone $KILL_MS ms after SIG$signal, before the grace period of $seconds s"
    # A SIGKILL takes a millisecond on a host, more under emulation (the VMs).
    ((KILL_MS < seconds * 1000 + 900)) ||
        fail "the container was gone $KILL_MS ms after SIG$signal: not about --stop-timeout $seconds"
}

#--- bad input ------------------------------------------------------------------

@test "misuse says what is wrong: no arguments, an option without its value, a --pids-max past INT_MAX" {
    run --separate-stderr container
    assert_misuse
    assert_equal "${stderr_lines[0]}" "$STAGE: missing the command 'run'"
    # getopt(3) says it, for every option that takes a value.
    run --separate-stderr container run --stop-timeout
    assert_misuse --stop-timeout
    assert_equal "${stderr_lines[0]}" "$CONTAINER: option '--stop-timeout' requires an argument"
    # Past LONG_MAX, strtol(3) gives LONG_MAX; as an int, 2^32+1 would be 1.
    for huge in 4294967297 99999999999999999999; do
        run --separate-stderr container run --pids-max "$huge" true
        assert_misuse
        assert_equal "${stderr_lines[0]}" "$STAGE: --pids-max needs a whole number of at least 1, not '$huge'"
    done
}

@test "a bad --stop-timeout (-1, 3601, 1x, empty) is misuse naming it; 3600 is accepted" {
    requires root rootfs
    for bad in -1 3601 1x ''; do
        run --separate-stderr container run --stop-timeout "$bad" true
        assert_misuse
        assert_equal "${stderr_lines[0]}" \
            "$STAGE: --stop-timeout needs a whole number of seconds from 0 to 3600, not '$bad'"
    done
    # (0, the other end, is tested below: it kills at once.)
    run --separate-stderr container run --stop-timeout 3600 true
    assert_success
    assert_equal "$stderr" ""
}

# bats test_tags=cgroup
@test "--pids-max 4194304, the kernel's limit, runs; 4194305 fails writing pids.max with the limit as hint" {
    requires root rootfs pids_cgroup
    run --separate-stderr container run --pids-max 4194304 true
    assert_success
    run -125 --separate-stderr container run --pids-max 4194305 true
    [[ $stderr =~ ^"$STAGE: write(\""[^\"]*/minidocker-[0-9]+-[0-9]+/pids.max\",\ \"4194305\"\):\ Invalid\ argument\ \(the\ kernel\ allows\ at\ most\ 4194304\)$ ]] ||
        fail "expected '$STAGE: write(\".../minidocker-PIDNS-PID/pids.max\", \"4194305\"): Invalid argument (the kernel allows at most 4194304)', got: $stderr"
    run own_cgroups
    assert_output ""
}

@test "a rootfs that is a file, or lacks /proc or /tmp, fails at that step with a hint; one without sh runs no sh (127)" {
    requires root rootfs pids_cgroup
    file=$BATS_TEST_TMPDIR/rootfs.tar
    : >"$file"
    run -125 --separate-stderr container run --rootfs "$file" true
    assert_equal "$stderr" \
        "$STAGE: chdir(\"$file\"): Not a directory (a rootfs is a directory; build one with: make rootfs)"

    rootfs=$(mini_rootfs no-proc tmp)
    run -125 --separate-stderr container run --rootfs "$rootfs" true
    assert_equal "$stderr" \
        "$STAGE: mount(\"proc\", \"/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC): No such file or directory (the rootfs needs a /proc directory)"

    rootfs=$(mini_rootfs no-tmp proc)
    run -125 --separate-stderr container run --rootfs "$rootfs" true
    assert_equal "$stderr" \
        "$STAGE: mount(\"tmpfs\", \"/tmp\", \"tmpfs\", MS_NOSUID|MS_NODEV): No such file or directory (the rootfs needs a /tmp directory)"

    # CMD is looked up inside the rootfs, not on the host.
    rootfs=$(mini_rootfs no-sh proc tmp)
    run -127 --separate-stderr container run --rootfs "$rootfs" sh -c true
    assert_equal "$stderr" "$STAGE: execvp(\"sh\"): No such file or directory"

    # Each failed after its cgroup was made: the runtime removed it all the same.
    run own_cgroups
    assert_output ""
}

@test "a CMD without execute permission, or a directory, exits 126 naming execvp and the errno" {
    requires root rootfs
    run -126 --separate-stderr container run /etc/passwd
    assert_equal "$stderr" "$STAGE: execvp(\"/etc/passwd\"): Permission denied"
    run -126 --separate-stderr container run /bin
    assert_equal "$stderr" "$STAGE: execvp(\"/bin\"): Permission denied"
}

# bats test_tags=cgroup
@test "a cgroup that cannot be made (read-only cgroup filesystem) fails naming mkdir and EROFS, leaving nothing" {
    requires root rootfs pids_cgroup unshare
    root=$(pids_cgroup_root)
    # In a mount namespace of its own, private so the host sees none of it,
    # the pids hierarchy is bind-mounted read-only over itself. On cgroup v2
    # the runtime first enables pids in the root's cgroup.subtree_control,
    # so that one file is bound writable again, and mkdir is what fails.
    script='mount -o bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99
    if [ -f "$1/cgroup.subtree_control" ]; then
      mount -o bind "$1/cgroup.subtree_control" "$1/cgroup.subtree_control" &&
        mount -o remount,bind,rw "$1/cgroup.subtree_control" || exit 98
    fi
    shift
    exec "$@"'
    run -125 --separate-stderr timeout -k 5 "$CONTAINER_TIMEOUT" \
        unshare --mount --propagation private sh -c "$script" sh "$root" "$CONTAINER" run true 3>&-
    [[ $stderr =~ ^"$STAGE: mkdir(\"$root/minidocker-"[0-9]+-[0-9]+"\"): Read-only file system (/sys/fs/cgroup is mounted read-only: in a container, run it privileged)"$ ]] ||
        fail "expected '$STAGE: mkdir(\"$root/minidocker-PIDNS-PID\"): Read-only file system (/sys/fs/cgroup is mounted read-only: ...)', got: $stderr"
    run own_cgroups
    assert_output ""
}

#--- signals --------------------------------------------------------------------
# A PID 1 ignores every signal it has no handler for (pid_namespaces(7)), so a
# container shows it got one by trapping it. sh runs a trap between commands:
# the busy loop keeps it there. A PID 1 cannot die of a forwarded SIGINT,
# SIGTERM or SIGHUP, so 128+N comes from the grace-period kill below (and
# from a SIGKILL, tested in 01-uts.bats).

@test "SIGINT, SIGTERM and SIGHUP to the runtime each reach the container, which goes on until it exits" {
    requires root rootfs
    container_bg run --stop-timeout 60 sh -c '
    trap "echo got INT" INT
    trap "echo got TERM" TERM
    trap "echo got HUP; exit 9" HUP
    echo ready
    while :; do :; done'
    wait_for_output ready
    kill -INT "$RUNTIME_PID"
    wait_for_output "got INT"
    kill -TERM "$RUNTIME_PID"
    wait_for_output "got TERM"
    kill -HUP "$RUNTIME_PID"
    wait_container
    assert_equal "$status" 9
    assert_equal "$output" $'ready\ngot INT\ngot TERM\ngot HUP'
    assert_equal "$stderr" ""
}

#--- the grace period: --stop-timeout -------------------------------------------

@test "a PID 1 that ignores SIGINT is killed after --stop-timeout 1, with a message and status 130" {
    requires root rootfs
    # sleep has no handler for SIGINT, so as PID 1 it never sees one. (Not sh:
    # busybox sh catches SIGINT, and exits 130 by itself.)
    container_bg run --stop-timeout 1 sh -c 'echo ready; exec sleep 300'
    wait_for_output ready
    stop_container INT
    assert_killed_after_grace INT 1
    assert_equal "${#stderr_lines[@]}" 1 # and nothing else
}

@test "a container whose processes all ignore SIGTERM is killed after the grace period, status 143, all gone" {
    requires root rootfs pids_cgroup
    # trap '' is inherited: the sleeps ignore SIGTERM too.
    container_bg run --stop-timeout 1 sh -c '
    trap "" TERM
    sleep 300 & sleep 301 &
    echo ready
    while :; do sleep 1; done'
    wait_for_output ready
    cgroup=$(runtime_cgroup "$RUNTIME_PID")
    run cat "$cgroup/pids.current"
    ((output >= 3)) || fail "expected sh and its two sleeps in $cgroup, found $output processes"
    stop_container TERM
    assert_killed_after_grace TERM 1
    assert_no_strays
    [[ ! -e $cgroup ]] || fail "$cgroup is still there after the container was killed"
}

@test "a fork bomb that ignores SIGHUP is killed after the grace period, status 129" {
    requires root rootfs pids_cgroup
    # As run_guarded_fork_bomb does: armed ("go") only once the host has read
    # back a pids.max of 10 or less. PID 1 then spins without forking, since
    # no fork can succeed.
    container_bg run --pids-max 10 --stop-timeout 1 sh -c '
    read go; [ "$go" = go ] || exit 99
    bomb() { bomb | bomb & }; bomb
    while :; do :; done'
    if ! cgroup=$(verified_pids_cgroup 10); then
        tell_container no
        wait_container
        fail "the fork bomb was not armed (exit status $status): $stderr"
    fi
    tell_container go
    deadline=$((SECONDS + 10))
    until [[ $(cat "$cgroup/pids.events" 2>/dev/null) =~ max\ [1-9] ]]; do
        ((SECONDS < deadline)) || fail "pids.events shows no refused fork within 10 s"
        sleep 0.05
    done
    stop_container HUP
    assert_killed_after_grace HUP 1
    [[ ! -e $cgroup ]] || fail "$cgroup is still there after the container was killed"
}

@test "--stop-timeout 0 kills at the first signal, without waiting" {
    requires root rootfs
    container_bg run --stop-timeout 0 sh -c 'echo ready; exec sleep 300'
    wait_for_output ready
    stop_container TERM
    assert_equal "$status" 143
    assert_equal "$stderr" "$STAGE: the container did not stop within 0 s of SIGTERM; killing it"
    ((KILL_MS < 900)) || fail "the container was gone $KILL_MS ms after SIGTERM, with --stop-timeout 0"
}

#--- faults ---------------------------------------------------------------------

# bats test_tags=cgroup
@test "a runtime killed with SIGKILL takes its container with it, and the cgroup it left is found as stale" {
    requires root rootfs pids_cgroup
    container_bg run sh -c 'sleep 300 & echo ready; read line'
    wait_for_output ready
    cgroup=$(runtime_cgroup "$RUNTIME_PID")
    [[ -d $cgroup ]] || fail "no cgroup $cgroup; minidocker cgroups: $(minidocker_cgroups)"
    kill -KILL "$RUNTIME_PID"
    # Not wait_container: its newline on stdin would end the container's
    # `read line`, and the test must see whether the container ends without it.
    status=0
    wait "$TIMEOUT_PID" || status=$?
    assert_equal "$status" 137
    # PR_SET_PDEATHSIG: the first process got SIGKILL when the runtime died,
    # and the rest of its PID namespace went with it.
    assert_no_strays
    # The runtime could not remove its cgroups (the pids one, and from stage
    # 07 on v1 one in the memory tree too), but they are empty.
    [[ -d $cgroup ]] || fail "a runtime killed with SIGKILL was expected to leave $cgroup"
    find_own_cgroups
    left=()
    for each in "${OWN_CGROUPS[@]}"; do
        [[ $each != */minidocker-$TEST_PIDNS-$RUNTIME_PID ]] || left+=("$each")
    done
    for each in "${left[@]}"; do
        run cat "$each/cgroup.procs"
        assert_output ""
    done
    # make clean and make doctor find them with lib/kit.bash's stale_cgroups:
    # empty, and their runtime is gone. An empty one whose runtime lives (as a
    # new cgroup is for a moment; here one named for this shell) is not stale.
    live=${cgroup%/*}/minidocker-$(pidns)-$BASHPID
    mkdir "$live"
    run stale_cgroups
    rmdir "$live"
    for each in "${left[@]}"; do
        assert_line "$each"
    done
    refute_line "$live"
    rmdir "${left[@]}"
}

# bats test_tags=cgroup
@test "orphans in a session of their own that ignore every signal are killed when CMD exits, and its status kept" {
    requires root rootfs pids_cgroup
    # Each orphan is the grandchild of PID 1 (its parent exits at once) and
    # leads a session of its own (setsid), as a daemon does.
    container_bg run sh -c '
    (trap "" HUP INT TERM QUIT USR1 USR2; setsid sleep 300 </dev/null >/dev/null 2>&1 &)
    (trap "" HUP INT TERM QUIT USR1 USR2; setsid sleep 301 </dev/null >/dev/null 2>&1 &)
    echo ready; read line; exit 7'
    wait_for_output ready
    cgroup=$(runtime_cgroup "$RUNTIME_PID")
    # sh and the two orphans, once their parents have exited.
    deadline=$((SECONDS + 10))
    until [[ $(cat "$cgroup/pids.current") == 3 ]]; do
        ((SECONDS < deadline)) || fail "expected 3 processes in $cgroup, found $(cat "$cgroup/pids.current")"
        sleep 0.05
    done
    wait_container
    assert_equal "$status" 7
    assert_no_strays
    [[ ! -e $cgroup ]] || fail "$cgroup is still there after the container ended"
}

#--- load -----------------------------------------------------------------------

# bats test_tags=cgroup
@test "20 containers at once each get their own cgroup, hostname and exit status" {
    requires root rootfs pids_cgroup
    # All read one fifo, whose write end the test holds (as container_bg does,
    # so teardown's release_container ends them if the test fails half-way).
    fifo=$BATS_TEST_TMPDIR/all.in
    mkfifo "$fifo"
    exec {BG_IN_FD}<>"$fifo"
    timeout_pids=()
    for i in {1..20}; do
        timeout -k 5 "$CONTAINER_TIMEOUT" "$CONTAINER" run --hostname "box$i" sh -c \
            'hostname; cat /proc/self/cgroup; echo ready; read line; exit "$1"' sh "$i" \
            <"$fifo" >"$BATS_TEST_TMPDIR/out$i" 2>&1 3>&- {BG_IN_FD}>&- &
        timeout_pids[i]=$!
        BG_TIMEOUT_PIDS+=("$!")
    done

    # All 20 running at once, each waiting on the fifo.
    deadline=$((SECONDS + 20))
    for i in {1..20}; do
        until grep -qx ready "$BATS_TEST_TMPDIR/out$i"; do
            ((SECONDS < deadline)) || fail "container $i did not start within 20 s: $(cat "$BATS_TEST_TMPDIR/out$i")"
            sleep 0.05
        done
    done
    find_own_cgroups "$PIDS_CGROUP_ROOT"
    assert_equal "${#OWN_CGROUPS[@]}" 20
    for i in {1..20}; do
        IFS= read -r -d '' output <"$BATS_TEST_TMPDIR/out$i" || true
        [[ $output == "box$i"$'\n'* ]] || fail "container $i's hostname is not box$i: $output"
        # Only the pids hierarchy (v1), or the one hierarchy (v2), has it,
        # named for its runtime: the child of its timeout(1). (From the
        # runtime's parent, not the parent's list of children, which the
        # kernel does not promise while processes come and go.)
        [[ $output =~ :/minidocker-$TEST_PIDNS-([0-9]+)$'\n' ]] ||
            fail "container $i is not in a minidocker-$TEST_PIDNS-* cgroup: $output"
        runtime=${BASH_REMATCH[1]}
        read -r stat <"/proc/$runtime/stat" || fail "no process $runtime, for which container $i's cgroup is named"
        read -r _ ppid _ <<<"${stat##*) }"
        assert_equal "$ppid" "${timeout_pids[i]}"
    done

    release_container
    for i in {1..20}; do
        status=0
        wait "${timeout_pids[i]}" || status=$?
        assert_equal "$status" "$i"
    done
    run own_cgroups
    assert_output ""
}

# bats test_tags=cgroup
@test "two runtimes in PID namespaces of their own, started at once, each get their own cgroup and leave nothing" {
    requires root rootfs pids_cgroup unshare
    # Both runtimes are PID 1 of their namespace: a cgroup named by the pid
    # alone would be minidocker-1 for both, and the second mkdir would fail.
    for i in 1 2; do
        timeout -k 5 "$CONTAINER_TIMEOUT" unshare --pid --fork "$CONTAINER" run sleep 2 \
            >"$BATS_TEST_TMPDIR/out$i" 2>&1 3>&- &
        unshare_pids[i]=$!
        BG_TIMEOUT_PIDS+=("$!")
    done
    # The PID namespace of each runtime (the child of unshare --fork), to find
    # its cgroups afterwards: the tests' own_cgroups cannot see them.
    namespaces=()
    for i in 1 2; do
        deadline=$((SECONDS + WAIT_TIMEOUT)) namespace=
        while [[ -z $namespace ]] && ((SECONDS < deadline)) && kill -0 "${unshare_pids[i]}" 2>/dev/null; do
            for unshare_pid in $(children_of "${unshare_pids[i]}"); do
                runtime=$(children_of "$unshare_pid")
                runtime=${runtime%% *}
                [[ -z $runtime ]] || namespace=$(readlink "/proc/$runtime/ns/pid") || true
            done
            [[ -n $namespace ]] || sleep 0.02
        done
        namespace=${namespace#pid:[}
        namespaces+=("${namespace%]}")
    done
    for i in 1 2; do
        status=0
        wait "${unshare_pids[i]}" || status=$?
        [[ $status == 0 ]] || fail "runtime $i exited $status: $(cat "$BATS_TEST_TMPDIR/out$i")"
    done
    [[ -n ${namespaces[0]} && -n ${namespaces[1]} ]] ||
        fail "a runtime was not seen running: $(cat "$BATS_TEST_TMPDIR/out1" "$BATS_TEST_TMPDIR/out2")"
    assert_no_strays
    for namespace in "${namespaces[@]}"; do
        run minidocker_cgroups "$namespace"
        assert_output ""
    done
}

# RELIABILITY_RUNS: fewer runs where a run is slow. A run takes 10 ms on a
# host but 100 ms or more in a VM under emulation (make test's VMs).
# bats test_tags=cgroup
@test "500 runs in a row (RELIABILITY_RUNS) all succeed and leave no cgroup, mount or process; CMD gets no descriptor of the runtime's" {
    requires root rootfs pids_cgroup
    runs=${RELIABILITY_RUNS:-500}
    [[ $runs =~ ^[1-9][0-9]*$ ]] || fail "RELIABILITY_RUNS must be a number of runs, not '$runs'"
    # One timeout(1) for the whole loop (one for each run would double its
    # forks), at a second a run: a bound on a hang, not a speed test.
    run timeout -k 5 $((runs + 30)) "$BASH" -c '
    for ((i = 1; i <= $1; i++)); do
      "$2" run true 3>&- || { echo "run $i of $1: exit status $?"; exit 1; }
    done' loop "$runs" "$CONTAINER"
    assert_success
    assert_output ""
    run own_cgroups
    assert_output ""
    # What CMD starts with: stdin, stdout and stderr, and ls's own directory
    # (3), nothing of the runtime's (its sync pipe is close-on-exec).
    run bash -c 'for fd in /proc/self/fd/*; do fd=${fd##*/}; ((fd > 2)) && exec {fd}>&-; done
    exec "$@"' close-fds "$CONTAINER" run ls /proc/self/fd
    assert_success
    assert_equal "${lines[*]}" "0 1 2 3"
    # The same seen from the host, while the container runs: its first
    # process, once it is CMD, holds what timeout(1) gave the runtime, not one
    # descriptor more. (busybox head opens nothing of its own; it reads a line
    # and exits.)
    container_bg run head -n 1
    first=$(first_process)
    deadline=$((SECONDS + WAIT_TIMEOUT)) comm=
    until [[ $comm == head ]] || ((SECONDS >= deadline)); do
        read -r comm <"/proc/$first/comm" || break
        [[ $comm == head ]] || sleep 0.02
    done
    assert_equal "$comm" head
    fds=(/proc/"$first"/fd/*)
    given=(/proc/"$TIMEOUT_PID"/fd/*)
    assert_equal "${fds[*]##*/}" "${given[*]##*/}"
    wait_container
    assert_success
}
