#!/usr/bin/env bats
# 09-veth: a veth pair between the container and the host, made by the
# runtime with rtnetlink: the host's end, mdk<the container's network
# namespace inode>, with the first address of --net (default 198.18.0.0/30),
# the container's, eth0, with the second, both up, and a default route inside
# through the host's end. The pair is gone when the container is.
#
# "The host" is the suite's own network namespace (tests/run: own_network),
# so every pair, address, route and packet of these tests stays there: the
# pings and connections go between the two ends of a pair, no further.
#
# shellcheck disable=SC2154 # bats' run --separate-stderr sets stderr

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# host_end PID: the host's end of the pair of the container whose first
# process is PID, by its name: mdk and the inode of its network namespace.
host_end() {
    local namespace
    namespace=$(readlink "/proc/$1/ns/net") || fail "no process $1"
    namespace=${namespace#net:[}
    echo "mdk${namespace%]}"
}

# host_pairs: the names of the host's interfaces that are a kit's pair end.
host_pairs() {
    local name
    for name in $(netdev_names </proc/net/dev); do
        [[ $name != mdk* ]] || echo "$name"
    done
}

#--- what 09-veth adds ---------------------------------------------------------

# Mutant (tests/run phase 3): the classic race of container toys, the cable
# laid once CMD runs (the child no longer waits for its go, and the runtime
# is a second late): CMD starts with no eth0, no address, no route.
# mutant late-cable: /if (read(sync_pipe\[0\], &go, 1) != 1)/,+1d;s/^\tveth_create(opts.net, child);/\tsleep(1);\n&/
# bats test_tags=property,kernel,catches:late-cable,id:eth0-address
@test "the container has lo and eth0 with the second address of --net and a default route through the host's end, which has the first" {
    requires root rootfs
    container_bg run sh -c 'ip -o -4 addr show eth0; ip route; echo ready; read line'
    wait_for_output ready
    local end
    end=$(host_end "$(first_process)")
    run busybox ip -o -4 addr show dev "$end"
    assert_success
    assert_output --regexp "^[0-9]+: $end +inet 198\.18\.0\.1/30 "
    run busybox ip link show dev "$end"
    assert_output --regexp "<[A-Z_,]*,UP[,>]"
    wait_container
    assert_success
    assert_line --regexp '^[0-9]+: eth0 +inet 198\.18\.0\.2/30 '
    assert_line --regexp '^default via 198\.18\.0\.1 dev eth0 *$'
    run container run cat /proc/net/dev
    assert_equal "$(netdev_names <<<"$output")" $'eth0\nlo'

    # Another network: the first address for the host, the second inside.
    run container run --net 198.19.7.8/29 ip -o -4 addr show eth0
    assert_success
    assert_output --regexp '^[0-9]+: eth0 +inet 198\.19\.7\.10/29 '
}

# bats test_tags=property,kernel,id:ping-both-ways
@test "a ping goes each way between the two ends" {
    requires root rootfs
    container_bg run sh -c 'ping -c1 -W2 198.18.0.1 && echo ready && read line'
    wait_for_output ready
    run busybox ping -c1 -W2 198.18.0.2
    assert_success
    assert_line '1 packets transmitted, 1 packets received, 0% packet loss'
    wait_container
    assert_success
}

# bats test_tags=property,kernel,id:server-through-pair
@test "a server inside is reached from the host through the pair" {
    requires root rootfs
    container_bg run sh -c "echo 'inside, through the cable' >/tmp/index.html && httpd -p 8080 -h /tmp &&
        echo ready && read line"
    wait_for_output ready
    run sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | busybox nc -w 2 198.18.0.2 8080'
    assert_success
    assert_line 'inside, through the cable'
    wait_container
    assert_success
}

# Mutant (tests/run phase 3): no RTM_DELLINK at exit, the pair left to go
# with the namespace, which the kernel frees in the background, or later:
# here the test holds it open, as a process that joined it would.
# mutant no-dellink: /if (atexit(veth_remove) != 0)/,+1d
# bats test_tags=property,kernel,catches:no-dellink,id:pair-gone
@test "the pair is there while the container runs, and gone after it exits, after a failure half-way, and after the runtime is killed" {
    requires root rootfs
    local end pid held
    container_bg run sh -c 'echo ready; read line'
    wait_for_output ready
    pid=$(first_process)
    end=$(host_end "$pid")
    run host_pairs
    assert_output "$end"
    # The namespace outlives the container while this holds it: then only
    # the runtime's own RTM_DELLINK takes the pair away.
    exec {held}<"/proc/$pid/ns/net"
    wait_container
    assert_success
    run host_pairs
    exec {held}<&-
    assert_output ""

    # A failure after the pair is made: the kernel refuses --memory 12Q.
    run --separate-stderr container run --memory 12Q true
    assert_failure 125
    [[ $stderr == *"12Q"*"Invalid argument"* ]] || fail "expected the write of 12Q to fail, got: $stderr"
    run host_pairs
    assert_output ""

    # SIGKILL: no atexit; the container dies with its runtime, its network
    # namespace with it, and the pair with the namespace (the kernel frees a
    # namespace in the background: a moment later).
    container_bg run sh -c 'echo ready; read line'
    wait_for_output ready
    end=$(host_end "$(first_process)")
    kill -KILL "$RUNTIME_PID"
    wait "$TIMEOUT_PID" || true
    local tries
    for ((tries = 0; tries < 50; tries++)); do
        [[ -z $(host_pairs) ]] && break
        sleep 0.1
    done
    run host_pairs
    assert_output ""
    # The runtime could not remove its cgroups: they are empty; remove them.
    find_own_cgroups
    ((${#OWN_CGROUPS[@]} == 0)) || rmdir "${OWN_CGROUPS[@]}"
}

# bats test_tags=property,kernel,id:two-pairs
@test "two containers side by side, on two networks, get two pairs with different names, and each reaches its end" {
    requires root rootfs
    container_bg run --net 198.18.0.4/30 sh -c 'ping -c1 -W2 198.18.0.5 && echo ready && read line'
    wait_for_output ready
    # The second, in the background too: its own stdin, a fifo held open here.
    local second=$BATS_TEST_TMPDIR/second tries
    mkfifo "$second.in"
    container run sh -c 'ping -c1 -W2 198.18.0.1 && echo ready && read line' \
        <"$second.in" >"$second.out" 2>&1 &
    local second_pid=$!
    exec {hold}>"$second.in"
    for ((tries = 0; tries < 100; tries++)); do
        grep -qx ready "$second.out" && break
        kill -0 "$second_pid" 2>/dev/null || break
        sleep 0.05
    done
    run host_pairs
    echo "$hold" >&"$hold" # either way, the second may end now
    exec {hold}>&-
    wait "$second_pid" || fail "the second container failed: $(cat "$second.out")"
    assert_equal "${#lines[@]}" 2
    assert_equal "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" 2
    wait_container
    assert_success
}

# bats test_tags=id:bad-net
@test "a bad --net (no prefix, a /31, a /33, not an address) is misuse naming --net, and leaves nothing" {
    requires root rootfs
    for bad in 198.18.0.0 198.18.0.0/31 198.18.0.0/33 300.1.2.3/24 abc/24 198.18.0.0/30x; do
        run --separate-stderr container run --net "$bad" true
        assert_misuse --net
    done
    run host_pairs
    assert_output ""
}

#--- what 09-veth still lacks --------------------------------------------------

# bats test_tags=lesson,id:root-is-root
@test "09 still leaks: root inside is root outside (uid_map maps 0 to the host's 0)" {
    requires root rootfs
    assert_root_is_root
}
