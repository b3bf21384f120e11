#!/usr/bin/env bash
# classroom.sh: make test-classroom, the kit proven on a classroom machine as
# it is: a Debian 12 system booted with systemd as PID 1 (which owns the
# cgroup tree, on cgroup v2 alone, and makes / shared), provisioned by
# cloud-init from the kit's own user-data, with an ordinary user who has
# sudo. As that user: make doctor, make demo and the stage 05 part of the
# suite.
#
#   1. the system: mmdebstrap builds Debian 12 (systemd, cloud-init, Debian's
#      cloud kernel and its initramfs, sudo, git, and every package the
#      user-data would install: labs/classroom/provision.sh --packages, the
#      Makefile's PACKAGES among them) into
#      build/classroom/base/, once: it is reused while the package list is the
#      same. The VM has no network, so everything is in it.
#   2. the disk: the kit, cloned from this working tree's HEAD into
#      /opt/mini-docker, the test unit (tests/vm/classroom/), then an ext4 image
#      made from the directory with mkfs.ext4 -d (nothing is mounted here).
#   3. the seed: cloud-init's NoCloud data source, a vfat image labelled
#      cidata (mkfs.vfat and mcopy) holding the kit's user-data
#      (labs/classroom/user-data) with the lines that need a network swapped
#      for their offline equivalents, each one printed.
#   4. the boot: qemu (tcg, -nic none) with the kernel and initramfs of the
#      image, root on the ext4 image. Once cloud-init is done,
#      classroom-test.service runs tests/vm/classroom/classroom-test, which
#      prints its results on the serial console and powers the VM off.
#
# The console goes to build/classroom/console.log. The host counts the
# results, as run-vm.sh counts the suite's: it fails if a check fails, if
# fewer ran than expected, or if the VM does not finish within the limit.
#
# mmdebstrap's mounts (proc, sys, dev in the target) are made in a mount
# namespace of its own (unshare --mount --propagation private), never in
# this machine's mount table.
set -euo pipefail

prog=${0##*/}
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kit=$(cd "$script_dir/../.." && pwd)
# shellcheck source=lib/kit.bash
. "$kit/lib/kit.bash"

# Besides the kit's packages: the machine itself, and git for the clone.
# (locales and openssh-server as a cloud image has them: cloud-init's locale
# and ssh modules fail without them.)
SYSTEM_PACKAGES=(systemd systemd-sysv udev dbus kmod initramfs-tools linux-image-cloud-amd64
    cloud-init sudo git locales openssh-server)
# The checks classroom-test makes (a TAP line each).
CHECKS=5

usage() {
    echo "Usage: $prog [-h]"
}

show_help() {
    usage
    cat <<EOF
Build (once) a Debian 12 system with systemd, cloud-init and Debian's cloud
kernel, boot it under qemu with cloud-init's NoCloud data source fed the
kit's user-data, and as the user cloud-init made, with sudo, run make
doctor, make demo and the stage 05 part of the suite. Fails if any fails, if
fewer checks ran than $CHECKS, or if the VM does not finish in time.

Needs root (the image holds root's files), mmdebstrap, e2fsprogs,
dosfstools, mtools and qemu-system-x86 (make test-classroom installs them),
and Debian's archive for the first build (build/classroom/base/, reused).

Environment:
  CLASSROOM_TIMEOUT=SECONDS  time limit for the VM (default 1200)
  CLASSROOM_TESTS="..."      tests/run's arguments in the VM (default:
                             --no-labs 05; phase 5 compiles every lab,
                             some 4 minutes under tcg)
  CLASSROOM_KIT=head|worktree  the kit in the image: a clone of HEAD
                             (default), or of the working tree as it is
  CLASSROOM_REBUILD=1        build the system again, not the cached one
  VM_SMP=N, VM_MEMORY=SIZE   the VM's CPUs (default 2) and memory (2G)
  KIT_PACKAGES="..."         the kit's packages (default: what
                             labs/classroom/provision.sh --packages lists)
EOF
}

for arg in "$@"; do
    case $arg in
        -h | --help)
            show_help
            exit 0
            ;;
        *) misuse "unknown argument: $arg" ;;
    esac
done

