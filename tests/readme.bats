#!/usr/bin/env bats
# The stage READMEs' try-it blocks: every command in them prints what the
# README shows (tests/tryit runs them; its header describes the format). The
# workshop slides show these same blocks, so neither the READMEs nor the
# slides can drift from the code. tests/run runs this file once per stage.

load helpers

setup() {
    snapshot_host
}

teardown() {
    check_host_restored
}

@test "the README's try-it blocks print what they show" {
    requires root
    run "$KIT/tests/tryit" "stages/$STAGE/README.md"
    assert_success
}
