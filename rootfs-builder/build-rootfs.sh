#!/usr/bin/env bash
# build-rootfs.sh: build the minimal busybox root filesystem that the stages
# from 04-chroot on use as their root: one static busybox, a symlink per
# applet, a few /etc files and the /dev nodes a shell expects.
#
# The tree is built in DIR.tmp.XXXXXX beside DIR and renamed into place only
# when it is complete, so a failed run never leaves a half-built DIR, and a
# second run gives the same tree as the first.
set -euo pipefail

prog=${0##*/}
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(dirname "$script_dir")

### messages ###

usage() {
    echo "Usage: $prog [DIR]"
}

show_help() {
    usage
    cat <<EOF
Build a minimal busybox root filesystem into DIR
(default: $repo_root/build/rootfs).

busybox comes from Debian's busybox-static package, fetched with
'apt-get download' into the cache folder \$(dirname DIR)/cache and reused
from there. If the download fails, an installed static /bin/busybox is used.

Environment:
  BUSYBOX=/path/to/busybox   use this static busybox (takes precedence)
  DEB_ARCH=arm64             the packages of this architecture (default:
                             this host's; make test-arm64), fetched with a
                             private apt configuration, busybox run with
                             qemu-user (qemu-aarch64-static)

Needs root, for mknod. Running it again replaces DIR with a fresh tree.
EOF
}

# die, misuse and step: lib/kit.bash's.
# shellcheck source=lib/kit.bash
. "$repo_root/lib/kit.bash"

### arguments ###

case $# in
    0) rootfs=$repo_root/build/rootfs ;;
    1)
        case $1 in
            -h | --help)
                show_help
                exit 0
                ;;
            -*) misuse "unknown option: $1" ;;
            *) rootfs=$1 ;;
        esac
        ;;
    *) misuse "expected at most one DIR, got $# arguments" ;;
esac

# "build/rootfs/" must not put the temp dir inside the old tree.
while [[ $rootfs == */ && $rootfs != / ]]; do
    rootfs=${rootfs%/}
done
case $rootfs in
    / | . | .. | */. | */..) die "refusing to replace '$rootfs'; name a new directory, e.g. build/rootfs" ;;
esac

# Creating device nodes needs CAP_MKNOD, so fail now rather than halfway.
if [[ $EUID -ne 0 ]]; then
    die "device nodes can only be made by root: run as root, e.g. with sudo"
fi

# Never delete a directory this script did not make: an existing DIR is
# replaced only if it is empty or holds a busybox rootfs.
if [[ -e $rootfs || -L $rootfs ]]; then
    if [[ -L $rootfs || ! -d $rootfs ]]; then
        die "$rootfs exists and is not a directory; remove it or name another DIR"
    fi
    if [[ ! -e $rootfs/bin/busybox && -n $(ls -A -- "$rootfs") ]]; then
        die "$rootfs is not empty and has no bin/busybox; not replacing it (remove it yourself, or name another DIR)"
    fi
fi

parent_dir=$(dirname -- "$rootfs")
cache_dir=$parent_dir/cache
umask 022

### cleanup ###

# Everything temporary is named here, so that the EXIT trap removes exactly
# what this run made, whatever step failed.
build_dir=
old_dir=
scratch_dir=

cleanup() {
    local status=$?
    # If the old tree was moved aside but the new one did not get in, put
    # the old one back.
    if [[ -n $old_dir && -d $old_dir && ! -e $rootfs ]]; then
        mv -T -- "$old_dir" "$rootfs" || true
    fi
    if [[ -n $build_dir ]]; then rm -rf --one-file-system -- "$build_dir"; fi
    if [[ -n $scratch_dir ]]; then rm -rf -- "$scratch_dir"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scratch_dir=$(mktemp -d)

### busybox ###

# A dynamic busybox would look for its loader and libc inside the chroot,
# where there are none: it must be static. readelf -l lists an INTERP
# program header ("Requesting program interpreter") for dynamic executables.
check_static() {
    local binary=$1 headers
    command -v readelf >/dev/null ||
        die "readelf not found; install it with: apt-get install binutils"
    [[ -f $binary && -x $binary ]] ||
        die "$binary is not an executable file"
    headers=$(LC_ALL=C readelf -l -- "$binary" 2>&1) ||
        die "$binary is not an ELF executable (${headers##*$'\n'})"
    if grep -q 'Requesting program interpreter' <<<"$headers"; then
        die "$binary is dynamically linked, and a chroot has no libc for it. Use a static busybox: apt-get install busybox-static, or BUSYBOX=/path/to/static/busybox"
    fi
}

# shellcheck source=rootfs-builder/deb-cache.sh
source "$script_dir/deb-cache.sh"

if [[ -n ${BUSYBOX:-} ]]; then
    busybox=$BUSYBOX
    origin="BUSYBOX=$BUSYBOX"
elif deb=$(fetch_deb busybox-static); then
    dpkg-deb -x "$deb" "$scratch_dir/deb" ||
        die "cannot unpack $deb; delete it and run again"
    busybox=$scratch_dir/deb/bin/busybox
    [[ -e $busybox ]] || die "$deb has no bin/busybox; delete it and run again"
    origin=$deb
elif [[ -e /bin/busybox && $deb_arch == "$(dpkg --print-architecture)" ]]; then
    echo "$prog: could not download busybox-static; trying /bin/busybox" >&2
    busybox=/bin/busybox
    origin=/bin/busybox
else
    die "no busybox: 'apt-get download busybox-static' failed and there is no /bin/busybox. Install one with: apt-get install busybox-static, or name one with BUSYBOX=/path/to/static/busybox"
fi
check_static "$busybox"
# A busybox of another architecture (DEB_ARCH) runs here under qemu-user.
emulator=()
case $deb_arch in
    "$(dpkg --print-architecture)") ;;
    arm64) emulator=(qemu-aarch64-static) ;;
    amd64) emulator=(qemu-x86_64-static) ;;
    *) die "no qemu-user emulator known for DEB_ARCH=$deb_arch" ;;
