#!/usr/bin/env bats
# make doctor (stages/doctor.sh) on the machines students bring: WSL1 and
# WSL2, Docker and Podman containers, a kernel too old for a stage. The
# doctor reads the files that say where it runs under DOCTOR_ROOT, so each
# test fakes them in its own directory; what the doctor tries (unshare,
# cgroups) is this machine's. The read-only cgroupfs of a container is made
# for real, in a mount namespace of the test's own. tests/run's phase 0
# checks the doctor on the machine itself, as root and as a normal user.
#
# And lib/distro.bash, the kit's choices by distribution (Debian, Ubuntu),
# on faked /etc/os-release files.
#
#   bats tests/doctor.bats    (as root)
#
# shellcheck disable=SC2153 # STAGES comes from lib/kit.bash, through the helpers

STAGE=${STAGE:-05-cgroup-pids}
load helpers

setup() {
    snapshot_host
    FAKE=$BATS_TEST_TMPDIR/root
    mkdir -p "$FAKE/proc/sys/kernel"
}

teardown() {
    check_host_restored
}

# fake_kernel RELEASE [PROC-VERSION]: the kernel the doctor sees.
fake_kernel() {
    echo "$1" >"$FAKE/proc/sys/kernel/osrelease"
    echo "${2:-Linux version $1 (builder@example) #1 SMP}" >"$FAKE/proc/version"
}

# doctor: the doctor, with the faked files, bounded in time.
doctor() {
    DOCTOR_ROOT=$FAKE timeout 60 "$KIT/stages/doctor.sh"
}

@test "doctor: WSL2 whose cgroup v2 has the pids controller runs the kit" {
    requires root
    fake_kernel 5.15.153.1-microsoft-standard-WSL2
    mkdir -p "$FAKE/sys/fs/cgroup"
    echo 'cpuset cpu io memory hugetlb pids rdma misc' >"$FAKE/sys/fs/cgroup/cgroup.controllers"
    run doctor
    assert_line "  ✓ WSL2 (kernel 5.15.153.1-microsoft-standard-WSL2): cgroup v2 has the pids controller, so the kit runs as on a VM"
    assert_line --partial "✓ kernel 5.15.153.1-microsoft-standard-WSL2: new enough for every stage"
}

@test "doctor: WSL2 with v1's pids controller mounted runs the kit" {
    requires root
    fake_kernel 5.10.102.1-microsoft-standard-WSL2
    mkdir -p "$FAKE/sys/fs/cgroup/pids"
    : >"$FAKE/sys/fs/cgroup/pids/cgroup.procs"
    run doctor
    assert_line "  ✓ WSL2 (kernel 5.10.102.1-microsoft-standard-WSL2): the v1 pids controller is mounted, so the kit runs as on a VM"
}

@test "doctor: WSL2 without a pids controller says how to turn on systemd and cgroup v2, and fails" {
    requires root
    fake_kernel 5.15.153.1-microsoft-standard-WSL2
    mkdir -p "$FAKE/sys/fs/cgroup"
    echo 'cpuset cpu io memory' >"$FAKE/sys/fs/cgroup/cgroup.controllers"
    run doctor
    assert_failure 1
    assert_line --partial "✗ WSL2 (kernel 5.15.153.1-microsoft-standard-WSL2) without a pids controller"
    assert_output --partial "[boot] systemd=true in /etc/wsl.conf"
    assert_output --partial "kernelCommandLine = cgroup_no_v1=all"
    assert_output --partial "wsl --shutdown"
}

@test "doctor: WSL1 has no Linux kernel: it says to convert to WSL2, and fails" {
    requires root
    fake_kernel 4.4.0-19041-Microsoft "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) #1237-Microsoft"
    run doctor
    assert_failure 1
    assert_line --partial "✗ WSL1 (/proc/version names Microsoft): it has no Linux kernel"
    assert_output --partial "wsl --set-version DISTRO 2"
}

@test "doctor: a kernel too old for stages 09 and 10 names them and the stages it runs, and fails" {
    requires root
    fake_kernel 5.4.0-150-generic
    run doctor
    assert_failure 1
    assert_line "  ✗ kernel 5.4.0-150-generic is too old for 09-veth 10-userns, which need setns(2) on a pidfd (Linux 5.8) or more; it runs ${STAGES[*]:0:8}: boot a newer kernel (Ubuntu 20.04: apt-get install linux-generic-hwe-20.04), or use a Debian 12 or Ubuntu 22.04 or 24.04 VM"
}

@test "doctor: a kernel without the pids controller's version is too old from stage 05 on" {
    requires root
    fake_kernel 4.1.0
    run doctor
    assert_failure 1
    assert_line --partial "✗ kernel 4.1.0 is too old for ${STAGES[*]:4}, which need the pids controller (Linux 4.3) or more; it runs ${STAGES[*]:0:4}:"
}

