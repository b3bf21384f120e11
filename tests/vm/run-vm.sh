#!/usr/bin/env bash
# run-vm.sh: run the kit's own bats suite (tests/run) inside a real Linux
# kernel under qemu, once per cgroup layout, because a host has only one:
#
#   unified  only cgroup2 at /sys/fs/cgroup (Ubuntu 22.04/24.04, Debian 12)
#   legacy   a tmpfs at /sys/fs/cgroup, one cgroup v1 hierarchy per controller
#
# The VM boots Debian's cloud kernel with an initramfs and no disk: busybox,
# bash-static, bats with bats-support and bats-assert, the few util-linux and
# coreutils programs the tests need that busybox lacks, and the kit as the
# tests expect it (/kit/build/NN-*, /kit/build/rootfs, /kit/tests). Its init
# (tests/vm/init) switch_roots from the initramfs into a tmpfs copy of it (so
# that pivot_root(2) works, as on a host), mounts the layout, runs tests/run
# with CI=true, prints the exit status and powers off. The serial console goes
# to build/vm/LAYOUT.log.
#
# The VM is of this host's architecture (amd64: qemu-system-x86_64; arm64:
# qemu-system-aarch64 -M virt), or of VM_ARCH's (make test-arm64 on amd64):
# then the kit is the one cross-built into build/ARCH/, the kernel, busybox,
# bash and the few programs below are that architecture's Debian packages
# (fetched with a private apt configuration, rootfs-builder/deb-cache.sh),
# qemu emulates it (tcg), and the logs go to build/ARCH/vm/.
set -euo pipefail

prog=${0##*/}
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kit=$(cd "$script_dir/../.." && pwd)
# shellcheck source=lib/kit.bash
. "$kit/lib/kit.bash"

LAYOUTS=(unified legacy)
# Programs copied from the host, with their shared libraries, because the
# busybox applet lacks what the tests use: setpriv --reuid, a timeout that
# runs CMD as its child (busybox's execs CMD in its own place), and a date
# with %N, which bats --timing reads (busybox's gives whole seconds).
HOST_PROGRAMS=(setpriv unshare timeout date)
# In a VM of another architecture, the same programs (and coreutils' sleep,
# below) come from these packages of its own, with their libraries.
PROGRAM_PACKAGES=(coreutils util-linux libc6 libcap-ng0)

### messages ###

usage() {
    echo "Usage: $prog [-h] [unified|legacy]..."
}

show_help() {
    usage
    cat <<EOF
Run tests/run inside a qemu VM for each cgroup LAYOUT (default: all of
${LAYOUTS[*]}) and fail if any test fails, if fewer tests ran than the
suite holds, or if a VM does not finish in time.

Each VM's console is saved in build/vm/LAYOUT.log (build/ARCH/vm/ for
another architecture's VM).

Needs root (the initramfs holds build/rootfs's device nodes), qemu-system-x86
and cpio (make test-vm installs them), a built kit (make all rootfs, whose
bash the VM uses), apt-get for the kernel (cached in build/vm/cache), and
from tests/run --count (how many tests each VM must run) and
--build-mutants (the VMs have no compiler).

Environment:
  VM_ARCH=amd64|arm64    the VM's architecture (default: this host's).
                         Another one runs the kit built into build/ARCH/
                         (make test-arm64) under tcg, with its Debian cloud
                         kernel, busybox, bash and tools
  VM_ACCEL=auto|kvm|tcg  accelerator (default auto: kvm if a short probe
                         boot works, else tcg)
  VM_TIMEOUT=SECONDS     time limit for each VM (default 900)
  VM_SMP=N               virtual CPUs per VM (default 1: under tcg a
                         second one only slows the mostly serial suite)
  VM_MEMORY=SIZE         memory per VM (default 1G)
  VM_PARALLEL=0|1        boot the layouts one after the other or together
                         (default 1 when the host has 2 CPUs or more)
  VM_STAGES="04 05"      run only these stages' part of the suite
                         (tests/run STAGE...; default: all of it)
  VM_RUN=cgroup-only|full  only what depends on the cgroup layout or the
                         kernel (tests/run --cgroup-only: make test), or the
                         full matrix (tests/run --full: make test-full);
                         default: neither
  VM_KERNEL_TESTS=first|all  with VM_RUN=cgroup-only, where the tests tagged
                         kernel (and not cgroup) run: in the first layout
                         booted (default: every layout boots the same kernel,
                         and they do not depend on the layout), or in each
  VM_SKIP_PHASES=2,3     leave these phases of tests/run out, and with
                         'plumbing' the tests tagged so (tests/run
                         --skip-phases). make test leaves out 2 and 3, which
                         prove the tests honest and run on the host
EOF
}

# die, misuse and step: lib/kit.bash's (step says "run-vm.sh: ...").

### arguments ###

layouts=()
for arg in "$@"; do
    case $arg in
        -h | --help)
            show_help
            exit 0
            ;;
        unified | legacy) layouts+=("$arg") ;;
        *) misuse "unknown layout or option: $arg" ;;
    esac
