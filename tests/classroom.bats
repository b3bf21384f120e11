#!/usr/bin/env bats
# The classroom machines' provisioning (labs/classroom/): the cheap checks,
# with no network and no VM: the files parse, they run the same steps
# (labs/classroom/provision.sh) with the same bootstrap packages, no list
# of the kit's packages but the Makefile's, and shellcheck finds nothing
# in their scripts. tests/run runs this file in phase 5, on the host only.
# What only their own tools check (cloud-init schema, ruby -c, a boot) is in
# labs/INSTRUCTOR.md, "Classroom machines".

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

KIT=$(cd -P "$BATS_TEST_DIRNAME/.." && pwd)
CLASSROOM=$KIT/labs/classroom

setup() {
    cd "$KIT" || return
}

requires_yaml() {
    python3 -c 'import yaml' 2>/dev/null || skip "needs python3 with PyYAML (apt-get install python3-yaml)"
}

# yaml FILE EXPRESSION: EXPRESSION, in Python, of the YAML in FILE (d), a
# line per item if it is a list.
yaml() {
    python3 - "$1" "$2" <<'EOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
value = eval(sys.argv[2])
for item in value if isinstance(value, list) else [value]:
    print(item)
EOF
}

# bootstrap: provision.sh's BOOTSTRAP_PACKAGES, a line each.
bootstrap() {
    sed -n "s/^BOOTSTRAP_PACKAGES='\(.*\)'$/\1/p" "$CLASSROOM/provision.sh" | tr ' ' '\n'
}

# makefile_packages: the Makefile's PACKAGES, a line each.
makefile_packages() {
    # shellcheck disable=SC2016 # $(PACKAGES) is make's
    make -s --no-print-directory -C "$KIT" --eval 'print-packages: ; @echo $(PACKAGES)' print-packages | tr ' ' '\n'
}

@test "user-data is cloud-config YAML that installs provision.sh's bootstrap packages, and runs provision.sh from its clone" {
    requires_yaml
    run head -n 1 "$CLASSROOM/user-data"
    assert_output '#cloud-config'
    run yaml "$CLASSROOM/user-data" 'd["packages"]'
    assert_success
    assert_output "$(bootstrap)"
    run yaml "$CLASSROOM/user-data" 'd["runcmd"][1]'
    assert_output /var/lib/mini-docker/src/labs/classroom/provision.sh
    run yaml "$CLASSROOM/user-data" 'd["runcmd"][0][2]'
    # shellcheck disable=SC2016 # the user-data's shell, not this one
    assert_output --partial 'git clone --quiet "$1" /var/lib/mini-docker/src'
}

@test "the Makefile's PACKAGES is the one list of the kit's packages: provision.sh installs it with make deps, and --packages prints it after the bootstrap" {
    grep -q '^step_deps() {$' "$CLASSROOM/provision.sh"
    sed -n '/^step_deps() {$/,/^}$/p' "$CLASSROOM/provision.sh" | grep -q 'make -C .* deps$'
    local package
    while IFS= read -r package; do
        if grep -qw -e "$package" <(bootstrap); then
            continue
        fi
        run grep -n -w -e "- $package" "$CLASSROOM/user-data" "$CLASSROOM/lima.yaml"
        assert_failure # the list is the Makefile's alone
    done < <(makefile_packages)
    run "$CLASSROOM/provision.sh" --packages
    assert_success
    assert_output "$({ bootstrap && makefile_packages; } | awk 'NF && !seen[$0]++' | paste -sd ' ')"
}

@test "lima.yaml: Debian 12 for x86_64 and aarch64, 2 CPUs, and the user-data's steps: the same bootstrap, clone and provision.sh" {
    requires_yaml
    run yaml "$CLASSROOM/lima.yaml" '[i["arch"] + " " + i["location"] for i in d["images"]]'
    assert_success
    assert_line --regexp '^x86_64 https://cloud\.debian\.org/images/cloud/bookworm/.*-amd64\.qcow2$'
    assert_line --regexp '^aarch64 https://cloud\.debian\.org/images/cloud/bookworm/.*-arm64\.qcow2$'
    run yaml "$CLASSROOM/lima.yaml" 'd["cpus"]'
    assert_output 2
    run yaml "$CLASSROOM/lima.yaml" '[p["mode"] for p in d["provision"]]'
    assert_output system
    run yaml "$CLASSROOM/lima.yaml" 'd["provision"][0]["script"]'
    assert_line "apt-get install -y -qq --no-install-recommends $(bootstrap | paste -sd ' ')"
    # shellcheck disable=SC2016 # Lima's script, not this shell
    assert_line '[ -d /var/lib/mini-docker/src/.git ] || git clone --quiet "$KIT_REPO" /var/lib/mini-docker/src'
    assert_line "$(yaml "$CLASSROOM/user-data" 'd["runcmd"][1]')"
}

@test "the Vagrantfile: Debian 12 on VirtualBox and libvirt, provisioned by provision.sh" {
    run grep -E '^ *(config\.vm\.box|config\.vm\.provider|path:)' "$CLASSROOM/Vagrantfile"
    assert_line --regexp 'config\.vm\.box = "debian/bookworm64"'
    assert_line --partial 'config.vm.provider "virtualbox"'
    assert_line --partial 'config.vm.provider "libvirt"'
    assert_line --regexp 'path: "provision\.sh",'
}

@test "one placeholder for KIT_REPO, which each file refuses" {
    run grep -c 'https://CHANGE-ME.invalid/mini-docker.git' "$CLASSROOM/user-data" "$CLASSROOM/lima.yaml" "$CLASSROOM/Vagrantfile"
    assert_output "$CLASSROOM/user-data:1
$CLASSROOM/lima.yaml:1
$CLASSROOM/Vagrantfile:1"
    grep -q '^PLACEHOLDER=CHANGE-ME$' "$CLASSROOM/provision.sh"
    grep -q '\*CHANGE-ME\*) *$' "$CLASSROOM/user-data"
    grep -q '\*CHANGE-ME\*) *$' "$CLASSROOM/lima.yaml"
    grep -q 'include?("CHANGE-ME")' "$CLASSROOM/Vagrantfile"
}

@test "provision.sh and the shell in user-data and lima.yaml pass shellcheck" {
    command -v shellcheck >/dev/null || skip "needs shellcheck (make lint-deps installs it)"
    requires_yaml
    run shellcheck "$CLASSROOM/provision.sh"
    assert_success
    # user-data's first runcmd entry, as sh -c runs it, and Lima's script.
    run shellcheck --shell=sh - < <(yaml "$CLASSROOM/user-data" 'd["runcmd"][0][2]')
    assert_success
    run shellcheck - < <(yaml "$CLASSROOM/lima.yaml" 'd["provision"][0]["script"]')
    assert_success
}

@test "provision.sh names its steps, refuses others, and needs root for them" {
    run "$CLASSROOM/provision.sh" --help
    assert_success
    assert_line 'STEPs: clone deps build doctor login (default: all, once)'
    run "$CLASSROOM/provision.sh" --no-such-option
    assert_failure
    assert_line 'provision.sh: no such step or option: --no-such-option'
    run setpriv --reuid=65534 --regid=65534 --clear-groups "$CLASSROOM/provision.sh" login
    assert_failure
    assert_line 'provision.sh: run it as root (sudo)'
}
