#!/usr/bin/env bash
# provision.sh: turn a fresh Debian 12 or Ubuntu 22.04/24.04 machine into a
# ready kit machine, as root. The one list of steps for every way the kit
# makes classroom machines (labs/INSTRUCTOR.md, "Classroom machines"):
# cloud-init's user-data runs it from the clone its runcmd makes, Lima's
# template the same way, and the Vagrantfile uploads it and runs it.
#
#   clone   NETWORK. git (and make, ca-certificates) installed if missing,
#           then the kit cloned into the default user's home, ~/mini-docker,
#           for that user. From KIT_SRC: by default the clone this script
#           is in (a local clone, no network), else KIT_REPO; the user's
#           clone's origin is KIT_REPO either way. Kept if already there.
#   deps    NETWORK, unless every package is installed already: make deps,
#           as root, which installs the Makefile's PACKAGES, the one list
#           of what `make demo` needs (provision.sh --packages prints it,
#           with what the clone needs).
#   build   the stages, as the user (make all), and the rootfs, as root
#           (make rootfs). NETWORK, a little: make rootfs fetches
#           busybox-static and bash-static with apt-get download (into
#           build/cache, where a second build finds them); offline it takes
#           the busybox deps installed, and goes without bash, which make
#           forkbomb needs.
#   doctor  sudo make doctor, its report into /var/lib/mini-docker/doctor.txt
#           (a doctor that finds a problem does not fail the provisioning:
#           its report says what, at login).
#   login   /etc/profile.d/mini-docker.sh: every login shell shows the
#           doctor's result and where the kit is.
#
# With no STEP, all five in that order, once: a machine provisioned already
# (/var/lib/mini-docker/provisioned) is left alone (Lima runs its
# provisioning at every boot). Each step can be run again by name.
#
# Usage: provision.sh [STEP...] | --packages | --help
# Environment:
#   KIT_REPO  where the kit is cloned from (default: the origin of the clone
#             this script is in). Required when the script is on its own,
#             as the Vagrantfile runs it.
#   KIT_SRC   clone from here instead (a local clone: the offline machines
#             of make test-classroom); the user's origin is still KIT_REPO
#   KIT_USER  the user who gets the kit (default: the machine's first
#             ordinary user: the cloud image's default user, Lima's,
#             vagrant)
set -euo pipefail

prog=provision.sh
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=/var/lib/mini-docker
# What the clone step needs before the kit is there; what the kit itself
# needs is the Makefile's PACKAGES, installed by make deps.
BOOTSTRAP_PACKAGES='git ca-certificates make'
PLACEHOLDER=CHANGE-ME

die() {
    echo "$prog: $*" >&2
    exit 1
}
say() { echo "$prog: $*"; }

usage() {
    echo "Usage: $prog [STEP...] | --packages | --help"
    echo "STEPs: clone deps build doctor login (default: all, once)"
}

# own_kit: the kit this script is in, if it is in a clone of it.
own_kit() {
    local top
    top=$(cd "$script_dir/../.." && pwd)
    [[ -f $top/Makefile && -f $top/stages/doctor.sh ]] && echo "$top"
}

# kit_user: the user who gets the kit.
kit_user() {
    if [[ -n ${KIT_USER:-} ]]; then
        echo "$KIT_USER"
        return
    fi
    # The first ordinary user: a home in /home and a shell to log in with
    # (Lima's user has the Mac's uid, 501, and a home /home/NAME.linux).
    getent passwd | sort -t: -k3,3n | awk -F: '$3 >= 500 && $3 < 60000 &&
        $6 ~ /^\/home\// && $7 !~ /(nologin|false)$/ { print $1; exit }'
}

user_home() {
    getent passwd "$1" | cut -d: -f6
}

kit_dir() {
    local user
    user=$(kit_user)
    [[ -n $user ]] || die "no ordinary user to give the kit to: name one with KIT_USER=NAME"
    echo "$(user_home "$user")/mini-docker"
}

as_user() {
    runuser -u "$(kit_user)" -- "$@"
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "$@"
}

