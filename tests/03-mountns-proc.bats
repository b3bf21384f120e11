#!/usr/bin/env bats
# 03-mountns-proc: a new mount namespace, made private, with a fresh /proc.

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

#--- what 03-mountns-proc adds -------------------------------------------------

# bats test_tags=property,id:fresh-proc
@test "a fresh /proc shows only the container's processes" {
    requires root
    run container run sh -c 'echo /proc/[0-9]*'
    assert_success
    assert_output /proc/1
}

# bats test_tags=property,id:proc-flags
@test "the container's /proc is mounted nosuid,nodev,noexec" {
    requires root
    run container run sh -c 'echo /proc/[0-9]*'
    assert_output /proc/1
    run container run cat /proc/self/mountinfo
    assert_success
    proc_mount=$(mount_entry "$output" /proc) || fail "nothing is mounted on /proc: $output"
    echo "/proc: $proc_mount"
    [[ $proc_mount == "proc "* ]] || fail "/proc is not a proc mount: $proc_mount"
    for option in nosuid nodev noexec; do
        [[ ,${proc_mount#* }, == *",$option,"* ]] || fail "/proc is not mounted $option: $proc_mount"
    done
}

# bats test_tags=property,id:host-mounts
@test "the host's mount table is unchanged while and after the container runs" {
    requires root
    container_bg run sh -c 'echo /proc/[0-9]*; echo ready; read line'
    wait_for_output ready
    for _ in 1 2 3; do
        run cat /proc/self/mountinfo
        assert_output "$HOST_MOUNTINFO"
        sleep 0.1
    done
    wait_container
    assert_success
    assert_line --index 0 /proc/1
    run cat /proc/self/mountinfo
    assert_output "$HOST_MOUNTINFO"
}

# Mutant (tests/run phase 3): / not made private before mounting /proc, which
# then leaks onto a host whose / is shared.
# mutant no-private: /MS_REC | MS_PRIVATE, NULL), NULL,$/,+1d
# bats test_tags=property,catches:no-private,id:no-propagation
@test "with / shared (rshared), the container's mounts still do not propagate out" {
    requires root unshare
    # An outer mount namespace, cut off from the host (private) and then made
    # rshared, as systemd makes /: only this throwaway namespace changes. (With
    # --propagation unchanged it would stay a peer of a systemd host's shared /,
    # and a leak would reach the host.) The container's /proc must not show up
    # in it, during or after; if it did, the outer /proc would be the
    # container's, with no /proc/self for the outer cat.
    # shellcheck disable=SC2016 # the script is sh's, with its own $1 and $2
    run timeout -k 5 60 unshare --mount --propagation private sh -c '
    trap "" PIPE
    mount --make-rshared / || exit 1
    cat /proc/self/mountinfo >"$1/before"
    mkfifo "$1/hold"
    timeout -k 5 30 "$2" run sh -c "echo /proc/[0-9]*; read line" <"$1/hold" >"$1/inside" 2>&1 &
    exec 4>"$1/hold"
    tries=0
    until [ -s "$1/inside" ] || [ $tries -ge 100 ]; do sleep 0.1; tries=$((tries + 1)); done
    cat /proc/self/mountinfo >"$1/during"
    echo >&4
    exec 4>&-
    wait $!
    echo "exit status $?"
    cat /proc/self/mountinfo >"$1/after"
  ' sh "$BATS_TEST_TMPDIR" "$CONTAINER" 3>&-
    outer_output=$output
    grep -q ' / / .* shared:' "$BATS_TEST_TMPDIR/before" || fail "/ is not shared in the outer namespace"
    run cat "$BATS_TEST_TMPDIR/inside"
    assert_output /proc/1
    [[ -s $BATS_TEST_TMPDIR/during ]] ||
        fail "the outer /proc/self/mountinfo was unreadable during the run: the container's /proc propagated out over the outer /proc"
    run diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/during"
    assert_success
    run diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
    assert_success
    assert_equal "$outer_output" "exit status 0"
}

#--- what 03-mountns-proc still lacks ------------------------------------------

# bats test_tags=lesson,id:host-files
@test "03 still leaks: the host's files are visible (a marker in the host's /tmp is readable)" {
    requires root
    host_marker /tmp
    run container run cat "$MARKER"
    assert_success
    assert_output "$MARKER_TEXT"
}
