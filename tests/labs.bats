#!/usr/bin/env bats
# The labs (labs/NN-name/): their starters, make lab and make grade, used as
# a student uses them. tests/run runs this file as phase 5, on the host only:
# it compiles, and the test VMs have no compiler.
#
# No stage is named here: each test goes through lib/kit.bash's STAGES, so
# a new stage's lab is tested with no edit here.
#
# The gradings, the slow part, run side by side, two at a time: the first
# test that needs one starts them all, and each test waits for its own.
# Two gradings at once are safe: each runs in PID, mount and UTS namespaces
# of its own, a stage names its cgroup after its PID namespace, and each
# grading has a GRADE_DIR of its own.

# shellcheck disable=SC2154 # bats' run --separate-stderr sets stderr

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

KIT=$(cd -P "$BATS_TEST_DIRNAME/.." && pwd)
# STAGES, test_ids, minidocker_cgroups.
# shellcheck source=lib/kit.bash
. "$KIT/lib/kit.bash"

# How many gradings run at once: one a core, two here.
GRADING_JOBS=${GRADING_JOBS:-2}

setup() {
    cd "$KIT" || return
    HOST_HOSTNAME=$(cat /proc/sys/kernel/hostname)
    HOST_MOUNTINFO=$(cat /proc/self/mountinfo)
}

# Grading runs broken binaries: whatever they did must not reach the host.
# (While gradings run side by side, their containers' cgroups are there:
# the cgroups are checked once none runs.)
teardown() {
    local cgroup
    if [[ -z $(gradings_running) ]]; then
        while IFS= read -r cgroup; do
            fail "a cgroup was left behind: $cgroup"
        done < <(minidocker_cgroups)
    fi
    assert_equal "$(cat /proc/sys/kernel/hostname)" "$HOST_HOSTNAME"
    assert_equal "$(cat /proc/self/mountinfo)" "$HOST_MOUNTINFO"
}

requires_root() {
    ((EUID == 0)) || skip "needs root: grading runs containers (run as root, e.g. with sudo)"
}

requires_rootfs() {
    [[ -d $KIT/build/rootfs ]] || skip "needs build/rootfs (build it with: make rootfs)"
}

# make_flags: the compiler and flags the Makefile builds the stages with.
make_flags() {
    # shellcheck disable=SC2016 # $(CC) and the rest are make's
    make -s --no-print-directory -C "$KIT" \
        --eval 'labs-print-flags: ; @echo $(CC) $(CFLAGS) $(LDFLAGS)' labs-print-flags
}

# starter LAB [DIR]: generate LAB's starter into DIR/LAB/container.c
# (DIR: $BATS_TEST_TMPDIR), its path in STARTER.
starter() {
    mkdir -p "${2:-$BATS_TEST_TMPDIR}/$1"
    STARTER=${2:-$BATS_TEST_TMPDIR}/$1/container.c
    labs/make-starter.sh "stages/$1/container.c" "labs/$1/starter.spec" >"$STARTER"
}

# names_in LAB: the names of the tests in tests/LAB.bats, one a line (read
# here, not with lib/kit.bash's test_names, which grade.sh uses).
names_in() {
    sed -n 's/^@test "\(.*\)" {$/\1/p' "tests/$1.bats"
}

# marked_checks LAB MARK: the tests that labs/LAB/checks marks MARK (✓ or
# ✗), by name, one a line.
marked_checks() {
    local id name
    while IFS=$'\t' read -r id name; do
        grep -qxF "$2 $id" "labs/$1/checks" && echo "$name"
    done < <(test_ids "tests/$1.bats")
    return 0
}

# hint_of LAB NAME: the hint labs/LAB/checks gives for the test NAME.
hint_of() {
    local id
    id=$(test_ids "tests/$1.bats" | awk -F '\t' -v name="$2" '$2 == name { print $1 }')
    grep -A1 -E "^(✓|✗) $id\$" "labs/$1/checks" | sed -n '2s/^ *//p'
}

# scorecard_section STAGE: the ✓, ✗ and ? lines the scorecard in $output
# printed under the heading of STAGE's tests, as "MARK NAME".
scorecard_section() {
    awk -v stage="$1" '
        /^What / { inside = ($2 == stage) }
        inside && /^  (✓|✗|\?) / { print substr($0, 3) }' <<<"$output"
}

#--- the gradings, side by side -------------------------------------------------

# readme_lab: the lab whose scorecard README.md shows ("What NN-name adds").
readme_lab() {
    sed -n 's/^What \([0-9][0-9]-[^ ]*\) adds .*/\1/p' "$KIT/README.md" | head -n 1
}

