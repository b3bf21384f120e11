#!/usr/bin/env bats
# 02-pid: a new PID namespace, so CMD is PID 1 and its processes end with it.

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

#--- what 02-pid adds ----------------------------------------------------------

# bats test_tags=property,id:pid-1
@test "the container's CMD is PID 1 in its own PID namespace" {
    requires root
    run container run sh -c 'echo $$'
    assert_success
    assert_output 1
}

# bats test_tags=property,id:background-killed
@test "a process CMD leaves in the background does not outlive the container" {
    requires root
    # The sleep's output goes to /dev/null so it cannot hold run's pipe open.
    run container run sh -c 'sleep 300 >/dev/null 2>&1 & exit 0'
    assert_success
    assert_no_strays
}

#--- what 02-pid still lacks ---------------------------------------------------

# bats test_tags=lesson,id:host-proc
@test "02 still leaks: /proc is the host's, so readlink /proc/self is not 1 and /proc/1 is the host's init" {
    requires root
    run container run readlink /proc/self
    assert_success
    [[ $output =~ ^[0-9]+$ && $output -gt 1 ]] || fail "expected a host PID > 1, got: $output"
    run container run cat /proc/1/comm
    assert_success
    assert_output "$(cat /proc/1/comm)"
}
