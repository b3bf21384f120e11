#!/usr/bin/env bats
# 06-pivot-root: the rootfs is the root of the container's mount namespace
# (bind-mounted onto itself, pivot_root(".", "."), the old root detached), so
# the double-chroot breakout that gets out of 04 and 05 ends at the rootfs.
# shellcheck disable=SC2154 # bats' run --separate-stderr sets stderr

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# mount_points MOUNTINFO: the mount points of a /proc/PID/mountinfo, one line
# each, in order.
mount_points() {
    local line mount_point
    while IFS= read -r line; do
        read -r _ _ _ _ mount_point _ <<<"$line"
        echo "$mount_point"
    done <<<"$1"
}

#--- what 06-pivot-root adds ---------------------------------------------------

# Mutant (tests/run phase 3): the old root never detached, so it stays
# mounted on top of the new one, and ".." from "/" leads into it.
# mutant no-detach: /umount2(".", MNT_DETACH)/d
# bats test_tags=property,catches:no-detach,id:root-is-rootfs
@test "the container's / is the rootfs, a mount of its own, and it sees only its own mounts" {
    requires root rootfs
    run container run cat /proc/self/mountinfo
    assert_success
    run mount_points "$output"
    # With chroot (05) the rootfs is no mount, so no line says "/"; with the
    # old root left there, the host's mounts are listed too.
    assert_output $'/\n/proc\n/tmp'
    # Nor does ".." from / lead anywhere but /.
    run container run ls /..
    assert_success
    assert_output "$(cd "$ROOTFS" && LC_ALL=C ls)"
}

# bats test_tags=property,catches:no-detach,id:breakout-blocked
@test "the double-chroot breakout (escapes/breakout.c) cannot read a host file" {
    requires root rootfs
    [[ -x $ROOTFS/usr/local/bin/breakout ]] || fail "no $ROOTFS/usr/local/bin/breakout (make rootfs puts it there)"
    # /var/tmp: the container's /tmp is its own tmpfs, whatever the host has.
    host_marker /var/tmp
    run --separate-stderr container run breakout "$MARKER"
    refute_output --partial "$MARKER_TEXT"
    assert_failure 1 # cat's: the file is not there
    assert_equal "$stderr" "breakout: at the top of the mount namespace; reading $MARKER"$'\n'"cat: can't open '$MARKER': No such file or directory"
}

# bats test_tags=property,id:shared-host-root
@test "with the host's / shared (rshared), pivot_root still works and the host's mounts are unchanged" {
    requires root rootfs unshare
    # pivot_root(2) refuses (EINVAL) to move mounts that are shared, as
    # systemd makes /: the container's mounts must be private first (03). An
    # outer mount namespace, private and then rshared, stands in for such a
    # host; only it changes.
    # shellcheck disable=SC2016 # the script is sh's, with its own $1 and $2
    run timeout -k 5 60 unshare --mount --propagation private sh -c '
    mount --make-rshared / || exit 1
    cat /proc/self/mountinfo >"$1/before"
    "$2" run cat /proc/self/mountinfo >"$1/inside"
    echo "exit status $?"
    cat /proc/self/mountinfo >"$1/after"
  ' sh "$BATS_TEST_TMPDIR" "$CONTAINER" 3>&-
    assert_output "exit status 0"
    grep -q ' / / .* shared:' "$BATS_TEST_TMPDIR/before" || fail "/ is not shared in the outer namespace"
    run mount_points "$(cat "$BATS_TEST_TMPDIR/inside")"
    assert_output $'/\n/proc\n/tmp'
    run diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
    assert_success
}

#--- what 06-pivot-root still lacks --------------------------------------------

# bats test_tags=lesson,cgroup,id:host-memory-cgroup
@test "06 still leaks: no memory limit (v1: the host's memory cgroup; v2: memory.max is max)" {
    requires root rootfs
    run container run cat /proc/self/cgroup
    assert_success
    # v1: the memory hierarchy's line; v2: the one line, 0::PATH, whose
    # path is the pids cgroup (memory is not limited there).
    inside=$(echo "$output" | grep -E '^[0-9]+:memory:' || true)
    if [[ -n $inside ]]; then
        assert_equal "$inside" "$(grep -E '^[0-9]+:memory:' /proc/self/cgroup)"
    else
        cgroup=$(echo "$output" | sed -n 's/^0:://p')
        [[ -n $cgroup ]] || fail "no memory line nor v2 line in the container's /proc/self/cgroup: $output"
        run cat "/sys/fs/cgroup$cgroup/memory.max"
        [[ $status -ne 0 || $output == max ]] || fail "the container's cgroup has memory.max $output"
    fi
}

# bats test_tags=lesson,id:host-netdev
@test "06 still leaks: the host's network interfaces are visible in /proc/net/dev" {
    requires root rootfs
    assert_host_netdev
}