vm_timeout=${CLASSROOM_TIMEOUT:-1200}
tests=${CLASSROOM_TESTS:---no-labs 05}
kit_source=${CLASSROOM_KIT:-head}
smp=${VM_SMP:-2}
memory=${VM_MEMORY:-2G}
[[ $kit_source == head || $kit_source == worktree ]] || misuse "CLASSROOM_KIT must be head or worktree, not '$kit_source'"
[[ $vm_timeout =~ ^[0-9]+$ ]] || misuse "CLASSROOM_TIMEOUT must be a number of seconds, not '$vm_timeout'"
[[ $smp =~ ^[1-9][0-9]*$ ]] || misuse "VM_SMP must be a number of CPUs, not '$smp'"
[[ $tests =~ ^[-a-z0-9=,\ ]+$ ]] || misuse "CLASSROOM_TESTS must be tests/run's arguments, not '$tests'"
# What the user-data and its provisioning install: provision.sh --packages
# (the Makefile's PACKAGES and what the clone needs), or the Makefile's.
if [[ -z ${KIT_PACKAGES:-} && -x $kit/labs/classroom/provision.sh ]]; then
    KIT_PACKAGES=$("$kit/labs/classroom/provision.sh" --packages) || die "labs/classroom/provision.sh --packages failed"
elif [[ -z ${KIT_PACKAGES:-} ]]; then
    # shellcheck disable=SC2016 # make expands it
    KIT_PACKAGES=$(make -C "$kit" -s --no-print-directory --eval='classroom-packages: ; @echo $(PACKAGES)' classroom-packages)
fi
read -r -a kit_packages <<<"$KIT_PACKAGES"

[[ $EUID -eq 0 ]] || die "the image holds root's files, which only root can make: run as root, e.g. with sudo"
[[ $(dpkg --print-architecture) == amd64 ]] || die "the classroom VM is amd64's; this machine is $(dpkg --print-architecture)"
for tool in mmdebstrap mkfs.ext4 mkfs.vfat mcopy qemu-system-x86_64 git unshare; do
    command -v "$tool" >/dev/null ||
        die "$tool not found; install it with: apt-get install mmdebstrap e2fsprogs dosfstools mtools qemu-system-x86 (or run: make test-classroom)"
done

dir=$kit/build/classroom
base=$dir/base
mkdir -p -- "$dir"
started_all=$SECONDS

# timings NAME SECONDS: kept for the closing lines.
timings=()
timing() {
    timings+=("$1: $2 s")
}

### 1. the system, cached ###