done
((${#layouts[@]})) || layouts=("${LAYOUTS[@]}")

accel=${VM_ACCEL:-auto}
vm_timeout=${VM_TIMEOUT:-900}
smp=${VM_SMP:-1}
memory=${VM_MEMORY:-1G}
parallel=${VM_PARALLEL:-$(($(nproc) >= 2))}
read -r -a stages <<<"${VM_STAGES:-}"
vm_run=${VM_RUN:-}
[[ -z $vm_run || $vm_run == cgroup-only || $vm_run == full ]] || misuse "VM_RUN must be cgroup-only or full, not '$vm_run'"
run_option=()
[[ -z $vm_run ]] || run_option=("--$vm_run")
kernel_tests=${VM_KERNEL_TESTS:-first}
[[ $kernel_tests == first || $kernel_tests == all ]] || misuse "VM_KERNEL_TESTS must be first or all, not '$kernel_tests'"
skip_phases=${VM_SKIP_PHASES:-}
[[ $skip_phases =~ ^(([0-9]|plumbing)(,([0-9]|plumbing))*)?$ ]] ||
    misuse "VM_SKIP_PHASES must be phase numbers or 'plumbing', such as 2,3,plumbing, not '$skip_phases'"
[[ $accel == auto || $accel == kvm || $accel == tcg ]] || misuse "VM_ACCEL must be auto, kvm or tcg, not '$accel'"
[[ $vm_timeout =~ ^[0-9]+$ ]] || misuse "VM_TIMEOUT must be a number of seconds, not '$vm_timeout'"
[[ $smp =~ ^[1-9][0-9]*$ ]] || misuse "VM_SMP must be a number of CPUs, not '$smp'"
[[ $parallel == 0 || $parallel == 1 ]] || misuse "VM_PARALLEL must be 0 or 1, not '$parallel'"

# The architecture: its qemu, machine, serial console and kernel command
# line. Under tcg, arm64's -cpu max emulates pointer authentication with the
# architected algorithm (QARMA), a cost on every call and return: the
# implementation-defined one is as good here and much cheaper.
host_arch=$(dpkg --print-architecture)
vm_arch=${VM_ARCH:-$host_arch}
case $vm_arch in
    amd64)
        qemu=qemu-system-x86_64 qemu_package=qemu-system-x86 machine=() console=ttyS0 tcg_cpu=max
        triplet=x86_64-linux-gnu
        # no5lvl: qemu's max CPU has 5-level paging, and a page walk of five
        # levels instead of four made runs and bats tests a tenth slower.
        arch_append=" no5lvl"
        ;;
    arm64)
        qemu=qemu-system-aarch64 qemu_package=qemu-system-arm machine=(-M 'virt,gic-version=max')
        console=ttyAMA0 tcg_cpu=max,pauth-impdef=on arch_append='' triplet=aarch64-linux-gnu
        ;;
    *) misuse "VM_ARCH must be amd64 or arm64, not '$vm_arch'" ;;
esac
# The kit the VM runs, and where its files go: build/, or build/ARCH/ for
# another architecture (with the packages' cache beside its rootfs's).
if [[ $vm_arch == "$host_arch" ]]; then
    arch_build=$kit/build
    vm_dir=$kit/build/vm
    cache_dir=$vm_dir/cache
