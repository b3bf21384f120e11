#!/usr/bin/env bats
# make oom (stages/oom.sh): the fork bomb's twin. The hog starts only once
# the memory limit reads back from the container's cgroup, the live lines
# show it climb to the limit, and the summary line proves the aftermath: the
# hog killed (137), the OOM kill counted and said, nothing left, the host's
# memory back.
#
#   STAGE=07 bats tests/oom.bats    (tests/run passes the last stage)

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# requires_memory_cgroup: skip without the memory controller (v1
# /sys/fs/cgroup/memory, or v2 with memory in cgroup.controllers).
requires_memory_cgroup() {
    [[ -n $(cgroup_root memory) ]] ||
        skip "needs the memory cgroup controller (v1 /sys/fs/cgroup/memory or v2 with memory)"
}

# bats test_tags=cgroup
@test "make oom lets the OOM killer end the hog at MEMORY, shows it live, and leaves nothing" {
    requires root rootfs
    requires_memory_cgroup
    [[ -x $ROOTFS/usr/local/bin/hog ]] || fail "$ROOTFS has no hog: rebuild it with make all rootfs"
    run timeout 60 env MEMORY=32M DURATION=2 "$KIT/stages/oom.sh"
    assert_success
    assert_line --regexp "reads 33554432 \(32M\)\. Starting the hog: 64M, 16M a second\.$"
    assert_line --regexp '^ 1 s  memory +[0-9]+M/32M \[[#.]{20}\]  OOM kills 0  host: MemAvailable [0-9]+M \(before: [0-9]+M\)$'
    assert_line --regexp '  OOM kills 1  host: MemAvailable [0-9]+M \(before: [0-9]+M\)  hog ended: 137$'
    assert_line --regexp '^  [0-9]{2}-[a-z-]+: the container hit its memory limit \(32M\): the OOM killer killed 1 of its processes$'
    summary=${lines[-1]}
    [[ $summary =~ ^oom:\ memory\ limit\ 32M,\ peak\ usage\ ([0-9]+)M\; ]] || fail "no summary line: $summary"
    ((BASH_REMATCH[1] <= 32)) || fail "peak usage ${BASH_REMATCH[1]}M is above the limit 32M"
    assert_regex "$summary" 'the hog died with status 137 \(SIGKILL\), 1 OOM kill counted; the runtime said so and exited 137;'
    assert_regex "$summary" '; 0 processes left, cgroups removed; host MemAvailable (back: )?[0-9]+M'
}

@test "make oom refuses to start the hog when the container is not in a memory cgroup" {
    requires root rootfs
    requires_memory_cgroup
    # A runtime with no memory cgroup (stage 06), whose container reports what
    # it was told instead of running a hog: "no" is right, "go" would be a hog.
    # shellcheck disable=SC2016 # $go is for the container's sh
    printf '#!/bin/sh\nexec %q run sh -c %q\n' "$KIT/build/$(stage_name 06)" \
        'read go; echo "told: $go"' >"$BATS_TEST_TMPDIR/no-memory-cgroup"
    chmod +x "$BATS_TEST_TMPDIR/no-memory-cgroup"
    run timeout 30 env RUNTIME="$BATS_TEST_TMPDIR/no-memory-cgroup" ARM_TIMEOUT=1 "$KIT/stages/oom.sh"
    assert_failure 1
    assert_line "told: no"
    assert_line --regexp "^oom: the container is not in a memory cgroup whose memory\.(limit_in_bytes|max) reads 67108864 \(64M\); the hog was not started\.$"
    refute_output --partial "hog ended"
}

@test "make oom rejects a bad MEMORY or DURATION before it starts anything" {
    for bad in MEMORY=0 MEMORY=64 MEMORY=4M MEMORY=2G MEMORY=abc DURATION=0 DURATION=31 DURATION=5s; do
        run env "$bad" "$KIT/stages/oom.sh"
        assert_failure 1
        assert_output --partial "oom: ${bad%%=*} must be "
    done
}
