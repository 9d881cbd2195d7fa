#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 16-run-checks.sh - what the running daemon needs from the system:
#   - rcptguard -n finds, with the line of the key, a UserID that does not
#     exist, folders of PidFile, AlertLog and Socket that UserID cannot write,
#     a password file UserID cannot read;
#   - the pid file is written in a folder made for UserID and removed at
#     SIGTERM, after privileges were dropped;
#   - -f logs to standard error only: syslog is not even opened;
#   - without -f the starting command returns once the pid file is written.
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

if [[ $(id -u) -ne 0 ]]; then
    skip "run-time checks" "needs root (UserID)"
    tap_done
fi
start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts"; exit 1; }
CONF=$T/rcptguard.conf

# --- rcptguard -n ------------------------------------------------------------------

mkdir -p "$T/rootonly"
chmod 700 "$T/rootonly"
write_conf "$CONF" "UserID nosuchuser:nogroup"
out=$("$RCPTGUARD" -n -c "$CONF" 2>&1)
expect_eq "-n: a UserID that does not exist, with its line" \
    "rcptguard: $CONF:11: UserID \"nosuchuser:nogroup\": no such user or group" "$out"

printf 'secret\n' >"$T/redis.pw"
chmod 600 "$T/redis.pw"
write_conf "$CONF" "UserID nobody:nogroup" "PidFile $T/rootonly/sub/x.pid" \
    "AlertLog $T/rootonly/alerts.log" "MetricsFile $T/rootonly/rcptguard.prom" \
    "RedisPasswordFile $T/redis.pw"
sed -i "2s|.*|Socket unix:$T/rootonly/x.sock|" "$CONF"
rc=0
out=$("$RCPTGUARD" -n -c "$CONF" 2>&1) || rc=$?
expect_eq "-n: folders and the password files nobody cannot reach, each with its line (exit 78)" \
    "rcptguard: $CONF:12: PidFile: folder $T/rootonly cannot be entered by nobody
rcptguard: $CONF:13: AlertLog: $T/rootonly is not writable by nobody
rcptguard: $CONF:14: MetricsFile: $T/rootonly is not writable by nobody
rcptguard: $CONF:2: Socket: $T/rootonly is not writable by nobody
rcptguard: $CONF:7: LDAPBindPasswordFile: $T/ldap.pw is not readable by nobody
rcptguard: $CONF:15: RedisPasswordFile: $T/redis.pw is not readable by nobody
78" "$out
$rc"

chown nobody "$T/ldap.pw"
chmod 600 "$T/ldap.pw"
mkdir -p "$T/log"
chown nobody:nogroup "$T/log"
write_conf "$CONF" "UserID nobody:nogroup" "PidFile $T/run/rcptguard.pid" \
    "AlertLog $T/log/alerts.log"
expect_eq "-n: a good configuration (pid folder to be made, log folder of nobody)" \
    "$CONF: configuration OK" "$("$RCPTGUARD" -n -c "$CONF" 2>&1)"

# --- the pid file after dropping privileges ------------------------------------------

start_rcptguard "$CONF" || { not_ok "rcptguard starts"; exit 1; }
expect_eq "the pid file's folder is made for UserID" "nobody" "$(stat -c %U "$T/run" 2>&1)"
expect_eq "the pid file holds the daemon's pid" "$RCPTGUARD_PID" "$(cat "$T/run/rcptguard.pid" 2>&1)"
stop_rcptguard
expect_eq "SIGTERM: the daemon exits 0 and its pid file is gone" "0 gone" \
    "$RCPTGUARD_STATUS $([[ -e $T/run/rcptguard.pid ]] && echo left || echo gone)"

# --- -f: standard error only ------------------------------------------------------------

if command -v strace >/dev/null 2>&1; then
    write_conf "$CONF"
    sed -i 's/^Syslog no$/Syslog yes/' "$CONF"
    # LeakSanitizer cannot run under ptrace: no leak check in a sanitizer build here
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=connect -o "$T/strace.log" "$RCPTGUARD" -f -c "$CONF" \
        >"$T/f.log" 2>&1 &
    spid=$!
    for ((i = 0; i < 100; i++)); do
        grep -q "listening on" "$T/f.log" && break
        sleep 0.1
    done
    expect_match "-f: the start line is on standard error" "rcptguard: rcptguard .* listening on" \
        "$(cat "$T/f.log")"
    kill -TERM "$(pgrep -f -n "$RCPTGUARD -f -c $CONF")" 2>/dev/null
    wait "$spid"
    expect_eq "-f with Syslog yes: syslog is never opened (no connect to /dev/log)" "" \
        "$(grep -F '/dev/log' "$T/strace.log")"
else
    skip "-f: standard error only" "strace is not installed"
fi

# --- without -f: the command returns when the daemon serves --------------------------------

write_conf "$CONF" "PidFile $T/d.pid"
"$RCPTGUARD" -c "$CONF" >"$T/d.log" 2>&1
rc=$?
pid=$(cat "$T/d.pid" 2>/dev/null)
rg_on_exit "kill ${pid:-999999}"
expect_eq "detached start: exit 0 with the pid file already written" "0 yes" \
    "$rc $(kill -0 "${pid:-999999}" 2>/dev/null && echo yes || echo no)"
kill -TERM "${pid:-999999}" 2>/dev/null
for ((i = 0; i < 100; i++)); do kill -0 "${pid:-999999}" 2>/dev/null || break; sleep 0.1; done
tap_done