# gradings: every grading the tests wait for, a line each: its key and what
# labs/grade.sh is given, in the order they start. A starter is graded in
# full (with every earlier stage's checks but its lessons) for the first lab
# (where full and quick are the same) and for the lab README.md shows, else
# with --quick: a full grade of every starter would grow with the square of
# the number of stages. That no starter cuts a line of an earlier stage is
# tested on its own.
gradings() {
    local lab quick
    echo "harmful --quick --stage ${STAGES[1]} @harmful"
    for lab in "${STAGES[@]}"; do
        quick=--quick
        if [[ $lab == "${STAGES[0]}" || $lab == "$(readme_lab)" ]]; then
            quick=''
        fi
        echo "$lab-starter $quick --stage $lab @starter"
    done
    echo "${STAGES[-1]}-reference --quick stages/${STAGES[-1]}/container.c"
}

# grading KEY ARGS...: run labs/grade.sh ARGS in GRADINGS/KEY/ (its
# GRADE_DIR); @starter stands for the lab's starter, @harmful for the
# harmful binary's source. The output goes to out, then the exit status to
# status; the harmful one is watched: the host's hostname, sampled all
# through, in watch.
grading() {
    local key=$1 dir=$GRADINGS/$1 arg hostname host_hostname samples=0
    local -a args=()
    shift
    mkdir -p "$dir"
    for arg in "$@"; do
        case $arg in
            @starter)
                if ! starter "${key%-starter}" "$dir/src" 2>"$dir/out"; then
                    echo 99 >"$dir/status"
                    return 0
                fi
                arg=$STARTER
                ;;
            @harmful)
                harmful_source "$dir/harmful/container.c"
                arg=$dir/harmful/container.c
                ;;
        esac
        args+=("$arg")
    done
    if [[ $key == harmful ]]; then
        touch "$dir/grading"
        host_hostname=$(cat "$dir/host-hostname")
        (
            while [[ -e $dir/grading ]]; do
                read -r hostname </proc/sys/kernel/hostname
                [[ $hostname == "$host_hostname" ]] || echo "the host was renamed: $hostname"
                samples=$((samples + 1))
                sleep 0.02
            done
            echo "$samples samples"
        ) >"$dir/watch" &
    fi
    GRADE_DIR=$dir labs/grade.sh "${args[@]}" >"$dir/out" 2>&1 && echo 0 >"$dir/status.tmp" || echo $? >"$dir/status.tmp"
    if [[ $key == harmful ]]; then
        rm "$dir/grading"
        wait
    fi
    mv "$dir/status.tmp" "$dir/status"
}

