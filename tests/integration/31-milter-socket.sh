#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 31-milter-socket.sh - the milter socket under what an MTA never sends and
# what a busy one does (milter/listener.c, milter/protocol.c), against a
# real slapd, with milterraw.py as the client:
#   - bytes that are no milter protocol, a zero or huge length, an unknown
#     command, a command cut short: that connection is closed at once with a
#     log line naming the problem, and the daemon answers the next one;
#   - a client that sends half a command and waits holds nobody else up;
#   - a 1 MiB body chunk (an MTA that cannot skip the body) is answered;
#   - 300 connections at once: every one answered;
#   - SIGHUP reads the configuration again (as SIGUSR1), and does not stop;
#   - SIGTERM with connections open: exit 0 at once;
#   - a second daemon on the same unix socket is refused and the first one
#     keeps serving; a socket file left by a killed daemon is taken over; a
#     file that is not a socket, and an inet port in use, are refused with
#     the reason.
. "$(dirname "$0")/../lib/servers.sh"
rg_setup
HERE=$(cd "$(dirname "$0")" && pwd)
RAW="python3 $HERE/milterraw.py"

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts"; exit 1; }
CONF=$T/rcptguard.conf
write_conf "$CONF"
start_rcptguard "$CONF" || { not_ok "rcptguard starts"; exit 1; }
S=$RCPTGUARD_SOCKET
UNKNOWN='y 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown'

expect_eq "a session: known recipient continues, unknown one gets the 550 text" \
    "c
$UNKNOWN" "$($RAW "$S" session john.doe@example.com nobody@example.com)"

# raw LABEL HEX LOGRE: the connection is closed within 2 s, the log has a
# line matching LOGRE (grep -E), and a normal session is answered afterwards
raw() {
    local label=$1 hex=$2 text=$3 out
    out=$($RAW "$S" raw "$hex" 5)
    expect_match "$label: the connection is closed at once" '^closed [01]\.[0-9] s$' "$out"
    if rg_log_wait "$text" 5; then
        ok "$label: logged: $text"
    else
        not_ok "$label: logged: $text" "not in $RCPTGUARD_LOG"
    fi
    expect_eq "$label: the next session is answered" "$UNKNOWN" \
        "$($RAW "$S" session nobody@example.com)"
}
# "GET / HTTP/1.0": its first four bytes read as a length of 1.2 GB
raw "HTTP request" "$(printf 'GET / HTTP/1.0\r\n\r\n' | od -An -tx1 | tr -d ' \n')" \
    'MTA connection: a command of 1195725856 bytes \(at most 1048577\): closed'
raw "zero length" "00000000" 'MTA connection: a command of 0 bytes \(at most 1048577\): closed'
raw "unknown command" "000000025a78" 'MTA connection: unknown command 0x5a: closed'
raw "RCPT without NUL" "0000000d4f000000060000 01ff001fffff 00000004523c613e" \
    'MTA connection: RCPT without a terminated address: closed'
raw "connect with a bad address" \
    "0000000d4f00000006000001ff001fffff 0000000a436800340019782e7900" \
    "MTA connection: connect with family '4' and a bad address: closed"

# half a command, then silence: others are served meanwhile
$RAW "$S" raw "000001" 30 >"$T/half.out" &
half=$!
sleep 0.5
expect_eq "half a command pending: another session is answered" "$UNKNOWN" \
    "$($RAW "$S" session nobody@example.com)"
kill "$half" 2>/dev/null
wait "$half" 2>/dev/null

expect_eq "an MTA that cannot skip a step: each is answered, a 1 MiB body chunk too" \
    "c
data c
body c
eom c" "$($RAW "$S" body 1048576)"

expect_eq "300 connections at once: every one gets its answer" \
    "300 answered: c" "$($RAW "$S" many 300 john.doe@example.com)"
if kill -0 "$RCPTGUARD_PID" 2>/dev/null; then
    ok "rcptguard still runs after all of it"
else
    not_ok "rcptguard still runs after all of it"
fi

