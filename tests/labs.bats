#!/usr/bin/env bats
# The labs (labs/NN-name/): their starters, make lab and make grade, used as
# a student uses them. tests/run runs this file as phase 5, on the host only:
# it compiles, and the test VMs have no compiler.
#
# Tests named "lab NN-name: ..." are about one lab (tests/run 03 runs those
# of lab 03 and the "labs: ..." ones).

# shellcheck disable=SC2154 # bats' run --separate-stderr sets stderr

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

KIT=$(cd -P "$BATS_TEST_DIRNAME/.." && pwd)
STAGES=(01-uts 02-pid 03-mountns-proc 04-chroot 05-cgroup-pids)

setup() {
  cd "$KIT" || return
  HOST_HOSTNAME=$(cat /proc/sys/kernel/hostname)
  HOST_MOUNTINFO=$(cat /proc/self/mountinfo)
}

# Grading runs broken binaries: whatever they did must not reach the host.
teardown() {
  local cgroup
  for cgroup in /sys/fs/cgroup/minidocker-* /sys/fs/cgroup/*/minidocker-*; do
    [[ ! -e $cgroup ]] || fail "a cgroup was left behind: $cgroup"
  done
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

# starter LAB: generate LAB's starter into $BATS_TEST_TMPDIR/LAB/container.c.
starter() {
  mkdir -p "$BATS_TEST_TMPDIR/$1"
  STARTER=$BATS_TEST_TMPDIR/$1/container.c
  labs/make-starter.sh "stages/$1/container.c" "labs/$1/starter.spec" >"$STARTER"
}

# test_names LAB: the names of the tests in tests/LAB.bats, one a line.
test_names() {
  sed -n 's/^@test "\(.*\)" {$/\1/p' "tests/$1.bats"
}

# marked_checks LAB MARK: the checks in labs/LAB/checks marked MARK (✓ or ✗).
marked_checks() {
  sed -n "s/^$2 //p" "labs/$1/checks"
}

# scorecard_section STAGE: the ✓, ✗ and ? lines the scorecard in $output
# printed under the heading of STAGE's tests, as "MARK NAME".
scorecard_section() {
  awk -v stage="$1" '
    /^What / { inside = ($2 == stage) }
    inside && /^  (✓|✗|\?) / { print substr($0, 3) }' <<<"$output"
}

# grade_starter LAB [--quick]: grade LAB's starter, and check the scorecard:
# each of LAB's checks gets the mark labs/LAB/checks gives it (every ✗ with
# the hint given there), and, without --quick, every earlier stage's check
# passes.
grade_starter() {
  local lab=$1 earlier expected name hint
  shift
  requires_root
  requires_rootfs
  starter "$lab"
  run labs/grade.sh "$@" --stage "$lab" "$STARTER"
  echo "$output"
  assert_failure 1
  assert_line --regexp '^score: [0-9]+/[0-9]+ checks pass$'
  for earlier in "${STAGES[@]}"; do
    [[ $earlier == "$lab" ]] && break
    if [[ $* == *--quick* ]]; then
      expected=''
    else
      expected=$(test_names "$earlier" | grep -v '^[0-9]' | sed 's/^/✓ /')
    fi
    assert_equal "$(scorecard_section "$earlier")" "$expected"
  done
  expected=$(grep -E '^(✓|✗) ' "labs/$lab/checks")
  assert_equal "$(scorecard_section "$lab")" "$expected"
  while IFS= read -r name; do
    hint=$(grep -A1 -xF "✗ $name" "labs/$lab/checks" | sed -n '2s/^ *//p')
    assert_line "      → $hint"
  done < <(marked_checks "$lab" ✗)
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
  local anchor='check(chdir("/"), NULL, "chdir(\"/\")");'
  grep -qF "$anchor" labs/04-chroot/starter.spec
  # The stage without the anchored line: matches no line.
  grep -vF "$anchor" stages/04-chroot/container.c >"$BATS_TEST_TMPDIR/none.c"
  run --separate-stderr labs/make-starter.sh "$BATS_TEST_TMPDIR/none.c" labs/04-chroot/starter.spec
  assert_failure 1
  assert_output ""
  [[ $stderr == *"the anchor \"$anchor\" matches 0 lines of $BATS_TEST_TMPDIR/none.c"* ]] ||
    fail "stderr does not name the anchor that matches no line: $stderr"
  # The anchored line twice: matches two lines.
  sed "/$(printf '%s' "$anchor" | sed 's/[][\/.*^$]/\\&/g')/p" stages/04-chroot/container.c >"$BATS_TEST_TMPDIR/two.c"
  run --separate-stderr labs/make-starter.sh "$BATS_TEST_TMPDIR/two.c" labs/04-chroot/starter.spec
  assert_failure 1
  assert_output ""
  [[ $stderr == *"the anchor \"$anchor\" matches 2 lines of $BATS_TEST_TMPDIR/two.c"* ]] ||
    fail "stderr does not name the anchor that matches two lines: $stderr"
  # The stage itself: fine.
  run labs/make-starter.sh stages/04-chroot/container.c labs/04-chroot/starter.spec
  assert_success
}