step_clone() {
    local dir repo src top user missing=() pkg
    dir=$(kit_dir)
    if [[ -d $dir/.git ]]; then
        say "$dir is there already: kept"
        return
    fi
    repo=${KIT_REPO:-}
    if [[ -z $repo ]] && top=$(own_kit); then
        repo=$(git -C "$top" remote get-url origin 2>/dev/null || true)
    fi
    src=${KIT_SRC:-$(own_kit || true)}
    src=${src:-$repo}
    if [[ -z $src || $src == *"$PLACEHOLDER"* ]]; then
        die "KIT_REPO is not set: the instructor sets it to the kit's git URL (labs/INSTRUCTOR.md, \"Classroom machines\")"
    fi
    # shellcheck disable=SC2086 # a list of package names
    for pkg in $BOOTSTRAP_PACKAGES; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        say "installing ${missing[*]} (network)"
        apt-get update -qq
        apt_install "${missing[@]}"
    fi
    # Cloned as root, then given to the user: git refuses to clone, as
    # one user, a local clone that is another's.
    say "cloning $src into $dir"
    git clone --quiet "$src" "$dir"
    if [[ -n $repo && $repo != "$src" ]]; then
        git -C "$dir" remote set-url origin "$repo"
    fi
    user=$(kit_user)
    chown -R "$user:" "$dir"
}

step_deps() {
    make -C "$(kit_dir)" --no-print-directory deps
}

step_build() {
    local dir
    dir=$(kit_dir)
    as_user make -C "$dir" --no-print-directory all
    make -C "$dir" --no-print-directory rootfs
}

step_doctor() {
    local dir status=0 report
    dir=$(kit_dir)
    mkdir -p "$state"
    report=$(make -C "$dir" --no-print-directory doctor 2>&1) || status=$?
    {
        echo "sudo make doctor, $(date -u '+%Y-%m-%d %H:%M UTC'), in $dir: exit status $status"
        echo "$report"
    } >"$state/doctor.txt"
    cat "$state/doctor.txt"
}

step_login() {
    cat >/etc/profile.d/mini-docker.sh <<'EOF'
# mini-docker (labs/classroom/provision.sh): the doctor's result at login.
if [ -n "${PS1:-}" ]; then
    if [ -r /var/lib/mini-docker/doctor.txt ]; then
        echo "mini-docker: the kit is in ~/mini-docker. At first boot, $(head -n 1 /var/lib/mini-docker/doctor.txt):"
        grep -e '✗' /var/lib/mini-docker/doctor.txt || true
        tail -n 1 /var/lib/mini-docker/doctor.txt
        echo "(the whole report: /var/lib/mini-docker/doctor.txt; again: cd ~/mini-docker && sudo make doctor)"
    else
        echo "mini-docker: this machine is still being provisioned (or it failed): sudo tail /var/log/cloud-init-output.log"
    fi
fi
EOF
}

# The packages a machine needs: what the clone step installs, and the
# Makefile's PACKAGES (make test-classroom bakes them into its image).
print_packages() {
    local top
    top=$(own_kit) || die "--packages reads the kit's Makefile: run it from a clone of the kit"
    # shellcheck disable=SC2016 # $(PACKAGES) is make's, not the shell's
    echo "$BOOTSTRAP_PACKAGES" "$(make -s -C "$top" --no-print-directory \
        --eval 'print-packages: ; @echo $(PACKAGES)' print-packages)" |
        tr ' ' '\n' | awk 'NF && !seen[$0]++' | paste -sd ' '
}

steps=()
for arg in "$@"; do
    case $arg in
        -h | --help)
            usage
            sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        --packages)
            print_packages
            exit 0
            ;;
        clone | deps | build | doctor | login) steps+=("$arg") ;;
        *)
            usage >&2
            die "no such step or option: $arg"
            ;;
    esac
done
[[ $(id -u) == 0 ]] || die "run it as root (sudo)"

once=no
if ((${#steps[@]} == 0)); then
    if [[ -e $state/provisioned ]]; then
        say "provisioned already ($(cat "$state/provisioned")): nothing to do"
        exit 0
    fi
    steps=(clone deps build doctor login)
    once=yes
fi
start=$SECONDS
for step in "${steps[@]}"; do
    step_start=$SECONDS
    say "step $step"
    "step_$step"
    say "step $step: done in $((SECONDS - step_start)) s"
done
if [[ $once == yes ]]; then
    mkdir -p "$state"
    date -u '+%Y-%m-%d %H:%M UTC' >"$state/provisioned"
fi
say "done in $((SECONDS - start)) s"