# SIGHUP reloads, as SIGUSR1 does
from=$(wc -l <"$RCPTGUARD_LOG")
kill -HUP "$RCPTGUARD_PID"
if rg_log_wait "configuration .* reloaded" 10 "$from" >/dev/null; then
    ok "SIGHUP: the configuration is read again"
else
    not_ok "SIGHUP: the configuration is read again" "no reload line in $RCPTGUARD_LOG"
fi
expect_eq "SIGHUP: rcptguard still answers" "$UNKNOWN" "$($RAW "$S" session nobody@example.com)"

# SIGTERM with idle MTA connections open
$RAW "$S" idle 20 60 >"$T/idle.out" &
idle=$!
for ((i = 0; i < 50; i++)); do
    grep -q holding "$T/idle.out" && break
    sleep 0.1
done
pid=$RCPTGUARD_PID
t0=$SECONDS
stop_rcptguard
kill "$idle" 2>/dev/null
wait "$idle" 2>/dev/null
expect_eq "SIGTERM with 20 idle MTA connections: exit status 0" "0" "$RCPTGUARD_STATUS"
if [[ $((SECONDS - t0)) -le 3 ]]; then
    ok "SIGTERM with 20 idle MTA connections: stopped within 3 s"
else
    not_ok "SIGTERM with 20 idle MTA connections: stopped within 3 s" "took $((SECONDS - t0)) s"
fi

# --- unix socket: in use, left behind, not a socket --------------------------
mkdir -p "$T/run"
US=unix:$T/run/rg.sock
start_rcptguard "$CONF" -p "$US" || { not_ok "rcptguard starts on $US"; exit 1; }
first=$RCPTGUARD_PID
out=$("$RCPTGUARD" -f -c "$CONF" -p "$US" 2>&1 </dev/null)
rc=$?
expect_eq "a second daemon on the same socket: exit status 71" "71" "$rc"
expect_eq "a second daemon on the same socket: says why" \
    "rcptguard: cannot listen on $US: another process is listening on it" \
    "$(grep 'cannot listen' <<<"$out")"
expect_eq "the first daemon still answers on it" "$UNKNOWN" \
    "$($RAW "$US" session nobody@example.com)"
kill -KILL "$first"
wait "$first" 2>/dev/null
RCPTGUARD_PID=
if [[ -S $T/run/rg.sock ]]; then
    ok "a killed daemon leaves its socket file"
else
    not_ok "a killed daemon leaves its socket file" "no file to take over: the next check proves nothing"
fi
if start_rcptguard "$CONF" -p "$US"; then
    ok "a socket file left by a killed daemon is taken over"
    expect_eq "and the new daemon answers on it" "$UNKNOWN" \
        "$($RAW "$US" session nobody@example.com)"
    stop_rcptguard
else
    not_ok "a socket file left by a killed daemon is taken over"
fi
: >"$T/run/plain"
out=$("$RCPTGUARD" -f -c "$CONF" -p "unix:$T/run/plain" 2>&1 </dev/null)
rc=$?
expect_eq "a regular file at the socket path: exit status 71" "71" "$rc"
expect_eq "a regular file at the socket path: says why, and is left alone" \
    "rcptguard: cannot listen on unix:$T/run/plain: the file exists and is not a socket|yes" \
    "$(grep 'cannot listen' <<<"$out")|$([[ -f $T/run/plain ]] && echo yes)"

# an inet port some other process holds
busy=$(free_port)
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $busy)); s.listen(1); print('up', flush=True); time.sleep(30)" >"$T/busy.out" &
holder=$!
for ((i = 0; i < 50; i++)); do
    grep -q up "$T/busy.out" && break
    sleep 0.1
done
out=$("$RCPTGUARD" -f -c "$CONF" -p "inet:$busy@127.0.0.1" 2>&1 </dev/null)
rc=$?
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
expect_eq "an inet port in use: exit status 71 and the reason" \
    "71|rcptguard: cannot listen on inet:$busy@127.0.0.1: Address already in use" \
    "$rc|$(grep 'cannot listen' <<<"$out")"

tap_done