# gradings_running: the keys of the gradings started and not finished.
gradings_running() {
    local dir
    for dir in "$GRADINGS"/*/; do
        [[ -e $dir/queued && ! -e $dir/status ]] && basename "$dir"
    done
    return 0
}

# start_gradings: start every grading, two at a time, unless started.
start_gradings() {
    local key args
    local -a queue=()
    [[ ! -e $GRADINGS/started ]] || return 0
    : >"$GRADINGS/started"
    while read -r key args; do
        mkdir -p "$GRADINGS/$key"
        cat /proc/sys/kernel/hostname >"$GRADINGS/$key/host-hostname"
        : >"$GRADINGS/$key/queued"
        queue+=("$key $args")
    done < <(gradings)
    (
        for key in "${queue[@]}"; do
            while (($(jobs -rp | wc -l) >= GRADING_JOBS)); do
                wait -n || true
            done
            # shellcheck disable=SC2086 # the words of key are grading's arguments
            grading $key &
        done
        wait
    ) </dev/null >"$GRADINGS/pool.log" 2>&1 3>&- &
}

setup_file() {
    export GRADINGS=$BATS_FILE_TMPDIR/gradings
    mkdir -p "$GRADINGS"
}

teardown_file() {
    local deadline=$((SECONDS + 300))
    while [[ -n $(gradings_running) ]] && ((SECONDS < deadline)); do
        sleep 0.5
    done
}

# graded KEY: start the gradings if no test has, wait for the grading KEY,
# then set output, lines and status as bats' run does.
graded() {
    local key=$1 dir=$GRADINGS/$1 deadline=$((SECONDS + 600))
    start_gradings
    [[ -e $dir/queued ]] || fail "no grading $key"
    while [[ ! -e $dir/status ]]; do
        ((SECONDS < deadline)) || fail "the grading $key did not finish in 600 s"
        sleep 0.2
    done
    output=$(cat "$dir/out")
    status=$(cat "$dir/status")
    mapfile -t lines <<<"$output"
    echo "$output"
}

# harmful_source FILE: the second stage (the first with two namespaces)
# without its UTS namespace, and with a tmpfs mounted on /mnt without a
# mount namespace: on the host, each run would rename the host and leave a
# mount behind.
harmful_source() {
    mkdir -p "$(dirname "$1")"
    sed -e 's/CLONE_NEWUTS | CLONE_NEWPID/CLONE_NEWPID/' \
        -e '0,/^#include/s|^#include|#include <sys/mount.h>\n&|' \
        -e 's|^\([[:space:]]*\)execvp(|\1mount("none", "/mnt", "tmpfs", 0, NULL);\n&|' \
        "stages/${STAGES[1]}/container.c" >"$1"
}

# grade_starter LAB: the grading of LAB's starter, and its scorecard: each
# of LAB's checks gets the mark labs/LAB/checks gives it (every ✗ with the
# hint given there), and, in a full grade, every earlier stage's test but
# its lessons passes.
grade_starter() {
    local lab=$1 earlier expected name properties
    requires_root
    requires_rootfs
    graded "$lab-starter"
    assert_equal "$status" 1
    assert_line --regexp '^score: [0-9]+/[0-9]+ checks pass$'
    for earlier in "${STAGES[@]}"; do
        [[ $earlier == "$lab" ]] && break
        if [[ ${lines[0]} == *"(--quick"* ]]; then
            assert_equal "$(scorecard_section "$earlier")" ""
            continue
        fi
        # Each of its tests not tagged lesson, as bats counts them, each ✓.
        properties=$(bats --count --filter-tags '!lesson' "tests/$earlier.bats")
        assert_equal "$(scorecard_section "$earlier" | grep -c '^✓ ')" "$properties"
        assert_equal "$(scorecard_section "$earlier" | wc -l)" "$properties"
        while IFS= read -r name; do
            names_in "$earlier" | grep -qxF -- "${name#✓ }" || fail "not a test of tests/$earlier.bats: $name"
        done < <(scorecard_section "$earlier")
    done
    expected=$( (marked_checks "$lab" ✓ | sed 's/^/✓ /' && marked_checks "$lab" ✗ | sed 's/^/✗ /') | sort)
    assert_equal "$(scorecard_section "$lab" | sort)" "$expected"
    while IFS= read -r name; do
        assert_line "      → $(hint_of "$lab" "$name")"
    done < <(marked_checks "$lab" ✗)
}

#--- make grade: the safety net ----------------------------------------------------
# First, as it starts the gradings, which run side by side with what follows.

@test "labs: a broken binary cannot harm the host: its hostname and mounts stay in the grading's namespaces" {
    local lab=${STAGES[1]}
    requires_root
    requires_rootfs
    # It is harmful: each change of harmful_source took.
    harmful_source "$BATS_TEST_TMPDIR/harmful.c"
    grep -qF 'CLONE_NEWUTS | CLONE_NEWPID' "stages/$lab/container.c"
    run grep -F 'CLONE_NEWUTS | CLONE_NEWPID' "$BATS_TEST_TMPDIR/harmful.c"
    assert_failure
    grep -qxF '#include <sys/mount.h>' "$BATS_TEST_TMPDIR/harmful.c"
    grep -qF 'mount("none", "/mnt"' "$BATS_TEST_TMPDIR/harmful.c"
    assert_equal "$(grep -c 'mount("none", "/mnt"' "$BATS_TEST_TMPDIR/harmful.c")" \
        "$(grep -c '^[[:space:]]*execvp(' "stages/$lab/container.c")"
    # The grading (the first to start: see gradings), the host's hostname
    # watched all through it (see grading).
    graded harmful
    assert_equal "$status" 1
    # It did its harm, inside the grading's namespaces: each check failed on it.
    assert_line "score: 0/$(bats --count "tests/$lab.bats") checks pass"
    grep -q "LEFTOVER: the host's hostname changed from '$HOST_HOSTNAME' to 'container'" "$GRADINGS/harmful/$lab.log"
    grep -q "LEFTOVER: the host's mount table changed" "$GRADINGS/harmful/$lab.log"
    # But the host never saw it.
    run cat "$GRADINGS/harmful/watch"
    assert_output --regexp '^[0-9]+ samples$'
}

#--- the starters ---------------------------------------------------------------

@test "labs: each starter is made from its stage, has TODOs, and compiles with the stages' flags without a warning" {
    local flags lab
    read -r -a flags <<<"$(make_flags)"
    [[ ${flags[*]} == *-Werror* ]] || fail "the Makefile's flags lack -Werror: ${flags[*]}"
    for lab in "${STAGES[@]}"; do
        starter "$lab"
        cmp -s "stages/$lab/container.c" "$STARTER" && fail "the $lab starter is its stage, unchanged"
        grep -q 'TODO step 1' "$STARTER" || fail "the $lab starter has no 'TODO step 1'"
        run "${flags[@]}" -o "$BATS_TEST_TMPDIR/$lab/container" "$STARTER"
        assert_success
        assert_output "" # no warning, not even one -Werror lets through
    done
}

@test "labs: the generator fails, naming the anchor, when an anchor matches no line or two" {
    local spec=labs/${STAGES[-1]}/starter.spec source=stages/${STAGES[-1]}/container.c anchor
    # The first anchor of the last lab's spec.
    anchor=$(sed -n 's/^cut:[[:space:]]*//p' "$spec" | head -n 1)
    anchor=${anchor%"${anchor##*[![:space:]]}"}
    [[ -n $anchor ]] || fail "$spec has no cut: anchor"
    # The stage without the anchored line: matches no line.
    grep -vF -- "$anchor" "$source" >"$BATS_TEST_TMPDIR/none.c"
    run --separate-stderr labs/make-starter.sh "$BATS_TEST_TMPDIR/none.c" "$spec"
    assert_failure 1
    assert_output ""
    [[ $stderr == *"the anchor \"$anchor\" matches 0 lines of $BATS_TEST_TMPDIR/none.c"* ]] ||
        fail "stderr does not name the anchor that matches no line: $stderr"
    # The anchored line twice: matches two lines.
    awk -v anchor="$anchor" '{ print } index($0, anchor) { print }' "$source" >"$BATS_TEST_TMPDIR/two.c"
    run --separate-stderr labs/make-starter.sh "$BATS_TEST_TMPDIR/two.c" "$spec"
    assert_failure 1
    assert_output ""
    [[ $stderr == *"the anchor \"$anchor\" matches 2 lines of $BATS_TEST_TMPDIR/two.c"* ]] ||
        fail "stderr does not name the anchor that matches two lines: $stderr"
    # The stage itself: fine.
    run labs/make-starter.sh "$source" "$spec"
    assert_success
}

