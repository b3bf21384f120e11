#!/usr/bin/env bats
# 04-chroot: the container sees its own root filesystem, with /proc and a
# tmpfs on /tmp, and nothing of the host's files.
#
# shellcheck disable=SC2154 # bats' run --separate-stderr sets stderr

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

#--- what 04-chroot adds -------------------------------------------------------

# bats test_tags=property,id:rootfs-ls
@test "ls / inside the container shows the rootfs" {
    requires root rootfs
    run container run ls /
    assert_success
    assert_output "$(cd "$ROOTFS" && LC_ALL=C ls)"
}

# bats test_tags=property,id:host-files-hidden
@test "the host's files are invisible: markers in the host's /tmp and /root cannot be read" {
    requires root rootfs
    for dir in /tmp /root; do
        host_marker "$dir"
        run container run cat "$MARKER"
        assert_failure 1
        refute_output --partial "$MARKER_TEXT"
        if [[ $output == *"Permission denied"* ]]; then
            # From stage 10 root inside is nobody to the rootfs's /root
            # (0700): then that /root must be the rootfs's, not the host's.
            run container run stat -c %i "$dir"
            assert_output "$(stat -c %i "$ROOTFS$dir")"
        else
            assert_output --partial "No such file or directory"
        fi
    done
}

# Mutant (tests/run phase 3): chroot without chdir, the working directory
# still in the host's tree.
# mutant no-chdir: /check(chdir("\/"), NULL/d
# bats test_tags=property,catches:no-chdir,id:workdir-root
@test "the container's working directory is /" {
    requires root rootfs
    cd "$BATS_TEST_TMPDIR"
    run container run pwd
    assert_success
    assert_output /
}

# bats test_tags=property,id:fresh-tmp
@test "the container's /tmp is a fresh tmpfs, not the host's /tmp" {
    requires root rootfs
    # The host's /tmp may itself be a tmpfs (Debian 13, Fedora, Arch; the VMs).
    host_marker /tmp
    run container run sh -c 'cat /proc/self/mountinfo; ls -A /tmp'
    assert_success
    tmp_mount=$(mount_entry "$output" /tmp) || fail "nothing is mounted on /tmp: $output"
    [[ $tmp_mount == "tmpfs "* ]] || fail "/tmp is not a tmpfs: $tmp_mount"
    refute_line "${MARKER##*/}"
}

# bats test_tags=property,id:no-mounts-left
@test "nothing is mounted under the rootfs on the host, while or after the container runs" {
    requires root rootfs
    host_marker /tmp
    container_bg run sh -c 'cat /proc/self/mountinfo; ls -A /tmp; echo ready; read line'
    wait_for_output ready
    run mounts_under "$ROOTFS"
    assert_output ""
    wait_container
    assert_success
    mount_entry "$output" /proc >/dev/null || fail "the container had no /proc mount: $output"
    mount_entry "$output" /tmp >/dev/null || fail "the container had no /tmp mount: $output"
    refute_line "${MARKER##*/}" # its /tmp is its own, not the host's
    run mounts_under "$ROOTFS"
    assert_output ""
}

# bats test_tags=property,id:rootfs-option
@test "the container runs in --rootfs DIR when given" {
    requires root rootfs
    # (its contents: ROOTFS may be a symbolic link, as make grade's is)
    mkdir "$BATS_TEST_TMPDIR/rootfs2"
    cp -a "$ROOTFS/." "$BATS_TEST_TMPDIR/rootfs2/"
    echo "the copy" >"$BATS_TEST_TMPDIR/rootfs2/where-am-i"
    run container run --rootfs "$BATS_TEST_TMPDIR/rootfs2" cat /where-am-i
    assert_success
    assert_output "the copy"
    run mounts_under "$BATS_TEST_TMPDIR/rootfs2"
    assert_output ""
}

# bats test_tags=property,id:default-rootfs
@test "the default rootfs, beside the binary, is found from any working directory" {
    requires root
    [[ -d $(dirname "$CONTAINER")/rootfs ]] || skip "no rootfs beside $CONTAINER (build it with: make rootfs)"
    cd /
    run container run ls /
    assert_success
    assert_output "$(cd "$(dirname "$CONTAINER")/rootfs" && LC_ALL=C ls)"
}

# The clone() child's own error message: not run under ASan (tests/run).
# bats test_tags=property,child-error,id:missing-rootfs
@test "a missing rootfs is an error naming it, with the hint to build it" {
    requires root
    run -125 --separate-stderr container run --rootfs /no-such-rootfs sh
    # The step is the stage's own: chroot("/no-such-rootfs") here, the bind
    # mount of it from 06 on.
    [[ $stderr =~ ^"$STAGE: "[a-z0-9_]+\(\"/no-such-rootfs\"[^$'\n']*"): No such file or directory (build it with: make rootfs)"$ ]] ||
        fail "expected '$STAGE: chroot(\"/no-such-rootfs\"): No such file or directory (build it with: make rootfs)' or the like, got: $stderr"
}

#--- what 04-chroot still lacks ------------------------------------------------

# bats test_tags=lesson,cgroup,id:host-pids-cgroup
@test "04 still leaks: the container is in the host's pids cgroup, with no limit of its own" {
    requires root rootfs pids_cgroup
    run container run cat /proc/self/cgroup
    assert_success
    inside=$(pids_cgroup_line "$output")
    [[ -n $inside ]] || fail "no pids cgroup line in the container's /proc/self/cgroup: $output"
    assert_equal "$inside" "$(pids_cgroup_line "$(cat /proc/self/cgroup)")"
}