@test "labs: every test of every stage has one entry, with a hint, in its lab's checks file" {
  local lab
  for lab in "${STAGES[@]}"; do
    # The same names, each once: a test added, renamed or removed shows here.
    run diff <(test_names "$lab" | sort) <(grep -E '^(✓|✗) ' "labs/$lab/checks" | cut -c5- | sort)
    assert_success
    # Every entry is followed by an indented hint.
    run awk '/^(✓|✗) / { if (getline hint <= 0 || hint !~ /^    [^ ]/) print FILENAME ":" FNR ": no hint under: " $0 }' "labs/$lab/checks"
    assert_output ""
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
    run labs/grade.sh --build-only "stages/$lab/container.c"
    assert_success
    cmp "build/grade/$lab" "build/$lab"
  done
}

#--- make lab ---------------------------------------------------------------------

@test "labs: make lab copies the starter to work/NN-name/container.c, and never overwrites it" {
  local work=$BATS_TEST_TMPDIR/work
  run make -s --no-print-directory lab STAGE=03 WORK="$work"
  assert_success
  assert_line "Your lab: $work/03-mountns-proc/container.c; the steps: labs/03-mountns-proc/README.md"
  starter 03-mountns-proc
  cmp "$STARTER" "$work/03-mountns-proc/container.c"
  echo "the student's work" >"$work/03-mountns-proc/container.c"
  run make -s --no-print-directory lab STAGE=03 WORK="$work"
  assert_success
  assert_output "$work/03-mountns-proc/container.c is already there: left as it is (to start over, remove it first)"
  assert_equal "$(cat "$work/03-mountns-proc/container.c")" "the student's work"
}

#--- make grade ---------------------------------------------------------------------

@test "labs: a file that does not compile is graded as such: the compiler's message, no check, a failure" {
  mkdir -p "$BATS_TEST_TMPDIR/broken"
  starter 02-pid
  sed 's/CLONE_NEWUTS | SIGCHLD/CLONE_NEWUTS | CLONE_NEWPIDD | SIGCHLD/' "$STARTER" >"$BATS_TEST_TMPDIR/broken/container.c"
  run make -s --no-print-directory grade STAGE=02 SRC="$BATS_TEST_TMPDIR/broken/container.c"
  assert_failure
  assert_line "compile: $(make_flags) -o build/grade/02-pid $BATS_TEST_TMPDIR/broken/container.c"
  assert_output --regexp "error: .CLONE_NEWPIDD. undeclared"
  assert_line "✗ $BATS_TEST_TMPDIR/broken/container.c does not compile: fix the first error above, then grade again."
  assert_line "score: no check run: the file does not compile"
  refute_output --regexp '(✓|checks pass)'
}

