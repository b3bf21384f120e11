#!/usr/bin/env bash
# doctor.sh: can this machine run the kit? One line per check: ✓ good, ✗ a
# problem (with the exact fix), ! worth knowing. `make doctor` runs it; an
# instructor runs it on each classroom VM before a workshop, a student when
# something fails. Exits 0 when the stages can run here, 1 when they cannot.
# It changes nothing on the host but a pids and a memory cgroup it makes and
# removes.
# Usage: stages/doctor.sh
set -euo pipefail

kit=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/kit.bash
. "$kit/lib/kit.bash"
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    echo "Usage: $0    (as root)"
    exit 0
fi

problems=0
good() { printf '  \342\234\223 %s\n' "$*"; }
bad() {
    printf '  \342\234\227 %s\n' "$*"
    problems=$((problems + 1))
}
note() { printf '  ! %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

echo "mini-docker doctor: can this machine run the kit?"

# The architecture, as Debian names it (uname -m where there is no dpkg).
# The stages are portable C; the kit is proven on amd64 by make test on the
# machine it is developed on, and on arm64 (a Linux VM on an Apple Silicon
# Mac) by make test-arm64, in an emulated arm64 VM. Elsewhere it may well
# run, but nothing has shown it.
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $arch in
    amd64 | x86_64) good "architecture: amd64 (x86-64), supported (make test proves it)" ;;
    arm64 | aarch64) good "architecture: arm64 (aarch64), supported (make test-arm64 proves it, under emulation)" ;;
    *) note "architecture: $arch, untested: the kit is proven on amd64 and arm64 only; the stages are portable C, so make test will tell" ;;
esac

# Root: namespaces, mounts and cgroups all need it.
if [[ $EUID -eq 0 ]]; then
    good "running as root"
else
    bad "not root: run it as root, e.g. sudo make doctor (and sudo make demo, sudo make test)"
fi

# Where it runs: WSL, a container, the kernel's age. The files that say so
# are read under DOCTOR_ROOT (default: none, the machine's own), so that
# tests/doctor.bats can fake a WSL2 /proc/version, a /.dockerenv or an old
# kernel; what the doctor tries (unshare, cgroups), its own capabilities and
# its mounts are always the machine's.
root=${DOCTOR_ROOT:-}
proc_version=$(cat "$root/proc/version" 2>/dev/null || true)
release=$(cat "$root/proc/sys/kernel/osrelease" 2>/dev/null || uname -r)

# WSL2 runs a real Linux kernel (Microsoft's build, "-microsoft-standard"),
# where the kit runs as on a VM, if its cgroups give a pids controller: v2
# with pids in cgroup.controllers (WSL2 with systemd), or v1's mounted.
# WSL1 has no Linux kernel at all: it translates system calls, and has no
# namespaces or cgroups.
if [[ ${proc_version,,} == *microsoft* ]]; then
    if [[ ${proc_version,,} != *microsoft-standard* && $proc_version != *WSL2* ]]; then
        bad "WSL1 (/proc/version names Microsoft): it has no Linux kernel, so no namespaces or cgroups; in PowerShell: wsl --set-version DISTRO 2 (wsl -l -v names it), or use a VM"
    elif grep -qw pids "$root/sys/fs/cgroup/cgroup.controllers" 2>/dev/null; then
        good "WSL2 (kernel $release): cgroup v2 has the pids controller, so the kit runs as on a VM"
    elif [[ -e $root/sys/fs/cgroup/pids/cgroup.procs ]]; then
        good "WSL2 (kernel $release): the v1 pids controller is mounted, so the kit runs as on a VM"
    else
        bad "WSL2 (kernel $release) without a pids controller (not in /sys/fs/cgroup/cgroup.controllers, no v1 /sys/fs/cgroup/pids), which stage 05 needs: turn on systemd ([boot] systemd=true in /etc/wsl.conf) and cgroup v2 alone ([wsl2] kernelCommandLine = cgroup_no_v1=all in %UserProfile%\\.wslconfig), then wsl --shutdown in PowerShell and open the distribution again"
    fi
fi