@test "doctor: a kernel release it cannot read is a note, not a failure" {
    requires root
    fake_kernel custom-kernel
    run doctor
    assert_line "  ! kernel release 'custom-kernel' is not a version the doctor can compare, so it cannot say which stages the kernel runs"
    refute_output --partial "kernel custom-kernel is too old"
}

@test "doctor: the kernel each stage needs is no older than the stages' own hints say" {
    requires root
    # A hint's string may be split over lines ("... needs " "Linux 5.8"):
    # joined first. A kernel just older than that must be too old for the
    # stage.
    local stage file version hints=0
    for stage in "${STAGES[@]}"; do
        file=$KIT/stages/$stage/container.c
        while read -r version; do
            hints=$((hints + 1))
            if ((${version#*.} > 0)); then
                fake_kernel "${version%%.*}.$((${version#*.} - 1)).99"
            else
                fake_kernel "$((${version%%.*} - 1)).99.99"
            fi
            run doctor
            assert_output --regexp "too old for [^,]*$stage"
        done < <(tr -d '\n' <"$file" | sed 's/"[[:space:]]*"//g' | grep -oE 'needs Linux [0-9]+\.[0-9]+' | sed 's/needs Linux //')
    done
    ((hints > 0)) || fail "no stage says 'needs Linux N.N' any more: update this test"
}

@test "doctor: in a Docker-like container (/.dockerenv, a read-only /sys/fs/cgroup) it says to use --privileged or a VM, and fails" {
    requires root unshare
    : >"$FAKE/.dockerenv"
    # As Docker mounts it: cgroup2, read-only, at /sys/fs/cgroup; on a hybrid
    # host, its cgroup2 (/sys/fs/cgroup/unified). In this mount namespace only.
    local source=/sys/fs/cgroup
    [[ $(cgroup_layout) != hybrid ]] || source=/sys/fs/cgroup/unified
    # shellcheck disable=SC2016 # the script is bash -c's, with its own $1 and $2
    run timeout 60 unshare --mount --propagation private env DOCTOR_ROOT="$FAKE" bash -c \
        'mount --bind -o ro "$1" /sys/fs/cgroup && exec "$2"' - "$source" "$KIT/stages/doctor.sh"
    assert_failure 1
    assert_line "  ! running inside a Docker container, or a system made from a Docker image (/.dockerenv): the kit needs privileges a container lacks by default; if a line below fails, run it with docker run --privileged --cgroupns=host (podman run --privileged --cgroupns=host), or better, in a VM (Lima, Multipass, UTM, WSL2)"
    assert_line "  ✗ /sys/fs/cgroup is mounted read-only (as a container has it), so stages 05 and on cannot make their cgroup: run it with docker run --privileged --cgroupns=host (podman run --privileged --cgroupns=host), or better, in a VM (Lima, Multipass, UTM, WSL2)"
    # Not a host's fix (a kernel command line) for a container's cgroup.
    refute_output --partial "systemd.unified_cgroup_hierarchy"
}

@test "doctor: in a Podman container (/run/.containerenv) it says so" {
    requires root
    mkdir -p "$FAKE/run"
    : >"$FAKE/run/.containerenv"
    run doctor
    assert_line --partial "! running inside a Podman container (/run/.containerenv): the kit needs privileges a container lacks by default"
}

@test "doctor: container= in PID 1's environment (systemd-nspawn, LXC) says so" {
    requires root
    mkdir -p "$FAKE/proc/1"
    printf 'PATH=/usr/bin\0container=lxc\0TERM=linux\0' >"$FAKE/proc/1/environ"
    run doctor
    assert_line --partial "! running inside a container (container=lxc in /proc/1/environ)"
}

@test "doctor: root without CAP_SYS_ADMIN (a container without --privileged) says so, and fails" {
    requires root setpriv
    run timeout 60 setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin env DOCTOR_ROOT="$FAKE" "$KIT/stages/doctor.sh"
    assert_failure 1
    assert_line --regexp '^  ✗ root here lacks CAP_SYS_ADMIN \(CapEff [0-9a-f]+\), which every namespace and mount of the kit needs: run it with docker run --privileged'
}

@test "doctor: on this machine, with nothing faked, the new checks add no failure" {
    requires root
    DOCTOR_ROOT='' run timeout 60 "$KIT/stages/doctor.sh"
    assert_success
    assert_line --regexp '^  ✓ kernel [^ ]+: new enough for every stage'
    refute_output --partial "✗"
}

# os_release NAME: a faked /etc/os-release, as each distribution ships it
# (the lines that matter), in DISTRO_OS_RELEASE.
os_release() {
    DISTRO_OS_RELEASE=$BATS_TEST_TMPDIR/os-release-$1
    case $1 in
        debian12) printf '%s\n' 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' 'VERSION_ID="12"' 'VERSION_CODENAME=bookworm' 'ID=debian' ;;
        ubuntu2204) printf '%s\n' 'PRETTY_NAME="Ubuntu 22.04.4 LTS"' 'VERSION_ID="22.04"' 'ID=ubuntu' 'ID_LIKE=debian' 'VERSION_CODENAME=jammy' ;;
        ubuntu2404) printf '%s\n' 'PRETTY_NAME="Ubuntu 24.04.1 LTS"' 'VERSION_ID="24.04"' 'ID=ubuntu' 'ID_LIKE=debian' 'VERSION_CODENAME=noble' ;;
        mint) printf '%s\n' 'NAME="Linux Mint"' 'ID=linuxmint' 'ID_LIKE="ubuntu debian"' 'UBUNTU_CODENAME=noble' ;;
        raspbian) printf '%s\n' 'ID=raspbian' 'ID_LIKE=debian' 'VERSION_CODENAME=bookworm' ;;
        fedora) printf '%s\n' 'NAME="Fedora Linux"' 'ID=fedora' 'VERSION_ID=41' ;;
    esac >"$DISTRO_OS_RELEASE"
    export DISTRO_OS_RELEASE
}