@test "labs: a broken binary cannot harm the host: its hostname and mounts stay in the grading's namespaces" {
  requires_root
  # Stage 02 without its UTS namespace, and with a tmpfs mounted on /mnt
  # without a mount namespace: on the host, each run would rename the host
  # and leave a mount behind. The teardown checks that neither happened.
  mkdir -p "$BATS_TEST_TMPDIR/harmful"
  sed -e 's/CLONE_NEWUTS | CLONE_NEWPID | SIGCHLD/CLONE_NEWPID | SIGCHLD/' \
    -e 's|^#include <sys/prctl.h>$|#include <sys/mount.h>\n&|' \
    -e 's|^\t/\* Become CMD\.|\tmount("none", "/mnt", "tmpfs", 0, NULL);\n&|' \
    stages/02-pid/container.c >"$BATS_TEST_TMPDIR/harmful/container.c"
  run grep -c -e 'CLONE_NEWUTS |' -e 'mount("none", "/mnt"' "$BATS_TEST_TMPDIR/harmful/container.c"
  assert_output 1
  # Watch the host's hostname all through the grading.
  touch "$BATS_TEST_TMPDIR/grading"
  (
    samples=0
    while [[ -e $BATS_TEST_TMPDIR/grading ]]; do
      read -r hostname </proc/sys/kernel/hostname
      [[ $hostname == "$HOST_HOSTNAME" ]] || echo "the host was renamed: $hostname"
      samples=$((samples + 1))
      sleep 0.02
    done
    echo "$samples samples"
  ) >"$BATS_TEST_TMPDIR/watch" 3>&- &
  run labs/grade.sh --quick --stage 02 "$BATS_TEST_TMPDIR/harmful/container.c"
  rm "$BATS_TEST_TMPDIR/grading"
  wait
  echo "$output"
  assert_failure 1
  # It did its harm, inside the grading's namespaces: each check failed on it.
  assert_line "score: 0/3 checks pass"
  grep -q "LEFTOVER: the host's hostname changed from '$HOST_HOSTNAME' to 'container'" build/grade/02-pid.log
  grep -q "LEFTOVER: the host's mount table changed" build/grade/02-pid.log
  # But the host never saw it.
  run cat "$BATS_TEST_TMPDIR/watch"
  assert_output --regexp '^[0-9]+ samples$'
}

#--- each lab: its starter and its reference stage ----------------------------------
# A full grade runs every earlier stage's checks too: the five starters and
# the five stages graded in full would be some 300 bats tests, minutes. So
# the starters of 01 (which has no earlier stage) and 02 are graded in full,
# the others on their own stage's checks (--quick); that no starter cuts a
# line of an earlier stage is tested above. Each reference stage compiles to
# the very binary that phase 1 of tests/run passes with the same checks
# (tested above), and 05's is graded live.

@test "lab 01-uts: grading the starter fails the lesson's checks and passes the rest" {
  grade_starter 01-uts
}

@test "lab 02-pid: grading the starter fails the lesson's checks and passes every earlier stage's" {
  grade_starter 02-pid
}

@test "lab 03-mountns-proc: grading the starter (--quick) fails the lesson's checks and passes the rest" {
  grade_starter 03-mountns-proc --quick
}

@test "lab 04-chroot: grading the starter (--quick) fails the lesson's checks and passes the rest" {
  grade_starter 04-chroot --quick
}

@test "lab 05-cgroup-pids: grading the starter (--quick) fails the lesson's checks and passes the rest" {
  grade_starter 05-cgroup-pids --quick
}

@test "lab 05-cgroup-pids: grading the reference stage (--quick) passes every check" {
  requires_root
  requires_rootfs
  run labs/grade.sh --quick stages/05-cgroup-pids/container.c
  echo "$output"
  assert_success
  expected=$(test_names 05-cgroup-pids | sed 's/^/✓ /')
  assert_equal "$(scorecard_section 05-cgroup-pids)" "$expected"
  assert_line "score: $(test_names 05-cgroup-pids | wc -l)/$(test_names 05-cgroup-pids | wc -l) checks pass"
  assert_line "All of stage 05-cgroup-pids's own checks pass: now grade it in full (without --quick)."
}
