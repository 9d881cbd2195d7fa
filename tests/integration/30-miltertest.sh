#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 30-miltertest.sh - the rcptguard daemon at the milter protocol level, with
# miltertest (milter.lua) against a real slapd: replies for known, unknown
# and malformed recipients; slapd stopped (451 4.3.0, never 550) and back
# (accepted again without restarting rcptguard); one log line per decision,
# and none for an accepted recipient with LogAccepted no;
# SIGTERM ends it, and a unix socket is removed.
. "$(dirname "$0")/../lib/servers.sh"
rg_setup
HERE=$(cd "$(dirname "$0")" && pwd)
LUA=$HERE/milter.lua

if ! command -v miltertest >/dev/null 2>&1; then
    skip "miltertest scenarios" "miltertest is not installed"
    exit 0
fi

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts"; exit 1; }
CONF=$T/rcptguard.conf
write_conf "$CONF"
if start_rcptguard "$CONF"; then
    ok "rcptguard starts and listens on $RCPTGUARD_SOCKET"
else
    not_ok "rcptguard starts and listens on $RCPTGUARD_SOCKET"
    exit 1
fi
PID=$RCPTGUARD_PID

# run_phase PHASE SOCKET: run milter.lua for PHASE, pass its TAP lines on,
# and check the length of every reply text it announced (miltertest shows
# the length of a reply, not its text).
run_phase() {
    local phase=$1 sock=$2 rc=0
    local out=$T/mt.$phase.out err=$T/mt.$phase.err
    timeout -k 5 60 miltertest -vvv -D "sock=$sock" -D "phase=$phase" -s "$LUA" \
        >"$out" 2>"$err" </dev/null || rc=$?
    grep -E '^(not )?ok ' "$out"
    if grep -q '^not ok ' "$out"; then
        RG_FAILED=$((RG_FAILED + 1))
        grep '^#' "$err" >&2
    elif [[ $rc -ne 0 ]]; then
        not_ok "$phase: miltertest ran to the end" "miltertest exit status $rc"
        tail -n 15 "$err" | sed 's/^/#   /' >&2
    fi
    # "mt_milter_read(N): cmd y, len L" then "REPLY desc|text": L counts the NUL
    local line len=-1 desc text
    while IFS= read -r line; do
        if [[ $line =~ mt_milter_read\([0-9]+\):\ cmd\ (.),\ len\ ([0-9]+) ]]; then
            if [[ ${BASH_REMATCH[1]} == y ]]; then
                len=${BASH_REMATCH[2]}
            else
                len=-1
            fi
        elif [[ $line == REPLY\ * ]]; then
            desc=${line#REPLY }
            text=${desc#*|}
            desc=${desc%%|*}
            if [[ $len -eq $((${#text} + 1)) ]]; then
                ok "$desc: \"$text\""
            else
                not_ok "$desc: \"$text\"" \
                    "the reply was $((len - 1)) characters long, \"$text\" has ${#text}"
            fi
            len=-1
        fi
    done <"$out"
}

# --- slapd up ------------------------------------------------------------------

run_phase basic "$RCPTGUARD_SOCKET"

# whole lines, as the README shows them
log=$(grep -F 'rcpt=<nobody@example.com>' "$RCPTGUARD_LOG" | head -n 1)
expect_match "one log line per decision: connection, client, recipient, verdict, source, time, reply" \
    '^rcptguard: conn=[0-9A-F]{8} client=192\.0\.2\.1 rcpt=<nobody@example\.com> verdict=unknown source=ldap ms=[0-9]+ reply="550 5\.1\.1"$' \
    "$log"
log=$(grep -F 'rcpt=<john.doe@example.com>' "$RCPTGUARD_LOG" | head -n 1)
expect_match "LogAccepted yes (the default): an accepted recipient is logged too" \
    '^rcptguard: conn=[0-9A-F]{8} client=192\.0\.2\.1 rcpt=<john\.doe@example\.com> verdict=ok source=ldap ms=[0-9]+ reply=continue$' \
    "$log"
log=$(grep -F 'rcpt=<john,doe@example.com>' "$RCPTGUARD_LOG" | head -n 1)
expect_match "the line of a bad address says why" \
    '^rcptguard: conn=[0-9A-F]{8} client=192\.0\.2\.1 rcpt=<john,doe@example\.com> verdict=bad-address source=none ms=[0-9]+ reply="550 5\.1\.3" reason="[^"]+"$' \
    "$log"
if grep -q "$RG_READER_PW" "$RCPTGUARD_LOG"; then
    not_ok "the log holds no password"
else
    ok "the log holds no password"
fi

# --- slapd stopped, then back ----------------------------------------------------

stop_slapd
run_phase down "$RCPTGUARD_SOCKET"
if grep -qE 'rcpt=<never\.seen@example\.com>.*verdict=unknown' "$RCPTGUARD_LOG"; then
    not_ok "slapd stopped: no address was ever logged unknown for a failed lookup"
else
    ok "slapd stopped: no address was ever logged unknown for a failed lookup"
fi

restart_slapd || not_ok "slapd restarts"
run_phase recover "$RCPTGUARD_SOCKET"
if [[ $PID == "$RCPTGUARD_PID" ]] && kill -0 "$PID" 2>/dev/null; then
    ok "rcptguard was not restarted"
else
    not_ok "rcptguard was not restarted" "pid $PID is gone"
fi

# --- SIGTERM --------------------------------------------------------------------

stop_rcptguard
expect_eq "SIGTERM: rcptguard exits with status 0" 0 "$RCPTGUARD_STATUS"
if _rg_port_open 127.0.0.1 "$MILTER_PORT"; then
    not_ok "SIGTERM: the port is closed"
else
    ok "SIGTERM: the port is closed"
fi

# --- a unix socket ----------------------------------------------------------------

# (with LogAccepted no: only what stops a recipient is logged)
SOCK=$T/run/rcptguard.sock
mkdir -p "$T/run"
cp "$CONF" "$T/quiet.conf"
echo "LogAccepted no" >>"$T/quiet.conf"
if start_rcptguard "$T/quiet.conf" -p "unix:$SOCK"; then
    ok "rcptguard starts on unix:$SOCK (-p overrides Socket)"
    run_phase unix "unix:$SOCK"
    expect_eq "LogAccepted no: the accepted recipient has no line" "" \
        "$(grep -F 'client=192.0.2.5 rcpt=<john.doe@example.com>' "$RCPTGUARD_LOG")"
    expect_match "LogAccepted no: the rejected one has its line" \
        '^rcptguard: conn=[0-9A-F]{8} client=192\.0\.2\.5 rcpt=<nobody@example\.com> verdict=unknown source=[a-z]+ ms=[0-9]+ reply="550 5\.1\.1"$' \
        "$(grep -F 'client=192.0.2.5 rcpt=<nobody@example.com>' "$RCPTGUARD_LOG")"
    stop_rcptguard
    expect_eq "SIGTERM on a unix socket: exit status 0" 0 "$RCPTGUARD_STATUS"
    if [[ -e $SOCK ]]; then
        not_ok "SIGTERM on a unix socket: the socket file is removed" "$SOCK is still there"
    else
        ok "SIGTERM on a unix socket: the socket file is removed"
    fi
else
    not_ok "rcptguard starts on unix:$SOCK (-p overrides Socket)"
fi

tap_done
