#!/usr/bin/env bash
# grade.sh: grade a lab. Compiles the student's container.c exactly as the
# stages are compiled, runs the stage's own tests against it (the same bats
# files that test the reference stages) with every earlier stage's tests but
# its lessons (its property and plumbing tests), and prints a scorecard: ✓
# or ✗ for each check, a hint for each ✗ that points at the lab's step, and
# a total.
# `make grade` runs it.
#
# The safety net: each test file runs in throwaway mount, UTS, PID and
# network namespaces, with / made shared in it as systemd makes it, and lo
# up and a host0 as a machine has them (lib/kit.bash: host_like_network),
# so whatever a broken binary mounts, renames or does to an interface stays
# there, and every process it leaves dies with the namespace. Inside, the tests' own teardown checks that no
# mount, cgroup, hostname change or process is left; every container is
# bounded by a timeout, and each file by a time limit. A stage names its
# cgroup after its PID namespace and pid, so two gradings side by side
# neither see nor remove each other's.
#
# Exit status: 0 when every check passes; 1 when one fails or is skipped, or
# the file does not compile; 2 for a usage error.
set -euo pipefail

prog=labs/grade.sh
kit=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/kit.bash
. "$kit/lib/kit.bash"

usage() {
    echo "Usage: $prog [--quick | --build-only] [--stage NN] [SRC]"
}

show_help() {
    usage
    cat <<EOF
Compile SRC (default: work/NN-name/container.c) as the stages are compiled,
run stage NN's checks against it, and print a scorecard. NN is a stage, as
03 or 03-mountns-proc; without --stage it comes from SRC's directory name.
The stages: ${STAGES[*]}.

  sudo make grade STAGE=03                          your work/03-mountns-proc
  sudo make grade STAGE=03 SRC=path/to/container.c  any file, as stage 03

  --quick        only stage NN's own checks, not the earlier stages'
                 properties that it keeps (quicker while you work; then
                 grade it in full)
  --build-only   only compile it, into build/grade/NN-name, to try by hand

The binary is left in build/grade/NN-name (try it by hand), the full test
output in build/grade/NN-name.log. The checks run containers: run it as root.
Environment: CC, CFLAGS, LDFLAGS (as the Makefile passes them);
CONTAINER_TIMEOUT, the seconds one container may run (default 15);
WAIT_TIMEOUT, the seconds a check waits for a container to start, print or
join its cgroup (default 3); GRADE_DIR, where the binary and the log go
instead of build/grade (two gradings of one stage at once need two).
EOF
}

### the command line ###

stage='' src='' build_only='' quick=''
while (($#)); do
    case $1 in
        -h | --help)
            show_help
            exit 0
            ;;
        --build-only)
            build_only=1
            shift
            ;;
        --quick)
            quick=1
            shift
            ;;
        --stage)
            (($# >= 2)) || misuse "--stage needs a stage, e.g. --stage 03"
            stage=$(stage_name "$2") || misuse "no stage '$2' (the stages are: ${STAGES[*]})"
            shift 2
            ;;
        -*) misuse "unknown option '$1'" ;;
        *)
            [[ -z $src ]] || misuse "one SRC at a time ('$src', then '$1')"
            src=$1
            shift
            ;;
    esac
done
if [[ -z $stage ]]; then
    [[ -n $src ]] || misuse "name the stage: --stage NN, or SRC in a directory named like work/03-mountns-proc"
    stage=$(stage_name "$(basename "$(dirname "$src")")") ||
        misuse "cannot tell the stage from '$src': name it with --stage NN"
fi
src=${src:-work/$stage/container.c}
[[ -f $src ]] || die "$src does not exist (make lab STAGE=${stage%%-*} makes your copy of the starter)"

### compile, as the Makefile compiles the stages ###

read -r -a cc <<<"${CC:-cc}"
read -r -a cflags <<<"${CFLAGS--std=c11 -O2 -Wall -Wextra -Werror}"
read -r -a ldflags <<<"${LDFLAGS--static}"

# The binary goes beside a link to the rootfs: a stage with --rootfs finds
# its default rootfs beside itself, as build/04-chroot finds build/rootfs.
out_dir=${GRADE_DIR:-$kit/build/grade}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
binary=$out_dir/$stage
log=$out_dir/$stage.log
ln -sfn "$(realpath -m --relative-to="$out_dir" "$kit/build/rootfs")" "$out_dir/rootfs"
rm -f "$binary"

if [[ -n $build_only ]]; then
    echo "Building $src as stage $stage"
else
    echo "Grading $src as stage $stage${quick:+ (--quick: its own checks only)}"
fi
echo "compile: ${cc[*]} ${cflags[*]} ${ldflags[*]} -o ${binary#"$kit"/} $src"
if ! compiler_output=$("${cc[@]}" "${cflags[@]}" "${ldflags[@]}" -o "$binary.tmp" "$src" 2>&1); then
    rm -f "$binary.tmp"
    echo
    printf '%s\n' "$compiler_output"
    echo
    echo "✗ $src does not compile: fix the first error above, then grade again."
    echo "score: no check run: the file does not compile"
    exit 1
fi
mv "$binary.tmp" "$binary"
[[ -z $compiler_output ]] || printf '%s\n' "$compiler_output"
if [[ -n $build_only ]]; then
    echo "built: try it with: sudo ${binary#"$kit"/} run ..."
    exit 0
fi

if ((EUID != 0)); then
    die "the checks run containers, which needs root: run it as root, e.g. sudo make grade STAGE=${stage%%-*}"
fi
for tool in bats unshare timeout busybox; do
    command -v "$tool" >/dev/null || die "$tool is not installed (make deps installs it)"
