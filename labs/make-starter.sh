#!/usr/bin/env bash
# make-starter.sh: print the starter of a lab, the lab's stage with its
# lesson cut out, generated afresh from the stage's source every time so
# that it cannot drift from the solution.
#
# The cuts are in the lab's starter.spec, not in the stage (the stages stay
# free of markers). Each cut names lines of the stage by anchors, and gives
# the text, a TODO with a hint, that replaces them:
#
#   cut: ANCHOR            the one line holding ANCHOR, or with "to:" ...
#   to: ANCHOR             ... every line from the first anchor to this one
#   with:
#   <the replacement, verbatim, tabs and all; may be empty>
#   end
#
# An anchor is an exact piece of one line (leading and trailing blanks in
# the spec do not count) and must occur on exactly one line of the stage.
# If it occurs on none or on several, because the stage has changed, this
# fails naming the anchor and the spec line: fix the spec, never the copy.
set -euo pipefail

prog=${0##*/}

usage() {
    echo "Usage: $prog SOURCE SPEC"
    echo "Print the starter made from SOURCE (stages/NN-name/container.c) by the cuts in"
    echo "SPEC (labs/NN-name/starter.spec). Exits 1, naming the anchor, if one matches"
    echo "no line of SOURCE or more than one."
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    usage
    exit 0
fi
if (($# != 2)); then
    echo "$prog: expected SOURCE and SPEC, got $# argument(s)" >&2
    usage >&2
    exit 2
fi
source_file=$1 spec_file=$2
for file in "$source_file" "$spec_file"; do
    if [[ ! -r $file ]]; then
        echo "$prog: cannot read $file" >&2
        exit 1
    fi
done

# The lab is the spec's directory: labs/03-mountns-proc/starter.spec.
lab=$(basename "$(dirname "$spec_file")")
lab_number=${lab%%-*}

# Generated to a variable first: nothing is printed unless every cut fits.
starter=$(awk -v prog="$prog" -v spec="$spec_file" -v source="$source_file" '
function complain(line, message) {
    printf "%s: %s:%d: %s\n", prog, spec, line, message >"/dev/stderr"
    failed = 1
    exit 1
}
function trim(text) {
    sub(/^[ \t]+/, "", text)
    sub(/[ \t]+$/, "", text)
    return text
}
# The number of the one source line that holds ANCHOR; complains otherwise.
function find(anchor, line,    n, found, where) {
    found = 0
    where = ""
    for (n = 1; n <= lines; n++) {
        if (index(text[n], anchor)) {
            found++
            where = where " " n
        }
    }
    if (found != 1)
        complain(line, sprintf("the anchor \"%s\" matches %d lines of %s (line%s:%s), not exactly one: has the stage changed?", anchor, found, source, found == 1 ? "" : "s", found ? where : " none"))
    return where + 0
}

FNR == 1 { file++ }

# The spec.
file == 1 && state == "with" {
    if ($0 == "end") {
        state = ""
    } else {
        replacement[cuts] = replacement[cuts] $0 "\n"
    }
    next
}
file == 1 && (/^[ \t]*(#|$)/) { next }
file == 1 && /^cut:/ {
    if (state == "cut")
        complain(FNR, "a cut without its \"with:\" block")
    cuts++
    from[cuts] = trim(substr($0, 5))
    spec_line[cuts] = FNR
    if (from[cuts] == "")
        complain(FNR, "\"cut:\" needs an anchor")
    state = "cut"
    next
}
file == 1 && /^to:/ {
    if (state != "cut" || to[cuts] != "")
        complain(FNR, "\"to:\" must follow a \"cut:\" line")
    to[cuts] = trim(substr($0, 4))
    if (to[cuts] == "")
        complain(FNR, "\"to:\" needs an anchor")
    next
}
file == 1 && /^with:[ \t]*$/ {
    if (state != "cut")
        complain(FNR, "\"with:\" must follow a \"cut:\" (or \"to:\") line")
    state = "with"
    replacement[cuts] = ""
    next
}
file == 1 {
    complain(FNR, "expected \"cut:\", \"to:\", \"with:\", a comment or a blank line, not: " $0)
}

# The stage.
file == 2 { text[++lines] = $0 }

END {
    if (failed)
        exit 1
    if (state == "with")
        complain(FNR, "the last \"with:\" block has no \"end\" line")
    if (state == "cut")
        complain(FNR, "the last cut has no \"with:\" block")
    if (cuts == 0)
        complain(1, "no cuts: a starter must leave something out")
    for (c = 1; c <= cuts; c++) {
        first[c] = find(from[c], spec_line[c])
        last[c] = to[c] == "" ? first[c] : find(to[c], spec_line[c])
        if (last[c] < first[c])
            complain(spec_line[c], sprintf("\"to:\" (line %d) comes before \"cut:\" (line %d) in %s", last[c], first[c], source))
        for (n = first[c]; n <= last[c]; n++) {
            if (n in cut_by)
                complain(spec_line[c], sprintf("this cut overlaps the cut at line %d of the spec (both take line %d of %s)", spec_line[cut_by[n]], n, source))
            cut_by[n] = c
        }
    }
    for (n = 1; n <= lines; n++) {
        if (!(n in cut_by)) {
            print text[n]
        } else if (n == first[cut_by[n]]) {
            printf "%s", replacement[cut_by[n]]
        }
    }
}
' "$spec_file" "$source_file")

cat <<HEADER
/*
 * Lab $lab_number starter: stage $lab with its lesson taken out.
 * Each TODO says which step of labs/$lab/README.md puts it back.
 * Build and check your work with:  sudo make grade STAGE=$lab_number
 *
 * Generated by labs/make-starter.sh from $source_file
 * and labs/$lab/starter.spec.
 */
HEADER
printf '%s\n' "$starter"
