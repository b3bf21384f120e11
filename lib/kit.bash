# shellcheck shell=bash
# shellcheck disable=SC2034,SC2120,SC2119,SC2154 # variables and functions for the scripts that source it
# lib/kit.bash: what the kit's scripts and tests share. Source it:
#
#   . "$kit/lib/kit.bash"      (kit: the repository's top directory)
#
# It defines functions and a few variables, and runs nothing else; it sets no
# shell option. It needs bash 4 and works with busybox alone (the test VMs).
#
#   STAGES                  every stage, in order: the directories
#                           stages/NN-name/ that hold a container.c. This is
#                           the one list of stages (the Makefile's wildcard
#                           and slides/lib.mjs read the same directories).
#   stage_name ARG          the stage ARG names: 03, 3 or 03-mountns-proc
#   stage_before STAGE      the stage before STAGE (none for the first)
#   stage_number STAGE      its number, as a decimal: 3 for 03-mountns-proc
#   cgroup_layout           unified, hybrid, legacy or none, as stage 05
#                           tells them apart with statfs(2)
#   cgroup_root CONTROLLER  where the stages make their cgroups of that
#                           controller (pids, memory): /sys/fs/cgroup on v2
#                           when it has the controller, /sys/fs/cgroup/NAME
#                           on v1 and hybrid; nothing if there is none
#   minidocker_cgroups [PIDNS]
#                           every minidocker-* cgroup on the machine, a line
#                           each; with PIDNS, only those made by runtimes of
#                           that PID namespace (minidocker-PIDNS-PID)
#   pidns                   this process's PID namespace, as a number (the
#                           inode of /proc/self/ns/pid), as the stages name
#                           their cgroups with it
#   stale_cgroups           those a runtime killed with SIGKILL left: empty,
#                           and no process is their runtime any more
#   own_network SCRIPT [ARG...]
#                           run SCRIPT with ARGs again in a network namespace
#                           of its own, set up by host_like_network; returns
#                           at once if this process is in one the kit made
#                           (or is not root). Every script that runs the
#                           stages calls it first (the suite, tryit, the
#                           escape matrix, the bench, the demo and its
#                           finales): what a stage does to a network, a veth
#                           pair, addresses, routes, servers, stays there,
#                           off the machine's own.
#   host_like_network       in a new network namespace, what a machine's has:
#                           lo up, and host0 with an address and a default
#                           route (192.0.2.1/24 via .254, a documentation
#                           range, in this namespace alone); host0 is one
#                           end of a veth pair whose other, veth0, stays
#                           down, so no packet goes out of it;
#                           MINIDOCKER_NETNS_PID, exported, is this
#                           shell's pid (the process that runs on in it)
#   in_own_network          succeeds in a network namespace host_like_network
#                           made (no fork: a test asks it every time)
#   die, misuse, step       messages, prefixed with $prog (set it first)
#   tap_line LINE           parse a line of bats --tap output
#   test_ids FILE           "ID<TAB>NAME" of each test of a .bats file with an
#                           id: tag
#   test_names FILE [TAG]   the names of a .bats file's tests (tagged TAG, or
#                           with !TAG not tagged TAG), as --filter-tags
#                           selects them

KIT=${KIT:-$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

### the stages ###

STAGES=()
# (No basename: the tests source this for every test, and a fork costs.)
for _stage_dir in "$KIT"/stages/[0-9][0-9]-*/; do
    _stage_dir=${_stage_dir%/}
    [[ -f $_stage_dir/container.c ]] && STAGES+=("${_stage_dir##*/}")
done
unset _stage_dir

# stage_name ARG: print the stage that ARG names (03, 3 or 03-mountns-proc);
# fail, printing nothing, if none does.
stage_name() {
    local stage
    for stage in "${STAGES[@]}"; do
        if [[ $1 == "$stage" || $1 == "${stage%%-*}" || 0$1 == "${stage%%-*}" ]]; then
            echo "$stage"
            return 0
        fi
    done
    return 1
}

# stage_before STAGE: print the stage before STAGE; fail for the first.
stage_before() {
    local stage previous=
    for stage in "${STAGES[@]}"; do
        if [[ $stage == "$1" ]]; then
            [[ -n $previous ]] && echo "$previous"
            [[ -n $previous ]]
            return
        fi
        previous=$stage
    done
    return 1
}

# stage_number STAGE: its number as a decimal (08-netns: 8).
stage_number() {
    echo $((10#${1%%-*}))
}

### cgroups ###

# cgroup_layout: unified (cgroup2 at /sys/fs/cgroup), hybrid (v1
# controllers, cgroup2 at /sys/fs/cgroup/unified), legacy (v1 only) or none.
# As stage 05 does with statfs(2): stat -f's %t is the f_type magic number
# of linux/magic.h, in hex, in coreutils and busybox alike.
cgroup_layout() {
    case $(stat -f -c %t /sys/fs/cgroup 2>/dev/null) in
        63677270) echo unified ;;
        1021994)
            if [[ $(stat -f -c %t /sys/fs/cgroup/unified 2>/dev/null) == 63677270 ]]; then
                echo hybrid
            else
                echo legacy
            fi
            ;;
        *) echo none ;;
    esac
}