else
    arch_build=$kit/build/$vm_arch
    vm_dir=$arch_build/vm
    cache_dir=$arch_build/cache
    [[ $accel != kvm ]] || misuse "VM_ACCEL=kvm cannot run a $vm_arch VM on this $host_arch host"
    accel=tcg
    # Phase 3's mutants are built here with this host's compiler.
    [[ ,$skip_phases, == *,3,* ]] || misuse "a $vm_arch VM on this $host_arch host needs phase 3 left out: VM_SKIP_PHASES=...,3"
fi

### prerequisites ###

[[ $EUID -eq 0 ]] || die "the initramfs holds device nodes, which only root can archive: run as root, e.g. with sudo"
for tool in "$qemu" cpio dpkg-deb gzip readelf; do
    command -v "$tool" >/dev/null ||
        die "$tool not found; install it with: apt-get install $qemu_package cpio binutils (or run: make test-vm)"
done
host_programs=()
[[ $vm_arch != "$host_arch" ]] || host_programs=("${HOST_PROGRAMS[@]}")
for program in bats "${host_programs[@]}"; do
    command -v "$program" >/dev/null ||
        die "$program not found; install it with: make deps"
done
for dir in /usr/lib/bats/bats-support /usr/lib/bats/bats-assert; do
    [[ -d $dir ]] || die "$dir not found; install it with: make deps"
done
[[ -x $kit/tests/run ]] || die "$kit/tests/run is missing or not executable"
if [[ $vm_arch == "$host_arch" ]]; then
    [[ -x $kit/build/${STAGES[0]} && -x $kit/build/rootfs/bin/busybox ]] ||
        die "the kit is not built; run: make all rootfs"
else
    [[ -x $arch_build/${STAGES[0]} && -x $arch_build/rootfs/bin/busybox ]] ||
        die "the $vm_arch kit is not built into ${arch_build#"$kit"/}; run: make test-$vm_arch"
fi

### cleanup ###

scratch_dir=