done
if grep -q -- '--rootfs' "$kit/stages/$stage/container.c" && [[ ! -d $kit/build/rootfs ]]; then
    die "stage $stage runs in build/rootfs, which is missing: build it with: make rootfs"
fi

### the checks ###

# hint LAB ID: the hint that labs/LAB/checks gives for the check ID.
# (Each check there is "✓ ID" or "✗ ID", its hint on the next line.)
hint() {
    local checks=$kit/labs/$1/checks line found=''
    [[ -f $checks ]] || return 0
    while IFS= read -r line; do
        if [[ -n $found ]]; then
            line=${line#"${line%%[![:space:]]*}"}
            if [[ $line == "(plumbing)" ]]; then
                line="not the lesson (the starter passes it): compare your file with build/labs/$1/container.c"
            fi
            echo "$line"
            return 0
        fi
        [[ $line == "✓ $2" || $line == "✗ $2" ]] && found=1
    done <"$checks"
    return 0
}

passed=0 total=0 not_passed=0
: >"$log"

# grade_file FILE_STAGE HEADING [TAG]: run tests/FILE_STAGE.bats (the tests
# tagged TAG; all without) against the binary; print a line for each check.
grade_file() {
    local file_stage=$1 heading=$2 tag=${3:-} file limit tap line lab_hint
    local status=0 unfinished grading_ns='' cgroup name id
    local -a filter=()
    local -A reported=() id_of=()
    file=$kit/tests/$file_stage.bats
    [[ -z $tag ]] || filter=(--filter-tags "$tag")
    while IFS=$'\t' read -r id name; do
        id_of[$name]=$id
    done < <(test_ids "$file")
    echo
    echo "$heading"
    # Generous, but a hung check cannot hold the grading forever.
    limit=$((60 + 30 * $(bats --count "${filter[@]}" "$file")))
    # In throwaway namespaces (see the top): / shared, as systemd has it, a
    # hostname, a /proc and a network of their own; --kill-child takes every process
    # of the PID namespace with it when bats ends or is stopped. The first
    # line out is that PID namespace, whose cgroups are this grading's.
    # shellcheck disable=SC2016 # $@ is for the inner bash
    tap=$(STAGE=$stage CONTAINER=$binary CONTAINER_TIMEOUT=${CONTAINER_TIMEOUT:-15} \
        WAIT_TIMEOUT=${WAIT_TIMEOUT:-3} \
        timeout -k 10 "$limit" \
        unshare --mount --uts --pid --net --fork --kill-child --mount-proc --propagation private \
        bash -c 'readlink /proc/self/ns/pid && mount --make-rshared / && . "$0" && host_like_network &&
            exec bats --tap "$@"' "$kit/lib/kit.bash" "${filter[@]}" "$file" </dev/null 2>&1) || status=$?
    if [[ $tap =~ ^pid:\[([0-9]+)\] ]]; then
        grading_ns=${BASH_REMATCH[1]}
        tap=${tap#*$'\n'}
    fi
    printf '=== tests/%s.bats, the tests%s\n%s\n\n' "$file_stage" "${tag:+ tagged $tag}" "$tap" >>"$log"
    if ((status == 124 || status == 137)); then
        unfinished="stopped at the time limit: this file's checks may take $limit s in all"
        # Its teardown did not run: remove the cgroups its containers left,
        # now empty, since every process of the grading's namespace is gone.
        # Only this grading's: another one may be running beside it.
        if [[ -n $grading_ns ]]; then
            while IFS= read -r cgroup; do
                rmdir "$cgroup" 2>/dev/null || true
            done < <(minidocker_cgroups "$grading_ns")
        fi
    else
        unfinished="never ran: bats stopped before it (exit status $status; see ${log#"$kit"/})"
    fi

    while IFS= read -r line; do
        tap_line "$line" || continue
        name=$TAP_NAME
        total=$((total + 1))
        reported[$name]=1
        case $TAP_RESULT in
            skip)
                not_passed=$((not_passed + 1))
                echo "  ? $name"
                echo "      → skipped, so not passed: $TAP_WHY"
                continue
                ;;
            ok)
                passed=$((passed + 1))
                echo "  ✓ $name"
                continue
                ;;
        esac
        not_passed=$((not_passed + 1))
        echo "  ✗ $name"
        lab_hint=''
        [[ -z ${id_of[$name]:-} ]] || lab_hint=$(hint "$file_stage" "${id_of[$name]}")
        if [[ -z $lab_hint ]]; then
            lab_hint="see the test in tests/$file_stage.bats (labs/$file_stage/checks has no hint for it)"
        elif [[ $file_stage != "$stage" ]]; then
            lab_hint="lab ${file_stage%%-*}, $lab_hint"
        fi
        echo "      → $lab_hint"
    done <<<"$tap"

    # A check that never reported fails too.
    while IFS= read -r name; do
        [[ -z $name || -n ${reported[$name]:-} ]] && continue
        total=$((total + 1))
        not_passed=$((not_passed + 1))
        echo "  ✗ $name"
        echo "      → $unfinished"
    done < <(test_names "$file" "$tag")
}

if [[ -z $quick ]]; then
    for earlier in "${STAGES[@]}"; do
        [[ $earlier == "$stage" ]] && break
        grade_file "$earlier" "What $earlier built, which $stage keeps:" '!lesson'
    done
fi
grade_file "$stage" "What $stage adds (this lab: labs/$stage/README.md):"

echo
echo "score: $passed/$total checks pass"
echo "your binary: ${binary#"$kit"/}; every test's output: ${log#"$kit"/}"
if ((not_passed)); then
    exit 1
fi
if [[ -n $quick ]]; then
    echo "All of stage $stage's own checks pass: now grade it in full (without --quick)."
else
    echo "All checks pass: well done."
fi
