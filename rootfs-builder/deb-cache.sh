# shellcheck shell=bash
# shellcheck disable=SC2154 # cache_dir is set by the script that sources this
# deb-cache.sh: Debian packages kept as .deb files in a cache folder, fetched
# with apt-get download. Sourced by rootfs-builder/build-rootfs.sh (for
# busybox-static) and tests/vm/run-vm.sh (the kernel, bash-static). The
# caller sets cache_dir and sources lib/kit.bash first (step, its progress
# lines).
#
# DEB_ARCH (default: this host's architecture) names the packages'
# architecture. Another one's (make test-arm64 on an amd64 host) come from a
# private apt configuration in $cache_dir/apt (its own sources, lists and
# an empty dpkg status, APT::Architecture=DEB_ARCH): the host's apt
# configuration and its architectures are never changed. DEB_APT=debian
# takes that configuration for the host's own architecture too: Debian's
# packages on a host whose apt has another's (Ubuntu: lib/distro.bash).
deb_arch=${DEB_ARCH:-$(dpkg --print-architecture)}
apt_options=() apt_dir=
if [[ $deb_arch != "$(dpkg --print-architecture)" || ${DEB_APT:-host} == debian ]]; then
    apt_dir=$(realpath -m -- "$cache_dir/apt") # fetch_deb runs apt-get elsewhere
    apt_options=(-o "APT::Architecture=$deb_arch" -o "APT::Architectures=$deb_arch"
        -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
        -o "Dir::State=$apt_dir/state" -o "Dir::State::status=$apt_dir/status"
        -o "Dir::Cache=$apt_dir/cache")
fi

# private_apt: write the private configuration's sources (once): the Debian
# mirror and release the host's own sources name (deb.debian.org and
# bookworm on a host that is not Debian's), main, with the updates suite.
private_apt() {
    local mirror codename
    [[ ! -s $apt_dir/sources.list ]] || return 0
    [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
        die "no /usr/share/keyrings/debian-archive-keyring.gpg, which $deb_arch packages need; install it with: apt-get install debian-archive-keyring"
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ') || true
    # shellcheck source=/dev/null # the host's
    codename=$(. /etc/os-release && [[ ${ID:-} == debian ]] && echo "${VERSION_CODENAME:-}") || true
    mkdir -p -- "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial"
    : >"$apt_dir/status"
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
        "${mirror:-http://deb.debian.org/debian}" "${codename:-bookworm}" \
        "${mirror:-http://deb.debian.org/debian}" "${codename:-bookworm}-updates" >"$apt_dir/sources.list"
}

# deb_apt TOOL ARG...: apt-get or apt-cache for DEB_ARCH's packages.
deb_apt() {
    ((${#apt_options[@]} == 0)) || private_apt
    "$1" "${apt_options[@]}" "${@:2}"
}

# cached_deb PACKAGE: the newest .deb of PACKAGE (which may be a glob) in the
# cache, of DEB_ARCH or of all; fails if there is none. (A cache may hold
# another architecture's: DEB_ARCH=arm64 into the host's own build/.)
cached_deb() {
    local candidate version newest='' newest_version=''
    # shellcheck disable=SC2231 # PACKAGE may be a glob on purpose
    for candidate in "$cache_dir"/$1_*_"$deb_arch".deb "$cache_dir"/$1_*_all.deb; do
        [[ -f $candidate ]] || continue
        version=$(dpkg-deb -f "$candidate" Version 2>/dev/null) || continue
        if [[ -z $newest ]] || dpkg --compare-versions "$version" gt "$newest_version"; then
            newest=$candidate
            newest_version=$version
        fi
    done
    [[ -n $newest ]] && echo "$newest"
}

# fetch_deb PACKAGE: the path of PACKAGE's .deb: the cached one, or else one
# downloaded into the cache (once more after apt-get update, for a machine
# with no package lists or old ones). The download lands in a temp dir first,
# so a broken one never looks cached. As root, apt-get warns that it
# downloads unsandboxed: its output is shown only if it fails, and then
# fetch_deb returns 1.
fetch_deb() {
    local download_dir status=0
    cached_deb "$1" && return 0
    step "apt-get download $1 into $cache_dir" >&2
    mkdir -p -- "$cache_dir" || return 1
    download_dir=$(mktemp -d "$cache_dir/download.XXXXXX") || return 1
    if (cd "$download_dir" && { deb_apt apt-get download "$1" ||
        { deb_apt apt-get update -qq && deb_apt apt-get download "$1"; }; }) >"$download_dir/apt.log" 2>&1; then
        mv -- "$download_dir/$1"_*.deb "$cache_dir/" || status=1
    else
        sed 's/^/  apt-get: /' "$download_dir/apt.log" >&2
        status=1
    fi
    rm -rf -- "$download_dir"
    ((status == 0)) && cached_deb "$1"
}