@test "labs: every test of every stage has an id, and one entry, with a hint, in its lab's checks file" {
    local lab problems
    for lab in "${STAGES[@]}"; do
        # Every test has an id:, each id is one test's.
        assert_equal "$(test_ids "tests/$lab.bats" | wc -l)" "$(names_in "$lab" | wc -l)"
        run bash -c 'cut -f1 | sort | uniq -d' < <(test_ids "tests/$lab.bats")
        assert_output ""
        # The same ids, each once: a test added, or a check whose id no test
        # has (renamed, removed), shows here.
        run diff <(test_ids "tests/$lab.bats" | cut -f1 | sort) \
            <(sed -n 's/^[✓✗] //p' "labs/$lab/checks" | sort)
        assert_success
        # Nothing but checks, hints, comments and blank lines; every check
        # followed by an indented hint.
        problems=$(awk '
            /^(✓|✗) / { if (getline hint <= 0 || hint !~ /^    [^ ]/) print FILENAME ":" FNR ": no hint under: " $0; next }
            !/^(#.*)?$/ { print FILENAME ":" FNR ": neither a check, a hint nor a comment: " $0 }' "labs/$lab/checks")
        assert_equal "$problems" ""
    done
}

@test "labs: each starter leaves out only what its stage adds: no line of the stage before is cut" {
    local lab previous='' line problems=()
    for lab in "${STAGES[@]}"; do
        if [[ -n $previous ]]; then
            starter "$lab"
            # The code lines of the stage that the starter lacks (blank lines,
            # comments and lone braces aside) must be new in this stage.
            while IFS= read -r line; do
                [[ $line =~ ^[[:space:]]*([{}]*|/?\*.*)$ ]] && continue
                if grep -qxF -- "$line" "stages/$previous/container.c"; then
                    problems+=("$lab cuts a line that $previous has: $line")
                fi
            done < <(diff "stages/$lab/container.c" "$STARTER" | sed -n 's/^< //p')
        fi
        previous=$lab
    done
    ((${#problems[@]} == 0)) || fail "$(printf '%s\n' "${problems[@]}")"
}

@test "labs: grading a reference stage compiles it to the very binary of make, which phase 1 passes" {
    local lab
    for lab in "${STAGES[@]}"; do
        [[ build/$lab -nt stages/$lab/container.c ]] || fail "build/$lab is older than its source: run make"
        run env GRADE_DIR="$BATS_TEST_TMPDIR/grade" labs/grade.sh --build-only "stages/$lab/container.c"
        assert_success
        cmp "$BATS_TEST_TMPDIR/grade/$lab" "build/$lab"
    done
}

#--- make lab ---------------------------------------------------------------------

@test "labs: make lab copies the starter to work/NN-name/container.c, and never overwrites it" {
    local work=$BATS_TEST_TMPDIR/work lab=${STAGES[2]}
    run make -s --no-print-directory lab STAGE="${lab%%-*}" WORK="$work"
    assert_success
    assert_line "Your lab: $work/$lab/container.c; the steps: labs/$lab/README.md"
    starter "$lab"
    cmp "$STARTER" "$work/$lab/container.c"
    echo "the student's work" >"$work/$lab/container.c"
    run make -s --no-print-directory lab STAGE="${lab%%-*}" WORK="$work"
    assert_success
    assert_output "$work/$lab/container.c is already there: left as it is (to start over, remove it first)"
    assert_equal "$(cat "$work/$lab/container.c")" "the student's work"
}

#--- make grade ---------------------------------------------------------------------

@test "labs: a file that does not compile is graded as such: the compiler's message, no check, a failure" {
    local lab=${STAGES[1]}
    mkdir -p "$BATS_TEST_TMPDIR/broken"
    starter "$lab"
    sed 's/CLONE_NEWUTS | SIGCHLD/CLONE_NEWUTS | CLONE_NEWPIDD | SIGCHLD/' "$STARTER" >"$BATS_TEST_TMPDIR/broken/container.c"
    grep -q CLONE_NEWPIDD "$BATS_TEST_TMPDIR/broken/container.c" || fail "the starter of $lab has no 'CLONE_NEWUTS | SIGCHLD' to break"
    run make -s --no-print-directory grade STAGE="${lab%%-*}" SRC="$BATS_TEST_TMPDIR/broken/container.c"
    assert_failure
    assert_line "compile: $(make_flags) -o build/grade/$lab $BATS_TEST_TMPDIR/broken/container.c"
    assert_output --regexp "error: .CLONE_NEWPIDD. undeclared"
    assert_line "✗ $BATS_TEST_TMPDIR/broken/container.c does not compile: fix the first error above, then grade again."
    assert_line "score: no check run: the file does not compile"
    refute_output --regexp '(✓|checks pass)'
}

#--- each lab: its starter and its reference stage ----------------------------------
# Each reference stage compiles to the very binary that phase 1 of tests/run
# passes with the same checks (tested above), and the last one is graded
# live. Every starter is graded; in full, with the earlier stages'
# properties, those of the first two labs and the lab README.md shows (see
# gradings).

@test "labs: grading each starter fails exactly its lesson's checks, and keeps every earlier stage's properties" {
    local lab
    for lab in "${STAGES[@]}"; do
        grade_starter "$lab"
    done
}

@test "labs: grading the last stage's reference (--quick) passes every check" {
    local lab=${STAGES[-1]}
    requires_root
    requires_rootfs
    graded "$lab-reference"
    assert_equal "$status" 0
    assert_equal "$(scorecard_section "$lab")" "$(names_in "$lab" | sed 's/^/✓ /')"
    assert_line "score: $(names_in "$lab" | wc -l)/$(names_in "$lab" | wc -l) checks pass"
    assert_line "All of stage $lab's own checks pass: now grade it in full (without --quick)."
}

@test "labs: README.md's scorecard is what grading that lab's untouched starter prints" {
    local lab block heading section
    lab=$(readme_lab)
    [[ -n $lab ]] || fail "README.md shows no scorecard (no line 'What NN-name adds ...')"
    requires_root
    requires_rootfs
    # The block: from the first "What ..." heading to the score line.
    block=$(awk '/^What [0-9][0-9]-/ { inside = 1 } inside { print } inside && /^score: / { exit }' README.md)
    graded "$lab-starter"
    # Each section README.md shows is the scorecard's, line for line (README
    # may leave out whole sections of earlier stages).
    while IFS= read -r heading; do
        section=$(awk -v heading="$heading" '$0 == heading { inside = 1 } inside && /^$/ { exit } inside { print }' <<<"$block")
        assert_equal "$(awk -v heading="$heading" '$0 == heading { inside = 1 } inside && /^$/ { exit } inside { print }' <<<"$output")" "$section"
    done < <(grep '^What ' <<<"$block")
    # And the score.
    assert_line "$(grep '^score: ' <<<"$block")"
}