# cgroup_root CONTROLLER: the directory under which the stages make their
# cgroups of CONTROLLER; prints nothing if the machine has none.
cgroup_root() {
    if [[ $(cgroup_layout) == unified ]]; then
        [[ " $(</sys/fs/cgroup/cgroup.controllers) " == *" $1 "* ]] && echo /sys/fs/cgroup
    elif [[ -f /sys/fs/cgroup/$1/cgroup.procs ]]; then
        echo "/sys/fs/cgroup/$1"
    fi
    return 0
}

# pidns: the inode of this process's PID namespace. A stage names its cgroup
# minidocker-PIDNS-PID: a pid alone is unique only within its namespace.
pidns() {
    local link
    link=$(readlink /proc/self/ns/pid) || return 1
    link=${link#pid:[}
    echo "${link%]}"
}

# own_network SCRIPT [ARG...]: see the top.
own_network() {
    ((EUID == 0)) || return 0
    ! in_own_network || return 0
    # unshare -n: util-linux's, or busybox's in the test VMs.
    # shellcheck disable=SC2016 # for the inner bash
    exec unshare -n -- "$BASH" -c '. "$0" && host_like_network && exec "$@"' \
        "$KIT/lib/kit.bash" "$@"
}

# host_like_network: see the top. An interface besides lo, with an address
# and a route, as every machine has, so that a container that sees "the
# host's network" sees more than a loopback. (veth is built into most
# kernels, a module in Debian's cloud kernel, which the test VMs load.)
host_like_network() {
    busybox ip link set lo up &&
        busybox ip link add host0 type veth &&
        busybox ip addr add 192.0.2.1/24 dev host0 &&
        busybox ip link set host0 up &&
        busybox ip route add default via 192.0.2.254 || return 1
    export MINIDOCKER_NETNS_PID=$$
}

# in_own_network: see the top. (-ef compares the namespaces' inodes.)
in_own_network() {
    [[ -n ${MINIDOCKER_NETNS_PID:-} && /proc/self/ns/net -ef /proc/$MINIDOCKER_NETNS_PID/ns/net ]]
}

# minidocker_cgroups [PIDNS]: every minidocker-* cgroup directory (with
# PIDNS, every minidocker-PIDNS-*), up to three levels under /sys/fs/cgroup,
# one a line.
minidocker_cgroups() {
    local cgroup name="minidocker-${1:+$1-}"
    for cgroup in /sys/fs/cgroup/"$name"* /sys/fs/cgroup/*/"$name"* \
        /sys/fs/cgroup/*/*/"$name"*; do
        [[ -d $cgroup ]] && echo "$cgroup"
    done
    return 0
}

# stale_cgroups: the minidocker-NS-PID cgroups that a runtime killed with
# SIGKILL left behind: empty (its container died with it, PR_SET_PDEATHSIG)
# and with no runtime any more, that is no process whose PID namespace is NS
# and whose pid there is PID. (A runtime's new cgroup is empty for a moment,
# but its runtime is alive. A cgroup directory's times say nothing here: the
# kernel sets them when it first looks the directory up.) rmdir removes them.
stale_cgroups() {
    local cgroup name ns pid status line nspid
    while IFS= read -r cgroup; do
        [[ -z $(cat "$cgroup/cgroup.procs" 2>/dev/null || echo busy) ]] || continue
        name=${cgroup##*/minidocker-}
        ns=${name%-*} pid=${name##*-}
        [[ $ns =~ ^[0-9]+$ && $pid =~ ^[0-9]+$ ]] || continue
        # A process's pid in its own namespace is the last of its NSpid line.
        for status in /proc/[0-9]*/status; do
            nspid=
            while IFS= read -r line; do
                [[ $line == NSpid:* ]] && nspid=${line##*[[:space:]]} && break
            done <"$status" 2>/dev/null
            [[ $nspid == "$pid" ]] || continue
            [[ $(readlink "${status%/status}/ns/pid" 2>/dev/null) == "pid:[$ns]" ]] && continue 2
        done
        echo "$cgroup"
    done < <(minidocker_cgroups)
    return 0
}

### messages ###

# die MESSAGE: say what went wrong, prefixed with $prog, and exit 1.
die() {
    echo "$prog: $*" >&2
    exit 1
}

# misuse MESSAGE: the same for a wrong command line: the message, the usage
# line (the script's usage function), a pointer to --help, and exit 2.
misuse() {
    echo "$prog: $*" >&2
    if declare -F usage >/dev/null; then
        usage >&2
    fi
    echo "Try '$prog --help' for more information." >&2
    exit 2
}

# step MESSAGE: say what is being done, prefixed with $prog's last word.
step() {
    echo "${prog##*/}: $*"
}

### bats ###

# tap_line LINE: parse one line of `bats --tap` (with or without --timing).
# A result line ("ok 3 name", "not ok 3 name", "ok 3 name # skip (why)")
# sets TAP_RESULT (ok, not ok or skip), TAP_NAME, TAP_TOOK ("123ms" or
# empty) and TAP_WHY (a skip's reason) and returns 0; a plan line ("1..N")
# sets TAP_PLANNED and returns 2; any other line returns 1.
tap_line() {
    TAP_RESULT='' TAP_NAME='' TAP_TOOK='' TAP_WHY=''
    if [[ $1 =~ ^1\.\.([0-9]+)$ ]]; then
        TAP_PLANNED=${BASH_REMATCH[1]}
        return 2
    fi
    [[ $1 =~ ^(ok|not\ ok)\ [0-9]+\ (.*)$ ]] || return 1
    TAP_RESULT=${BASH_REMATCH[1]} TAP_NAME=${BASH_REMATCH[2]}
    # bats --timing ends the name with " in 123ms", before a skip's reason.
    if [[ $TAP_NAME =~ ^(.*)\ in\ ([0-9]+ms)(\ #\ skip.*)?$ ]]; then
        TAP_NAME=${BASH_REMATCH[1]}${BASH_REMATCH[3]} TAP_TOOK=${BASH_REMATCH[2]}
    fi
    if [[ $TAP_RESULT == ok && $TAP_NAME == *" # skip"* ]]; then
        TAP_RESULT=skip
        TAP_WHY=${TAP_NAME#*" # skip"}
        TAP_WHY=${TAP_WHY# (}
        TAP_WHY=${TAP_WHY%)}
        TAP_NAME=${TAP_NAME%%" # skip"*}
    fi
    return 0
}

# test_ids FILE: "ID<TAB>NAME" for each test of the .bats FILE whose
# `# bats test_tags=` line has a tag id:ID (the key of labs/NN-name/checks).
test_ids() {
    awk '
        /^# bats test_tags=/ {
            id = ""
            n = split(substr($0, 18), tag, / *, */)
            for (i = 1; i <= n; i++) if (tag[i] ~ /^ *id:/) { id = tag[i]; sub(/^ *id:/, "", id); sub(/ *$/, "", id) }
            next
        }
        /^@test "/ {
            name = $0; sub(/^@test "/, "", name); sub(/" *\{ *$/, "", name)
            if (id != "") printf "%s\t%s\n", id, name
            id = ""
            next
        }
        /^[^#]/ { id = "" }
    ' "$1"
}

# test_names FILE [TAG]: the name of each test of the .bats FILE, a line each;
# with TAG, only those tagged TAG, with !TAG only those not (as bats
# --filter-tags TAG selects them).
test_names() {
    awk -v tag="${2:-}" '
        BEGIN { negate = sub(/^!/, "", tag) }
        /^# bats test_tags=/ { tags = "," substr($0, 18) ","; gsub(/ /, "", tags); next }
        /^@test "/ {
            name = $0; sub(/^@test "/, "", name); sub(/" *\{ *$/, "", name)
            if (tag == "" || (index(tags, "," tag ",") > 0) != negate) print name
        }
        /^[^#]/ { tags = "" }
    ' "$1"
}
