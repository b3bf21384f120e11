#!/usr/bin/env bats
# make escapes (escapes/run): the escape matrix. Each attack of
# escapes/expected, run with no container and in each stage, does there what
# that file says: it escapes with no container and in the stages before the
# first that blocks it, and is blocked from that stage on. A cell that flips
# fails the test, which names the attack and the stage. The run leaves
# nothing behind: teardown checks the host (helpers.bash), the tests the
# files and processes the run makes.
#
#   bats tests/escapes.bats
#
# shellcheck disable=SC2154 # bats' run sets status, output, lines
# shellcheck disable=SC2153 # STAGES comes from lib/kit.bash, through the helpers

# The file is named for no stage, and escapes/run runs every stage itself;
# the helpers only need one to check that it is built.
STAGE=${STAGE:-01-uts}
load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

# assert_nothing_left: no secret file, breakout directory or marker process
# of escapes/run's is left.
assert_nothing_left() {
    local left=() file comm
    for file in /var/tmp/minidocker-escape.* /tmp/breakout.*; do
        [[ ! -e $file ]] || left+=("$file")
    done
    for file in /proc/[0-9]*/cmdline; do
        IFS= read -r -d '' comm 2>/dev/null <"$file" || true
        [[ $comm != minidocker-escape-marker-* ]] || left+=("the marker process ${file%/cmdline}")
    done
    ((${#left[@]} == 0)) || fail "escapes/run left behind: ${left[*]}"
}

@test "every cell of the escape matrix is what escapes/expected says, and nothing is left" {
    requires root rootfs unshare
    run --separate-stderr timeout 60 "$KIT/escapes/run" --tsv
    assert_success
    assert_nothing_left

    # This file's own reading of escapes/expected: ID FIRST DESCRIPTION.
    declare -A measured=()
    local id column result first want wrong=() cells=0 line
    while IFS=$'\t' read -r id column result; do
        measured["$id/$column"]=$result
    done <<<"$output"
    while read -r id first _; do
        [[ -n $id && $id != \#* ]] || continue
        cells=$((cells + ${#STAGES[@]} + 1))
        for column in none "${STAGES[@]}"; do
            want=escaped
            if [[ $column != none && $first != - ]] && ((10#${column%%-*} >= 10#$first)); then
                want=blocked
            fi
            result=${measured["$id/$column"]:-missing}
            [[ $result == "$want" ]] && continue
            if [[ $column == none ]]; then
                line="$id with no container: $result, escapes/expected says $want (the attack does not work here)"
            else
                line="$id in $column: $result, escapes/expected says $want"
            fi
            wrong+=("$line")
        done
    done <"$KIT/escapes/expected"
    ((${#wrong[@]} == 0)) || fail "$(printf '%s\n' "${wrong[@]}")"
    assert_equal "${#lines[@]}" "$cells"
}

@test "escapes/run --check names each cell that is not what the expected file says" {
    requires root rootfs unshare
    # The hostname attack, said to escape 01: the one wrong cell.
    sed 's/^hostname  *01 /hostname 02 /' "$KIT/escapes/expected" >"$BATS_TEST_TMPDIR/expected"
    run timeout 30 "$KIT/escapes/run" --check --expected "$BATS_TEST_TMPDIR/expected" hostname
    assert_failure 1
    assert_line "escapes/run: hostname in ${STAGES[0]}: blocked, but $BATS_TEST_TMPDIR/expected says escaped"
    assert_line "escapes/run: 1 cell is not what $BATS_TEST_TMPDIR/expected says"
    # The table, one row, uncoloured: stdout is no terminal.
    assert_line --regexp '^attack +none +01 '
    assert_line --regexp '^hostname +escaped +blocked '
    refute_output --partial $'\e['
    assert_nothing_left
}
