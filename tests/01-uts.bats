#!/usr/bin/env bats
# 01-uts: a new UTS namespace, so the container has its own hostname.
#
# Also the plumbing every stage keeps: --help, misuse, exit statuses, signal
# forwarding, -v. Tests named with a lowercase letter run against this stage
# and every later one; "01 ..." tests show what this stage still lacks.
#
# shellcheck disable=SC2154 # bats' run --separate-stderr sets stderr

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

#--- what 01-uts adds ---------------------------------------------------------

# bats test_tags=property,id:own-hostname
@test "the container's hostname is --hostname NAME" {
    requires root
    run container run --hostname box hostname
    assert_success
    assert_output box
}

# bats test_tags=property,id:default-hostname
@test "the default hostname is container" {
    requires root
    run container run hostname
    assert_success
    assert_output container
}

# bats test_tags=property,id:hostname-64
@test "a --hostname of 64 characters, the kernel's limit, is accepted" {
    requires root
    name=$(printf 'h%.0s' {1..64})
    run container run --hostname "$name" hostname
    assert_success
    assert_output "$name"
}

# bats test_tags=property,id:host-hostname
@test "the host's hostname is unchanged while and after the container runs" {
    requires root
    # In the background; `read line` keeps it running until wait_container.
    container_bg run --hostname box sh -c 'hostname; read line'
    wait_for_output box
    run hostname
    assert_output "$HOST_HOSTNAME"
    wait_container
    assert_success
    run hostname
    assert_output "$HOST_HOSTNAME"
}

#--- the command line, as chroot(1) has it -------------------------------------

# bats test_tags=plumbing,id:help
@test "help: --help, -h and run --help print usage on stdout and exit 0" {
    for help in --help -h "run --help"; do
        # shellcheck disable=SC2086 # "run --help" is two words
        run --separate-stderr container $help
        assert_success
        [[ ${lines[0]} == "Usage: "* ]] || fail "'$help' printed no 'Usage: ' line first: $output"
    done
}

# bats test_tags=plumbing,id:no-args
@test "no arguments at all is misuse: a message, a Try line, exit 125" {
    run --separate-stderr container
    assert_misuse
}

# bats test_tags=plumbing,id:unknown-command
@test "an unknown command instead of run is misuse naming it" {
    run --separate-stderr container start sh
    assert_misuse start
}

# bats test_tags=plumbing,id:unknown-option
@test "an unknown option is misuse naming it" {
    run --separate-stderr container run --bogus sh
    assert_misuse --bogus
}

# bats test_tags=plumbing,id:missing-cmd
@test "a missing CMD is misuse" {
    run --separate-stderr container run
    assert_misuse
    run --separate-stderr container run --hostname box
    assert_misuse
}

# bats test_tags=property,id:hostname-too-long
@test "a --hostname longer than 64 characters is misuse naming --hostname" {
    run --separate-stderr container run --hostname "$(printf 'h%.0s' {1..65})" hostname
    assert_misuse --hostname
}

# bats test_tags=plumbing,id:cmd-options
@test "options after CMD are CMD's own and pass through" {
    requires root
    # shellcheck disable=SC2016 # $1 is for the container's sh
    run container run sh -c 'echo "$1"' sh --verbose
    assert_success
    assert_output --verbose
}

#--- exit statuses --------------------------------------------------------------

# bats test_tags=plumbing,id:exit-status
@test "the exit status is CMD's own" {
    requires root
    run -42 container run sh -c 'exit 42'
}

# The clone() child's own error message: not run under ASan (tests/run).
# bats test_tags=plumbing,child-error,id:cmd-not-found
@test "a CMD that is not found exits 127 naming execvp" {
    requires root
    # A PATH of the usual directories: from stage 10 root inside is nobody
    # to the rootfs's /root (0700), and a PATH entry under it (a root's
    # ~/.local/bin, say) makes execvp say EACCES, 126, for a missing CMD.
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        run -127 --separate-stderr container run no-such-command
    assert_equal "$stderr" "$STAGE: execvp(\"no-such-command\"): No such file or directory"
}

# bats test_tags=plumbing,id:cmd-not-executable
@test "a CMD that exists but cannot be executed exits 126" {
    requires root
    run -126 container run /etc/passwd
}

# bats test_tags=plumbing,id:killed-by-signal
@test "a CMD killed by signal N makes the exit status 128+N" {
    requires root
    container_bg run sh -c 'echo ready; read line'
    wait_for_output ready
    kill -KILL "$(first_process)"
    wait_container
    assert_equal "$status" 137
}

#--- signals sent to the runtime reach the container ---------------------------
# From 02-pid on CMD is PID 1 of its namespace, which ignores signals it has
# no handler for, so each container installs one with trap. The busy loop
# keeps sh between commands, where it runs traps.

# bats test_tags=plumbing,id:sigterm
@test "a SIGTERM sent to the runtime reaches the container" {
    requires root
    container_bg run sh -c 'trap "exit 3" TERM; echo ready; while :; do :; done'
    wait_for_output ready
    kill -TERM "$RUNTIME_PID"
    wait_container
    assert_equal "$status" 3
}

# bats test_tags=plumbing,id:sigint
@test "a SIGINT sent to the runtime reaches the container" {
    requires root
    container_bg run sh -c 'trap "exit 4" INT; echo ready; while :; do :; done'
    wait_for_output ready
    kill -INT "$RUNTIME_PID"
    wait_container
    assert_equal "$status" 4
}

# bats test_tags=plumbing,id:sighup
@test "a SIGHUP sent to the runtime reaches the container" {
    requires root
    container_bg run sh -c 'trap "exit 5" HUP; echo ready; while :; do :; done'
    wait_for_output ready
    kill -HUP "$RUNTIME_PID"
    wait_container
    assert_equal "$status" 5
}

#--- -v and privileges ---------------------------------------------------------

# bats test_tags=plumbing,id:verbose
@test "with -v, each kernel step is printed on stderr as a [NN] ... ok line" {
    requires root
    # true prints nothing, so the output is the -v trace, read through a pipe.
    # The runtime and the container's first process both print steps, at the
    # same moment: each line must be written whole. Ten runs make a mix show.
    for try in 1 2 3 4 5 6 7 8 9 10; do
        run container run -v --hostname box true
        assert_success
        for line in "${lines[@]}"; do
            [[ $line == "[$STAGE_NUM] "*" ok" ]] ||
                fail "run $try: not a '[$STAGE_NUM] <step> ok' line: '$line' in:"$'\n'"$output"
        done
        assert_line "[$STAGE_NUM] sethostname(\"box\") ok"
        # (CLONE_NEWUSER|NEWUTS|... from stage 10, where the flags fill a line)
        assert_line --regexp "^\[$STAGE_NUM\] clone\(.*(CLONE_|\|)NEWUTS.*\) ok$"
    done
}

# bats test_tags=plumbing,id:not-root
@test "not root: exit 125 with the run-as-root hint" {
    requires root setpriv
    run --separate-stderr container_as_nobody run --hostname box hostname
    assert_equal "$status" 125
    [[ $stderr == "$STAGE: "*" (run as root, e.g. with sudo)" ]] ||
        fail "expected '$STAGE: <step>: <error> (run as root, e.g. with sudo)', got: $stderr"
}

#--- what 01-uts still lacks ---------------------------------------------------

# bats test_tags=lesson,id:host-pid
@test "01 still leaks: CMD is not PID 1, it has a host PID" {
    requires root
    run container run sh -c 'echo $$'
    assert_success
    [[ $output =~ ^[0-9]+$ && $output -gt 1 ]] || fail "expected a host PID > 1, got: $output"
}
