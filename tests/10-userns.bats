#!/usr/bin/env bats
# 10-userns: a user namespace, owning the container's other namespaces. The
# runtime writes its uid_map and gid_map, "0 BASE 65536" (BASE is
# --userns-base, 100000 by default), before the container's go: root
# inside, uid and gid 0 with every capability in the container's own
# namespaces, is user BASE on the host, with none in the host's. The
# rootfs's files, the host root's, are nobody's inside: writing them is
# refused, and no device node can be made, so the host's devices stay out
# of reach.
#
# Every test runs in the suite's own network namespace (tests/run:
# own_network), as 09's: each run lays a veth pair.
#
# shellcheck disable=SC2154 # bats' run --separate-stderr sets stderr

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# host_ids PID: the real, effective, saved and filesystem uids of the
# host's process PID, then its gids, as the host's /proc numbers them:
# "Uid: R E S F / Gid: R E S F".
host_ids() {
    local key ids uids='' gids=''
    while read -r key ids; do
        case $key in
            Uid:) uids=$ids ;;
            Gid:) gids=$ids ;;
        esac
    done <"/proc/$1/status"
    echo "Uid: ${uids//$'\t'/ } / Gid: ${gids//$'\t'/ }"
}

# uid_processes UID: "PID NAME STATE" of each of the host's processes whose
# real uid is UID, but zombies.
uid_processes() {
    local status key value name state
    for status in /proc/[0-9]*/status; do
        name='' state=''
        while read -r key value; do
            case $key in
                Name:) name=$value ;;
                State:) state=${value%% *} ;;
                Uid:)
                    [[ ${value%%[[:space:]]*} != "$1" || $state == Z ]] ||
                        { status=${status#/proc/} && echo "${status%/status} $name $state"; }
                    break
                    ;;
            esac
        done <"$status" 2>/dev/null
    done
    return 0
}

#--- what 10-userns adds -------------------------------------------------------

# Mutant (tests/run phase 3): the race of user namespace toys, the maps
# written once CMD runs (the child no longer waits for its go, and the
# runtime is a second late): the child's setresuid(0) finds no 0 mapped.
# mutant go-before-maps: /if (read(sync_pipe\[0\], &go, 1) != 1)/,+1d;s/^\tuserns_map(opts.userns_base, child);/\tsleep(1);\n&/
# bats test_tags=property,kernel,catches:go-before-maps,id:root-inside
@test "root inside (uid and gid 0) is user 100000 on the host, or --userns-base N" {
    requires root rootfs
    container_bg run sh -c 'id; cat /proc/self/uid_map /proc/self/gid_map; echo ready; read line'
    wait_for_output ready
    run host_ids "$(first_process)"
    assert_output "Uid: 100000 100000 100000 100000 / Gid: 100000 100000 100000 100000"
    wait_container
    assert_success
    assert_line --index 0 'uid=0(root) gid=0(root)'
    assert_line --index 1 --regexp '^ *0 +100000 +65536$'
    assert_line --index 2 --regexp '^ *0 +100000 +65536$'

    # Another base moves every id with it: one no other container uses.
    local base=$((300000 + SRANDOM % 1000000))
    container_bg run --userns-base "$base" sh -c 'id; echo ready; read line'
    wait_for_output ready
    run host_ids "$(first_process)"
    assert_output "Uid: $base $base $base $base / Gid: $base $base $base $base"
    wait_container
    assert_success
    assert_line --index 0 'uid=0(root) gid=0(root)'
    # Nothing runs as it on the host any more (a zombie runs nothing: this
    # test's own are reaped, another test's wait for the host's init).
    run uid_processes "$base"
    assert_output ""
}

# The attack stage 09 lets through: root inside makes a device node for the
# host's kernel log, on a fresh tmpfs (09's /tmp is nodev), and reads it.
# bats test_tags=property,kernel,id:no-devices
@test "no device node can be made inside: mknod of the host's /dev/kmsg (c 1 11) is refused, and its log stays unread" {
    requires root rootfs
    run container run sh -c 'mount -t tmpfs none /tmp && mknod /tmp/kmsg c 1 11 && head -c 80 /tmp/kmsg'
    # A record of the kernel's log: "LEVEL,SEQUENCE,MICROSECONDS,FLAGS;TEXT".
    refute_output --regexp '[0-9]+,[0-9]+,[0-9]+,[-+c][^;]*;'
    assert_failure 1
    assert_output 'mknod: /tmp/kmsg: Operation not permitted'
}

# bats test_tags=property,kernel,id:rootfs-nobody
@test "the rootfs's files are nobody's inside: writing them is refused, the container's /tmp is writable" {
    requires root rootfs
    # A copy: a stage without a user namespace (09) writes it, there.
    local copy=$BATS_TEST_TMPDIR/rootfs
    mkdir "$copy"
    cp -a "$ROOTFS/." "$copy/"
    run container run --rootfs "$copy" sh -c 'echo x >/etc/written; echo x >/written; touch /bin/busybox'
    assert_failure 1
    assert_output "sh: can't create /etc/written: Permission denied
sh: can't create /written: Permission denied
touch: /bin/busybox: Permission denied"
    [[ ! -e $copy/etc/written && ! -e $copy/written ]] || fail "the container wrote into the rootfs: $(ls -l "$copy/etc/written" "$copy/written" 2>&1)"
    assert_equal "$(stat -c %Y "$copy/bin/busybox")" "$(stat -c %Y "$ROOTFS/bin/busybox")"
    # The host root's, unmapped inside: the overflow id, 65534, nobody.
    run container run --rootfs "$copy" sh -c 'ls -ln /bin/busybox; ls -l /bin/busybox'
    assert_success
    assert_line --index 0 --regexp '^-[-rwxs]{9} +[0-9]+ +65534 +65534 '
    assert_line --index 1 --regexp '^-[-rwxs]{9} +[0-9]+ +nobody +nogroup '
    run container run --rootfs "$copy" sh -c 'echo written >/tmp/note && cat /tmp/note && ls -ln /tmp/note'
    assert_success
    assert_line --index 0 written
    assert_line --index 1 --regexp '^-[-rwx]{9} +1 +0 +0 '
}

# bats test_tags=id:bad-userns-base
@test "a bad --userns-base (0, -1, abc, 4294967296) is misuse naming --userns-base, and leaves nothing" {
    requires root rootfs
    local bad
    for bad in 0 -1 abc 4294967296; do
        run --separate-stderr container run --userns-base "$bad" true
        assert_misuse --userns-base
    done
}

#--- what 10-userns still lacks ------------------------------------------------

# bats test_tags=lesson,id:no-seccomp
@test "10 still leaks: every system call reaches the host's kernel (no seccomp filter: Seccomp 0)" {
    requires root rootfs
    run container run sh -c 'grep Seccomp: /proc/self/status; uname -r'
    assert_success
    assert_line --index 0 --regexp $'^Seccomp:\t0$'
    assert_line --index 1 "$(uname -r)"
}
