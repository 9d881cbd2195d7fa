# SPDX-License-Identifier: BSD-2-Clause
# tests/lib/tap.sh - TAP-style results for the integration tests.
#
# Each check prints one line on standard output that tests/run-all counts:
#   ok - DESCRIPTION
#   not ok - DESCRIPTION
#   ok - DESCRIPTION # SKIP REASON
# Explanations of a failure go to standard error, so the result lines stay
# easy to grep.  RG_FAILED counts the failures of the running script;
# tap_done exits non-zero when there were any.
#
#   ok DESC                        a check that passed
#   not_ok DESC [WHY...]           a check that failed; WHY goes to stderr
#   skip DESC REASON               a check that could not run here
#   expect_eq DESC EXPECTED ACTUAL exact comparison of two strings
#   expect_match DESC REGEX ACTUAL bash extended regular expression
#   expect_exit DESC CODE CMD...   run CMD, compare its exit status
#   tap_done                       exit 1 if any check failed, else 0
#   rg_require DESC PROG...       skip DESC and end the script if a PROG is missing

RG_FAILED=0
RG_PASSED=0

ok() {
    RG_PASSED=$((RG_PASSED + 1))
    printf 'ok - %s\n' "$1"
}

not_ok() {
    local desc=$1
    shift
    RG_FAILED=$((RG_FAILED + 1))
    printf 'not ok - %s\n' "$desc"
    if [[ $# -gt 0 ]]; then
        printf '#   %s\n' "$@" >&2
    fi
}

skip() {
    printf 'ok - %s # SKIP %s\n' "$1" "${2:-not available}"
}

# Show EXPECTED and ACTUAL line by line, with a marker on the first
# difference, on standard error.
_tap_show_diff() {
    local expected=$1 actual=$2
    {
        printf '#   expected:\n'
        printf '%s\n' "$expected" | sed 's/^/#     |/'
        printf '#   actual:\n'
        printf '%s\n' "$actual" | sed 's/^/#     |/'
        if command -v diff >/dev/null 2>&1; then
            printf '#   diff (- expected, + actual):\n'
            diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") |
                sed -n 's/^\([<>]\) /\1/p' | sed 's/^</#     -/; s/^>/#     +/'
        fi
    } >&2
}

expect_eq() {
    local desc=$1 expected=$2 actual=$3
    if [[ "$expected" == "$actual" ]]; then
        ok "$desc"
    else
        not_ok "$desc"
        _tap_show_diff "$expected" "$actual"
    fi
}

expect_match() {
    local desc=$1 regex=$2 actual=$3
    if [[ "$actual" =~ $regex ]]; then
        ok "$desc"
    else
        not_ok "$desc" "expected to match: $regex"
        printf '#   actual:\n' >&2
        printf '%s\n' "$actual" | sed 's/^/#     |/' >&2
    fi
}

# expect_exit DESC CODE CMD...: run CMD (its output goes to stderr, for the
# record) and compare its exit status with CODE.
expect_exit() {
    local desc=$1 code=$2 rc=0
    shift 2
    "$@" >&2 || rc=$?
    if [[ $rc -eq $code ]]; then
        ok "$desc"
    else
        not_ok "$desc" "command: $*" "expected exit status $code, got $rc"
    fi
}

tap_done() {
    [[ $RG_FAILED -eq 0 ]]
    exit $?
}

# rg_require DESC PROG...: when one of the programs is not installed, report
# DESC as skipped (naming the program) and end the script.
rg_require() {
    local desc=$1 prog
    shift
    for prog in "$@"; do
        if ! command -v "$prog" >/dev/null 2>&1; then
            skip "$desc" "$prog is not installed"
            tap_done
        fi
    done
}
