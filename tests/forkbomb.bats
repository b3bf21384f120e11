#!/usr/bin/env bats
# make forkbomb (stages/forkbomb.sh): the workshop's finale. The bomb starts
# only once pids.max reads back, the live lines show the limit holding, and
# the summary line proves the aftermath.

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# bats test_tags=cgroup
@test "make forkbomb holds the bomb at PIDS_MAX, shows it live, and leaves nothing" {
    requires root rootfs pids_cgroup
    [[ -x $ROOTFS/bin/bash ]] || fail "$ROOTFS has no bash: rebuild it with make rootfs"
    run timeout 30 env PIDS_MAX=10 DURATION=2 "$KIT/stages/forkbomb.sh"
    assert_success
    assert_line --partial "pids.max reads 10. Starting the bomb for 2 s."
    assert_line --regexp '^ 1 s  pids +[0-9]+/10 \[[#.]{20}\]  refused forks +[0-9]+  host: 50 processes in [0-9]+ ms'
    assert_line --regexp '^ 2 s  pids '
    assert_line "  05-cgroup-pids: the container did not stop within 1 s of SIGTERM; killing it"
    summary=${lines[-1]}
    [[ $summary =~ ^forkbomb:\ pids.max\ 10,\ peak\ pids.current\ ([0-9]+),\ ([0-9]+)\ forks\ refused ]] ||
        fail "no summary line: $summary"
    ((BASH_REMATCH[1] <= 10)) || fail "peak pids.current ${BASH_REMATCH[1]} is above pids.max 10"
    ((BASH_REMATCH[2] > 0)) || fail "no fork was refused: $summary"
    assert_regex "$summary" 'stopped in [0-9]+ ms with status 143; 0 bomb processes left, cgroup removed;'
}

@test "make forkbomb refuses to start the bomb when the container is not in a pids cgroup" {
    requires root rootfs
    # A runtime that makes no cgroup (stage 04), whose container reports what it
    # was told instead of running a bomb: "no" is right, "go" would be a bomb.
    # shellcheck disable=SC2016 # $go is for the container's sh
    printf '#!/bin/sh\nexec %q run sh -c %q\n' "$KIT/build/04-chroot" \
        'read go; echo "told: $go"' >"$BATS_TEST_TMPDIR/no-cgroup"
    chmod +x "$BATS_TEST_TMPDIR/no-cgroup"
    run timeout 30 env RUNTIME="$BATS_TEST_TMPDIR/no-cgroup" ARM_TIMEOUT=1 "$KIT/stages/forkbomb.sh"
    assert_failure 1
    assert_line "told: no"
    assert_line --partial "forkbomb: the container is not in a pids cgroup with pids.max 20; the bomb was not started."
}

@test "make forkbomb rejects a bad PIDS_MAX or DURATION before it starts anything" {
    for bad in PIDS_MAX=0 PIDS_MAX=abc DURATION=0 DURATION=5s; do
        run env "$bad" "$KIT/stages/forkbomb.sh"
        assert_failure 1
        assert_output --partial "forkbomb: ${bad%%=*} must be a whole number"
    done
}
