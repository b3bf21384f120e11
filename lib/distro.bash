#!/usr/bin/env bash
# lib/distro.bash: every choice the kit makes by distribution, in one place.
# The kit is developed on Debian 12, and installs from its archive. Ubuntu
# (22.04, 24.04) has every package the kit installs, but two:
#
#   chromium    for the slides' PDFs and make slides-check. Ubuntu has no
#               Chromium in its archive but a snap: its chromium-browser
#               package only installs the snap, which needs snapd (absent in
#               containers and many classroom images), and Debian 12's
#               chromium .deb depends on libraries by Debian's names and
#               versions (libjpeg62-turbo, libdav1d6: Ubuntu has
#               libjpeg-turbo8, and another libdav1d), so apt cannot install
#               it there (from its Depends line; Ubuntu's archive is out of
#               reach of the machine the kit is developed on). On Ubuntu the
#               kit installs no Chromium: the decks build (HTML, no PDF) and
#               make slides-check needs a Chromium or Chrome named by
#               CHROME_PATH (Google's .deb works); without one it says so.
#   the kernel  that make test's VMs boot (tests/vm/run-vm.sh): Debian's
#               cloud kernel, linux-image-cloud-amd64 (or -arm64), the one
#               the kit is proven on. Ubuntu's archive does not carry it, so
#               on any host but Debian it comes from Debian's archive
#               through a private apt configuration in build/vm/cache
#               (rootfs-builder/deb-cache.sh, as make test-arm64 fetches
#               arm64 packages), signed by Debian's key (debian-archive-keyring,
#               in Ubuntu's universe); the host's apt is never changed.
#               Ubuntu's own linux-image-kvm was not chosen: its modules
#               (veth, which the suite loads) are in another package, and
#               nothing here could boot it.
#
# Each choice reads /etc/os-release (DISTRO_OS_RELEASE names another file,
# for tests/doctor.bats): ID, and ID_LIKE for a derivative (Linux Mint's
# ID_LIKE is "ubuntu debian"). Source it and call a function, or run it:
#
#   lib/distro.bash family            debian, ubuntu or other
#   lib/distro.bash slides-packages   what make slides-deps installs
#   lib/distro.bash chromium          the Chromium the slides use; fails,
#                                     saying why, where there is none
#   lib/distro.bash kernel-apt        where the VMs' Debian kernel comes
#                                     from: host (the host's apt: Debian)
#                                     or debian (a private configuration)

# distro_field NAME: the value of NAME in os-release, quotes removed.
distro_field() {
    sed -n "s/^$1=//p" "${DISTRO_OS_RELEASE:-/etc/os-release}" 2>/dev/null |
        head -n 1 | tr -d "\"'"
}

# distro_family: debian, ubuntu (Ubuntu and its derivatives) or other.
distro_family() {
    local id like
    id=$(distro_field ID) like=" $(distro_field ID_LIKE) "
    if [[ $id == ubuntu || $like == *" ubuntu "* ]]; then
        echo ubuntu
    elif [[ $id == debian || $like == *" debian "* ]]; then
        echo debian
    else
        echo other
    fi
}

# distro_slides_packages: Debian's Chromium, and a font for the Chinese
# deck; on Ubuntu the font alone.
distro_slides_packages() {
    if [[ $(distro_family) == ubuntu ]]; then
        echo fonts-noto-cjk
    else
        echo chromium fonts-noto-cjk
    fi
}

# distro_chromium: the Chromium the slides use (CHROME_PATH, else Debian's
# /usr/bin/chromium); fails, with the reason on stderr, if it is missing.
distro_chromium() {
    local browser=${CHROME_PATH:-/usr/bin/chromium}
    if [[ -x $browser ]]; then
        echo "$browser"
    elif [[ -n ${CHROME_PATH:-} ]]; then
        echo "no Chromium at CHROME_PATH=$CHROME_PATH" >&2
        return 1
    elif [[ $(distro_family) == ubuntu ]]; then
        echo "no Chromium: Ubuntu's is a snap, which the kit does not install; set CHROME_PATH to a Chromium or Chrome (Google's .deb works) for the slides' PDFs and make slides-check" >&2
        return 1
    else
        echo "no Chromium at /usr/bin/chromium: apt-get install chromium (make slides-deps)" >&2
        return 1
    fi
}

# distro_kernel_apt: host where the host's apt has Debian's cloud kernel
# (Debian itself), debian where a private configuration must fetch it from
# Debian's archive (Ubuntu, and any other).
distro_kernel_apt() {
    if [[ $(distro_field ID) == debian ]]; then
        echo host
    else
        echo debian
    fi
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    case ${1:-} in
        family) distro_family ;;
        slides-packages) distro_slides_packages ;;
        chromium) distro_chromium ;;
        kernel-apt) distro_kernel_apt ;;
        *)
            echo "Usage: $0 family | slides-packages | chromium | kernel-apt" >&2
            exit 2
            ;;
    esac
fi
