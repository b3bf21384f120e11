# shellcheck shell=bash
# shellcheck disable=SC2154 # cache_dir is set by the script that sources this
# deb-cache.sh: Debian packages kept as .deb files in a cache folder, fetched
# with apt-get download. Sourced by rootfs-builder/build-rootfs.sh (for
# busybox-static) and tests/vm/run-vm.sh (the kernel, bash-static). The
# caller sets cache_dir and sources lib/kit.bash first (step, its progress
# lines).

# cached_deb PACKAGE: the newest .deb of PACKAGE (which may be a glob) in the
# cache; fails if there is none.
cached_deb() {
    local candidate version newest='' newest_version=''
    # shellcheck disable=SC2231 # PACKAGE may be a glob on purpose
    for candidate in "$cache_dir"/$1_*.deb; do
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
    if (cd "$download_dir" && { apt-get download "$1" ||
        { apt-get update -qq && apt-get download "$1"; }; }) >"$download_dir/apt.log" 2>&1; then
        mv -- "$download_dir/$1"_*.deb "$cache_dir/" || status=1
    else
        sed 's/^/  apt-get: /' "$download_dir/apt.log" >&2
        status=1
    fi
    rm -rf -- "$download_dir"
    ((status == 0)) && cached_deb "$1"
}