# A container: Docker leaves /.dockerenv, Podman /run/.containerenv, and
# systemd-nspawn, LXC and Podman set container= in PID 1's environment (a
# VM made from a Docker image keeps its /.dockerenv, hence a note). The
# kit makes namespaces, mounts and cgroups, which a container holds back by
# default (no CAP_SYS_ADMIN, a read-only /sys/fs/cgroup, a cgroup namespace
# whose root holds processes, a seccomp profile): the lines below say which.
container=
if [[ -e $root/.dockerenv ]]; then
    container="a Docker container, or a system made from a Docker image (/.dockerenv)"
elif [[ -e $root/run/.containerenv ]]; then
    container="a Podman container (/run/.containerenv)"
else
    container_env=$(tr '\0' '\n' 2>/dev/null <"$root/proc/1/environ" | sed -n 's/^container=//p' | head -n 1) || true
    [[ -z $container_env ]] || container="a container (container=$container_env in /proc/1/environ)"
fi
container_fix="run it with docker run --privileged --cgroupns=host (podman run --privileged --cgroupns=host), or better, in a VM (Lima, Multipass, UTM, WSL2)"
if [[ -n $container ]]; then
    note "running inside $container: the kit needs privileges a container lacks by default; if a line below fails, $container_fix"
fi
# CAP_SYS_ADMIN (bit 21 of CapEff): every mount and namespace needs it; root
# in a container without --privileged lacks it.
cap_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status 2>/dev/null) || true
if [[ $EUID -eq 0 && $cap_eff =~ ^[0-9a-f]+$ ]] && (((16#$cap_eff >> 21 & 1) == 0)); then
    bad "root here lacks CAP_SYS_ADMIN (CapEff $cap_eff), which every namespace and mount of the kit needs: $container_fix"
fi
# A read-only cgroupfs: what Docker and Podman mount without --privileged.
cgroup_options=$(awk '$5 == "/sys/fs/cgroup" { print $6 }' /proc/self/mountinfo | tail -n 1)
if [[ ,$cgroup_options, == *,ro,* ]]; then
    bad "/sys/fs/cgroup is mounted read-only (as a container has it), so stages 05 and on cannot make their cgroup: $container_fix"
fi

# The kernel's age: what each stage needs at least, where the need rises
# (a stage needs what the one before it needs): STAGE VERSION WHAT. From
# the stages' own calls and hints: 09's "setns on a pidfd needs Linux 5.8"
# (pidfd_open(2): 5.3; 10's open_tree(2) and move_mount(2): 5.2), 07's OOM
# count (oom_kill in memory.events and v1's memory.oom_control: 4.13), which
# make oom proves, 05's pids controller (4.3), 02's PID namespaces (2.6.24).
kernel_needs=(
    "01 2.6.19 UTS namespaces"
    "02 2.6.24 PID namespaces"
    "05 4.3 the pids controller"
    "07 4.13 the OOM kill count in memory.events"
    "09 5.8 setns(2) on a pidfd"
)
# kernel_number VERSION: 5.8.0 as 5008000, to compare.
kernel_number() {
    local major minor patch
    [[ $1 =~ ^([0-9]+)\.([0-9]+)(\.([0-9]+))? ]] || return 1
    major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[4]:-0}
    echo $((10#$major * 1000000 + 10#$minor * 1000 + 10#$patch))
}
if have_release=$(kernel_number "$release"); then
    runnable=() too_old=() first_need=
    for stage in "${STAGES[@]}"; do
        for entry in "${kernel_needs[@]}"; do
            ((10#${entry%% *} <= 10#${stage%%-*})) && need=${entry#* }
        done
        if ((have_release >= $(kernel_number "${need%% *}"))); then
            runnable+=("$stage")
        else
            too_old+=("$stage")
            [[ -n $first_need ]] || first_need="${need#* } (Linux ${need%% *})"
        fi
    done
    newest=${kernel_needs[-1]#* }
    if ((${#too_old[@]} == 0)); then
        good "kernel $release: new enough for every stage (the newest need: ${newest#* }, Linux ${newest%% *}, from stage ${kernel_needs[-1]%% *} on)"
    else
        bad "kernel $release is too old for ${too_old[*]}, which need $first_need or more; it runs ${runnable[*]:-none of the stages}: boot a newer kernel (Ubuntu 20.04: apt-get install linux-generic-hwe-20.04), or use a Debian 12 or Ubuntu 22.04 or 24.04 VM"
    fi
else
    note "kernel release '$release' is not a version the doctor can compare, so it cannot say which stages the kernel runs"
fi

# The namespaces the stages use, and whether this process may make them.
for ns in uts pid mnt net user; do
    if [[ -e /proc/self/ns/$ns ]]; then
        good "the kernel has $ns namespaces (/proc/self/ns/$ns)"
    else
        bad "no /proc/self/ns/$ns: this kernel lacks ${ns} namespaces (CONFIG_${ns^^}_NS); use a distribution kernel"
    fi
done
if ! have unshare; then
    bad "unshare not found, so namespaces cannot be tried: apt-get install util-linux"
elif [[ $EUID -ne 0 ]]; then
    bad "cannot try unshare --uts --pid --mount --net without root"
elif why=$(unshare --uts --pid --mount --net --fork true 2>&1); then
    good "unshare --uts --pid --mount --net works"
else
    bad "unshare --uts --pid --mount --net fails (${why##*: }): inside a container, give it CAP_SYS_ADMIN (docker run --privileged)"
fi
# Stage 09's cable: a veth pair, tried in a throwaway network namespace.
if [[ $EUID -eq 0 ]] && have unshare && have busybox; then
    if why=$(unshare --net busybox ip link add doctor0 type veth 2>&1); then
        good "a veth pair can be made (stage 09)"
    elif [[ $why == *"not permitted"* ]]; then
        bad "no veth pair can be made (${why##*: }), which stage 09 needs: root here may not make a network namespace or a device in it; $container_fix"
    else
        bad "no veth pair can be made (${why##*: }), which stage 09 needs: a kernel with CONFIG_VETH (modprobe veth)"
    fi
fi
# Stage 10's user namespace: the kernel must allow some (a limit above 0),
# and let root make one and write its uid_map, as the runtime does. What can
# refuse it: Ubuntu's AppArmor restriction (on by default from 24.04) and
# Debian's old kernel.unprivileged_userns_clone, both meant for users
# without root (the trial says whether root is held back too), and a
# container's seccomp profile (Docker's default), which refuses
# CLONE_NEWUSER even to its root.
max_userns=$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || true)
apparmor_userns=$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns 2>/dev/null || true)
if [[ $max_userns == 0 ]]; then
    bad "user.max_user_namespaces is 0, so no user namespace can be made, which stage 10 needs: sysctl -w user.max_user_namespaces=15000 (and the same line in /etc/sysctl.d/ to keep it)"
elif [[ -e /proc/self/ns/user && $EUID -eq 0 ]] && have unshare; then
    # -r (--map-root-user) writes the uid_map and gid_map: util-linux's and
    # busybox's unshare both have it.
    if why=$(unshare --user -r true 2>&1); then
        good "a user namespace can be made, with a uid_map written (stage 10; user.max_user_namespaces is ${max_userns:-unknown})"
        if [[ $apparmor_userns == 1 ]]; then
            note "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu's default): it holds back the user namespaces of users without root, not root's, as the line above shows"
        fi
    elif [[ $apparmor_userns == 1 ]]; then
        bad "no user namespace can be made (${why##*: }), which stage 10 needs; AppArmor restricts them here: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
    elif [[ $(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null) == 0 ]]; then
        bad "no user namespace can be made (${why##*: }), which stage 10 needs: sysctl -w kernel.unprivileged_userns_clone=1"
    else
        bad "no user namespace can be made (${why##*: }), which stage 10 needs: in a container, whose seccomp profile refuses CLONE_NEWUSER, run it with docker run --privileged (or --security-opt seccomp=unconfined)"
    fi
fi

# The cgroup layout, as stage 05 tells it apart with statfs(2), and where it
# makes its cgroups (lib/kit.bash: cgroup_layout, cgroup_root).
layout=$(cgroup_layout)
hierarchy=$(cgroup_root pids)
case $layout in
    unified) good "cgroup layout: cgroup v2 (unified)" ;;
    hybrid) good "cgroup layout: hybrid (cgroup v1 controllers, and cgroup2 at /sys/fs/cgroup/unified)" ;;
    legacy) good "cgroup layout: cgroup v1 (legacy)" ;;
    *) bad "nothing usable is mounted at /sys/fs/cgroup: mount cgroup2 there (mount -t cgroup2 none /sys/fs/cgroup)" ;;
esac

# Whether pids.max can appear in a cgroup stage 05 makes.
pids_ok=
if [[ $layout == unified ]]; then
    if [[ -z $hierarchy && -n $container ]]; then
        bad "cgroup v2 has no pids controller in /sys/fs/cgroup/cgroup.controllers (the container's cgroup, without it delegated), which stage 05 needs: $container_fix"
    elif [[ -z $hierarchy ]]; then
        bad "cgroup v2 has no pids controller in /sys/fs/cgroup/cgroup.controllers: on a hybrid boot it is bound to v1; boot with systemd.unified_cgroup_hierarchy=1, or use a kernel with CONFIG_CGROUP_PIDS"
    elif grep -qw pids "$hierarchy/cgroup.subtree_control" 2>/dev/null; then
        good "pids is enabled in $hierarchy/cgroup.subtree_control"
        pids_ok=1
    elif [[ $EUID -eq 0 ]] && why=$( (echo +pids >"$hierarchy/cgroup.subtree_control") 2>&1); then
        good "pids could be enabled in $hierarchy/cgroup.subtree_control (stage 05 does the same)"
        pids_ok=1
    else
        bad "pids cannot be enabled in $hierarchy/cgroup.subtree_control (${why##*: }): the root cgroup of a cgroup namespace holding processes cannot delegate it (no-internal-process rule); run the kit on the host, or in a container whose cgroup has pids delegated"
    fi
elif [[ $layout != none ]]; then
    if [[ -n $hierarchy ]]; then
        good "the v1 pids controller is mounted at $hierarchy"
        pids_ok=1
    else
        bad "no v1 pids controller at /sys/fs/cgroup/pids: mount it (mkdir /sys/fs/cgroup/pids && mount -t cgroup -o pids none /sys/fs/cgroup/pids), or boot with cgroup v2"
    fi
fi
if [[ -n $pids_ok && $EUID -eq 0 ]]; then
    trial=$hierarchy/minidocker-doctor-$$
    if mkdir "$trial" 2>/dev/null && [[ -e $trial/pids.max ]] && rmdir "$trial"; then
        good "a pids cgroup with pids.max can be made in $hierarchy"
    else
        rmdir "$trial" 2>/dev/null || true
        bad "cannot make a cgroup with pids.max in $hierarchy"
    fi
fi
# Stage 07's memory limit: the memory controller, a tree of its own on v1
# (/sys/fs/cgroup/memory), enabled for the children of the root on v2.
memory_hierarchy=$(cgroup_root memory)
memory_ok=
if [[ $layout == unified ]]; then
    if [[ -z $memory_hierarchy && -n $container ]]; then
        bad "cgroup v2 has no memory controller in /sys/fs/cgroup/cgroup.controllers (the container's cgroup, without it delegated), which stage 07 needs: $container_fix"
    elif [[ -z $memory_hierarchy ]]; then
        bad "cgroup v2 has no memory controller in /sys/fs/cgroup/cgroup.controllers, which stage 07 needs: if the kernel command line has cgroup_disable=memory, remove it (a Raspberry Pi needs cgroup_enable=memory there)"
    elif grep -qw memory "$memory_hierarchy/cgroup.subtree_control" 2>/dev/null; then
        good "memory is enabled in $memory_hierarchy/cgroup.subtree_control"
        memory_ok=1
    elif [[ $EUID -eq 0 ]] && why=$( (echo +memory >"$memory_hierarchy/cgroup.subtree_control") 2>&1); then
        good "memory could be enabled in $memory_hierarchy/cgroup.subtree_control (stage 07 does the same)"
        memory_ok=1
    else
        bad "memory cannot be enabled in $memory_hierarchy/cgroup.subtree_control (${why##*: }), which stage 07 needs: run the kit on the host, or in a container whose cgroup has memory delegated"
    fi
elif [[ $layout != none ]]; then
    if [[ -n $memory_hierarchy ]]; then
        good "the v1 memory controller is mounted at $memory_hierarchy"
        memory_ok=1
    else
        bad "no v1 memory controller at /sys/fs/cgroup/memory, which stage 07 needs: mount it (mkdir /sys/fs/cgroup/memory && mount -t cgroup -o memory none /sys/fs/cgroup/memory), or, if the kernel command line has cgroup_disable=memory, remove it"
    fi
fi
if [[ -n $memory_ok && $EUID -eq 0 ]]; then
    # A cgroup's files say what the kernel offers: the limit, and whether
    # swap is accounted (v1 memsw, v2 swap.max), which 07 sets so that a
    # container cannot page its way past its limit.
    trial=$memory_hierarchy/minidocker-doctor-$$
    limit_file=memory.max swap_file=memory.swap.max
    [[ $layout == unified ]] || limit_file=memory.limit_in_bytes swap_file=memory.memsw.limit_in_bytes
    if mkdir "$trial" 2>/dev/null && [[ -e $trial/$limit_file ]]; then
        good "a memory cgroup with $limit_file can be made in $memory_hierarchy"
        if [[ -e $trial/$swap_file ]]; then
            good "swap is accounted ($swap_file): stage 07 holds a container's memory and swap to its limit"
        else
            note "no swap accounting ($swap_file): stage 07 limits memory alone, so on a machine with swap a container may page past its limit (boot with swapaccount=1)"
        fi
        rmdir "$trial" || bad "cannot remove the trial cgroup $trial (rmdir it)"
    else
        rmdir "$trial" 2>/dev/null || true
        bad "cannot make a cgroup with $limit_file in $memory_hierarchy"
    fi
fi
# What a runtime killed with SIGKILL left: harmless to the next runs (each
# run's cgroup has a name of its own), but each holds a directory.
mapfile -t stale < <(stale_cgroups)
if ((${#stale[@]})); then
    note "${#stale[@]} cgroup(s) left by a runtime killed with SIGKILL (${stale[*]}): make clean removes them"
fi

# What the kit builds with, and what it runs.
# Static: an ELF file without a program interpreter (the loader of libc).
is_static() {
    local headers
    headers=$(LC_ALL=C readelf -l "$1" 2>/dev/null) && [[ $headers != *"program interpreter"* ]]
}
if [[ -x $kit/build/rootfs/bin/busybox ]]; then
    good "the rootfs is built (build/rootfs)"
elif is_static /bin/busybox; then
    good "busybox-static is installed; make rootfs will build the rootfs"
else
    bad "no rootfs and no static busybox: apt-get install busybox-static, then make rootfs"
fi
stages_built=1
for stage in "${STAGES[@]}"; do
    [[ -x $kit/build/$stage ]] || stages_built=
done
if have cc; then
    good "a C compiler: $(cc --version 2>/dev/null | head -n 1)"
elif [[ -n $stages_built ]]; then
    note "no C compiler, but the stages are built; to rebuild them: apt-get install gcc libc6-dev"
else
    bad "no C compiler to build the stages: apt-get install gcc libc6-dev make"
fi
if have bats && [[ -e /usr/lib/bats/bats-assert/load.bash ]]; then
    good "bats with bats-assert, for make test"
else
    note "bats, bats-support or bats-assert is missing; make test installs them (apt-get install bats bats-support bats-assert)"
fi

# Propagation: systemd makes / shared; stage 03 makes its mounts private
# first, so nothing it mounts reaches the host.
propagation=$(awk '$5 == "/" { print ($7 ~ /^shared:/) ? "shared" : "private" }' /proc/self/mountinfo | tail -n 1)
if [[ $propagation == shared ]]; then
    note "/ has shared propagation (normal with systemd); the stages make their mounts private first, so nothing leaks to the host"
fi

# pivot_root(2) (stage 06) puts the host's root under the container's, so
# the root must be a mount with a parent: not the initramfs's rootfs, the
# root of the mount tree (its own parent in mountinfo), nor a directory made
# the root by chroot (then no mount on / shows at all).
root_mount=$(awk '$5 == "/" { seen = ($1 == $2) ? (seen ? seen : "rootfs") : "mount" }
    END { print seen }' /proc/self/mountinfo)
case $root_mount in
    mount) good "/ is a mount point with a parent mount, as pivot_root (stage 06) needs" ;;
    rootfs) bad "/ is the initramfs's rootfs, where pivot_root fails (EINVAL): boot into a real root first (switch_root(8); tests/vm/init does so into a tmpfs)" ;;
    *) bad "/ is not a mount point (inside a chroot?), where pivot_root fails (EINVAL): run the kit outside the chroot, or bind-mount its directory onto itself before chrooting (mount --bind DIR DIR)" ;;
esac

if ((problems)); then
    echo "doctor: $problems problem(s); the kit cannot run here until they are fixed"
    exit 1
fi
echo "doctor: the kit can run here"