# timeout(1) runs qemu in a process group of its own, out of reach of a ^C:
# stop each VM this run started, by the pid qemu wrote (boot_vm removes the
# file once qemu has ended, and the pid must still be a qemu's).
cleanup() {
    local status=$? pidfile pid
    if [[ -n $scratch_dir ]]; then
        for pidfile in "$scratch_dir"/*.pid; do
            [[ -s $pidfile ]] || continue
            pid=$(cat "$pidfile")
            if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system-* ]]; then
                kill "$pid" 2>/dev/null || true
            fi
        done
        wait # for the jobs that still write into the scratch dir
        rm -rf --one-file-system -- "$scratch_dir"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p -- "$cache_dir" "$vm_dir"
scratch_dir=$(mktemp -d "$vm_dir/scratch.XXXXXX")

### packages: the kernel (and bash-static if the rootfs has no bash), cached as .deb files ###

# shellcheck disable=SC2034 # deb-cache.sh reads it
DEB_ARCH=$vm_arch
# Debian's cloud kernel, from the host's apt on Debian, else (Ubuntu) from
# Debian's archive through a private apt configuration: lib/distro.bash.
# shellcheck disable=SC2034 # deb-cache.sh reads it
DEB_APT=$("$kit/lib/distro.bash" kernel-apt)
# shellcheck source=rootfs-builder/deb-cache.sh
source "$kit/rootfs-builder/deb-cache.sh"

# The metapackage names the current cloud kernel. Without package lists,
# the newest cached kernel will do, or else the lists are fetched.
current_kernel_package() {
    deb_apt apt-cache depends "linux-image-cloud-$vm_arch" 2>/dev/null |
        sed -n "s/^ *Depends: \(linux-image-[^ ]*-cloud-$vm_arch\)\$/\1/p" | head -n 1
}
kernel_package=$(current_kernel_package)
if [[ -z $kernel_package ]] && ! cached_deb "linux-image-*-cloud-$vm_arch" >/dev/null; then
    step "apt-get update, to find linux-image-cloud-$vm_arch"
    deb_apt apt-get update -qq || die "apt-get update failed"
    kernel_package=$(current_kernel_package)
fi
if [[ -n $kernel_package ]]; then
    kernel_deb=$(fetch_deb "$kernel_package") || die "cannot download $kernel_package with apt-get"
else
    kernel_deb=$(cached_deb "linux-image-*-cloud-$vm_arch") ||
        die "no kernel: apt-cache knows no linux-image-cloud-$vm_arch and none is cached in $cache_dir"
fi
# bash, static: the rootfs has it (make rootfs put it there for the fork
# bomb), or else it is fetched.
bash_deb=
if [[ ! -x $arch_build/rootfs/bin/bash ]]; then
    bash_deb=$(fetch_deb bash-static) || die "cannot download bash-static with apt-get"
fi

# Another architecture's programs: its packages, unpacked.
debs=
if [[ $vm_arch != "$host_arch" ]]; then
    debs=$scratch_dir/debs
    for package in "${PROGRAM_PACKAGES[@]}"; do
        deb=$(fetch_deb "$package") || die "cannot download $package ($vm_arch) with apt-get"
        dpkg-deb -x "$deb" "$debs" || die "cannot unpack $deb; delete it and run again"
    done
fi

# Unpack the kernel once per .deb, and the one module the suite needs: veth,
# for the veth pairs of the stages and of the suite's network namespace
# (Debian's cloud kernel builds it as a module; it depends on no other).
kernel=$vm_dir/${kernel_deb##*/}
kernel=${kernel%.deb}.vmlinuz
veth_module=${kernel%.vmlinuz}.veth.ko
if [[ ! -f $kernel || ! -f $veth_module ]]; then
    dpkg-deb --fsys-tarfile "$kernel_deb" |
        tar -x -C "$scratch_dir" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/net/veth.ko' ||
        die "cannot unpack the kernel and veth.ko from $kernel_deb; delete it and run again"
    mv -- "$scratch_dir"/boot/vmlinuz-* "$kernel"
    mv -- "$scratch_dir"/lib/modules/*/kernel/drivers/net/veth.ko "$veth_module"
fi

### the initramfs ###

root=$scratch_dir/root
initramfs=$vm_dir/initramfs.cpio.gz

# program_path NAME: the program NAME of the VM's architecture: this host's,
# or the one in the unpacked packages.
program_path() {
    if [[ -z $debs ]]; then
        command -v "$1"
    else
        find "$debs"/{bin,usr/bin} -maxdepth 1 -name "$1" | grep . | head -n 1
    fi
}

# libraries FILE: the loader and shared libraries FILE needs, at the paths
# ldd names; in the unpacked packages (which ldd cannot run), the loader
# readelf names and each library needed, from the multiarch directories.
libraries() {
    local name path
    if [[ -z $debs ]]; then
        ldd "$1" | grep -o '/[^ ]*'
        return
    fi
    LC_ALL=C readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p'
    for name in $(LC_ALL=C readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
        for path in "/lib/$triplet/$name" "/usr/lib/$triplet/$name"; do
            if [[ -e $debs$path ]]; then
                echo "$path"
                libraries "$debs$path"
                break
            fi
        done
    done
}

# copy_with_libs PROGRAM DEST: copy a program of program_path's and the
# shared libraries and loader it needs, at their paths, into the initramfs.
copy_with_libs() {
    local program=$1 dest=$2 library
    cp -L -- "$program" "$root$dest"
    for library in $(libraries "$program"); do
        if [[ ! -e $root$library ]]; then
            mkdir -p -- "$root$(dirname "$library")"
            cp -L -- "$debs$library" "$root$library"
        fi
    done
}

build_initramfs() {
    local started=$SECONDS program
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/libexec,usr/lib,usr/libexec}
    mkdir -p "$root"/{dev,proc,sys,tmp,var/tmp,run,root,etc,kit/build}
    chmod 1777 "$root/tmp" "$root/var/tmp"

    # busybox for init and every tool the suite uses that is not below;
    # init links the applets into /bin (busybox --install: one process,
    # where a link each here would be hundreds).
    cp -- "$arch_build/rootfs/bin/busybox" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    ln -s ../../bin/busybox "$root/usr/bin/env"

    mkdir -p "$root/lib/modules"
    cp -- "$veth_module" "$root/lib/modules/veth.ko"

    # bash, static, for bats and the tests.
    if [[ -z $bash_deb ]]; then
        cp -- "$arch_build/rootfs/bin/bash" "$root/bin/bash"
    else
        dpkg-deb -x "$bash_deb" "$scratch_dir/bash-static"
        cp -- "$scratch_dir/bash-static/bin/bash-static" "$root/bin/bash"
    fi

    for program in "${HOST_PROGRAMS[@]}"; do
        copy_with_libs "$(program_path "$program")" "/usr/local/bin/$program"
    done
    # And coreutils' sleep, for escapes/run's marker, which runs under a name
    # of its own (exec -a), where busybox's would look for an applet of that
    # name. Not as sleep: the tests' many short sleeps keep busybox's, which
    # is static, where a dynamic program's start costs much under tcg.
    copy_with_libs "$(program_path sleep)" /usr/local/libexec/sleep

    # bats-core where Debian puts it (bats finds its libexec from its own
    # path), and the libraries where bats_load_library looks.
    cp -- /usr/bin/bats "$root/usr/bin/bats"
    cp -r -- /usr/lib/bats-core "$root/usr/lib/bats-core"
    cp -r -- /usr/libexec/bats-core "$root/usr/libexec/bats-core"
    mkdir -p "$root/usr/lib/bats"
    cp -r -- /usr/lib/bats/bats-support /usr/lib/bats/bats-assert "$root/usr/lib/bats/"

    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$root/etc/group"

    # The kit, as the tests expect it: the stages' sources are there for
    # phase 3, which reuses the mutants built on the host (a fifth of the
    # initramfs: left out when phase 3 is, as make test leaves it out).
    cp -a -- "${STAGES[@]/#/$arch_build/}" "$arch_build/rootfs" "$arch_build/escapes" "$root/kit/build/"
    [[ ,$skip_phases, == *,3,* ]] || cp -a -- "$kit/build/mutants" "$root/kit/build/"
    cp -a -- "$kit/stages" "$kit/lib" "$kit/escapes" "$root/kit/"
    mkdir -p "$root/kit/tests"
    for file in "$kit"/tests/*; do
        [[ $file == "$script_dir" ]] || cp -a -- "$file" "$root/kit/tests/"
    done

    cp -- "$script_dir/init" "$root/init"
    chmod 755 "$root/init"

    (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) |
        gzip -1 >"$initramfs.tmp"
    mv -- "$initramfs.tmp" "$initramfs"
    rm -rf --one-file-system -- "$root"
    step "initramfs $(du -h "$initramfs" | cut -f1) built in $((SECONDS - started)) s"
}

### booting ###

# boot_vm LABEL ACCEL TIMEOUT LOG APPEND: boot the VM, its console to LOG
# and to stdout, each line led by [LABEL]; returns timeout(1)'s status.
boot_vm() {
    local label=$1 vm_accel=$2 limit=$3 log=$4 append=$5 cpu=$tcg_cpu status=0
    [[ $vm_accel == kvm ]] && cpu=host
    # timeout(1) stops a VM that hangs; -no-reboot turns the kernel's reboot
    # after a panic (panic=-1) into qemu's exit. mitigations=off: under tcg
    # the retpolines and barriers only cost time, and isolate nothing here.
    # init_on_alloc=0: Debian's kernel zeroes every allocation of its own,
    # which under tcg took a tenth to a fifth of the VM's CPU time. (And the
    # architecture's own, arch_append.)
    timeout -k 10 "$limit" "$qemu" "${machine[@]}" \
        -accel "$vm_accel" -cpu "$cpu" -smp "$smp" -m "$memory" \
        -kernel "$kernel" -initrd "$initramfs" \
        -append "console=$console quiet panic=-1 mitigations=off init_on_alloc=0$arch_append $append" \
        -display none -monitor none -serial stdio -nic none -no-reboot \
        -pidfile "$scratch_dir/$label.pid" \
        </dev/null 2>&1 | tr -d '\r' | tee "$log" | sed -u "s/^/[$label] /" || status=$?
    rm -f -- "$scratch_dir/$label.pid"
    return "$status"
}

# A nested KVM may crash or hang rather than refuse: boot once, briefly,
# and use it only if that reaches init. A /dev/kvm of PVM's (the kvm_pvm
# module: KVM without hardware virtualization, in a cloud VM) runs only a
# guest kernel built for PVM; Debian's hangs at its first instruction in
# long mode, spinning a host CPU until the probe's time limit: 30 s of the
# VMs' lane, and half the machine taken from the suite meanwhile.
choose_accel() {
    if [[ $accel != auto ]]; then
        echo "$accel"
    elif [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
        echo tcg
    elif [[ -d /sys/module/kvm_pvm ]]; then
        step "/dev/kvm is PVM's (kvm_pvm), which boots only a kernel built for it: using tcg" >&2
        echo tcg
    elif boot_vm kvm-probe kvm 30 "$vm_dir/kvm-probe.log" minidocker.probe >/dev/null 2>&1 &&
        grep -q '^minidocker-vm: exit status 0$' "$vm_dir/kvm-probe.log"; then
        echo kvm
    else
        step "/dev/kvm is there, but a VM did not boot with it (see build/vm/kvm-probe.log): using tcg" >&2
        echo tcg
    fi
}

# without_kernel_tests LAYOUT: succeeds if LAYOUT leaves out the tests
# tagged kernel (VM_KERNEL_TESTS=first: every layout but the first).
without_kernel_tests() {
    [[ $vm_run == cgroup-only && $kernel_tests == first && $1 != "${layouts[0]}" ]]
}

# run_layout LAYOUT: boot the VM with that cgroup layout; its console goes
# to build/vm/LAYOUT.log, its wall time and timeout(1)'s status to
# $scratch_dir/LAYOUT.ran.
run_layout() {
    local layout=$1 started=$SECONDS qemu_status=0 stage_list no_kernel=
    stage_list=$(
        IFS=,
        echo "${stages[*]}"
    )
    ! without_kernel_tests "$layout" || no_kernel=" minidocker.nokernel"
    boot_vm "$layout" "$vm_accel" "$vm_timeout" "$vm_dir/$layout.log" \
        "minidocker.cgroup=$layout${stage_list:+ minidocker.stages=$stage_list}${skip_phases:+ minidocker.skip=$skip_phases}${vm_run:+ minidocker.run=$vm_run}$no_kernel" || qemu_status=$?
    echo "$((SECONDS - started)) $qemu_status" >"$scratch_dir/$layout.ran"
}

# report_layout LAYOUT: print its one-line result from its log; returns
# non-zero if the layout failed.
report_layout() {
    local layout=$1 log=$vm_dir/$1.log name elapsed='?' qemu_status='?' verdict=''
    local boot status summary passed=0 failed=0 skipped=0 expected=$expected_all
    ! without_kernel_tests "$layout" || expected=$expected_no_kernel
    case $layout in
        unified) name="cgroup v2 (unified)" ;;
        legacy) name="cgroup v1 (legacy)" ;;
    esac
    [[ $vm_arch == "$host_arch" ]] || name="$vm_arch, $name"
    [[ -f $scratch_dir/$layout.ran ]] && read -r elapsed qemu_status <"$scratch_dir/$layout.ran"

    boot=$(sed -n 's/^minidocker-vm: init at uptime \([0-9.]*\) s$/\1/p' "$log" | head -n 1)
    status=$(sed -n 's/^minidocker-vm: exit status \([0-9]*\)$/\1/p' "$log" | tail -n 1)
    summary=$(grep -E '^suite: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1) || true
    if [[ $summary =~ ^suite:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
        passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]} skipped=${BASH_REMATCH[3]}
    fi

    if [[ $qemu_status == 124 || $qemu_status == 137 ]]; then
        verdict="did not finish within $vm_timeout s"
    elif [[ -z $status ]]; then
        verdict="ended without its exit status line (qemu status $qemu_status)"
    elif [[ -z $summary ]]; then
        verdict="tests/run exited $status without a 'suite: ...' line"
    elif [[ $status -ne 0 ]]; then
        verdict="tests/run exited $status"
    elif ((failed > 0 || skipped > 0)); then
        verdict="$failed failed, $skipped skipped"
    elif ((passed + failed + skipped < expected)); then
        verdict="only $((passed + failed + skipped)) of the suite's $expected tests ran"
    fi

    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    [[ -z $verdict ]] || total_failed=$((total_failed + 1))
    local line="$name: $passed passed, $failed failed"
    ((skipped == 0)) || line+=", $skipped skipped"
    line+=" (boot to init ${boot:-?} s, whole run $elapsed s, $vm_accel)"
    [[ -z $verdict ]] || line+=" FAILED: $verdict; see ${log#"$kit"/}"
    echo "$line"
    [[ -z $verdict ]]
}

# count_expected NAME PID VAR: set VAR to the number of tests the layouts
# must run, from the tests/run --count started in the background as PID,
# whose output is in $scratch_dir/NAME.
count_expected() {
    local out=$scratch_dir/$1 number
    wait "$2" ||
        die "tests/run --count, which says how many tests each VM must run, failed: $(cat "$out" "$out.err")"
    number=$(cat "$out")
    [[ $number =~ ^[0-9]+$ && $number -gt 0 ]] ||
        die "tests/run --count printed '$number', not a number of tests: $(cat "$out.err")"
    # What it said besides the number (a warning) is shown, not taken for it.
    [[ ! -s $out.err ]] || sed 's/^/tests\/run --count: /' "$out.err" >&2
    printf -v "$3" '%s' "$number"
}

### main ###

# Counting runs bats once per test file and stage: let it overlap the build
# of the initramfs.
(cd "$kit" && tests/run --count --no-labs --skip-phases="$skip_phases" "${run_option[@]}" "${stages[@]}") >"$scratch_dir/count" 2>"$scratch_dir/count.err" &
count_pid=$!
no_kernel_count_pid=
if ((${#layouts[@]} > 1)) && without_kernel_tests "${layouts[1]}"; then
    (cd "$kit" && tests/run --count --no-labs --skip-phases="$skip_phases" "${run_option[@]}" --no-kernel "${stages[@]}") \
        >"$scratch_dir/count-no-kernel" 2>"$scratch_dir/count-no-kernel.err" &
    no_kernel_count_pid=$!
fi
# The VM has no compiler: phase 3's mutants are built here.
(cd "$kit" && tests/run --build-mutants --skip-phases="$skip_phases" "${stages[@]}") ||
    die "tests/run --build-mutants failed (the VMs need it, and tests/run --count)"
mkdir -p "$kit/build/mutants"
build_initramfs
expected_all=
count_expected count "$count_pid" expected_all
expected_no_kernel=$expected_all
[[ -z $no_kernel_count_pid ]] || count_expected count-no-kernel "$no_kernel_count_pid" expected_no_kernel
expected="$expected_all tests each"
[[ $expected_no_kernel == "$expected_all" ]] ||
    expected="$expected_all tests in ${layouts[0]}, $expected_no_kernel (those not tagged kernel) in ${layouts[*]:1}"
vm_accel=$(choose_accel)
step "booting ${layouts[*]} under $vm_accel (-smp $smp -m $memory): $expected${stages[*]:+ (stages ${stages[*]})}, in at most $vm_timeout s each"

started=$SECONDS
if ((parallel)); then
    layout_pids=()
    for layout in "${layouts[@]}"; do
        run_layout "$layout" &
        layout_pids+=("$!")
    done
    wait "${layout_pids[@]}"
else
    for layout in "${layouts[@]}"; do
        run_layout "$layout"
    done
fi

echo
failed_layouts=0 total_passed=0 total_failed=0 total_skipped=0
for layout in "${layouts[@]}"; do
    report_layout "$layout" || failed_layouts=$((failed_layouts + 1))
done
echo "vm: ${#layouts[@]} layout(s) in $((SECONDS - started)) s, $expected"
if ((failed_layouts)); then
    echo "$prog: $failed_layouts of ${#layouts[@]} layout(s) failed" >&2
fi
# The closing line, counted over all layouts (a failed layout counts once
# more as a failure, so that it can never read as all passed).
echo "vm: $total_passed passed, $total_failed failed, $total_skipped skipped"
((failed_layouts == 0))