# The host's Debian mirror, as its own apt sources name it (deb.debian.org
# where they name none), and its security mirror.
sources=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null) || true
mirror=$(grep -oE 'https?://[^ ]*/debian/?( |$)' <<<"$sources" | head -n 1 | tr -d ' ') || true
mirror=${mirror:-http://deb.debian.org/debian}
security=$(grep -oE 'https?://[^ ]*/debian-security/?( |$)' <<<"$sources" | head -n 1 | tr -d ' ') || true
security=${security:-http://deb.debian.org/debian-security}

packages=$(printf '%s\n' "${SYSTEM_PACKAGES[@]}" "${kit_packages[@]}" | LC_ALL=C sort -u | paste -sd, -)
# What the cached system was built from: it is built again when this changes.
recipe="bookworm $mirror $security minbase no-recommends $packages"

if [[ ${CLASSROOM_REBUILD:-} != 1 && -d $base && -f $dir/base.recipe && $(cat "$dir/base.recipe") == "$recipe" ]]; then
    step "the Debian 12 system: cached in build/classroom/base"
    timing "system (mmdebstrap)" "0 (cached)"
else
    step "mmdebstrap: Debian 12 from $mirror into build/classroom/base (under a minute here)"
    started=$SECONDS
    rm -rf --one-file-system -- "$base" "$base.tmp" "$dir/base.recipe"
    # Its own mount namespace: the target's proc, sys and dev mounts stay in it.
    unshare --mount --propagation private -- \
        mmdebstrap --quiet --mode=root --variant=minbase --aptopt='APT::Install-Recommends "false"' \
        --include="$packages" bookworm "$base.tmp" \
        "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main" ||
        die "mmdebstrap failed"
    mv -- "$base.tmp" "$base"
    echo "$recipe" >"$dir/base.recipe"
    timing "system (mmdebstrap)" "$((SECONDS - started))"
fi

### 2. the disk ###

started=$SECONDS
# The kit as a clone of HEAD (what the user-data clones from the network),
# or with CLASSROOM_KIT=worktree, of the working tree as it is: its
# uncommitted changes and new files committed in the clone.
rm -rf --one-file-system -- "$base/opt/mini-docker"
git clone --quiet --no-hardlinks "$kit" "$base/opt/mini-docker"
if [[ $kit_source == worktree ]]; then
    (cd "$kit" && git ls-files -z --modified --others --exclude-standard) |
        (cd "$kit" && xargs -0 -r cp --parents -a -t "$base/opt/mini-docker" --)
    git -C "$base/opt/mini-docker" add -A
    git -C "$base/opt/mini-docker" -c user.name=classroom -c user.email=classroom@localhost \
        commit --quiet --allow-empty -m "make test-classroom: the working tree's uncommitted changes"
fi
# A machine with no network: cloud-init's NoCloud data source alone, an
# /etc/hosts that names the machine (as Debian's cloud images have cloud-init
# manage it: else sudo cannot resolve the hostname), none of apt's daily
# downloads, and for apt, in place of Debian's archive, a local repository
# of the two packages make rootfs downloads (apt-get download busybox-static
# and bash-static).
printf 'datasource_list: [ NoCloud, None ]\nmanage_etc_hosts: true\n' >"$base/etc/cloud/cloud.cfg.d/90-classroom.cfg"
for unit in apt-daily.timer apt-daily-upgrade.timer; do
    ln -sfn /dev/null "$base/etc/systemd/system/$unit"
done
printf '/dev/vda / ext4 defaults 0 1\n' >"$base/etc/fstab"
# cloud-init's locale module sets en_US.UTF-8, which locale-gen makes only
# where /etc/locale.gen lists it (as in Debian's cloud images).
sed -i 's/^# *\(en_US\.UTF-8 UTF-8\)$/\1/' "$base/etc/locale.gen"
repo=$base/opt/debian-offline
rm -rf -- "$repo"
mkdir -p -- "$repo"
# shellcheck disable=SC2034 # deb-cache.sh reads it
cache_dir=$kit/build/cache
# shellcheck source=rootfs-builder/deb-cache.sh
source "$kit/rootfs-builder/deb-cache.sh"
for package in busybox-static bash-static; do
    deb=$(fetch_deb "$package") || die "cannot download $package with apt-get"
    cp -- "$deb" "$repo/"
    printf '%s\nFilename: ./%s\nSize: %s\nSHA256: %s\n\n' "$(dpkg-deb -f "$deb")" "${deb##*/}" \
        "$(stat -c %s "$deb")" "$(sha256sum "$deb" | cut -d' ' -f1)" >>"$repo/Packages"
done
printf '# make test-classroom: no network; the packages make rootfs downloads.\ndeb [trusted=yes] file:/opt/debian-offline ./\n' \
    >"$base/etc/apt/sources.list"
install -D -m 0755 -- "$script_dir/classroom/classroom-test" "$base/usr/local/sbin/classroom-test"
install -D -m 0644 -- "$script_dir/classroom/classroom-test.service" "$base/etc/systemd/system/classroom-test.service"
mkdir -p -- "$base/etc/systemd/system/multi-user.target.wants"
ln -sfn ../classroom-test.service "$base/etc/systemd/system/multi-user.target.wants/classroom-test.service"
printf 'TESTS=%q\n' "$tests" >"$base/etc/classroom-test"

kernel=$(find "$base/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
initrd=$(find "$base/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n 1)
[[ -f $kernel && -f $initrd ]] || die "no kernel or initramfs in build/classroom/base/boot"
cp -- "$kernel" "$dir/vmlinuz"
cp -- "$initrd" "$dir/initrd.img"

# Room for make demo's build and the suite: 2 GiB beyond the system.
size_mib=$(($(du -sm "$base" | cut -f1) + 2048))
rm -f -- "$dir/disk.img"
mkfs.ext4 -q -F -L classroom -d "$base" "$dir/disk.img" "${size_mib}M" >/dev/null ||
    die "mkfs.ext4 -d failed"
timing "disk image (clone, mkfs.ext4 -d)" "$((SECONDS - started))"

### 3. the seed: NoCloud ###

# swap_offline USER-DATA: the user-data with each line that needs a network
# swapped for its offline equivalent; what it swaps goes to stderr.
swap_offline() {
    awk '
        function swapped(from, to) { printf "  swapped: %s\n     with: %s\n", from, to > "/dev/stderr" }
        # The package install: every package is in the image already.
        /^packages:/ { skipping = 1; swapped($0 " (and its list)", "nothing: the packages are in the image"); next }
        skipping && /^[ \t]*-/ { next }
        skipping { skipping = 0 }
        /^package_(update|upgrade|reboot_if_required):/ {
            line = $0; sub(/:.*/, ": false", line); swapped($0, line); print line; next
        }
        # The kit'\''s git URL (a runcmd argument, or in a git clone line):
        # the clone in the image, a local clone.
        /^[ \t]*- (https?|git):\/\// || (/git clone/ && /(https?|git):\/\//) {
            line = $0
            sub(/(https?|git):\/\/[^ "\047]*/, "/opt/mini-docker", line)
            sub(/[ \t]+#.*/, "", line)
            swapped($0, line); print line; next
        }
        { print }
    ' "$1"
}

# The kit's own user-data, as the clone in the image has it.
user_data=$base/opt/mini-docker/labs/classroom/user-data
[[ -f $user_data ]] || die "labs/classroom/user-data is not in the kit's HEAD (CLASSROOM_KIT=worktree takes the working tree's)"
seed_dir=$dir/seed
rm -rf -- "$seed_dir"
mkdir -p -- "$seed_dir"
step "user-data: labs/classroom/user-data, its network lines swapped for offline ones:"
swap_offline "$user_data" >"$seed_dir/user-data"
echo "  and in the image: apt's sources (Debian's archive) swapped for a local repository of"
echo "     the two packages make rootfs downloads (busybox-static, bash-static)"
printf 'instance-id: classroom-%s\nlocal-hostname: classroom\n' "$(date +%s)" >"$seed_dir/meta-data"
rm -f -- "$dir/seed.img"
mkfs.vfat -n CIDATA -C "$dir/seed.img" 1024 >/dev/null
mcopy -o -i "$dir/seed.img" "$seed_dir/user-data" "$seed_dir/meta-data" ::/

### 4. the boot ###

# How many tests the stage 05 part must run, counted here meanwhile.
# shellcheck disable=SC2086 # tests/run's arguments, one word each
(cd "$kit" && tests/run --count $tests) >"$dir/count" 2>"$dir/count.err" &
count_pid=$!

log=$dir/console.log
step "booting under tcg (-smp $smp -m $memory, -nic none), in at most $vm_timeout s; the console: build/classroom/console.log"
started=$SECONDS
qemu_status=0
# As run-vm.sh's boot_vm: timeout(1) stops a VM that hangs, -no-reboot
# makes a panic's reboot qemu's exit; mitigations=off, init_on_alloc=0 and
# no5lvl only save time under tcg.
timeout -k 10 "$vm_timeout" qemu-system-x86_64 -accel tcg -cpu max -smp "$smp" -m "$memory" \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet panic=-1 mitigations=off init_on_alloc=0 no5lvl" \
    -drive "file=$dir/disk.img,format=raw,if=virtio" \
    -drive "file=$dir/seed.img,format=raw,if=virtio,readonly=on" \
    -display none -monitor none -serial stdio -nic none -no-reboot \
    </dev/null 2>&1 | tr -d '\r' | tee "$log" | sed -u 's/^/[classroom] /' || qemu_status=$?
vm_time=$((SECONDS - started))

### the count ###

expected=
if wait "$count_pid"; then
    expected=$(cat "$dir/count")
fi
[[ $expected =~ ^[0-9]+$ ]] || die "tests/run --count $tests printed '$expected': $(cat "$dir/count.err")"

# vm_time WHAT: the seconds the VM gave for WHAT.
vm_time() {
    awk -v lead="classroom-vm: time $1 " 'index($0, lead) == 1 {
        time = substr($0, length(lead) + 1); sub(/ s$/, "", time) } END { print time }' "$log"
}
timing "VM: boot to login prompt" "$(vm_time 'boot to login prompt')"
timing "VM: boot to cloud-init done" "$(vm_time 'boot to cloud-init done')"
timing "VM: make doctor" "$(vm_time 'sudo make doctor')"
timing "VM: make demo" "$(vm_time 'sudo make demo')"
timing "VM: tests/run $tests" "$(vm_time "sudo tests/run $tests")"
timing "VM: power-on to power-off" "$vm_time"

passed=$(grep -cE '^classroom-vm: ok [0-9]+ - ' "$log") || true
failed=$(grep -cE '^classroom-vm: not ok [0-9]+ - ' "$log") || true
summary=$(grep -E '^ *suite: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1 | sed 's/^ *//') || true
verdict=
if [[ $qemu_status == 124 || $qemu_status == 137 ]]; then
    verdict="did not finish within $vm_timeout s"
elif ! grep -q '^classroom-vm: done$' "$log"; then
    verdict="ended without its 'done' line (qemu status $qemu_status)"
elif ((failed > 0)); then
    verdict="$failed check(s) failed"
elif ((passed < CHECKS)); then
    verdict="only $passed of $CHECKS checks ran"
elif [[ ! $summary =~ suite:\ ([0-9]+)\ passed,\ 0\ failed,\ 0\ skipped ]]; then
    verdict="tests/run $tests: '${summary:-no suite line}'"
elif ((BASH_REMATCH[1] < expected)); then
    verdict="tests/run $tests ran ${BASH_REMATCH[1]} of its $expected tests"
fi

echo
grep -E '^classroom-vm: (not )?ok [0-9]+ - ' "$log" || true
echo "${summary:-no suite line} (tests/run $tests; $expected expected)"
for line in "${timings[@]}"; do
    echo "  $line"
done
echo "classroom: whole run $((SECONDS - started_all)) s"
# A run that failed without a failed check counts once as a failure, so
# that it can never read as all passed.
[[ -z $verdict ]] || ((failed > 0)) || failed=$((failed + 1))
[[ -z $verdict ]] || echo "$prog: FAILED: $verdict; see build/classroom/console.log" >&2
echo "classroom: $passed passed, $failed failed"
[[ -z $verdict ]]
