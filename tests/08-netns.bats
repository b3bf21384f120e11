#!/usr/bin/env bats
# 08-netns: the container has a network namespace of its own, with one
# interface, lo, up. A server on either side of it cannot be reached from
# the other, not even over 127.0.0.1, and the namespace goes with the
# container. Every packet these tests send stays on a loopback: the host's,
# or the container's own.
#
# shellcheck disable=SC2154 # bats' run --separate-stderr sets stderr

load helpers

setup() {
    snapshot_host
    HOST_SERVER=
}

teardown() {
    if [[ -n $HOST_SERVER ]]; then
        kill "$HOST_SERVER" 2>/dev/null || true
        wait "$HOST_SERVER" 2>/dev/null || true
    fi
    check_host_restored
}

# free_port: sets PORT to a TCP port nothing on the host listens on.
free_port() {
    local table listening=' ' local_address state
    for table in /proc/net/tcp /proc/net/tcp6; do
        [[ -e $table ]] || continue # a kernel without IPv6
        while read -r _ local_address _ state _; do
            [[ $state == 0A ]] && listening+="$((16#${local_address##*:})) "
        done <"$table"
    done
    PORT=$((20000 + SRANDOM % 40000))
    while [[ $listening == *" $PORT "* ]]; do
        PORT=$((PORT + 1))
    done
}

# The page at 127.0.0.1:PORT, over HTTP/1.0, with busybox nc and at most 2 s
# (busybox wget, built static, crashes on Debian 12): inside, sh runs
# "$GET_PAGE PORT"; the host runs host_page PORT.
GET_PAGE='printf "GET / HTTP/1.0\r\n\r\n" | nc -w 2 127.0.0.1'
host_page() {
    printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 2 127.0.0.1 "$1"
}

#--- what 08-netns adds --------------------------------------------------------

# Mutant (tests/run phase 3): the runtime makes the namespace but forgets to
# bring lo up, so not even 127.0.0.1 answers inside.
# mutant no-lo-up: /^\tloopback_up();$/d
# bats test_tags=property,kernel,catches:no-lo-up,id:only-lo
@test "the container has a lo of its own, up (ping 127.0.0.1 answers), and none of the host's interfaces" {
    requires root rootfs
    run container run cat /proc/net/dev
    assert_success
    local inside name
    inside=" $(netdev_names <<<"$output" | tr '\n' ' ')"
    [[ $inside == *" lo "* ]] || fail "no lo in the container's /proc/net/dev: $output"
    for name in $HOST_INTERFACES; do
        [[ $name == lo || $inside != *" $name "* ]] ||
            fail "the host's $name is in the container's /proc/net/dev: $output"
    done
    run container run sh -c 'ip link; ping -c1 -W2 127.0.0.1'
    assert_success
    assert_line --regexp '^1: lo: <LOOPBACK,UP,LOWER_UP> '
    assert_line '1 packets transmitted, 1 packets received, 0% packet loss'
}

# bats test_tags=property,kernel,id:inside-unreachable
@test "a server inside, on all addresses, answers inside and cannot be reached from the host's 127.0.0.1" {
    requires root rootfs
    free_port
    # busybox httpd on 0.0.0.0:PORT, serving a page only this test knows.
    container_bg run sh -c "echo 'inside $PORT' >/tmp/index.html && httpd -p $PORT -h /tmp &&
        $GET_PAGE $PORT | tail -1 && echo ready && read line"
    wait_for_output ready
    assert_equal "$(head -1 "$BG_OUT")" "inside $PORT"
    run host_page "$PORT"
    refute_output --partial "inside $PORT"
    assert_failure
    wait_container
    assert_success
}

# bats test_tags=property,kernel,id:host-unreachable
@test "a server on the host's 127.0.0.1 answers there and cannot be reached from inside" {
    requires root rootfs
    free_port
    mkdir "$BATS_TEST_TMPDIR/www"
    echo "host $PORT" >"$BATS_TEST_TMPDIR/www/index.html"
    busybox httpd -f -p "127.0.0.1:$PORT" -h "$BATS_TEST_TMPDIR/www" 3>&- &
    HOST_SERVER=$!
    local tries
    for ((tries = 0; tries < 50; tries++)); do
        run host_page "$PORT"
        [[ $output == *"host $PORT"* ]] && break
        sleep 0.1
    done
    assert_line "host $PORT"
    run container run sh -c "$GET_PAGE $PORT"
    refute_output --partial "host $PORT"
    assert_failure
}

# bats test_tags=property,kernel,id:netns-gone
@test "the container's network namespace is its own, the host keeps every interface it had, and the namespace is gone after exit" {
    requires root rootfs
    container_bg run sh -c 'echo ready; read line'
    wait_for_output ready
    local pid namespace
    pid=$(first_process)
    namespace=$(readlink "/proc/$pid/ns/net")
    [[ $namespace != "$(readlink /proc/self/ns/net)" ]] ||
        fail "the container's PID 1 is in the host's network namespace, $namespace"
    # Nothing of the host's moved into it. (Later stages may add to the
    # host, as 09 a veth pair's end; none takes from it.)
    local interfaces_now name
    host_interfaces interfaces_now
    for name in $HOST_INTERFACES; do
        [[ " $interfaces_now " == *" $name "* ]] || fail "the host's $name is gone while the container runs: $interfaces_now"
    done
    wait_container
    assert_success
    # No process holds it any more (a mount could, as `ip netns add` does;
    # the runtime makes none). check_host_restored compares the interfaces:
    # the same as before.
    # shellcheck disable=SC2012 # ls -l shows each link's target
    run bash -c 'ls -l /proc/[0-9]*/ns/net 2>/dev/null'
    refute_output --partial "$namespace"
}

#--- what 08-netns still lacks -------------------------------------------------

# bats test_tags=lesson,id:no-way-out
@test "08 still lacks a way out: no route, and no address but the loopback's" {
    requires root rootfs
    run container run sh -c 'ip route; ip -o -4 addr'
    assert_success
    assert_output --regexp '^1: +lo +inet 127\.0\.0\.1/8 '
    assert_equal "${#lines[@]}" 1
}

# bats test_tags=lesson,id:root-is-root
@test "08 still leaks: root inside is root outside (uid_map maps 0 to the host's 0)" {
    requires root rootfs
    assert_root_is_root
}