esac
((${#emulator[@]} == 0)) || command -v "${emulator[0]}" >/dev/null ||
    die "${emulator[0]} not found, which runs a $deb_arch busybox here; install it with: apt-get install qemu-user-static"

# The first line of busybox's help is "BusyBox v1.35.0 (Debian ...) multi-call binary."
version=$("${emulator[@]}" "$busybox" --help 2>&1 | sed -n '1s/^BusyBox v\([^ ]*\).*/\1/p') || true
step "busybox ${version:-(unknown version)} from $origin"

### tree ###

# mktemp in the same parent, so that the final rename is atomic.
mkdir -p -- "$parent_dir"
build_dir=$(mktemp -d "$rootfs.tmp.XXXXXX")
chmod 0755 "$build_dir"

mkdir -p -- "$build_dir"/{proc,sys,dev,etc,root,bin,sbin,usr/bin,usr/sbin,tmp}
chmod 1777 "$build_dir/tmp"
chmod 0700 "$build_dir/root"
install -m 0755 -- "$busybox" "$build_dir/bin/busybox"

# busybox picks the applet from argv[0], so every command is a symlink to
# the one binary. Relative links also resolve when looked at from the host.
applet_count=0
while IFS= read -r applet_path; do
    [[ -n $applet_path && $applet_path != bin/busybox ]] || continue
    applet_link=$build_dir/$applet_path
    [[ -e $applet_link || -L $applet_link ]] && continue
    mkdir -p -- "$(dirname -- "$applet_link")"
    ln -sr -- "$build_dir/bin/busybox" "$applet_link"
    applet_count=$((applet_count + 1))
done < <("${emulator[@]}" "$build_dir/bin/busybox" --list-full)
[[ $applet_count -gt 0 ]] || die "$busybox --list-full listed no applets; is it a busybox?"
step "$applet_count applets linked"

# bash, static too, for the fork-bomb finale (make forkbomb): the classic
# :(){ :|:& };: is bash; busybox's sh refuses ':' as a function name, and
# gives up at the first fork the pids limit refuses, where bash retries.
if deb=$(fetch_deb bash-static); then
    dpkg-deb -x "$deb" "$scratch_dir/bash" ||
        die "cannot unpack $deb; delete it and run again"
    check_static "$scratch_dir/bash/bin/bash-static"
    install -m 0755 -- "$scratch_dir/bash/bin/bash-static" "$build_dir/bin/bash"
    step "bash $(dpkg-deb -f "$deb" Version) from $deb"
else
    echo "$prog: could not download bash-static: no bash in the rootfs, so make forkbomb cannot run" >&2
fi

cat >"$build_dir/etc/passwd" <<'END_PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
END_PASSWD
cat >"$build_dir/etc/group" <<'END_GROUP'
root:x:0:
nogroup:x:65534:
END_GROUP
echo minidocker >"$build_dir/etc/hostname"
# ash expands \h to the UTS hostname, so the prompt shows which namespace
# the shell is in.
cat >"$build_dir/etc/profile" <<'END_PROFILE'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='\u@\h:\w\$ '
END_PROFILE
step "etc: passwd group hostname profile"

# The container gets no devtmpfs, so the few character devices programs
# open by name are made by hand (numbers from the kernel's devices.txt).
make_node() {
    mknod -m 0666 "$build_dir/dev/$1" c "$2" "$3" ||
        die "mknod dev/$1 failed (needs root with CAP_MKNOD, on a filesystem not mounted nodev)"
}
make_node null 1 3
make_node zero 1 5
make_node random 1 8
make_node urandom 1 9
make_node tty 5 0
step "dev: null zero random urandom tty"

### swap ###

# Move the old tree aside, the new one in, then delete the old one: DIR is
# always either the old complete tree or the new one.
if [[ -e $rootfs ]]; then
    old_dir=$build_dir.old
    mv -T -- "$rootfs" "$old_dir"
fi
mv -T -- "$build_dir" "$rootfs"
build_dir=
if [[ -n $old_dir ]]; then
    rm -rf --one-file-system -- "$old_dir"
    old_dir=
fi
step "ready at $rootfs"