# distro CHOICE: lib/distro.bash's answer.
distro() {
    "$KIT/lib/distro.bash" "$@"
}

@test "distro: Debian installs its chromium and takes the VMs' kernel from its own apt" {
    os_release debian12
    run distro family
    assert_output debian
    run distro slides-packages
    assert_output "chromium fonts-noto-cjk"
    run distro kernel-apt
    assert_output host
}

@test "distro: Ubuntu 22.04 and 24.04 install no chromium, and fetch the VMs' kernel from Debian's archive" {
    local release
    for release in ubuntu2204 ubuntu2404; do
        os_release "$release"
        run distro family
        assert_output ubuntu
        run distro slides-packages
        assert_output fonts-noto-cjk
        run distro kernel-apt
        assert_output debian
    done
}

@test "distro: a derivative goes by ID_LIKE (Linux Mint as Ubuntu, Raspberry Pi OS as Debian, with Debian's kernel fetched)" {
    os_release mint
    run distro family
    assert_output ubuntu
    os_release raspbian
    run distro family
    assert_output debian
    run distro slides-packages
    assert_output "chromium fonts-noto-cjk"
    # Its archive is not Debian's: no linux-image-cloud-* there.
    run distro kernel-apt
    assert_output debian
    os_release fedora
    run distro family
    assert_output other
}

@test "distro: without a Chromium, Ubuntu says it is a snap and to set CHROME_PATH; Debian says to install it" {
    requires root unshare
    # /usr/bin/chromium hidden (not executable) in a mount namespace of the
    # test's own, where this machine has one.
    local hide='[[ ! -e /usr/bin/chromium ]] || mount --bind /dev/null /usr/bin/chromium || exit 9; exec "$@"'
    os_release ubuntu2404
    run env -u CHROME_PATH unshare --mount --propagation private bash -c "$hide" - "$KIT/lib/distro.bash" chromium
    assert_failure 1
    assert_output "no Chromium: Ubuntu's is a snap, which the kit does not install; set CHROME_PATH to a Chromium or Chrome (Google's .deb works) for the slides' PDFs and make slides-check"
    os_release debian12
    run env -u CHROME_PATH unshare --mount --propagation private bash -c "$hide" - "$KIT/lib/distro.bash" chromium
    assert_failure 1
    assert_output "no Chromium at /usr/bin/chromium: apt-get install chromium (make slides-deps)"
    run env CHROME_PATH=/bin/true "$KIT/lib/distro.bash" chromium
    assert_success
    assert_output /bin/true
}

@test "distro: the Makefile's slides packages and run-vm.sh's kernel come from lib/distro.bash" {
    os_release ubuntu2404
    run make --no-print-directory -C "$KIT" -n -p slides-deps
    assert_line "SLIDES_PACKAGES := fonts-noto-cjk"
    os_release debian12
    run make --no-print-directory -C "$KIT" -n -p slides-deps
    assert_line "SLIDES_PACKAGES := chromium fonts-noto-cjk"
    # shellcheck disable=SC2016 # the line as run-vm.sh has it
    run grep -cF 'DEB_APT=$("$kit/lib/distro.bash" kernel-apt)' "$KIT/tests/vm/run-vm.sh"
    assert_output 1
}
