#!/usr/bin/env bats
# 05-cgroup-pids: each run gets a pids cgroup,
# minidocker-<its PID namespace>-<runtime pid>, that holds the container to
# --pids-max processes (default 20), and is removed when CMD ends.
#
# shellcheck disable=SC2154 # wait_container (helpers.bash) sets stderr

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# assert_in_pids_cgroup LIMIT: the running container_bg container is in
# its runtime_cgroup (minidocker-<pidns>-<runtime pid>) with pids.max LIMIT,
# as the host sees it. Sets CGROUP.
assert_in_pids_cgroup() {
    CGROUP=$(runtime_cgroup "$RUNTIME_PID")
    [[ -d $CGROUP ]] || fail "no cgroup $CGROUP; minidocker cgroups: $(minidocker_cgroups)"
    run cat "$CGROUP/pids.max"
    assert_output "$1"
    run cat "$CGROUP/cgroup.procs"
    assert_line "$(first_process)"
}

#--- what 05-cgroup-pids adds --------------------------------------------------

# Mutant (tests/run phase 3): the cgroup never removed.
# mutant no-cleanup: /atexit(cgroup_remove)/,+1d
# bats test_tags=property,cgroup,catches:no-cleanup,id:own-cgroup
@test "the container runs in its own minidocker cgroup with pids.max 20, removed after" {
    requires root rootfs pids_cgroup
    container_bg run sh -c 'cat /proc/self/cgroup; echo ready; read line'
    wait_for_output ready
    assert_in_pids_cgroup 20
    wait_container
    assert_success
    [[ $(pids_cgroup_line "$output") == *:/minidocker-"$TEST_PIDNS-$RUNTIME_PID" ]] ||
        fail "the container's /proc/self/cgroup does not name minidocker-$TEST_PIDNS-$RUNTIME_PID: $output"
    [[ ! -e $CGROUP ]] || fail "$CGROUP is still there after the container ended"
}

# bats test_tags=property,cgroup,id:pids-max-option
@test "the container's pids.max is --pids-max N" {
    requires root rootfs pids_cgroup
    container_bg run --pids-max 7 sh -c 'echo ready; read line'
    wait_for_output ready
    assert_in_pids_cgroup 7
    wait_container
    assert_success
    [[ ! -e $CGROUP ]] || fail "$CGROUP is still there after the container ended"
}

# bats test_tags=property,cgroup,id:leftovers-killed
@test "processes CMD leaves behind are killed and the cgroup removed when CMD ends" {
    requires root rootfs pids_cgroup
    container_bg run sh -c 'sleep 300 & sleep 300 & echo ready; read line'
    wait_for_output ready
    assert_in_pids_cgroup 20
    run cat "$CGROUP/pids.current"
    assert_output 3
    wait_container
    assert_success
    assert_no_strays
    [[ ! -e $CGROUP ]] || fail "$CGROUP is still there after the container ended"
}

# Mutant (tests/run phase 3): a cgroup emptied only by the PID namespace, so
# what joined from outside stays.
# mutant no-kill: /for (int pid; fscanf/,+1d
# bats test_tags=property,cgroup,catches:no-kill,id:joined-killed
@test "a process that joined the cgroup from outside is killed when CMD ends, and the cgroup removed" {
    requires root rootfs pids_cgroup
    # The PID namespace takes the container's own processes with it. This one
    # lives outside it: only the runtime's cleanup (cgroup.kill on v2, else a
    # SIGKILL to each process in cgroup.procs) can end it.
    container_bg run sh -c 'echo ready; read line'
    wait_for_output ready
    assert_in_pids_cgroup 20
    # shellcheck disable=SC2217 # stdin too: no descriptor of the test's may stay open in it
    sleep 300 </dev/null >/dev/null 2>&1 3>&- &
    outsider=$!
    echo "$outsider" >"$CGROUP/cgroup.procs"
    wait_container
    if kill -0 "$outsider" 2>/dev/null; then
        kill -KILL "$outsider"
        fail "the process that joined $CGROUP outlived the container (now killed); exit status $status, stderr: $stderr"
    fi
    outsider_status=0
    wait "$outsider" || outsider_status=$?
    assert_equal "$outsider_status" 137 # SIGKILL
    assert_success
    [[ ! -e $CGROUP ]] || fail "$CGROUP is still there after the container ended"
}

# bats test_tags=property,cgroup,id:forkbomb-held
@test "a fork bomb is held at --pids-max and the host keeps working" {
    requires root rootfs pids_cgroup
    run_guarded_fork_bomb 10
}

# bats test_tags=property,id:bad-pids-max
@test "a bad --pids-max (0, -1, abc, 20x) is misuse naming --pids-max" {
    requires root rootfs pids_cgroup
    run container run --pids-max 20 true
    assert_success
    for bad in 0 -1 abc 20x; do
        run --separate-stderr container run --pids-max "$bad" true
        assert_misuse --pids-max
    done
    run own_cgroups
    assert_output ""
}

# bats test_tags=property,cgroup,id:pids-max-too-big
@test "a --pids-max beyond the kernel's limit fails writing pids.max and leaves no cgroup" {
    requires root rootfs pids_cgroup
    run -125 --separate-stderr container run --pids-max 99999999 true
    [[ $stderr == "$STAGE: "*pids.max*": Invalid argument"* ]] ||
        fail "expected '$STAGE: ...pids.max...: Invalid argument', got: $stderr"
    run own_cgroups
    assert_output ""
}

#--- what 05-cgroup-pids still lacks -------------------------------------------

# bats test_tags=lesson,id:chroot-breakout
@test "05 still leaks: a root process climbs out of its chroot and reads a host file" {
    requires root rootfs
    [[ -x $ROOTFS/usr/local/bin/breakout ]] || fail "no $ROOTFS/usr/local/bin/breakout (make rootfs puts it there)"
    # /var/tmp: the container's /tmp is its own tmpfs, whatever the host has.
    host_marker /var/tmp
    run --separate-stderr container run breakout "$MARKER"
    assert_success
    assert_output "$MARKER_TEXT"
    assert_equal "$stderr" "breakout: at the top of the mount namespace; reading $MARKER"
    run ls -d /tmp/breakout.*
    assert_failure
}

# bats test_tags=lesson,id:host-netdev
@test "05 still leaks: the host's network interfaces are visible in /proc/net/dev" {
    requires root rootfs
    assert_host_netdev
}
