#!/usr/bin/env bats
# 07-cgroup-memory: each run's memory is held to --memory SIZE (default 64M),
# with no swap past it, by a memory cgroup: on v2 the run's one cgroup, on v1
# a second cgroup in the memory tree, /sys/fs/cgroup/memory/minidocker-<its
# PID namespace>-<runtime pid>. A process that goes over is killed by the OOM
# killer, in the container only, and the runtime says so.
#
# shellcheck disable=SC2154 # wait_container (helpers.bash) and bats' run set stderr

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# find_memory_cgroup: the memory cgroup of the running container_bg
# container, as the host sees it. Sets MEMORY_CGROUP, and the names of its
# files on this layout: LIMIT, SWAP (the swap limit: v1 memory and swap
# together, v2 swap alone), PEAK and OOM (where oom_kill is counted).
find_memory_cgroup() {
    local root
    root=$(cgroup_root memory)
    MEMORY_CGROUP=$root/minidocker-$TEST_PIDNS-$RUNTIME_PID
    if [[ $root == /sys/fs/cgroup ]]; then
        LIMIT=memory.max SWAP=memory.swap.max PEAK=memory.peak OOM=memory.events
    else
        LIMIT=memory.limit_in_bytes SWAP=memory.memsw.limit_in_bytes
        PEAK=memory.max_usage_in_bytes OOM=memory.oom_control
    fi
    [[ -d $MEMORY_CGROUP && -e $MEMORY_CGROUP/$LIMIT ]] ||
        fail "no memory cgroup $MEMORY_CGROUP with $LIMIT; minidocker cgroups: $(minidocker_cgroups)"
}

# assert_memory_limit BYTES: the running container_bg container's memory
# cgroup holds its first process, and limits it to BYTES and no swap past.
assert_memory_limit() {
    find_memory_cgroup
    run cat "$MEMORY_CGROUP/$LIMIT"
    assert_output "$1"
    if [[ -e $MEMORY_CGROUP/$SWAP ]]; then
        run cat "$MEMORY_CGROUP/$SWAP"
        if [[ $SWAP == memory.swap.max ]]; then
            assert_output 0
        else
            assert_output "$1"
        fi
    fi
    run cat "$MEMORY_CGROUP/cgroup.procs"
    assert_line "$(first_process)"
}

#--- what 07-cgroup-memory adds ------------------------------------------------

# bats test_tags=property,cgroup,id:memory-limit
@test "the container's memory is limited to --memory (64M by default) in its memory cgroup, with no swap past it" {
    requires root rootfs memory_cgroup
    container_bg run sh -c 'cat /proc/self/cgroup; echo ready; read line'
    wait_for_output ready
    assert_memory_limit 67108864
    wait_container
    assert_success
    # v1: the memory tree's line names the run's cgroup; v2: the one line does.
    [[ $output =~ (^|$'\n')[0-9]+:([^:]*,)?memory(,[^:]*)?:/minidocker-$TEST_PIDNS-$RUNTIME_PID($'\n'|$) ||
        ($(cgroup_root memory) == /sys/fs/cgroup && $output == *"0::/minidocker-$TEST_PIDNS-$RUNTIME_PID"*) ]] ||
        fail "the container's /proc/self/cgroup does not name its memory cgroup: $output"
    [[ ! -e $MEMORY_CGROUP ]] || fail "$MEMORY_CGROUP is still there after the container ended"

    # The kernel reads the suffix itself.
    container_bg run --memory 32M sh -c 'echo ready; read line'
    wait_for_output ready
    assert_memory_limit 33554432
    wait_container
    assert_success
    # And refuses what it cannot read: the run fails naming the write.
    run --separate-stderr container run --memory 12Q true
    assert_failure 125
    [[ $stderr == "$STAGE: write(\"$(cgroup_root memory)/minidocker-$TEST_PIDNS-"*"/$LIMIT\", \"12Q\"): Invalid argument (--memory takes bytes, or K, M or G of them: 64M)" ]] ||
        fail "expected the write of 12Q to $LIMIT to fail with EINVAL and the hint, got: $stderr"
}

# Mutant (tests/run phase 3): the classic race of container toys, CMD
# started before the runtime has put it in the memory cgroup (the child no
# longer waits for its go, and the runtime is a second late): what the hog
# took before the join stays charged outside, and it is not killed.
# mutant late-join: /if (read(sync_pipe\[0\], &go, 1) != 1)/,+1d;s/^\tmemory_create(opts.memory, child);/\tsleep(1);\n&/
# bats test_tags=property,cgroup,catches:late-join,id:oom-killed
@test "a hog over --memory is killed by the OOM killer, exit status 137, and the runtime says so; under it, the hog ends well" {
    requires root rootfs memory_cgroup
    run --separate-stderr container run --memory 32M hog 128M
    assert_failure 137 # SIGKILL
    assert_output ""
    assert_equal "$stderr" "$STAGE: the container hit its memory limit (32M): the OOM killer killed 1 of its processes"
    run --separate-stderr container run --memory 256M hog 128M
    assert_success
    assert_output "hog: took 128M"
    assert_equal "$stderr" ""
}

# bats test_tags=property,cgroup,id:usage-held
@test "a hog never holds more than --memory: the peak the host reads in the memory cgroup is within it" {
    requires root rootfs memory_cgroup
    # The shell, PID 1, outlives its hog, so the cgroup is still there to read.
    container_bg run --memory 32M sh -c 'hog 128M; echo "hog: $?"; echo ready; read line'
    wait_for_output ready
    find_memory_cgroup
    run cat "$MEMORY_CGROUP/$PEAK"
    assert_success
    ((output > 0 && output <= 33554432)) || fail "the cgroup's $PEAK is $output, past the limit of 32M (33554432)"
    run sed -n 's/^oom_kill //p' "$MEMORY_CGROUP/$OOM"
    assert_output 1
    wait_container
    assert_success
    assert_line "hog: 137"
    # busybox sh says its child was killed; then the runtime says by whom.
    assert_equal "$stderr" "Killed"$'\n'"$STAGE: the container hit its memory limit (32M): the OOM killer killed 1 of its processes"
    [[ ! -e $MEMORY_CGROUP ]] || fail "$MEMORY_CGROUP is still there after the container ended"
}

# bats test_tags=id:bad-memory
@test "a bad --memory (0, -1, abc, 99999999999G) is misuse naming --memory, and leaves no cgroup" {
    requires root rootfs
    for bad in 0 -1 abc 99999999999G; do
        run --separate-stderr container run --memory "$bad" true
        assert_misuse --memory
    done
    run own_cgroups
    assert_output ""
}

#--- what 07-cgroup-memory still lacks -----------------------------------------

# bats test_tags=lesson,id:host-netdev
@test "07 still leaks: the host's network interfaces are visible in /proc/net/dev" {
    requires root rootfs
    assert_host_netdev
}
