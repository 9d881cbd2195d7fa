#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/tsan/stress.sh - the daemon under concurrency and churn, for
# ThreadSanitizer.
#
#   RG_BUILD=build/tsan bash tests/tsan/stress.sh     (tests/run-all does it)
#
# A real slapd (with syncprov, so a change brings the next index reload
# forward) and redis-server; rcptguard with "Suggest trusted",
# "SuggestRefresh 10", a pool of two LDAP connections and short cache times;
# one of its two configurations has the directory mirror (Mirror yes), so
# mirrors are started, followed by RFC 4533, read by the recipients, shared
# across reloads and stopped while everything else goes on.
# For RG_STRESS_SECONDS (default 60) RG_STRESS_CLIENTS miltertest processes
# (default 6) run milter sessions back to back (tests/tsan/stress.lua), while:
#
#   - SIGUSR1 arrives every 100 ms (each reload opens a new directory, with
#     its own index, and swaps it in), the file alternating between two
#     valid configurations;
#   - an entry is added to and deleted from slapd every 3 s (index reloads);
#   - at a third of the time redis-server is stopped and started again;
#   - at two thirds slapd is stopped and started again.
#
# Checks: every client got an answer to every recipient, unknown recipients
# were never accepted, a known recipient never got 550; the daemon answers
# normally afterwards and exits 0 on SIGTERM.  Under TSan, each report is a
# failure (one "not ok" line each, with its stacks; copied to RG_REPORT_DIR
# when set), during the load and during the shutdown alike.
# Bounded: about RG_STRESS_SECONDS + 30 s.
set -u
. "$(dirname "$0")/../lib/servers.sh"
rg_setup
HERE=$(cd "$(dirname "$0")" && pwd)

SECS=${RG_STRESS_SECONDS:-60}
CLIENTS=${RG_STRESS_CLIENTS:-6}

if ! command -v miltertest >/dev/null 2>&1; then
    skip "tsan stress" "miltertest is not installed"
    exit 0
fi

# TSan writes its reports into $T/tsan (log_path), whoever runs this script;
# they are judged at the end.  A clean exit is 0, or 66 (TSan's exit status)
# when it reported something.
REPORTS=$T/tsan
mkdir -p "$REPORTS"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4:suppressions=$HERE/suppressions.txt:print_suppressions=0:log_path=$REPORTS/tsan"

RG_SLAPD_SYNCPROV=1 start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "stress: slapd starts"; tap_done; }
start_redis || { not_ok "stress: redis starts"; tap_done; }

COMMON=("TrustedNetworks 127.0.0.0/8" "Suggest trusted" "SuggestRefresh 10"
    "MaxUnknownRecipients 0" "LDAPPoolSize 2")
CONF=$T/rcptguard.conf
write_conf "$T/a.conf" "${COMMON[@]}" "CacheTTL 1" "NegativeCacheTTL 1" "LocalCacheSize 0"
RG_TEST_MIRROR=yes write_conf "$T/b.conf" "${COMMON[@]}" "CacheTTL 2" "NegativeCacheTTL 2" \
    "LocalCacheSize 1000"
cp "$T/a.conf" "$CONF"
if start_rcptguard "$CONF"; then
    ok "stress: rcptguard starts ($RCPTGUARD)"
else
    not_ok "stress: rcptguard starts ($RCPTGUARD)"
    tap_done
fi
PID=$RCPTGUARD_PID
SOCK=$RCPTGUARD_SOCKET

# --- load and churn ----------------------------------------------------------

client_pids=()
for ((i = 1; i <= CLIENTS; i++)); do
    timeout -k 5 $((SECS + 60)) miltertest -D "sock=$SOCK" -D "seconds=$SECS" -D "id=$i" \
        -s "$HERE/stress.lua" >"$T/client.$i.out" 2>"$T/client.$i.err" </dev/null &
    client_pids+=($!)
done

# SIGUSR1 every 100 ms; every tenth time the file switches configuration
# (replaced with a rename, so a reload never reads half a file).
(
    n=0
    end=$((SECONDS + SECS))
    while ((SECONDS < end)); do
        n=$((n + 1))
        if ((n % 10 == 0)); then
            if ((n / 10 % 2)); then src=$T/b.conf; else src=$T/a.conf; fi
            cp "$src" "$CONF.new" && mv -f "$CONF.new" "$CONF"
        fi
        kill -USR1 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "$n" >"$T/reloads"
) &
usr1_pid=$!

# A change in the directory every 3 s: the index is reloaded and swapped.
(
    end=$((SECONDS + SECS))
    while ((SECONDS < end)); do
        printf 'dn: uid=churn,ou=people,%s\nobjectClass: inetOrgPerson\nuid: churn\ncn: Churn\nsn: Churn\nmail: churn.person@example.com\n' \
            "$RG_BASE_DN" | ldap_admin ldapadd -o nettimeout=2 >/dev/null 2>&1
        sleep 1.5
        ldap_admin ldapdelete -o nettimeout=2 "uid=churn,ou=people,$RG_BASE_DN" >/dev/null 2>&1
        sleep 1.5
    done
) &
churn_pid=$!
rg_on_exit "kill $usr1_pid $churn_pid ${client_pids[*]} 2>/dev/null"

sleep $((SECS / 3))
stop_redis
sleep 2
if start_redis; then
    ok "stress: redis-server stopped and started again"
else
    not_ok "stress: redis-server stopped and started again"
fi

sleep $((SECS / 3 - 2))
stop_slapd
sleep 2
if _rg_slapd_run; then
    ok "stress: slapd stopped and started again"
else
    not_ok "stress: slapd stopped and started again"
fi

for pid in "${client_pids[@]}"; do
    wait "$pid"
done
wait "$usr1_pid" "$churn_pid" 2>/dev/null

# --- checks --------------------------------------------------------------------

total=0
for ((i = 1; i <= CLIENTS; i++)); do
    line=$(grep -E '^(not )?ok - client' "$T/client.$i.out")
    if [[ $line == ok* ]]; then
        ok "stress: ${line#ok - }"
        n=$(sed -n 's/.* \([0-9]*\) recipients.*/\1/p' <<<"$line")
        total=$((total + ${n:-0}))
    else
        not_ok "stress: client $i: ${line:-no result}" \
            "$(grep '^#' "$T/client.$i.err" | head -n 3)" "$(grep -v '^#' "$T/client.$i.err" | tail -n 3)"
    fi
done
reloads=$(cat "$T/reloads" 2>/dev/null || echo 0)
echo "# $total recipients from $CLIENTS clients in ${SECS}s, $reloads SIGUSR1 reloads" >&2

if kill -0 "$PID" 2>/dev/null; then
    ok "stress: rcptguard survived $reloads reloads and the restarts"
else
    not_ok "stress: rcptguard survived $reloads reloads and the restarts" \
        "$(tail -n 20 "$RCPTGUARD_LOG")"
fi
expect_eq "stress: the reloads were applied (no reload refused)" "" \
    "$(grep 'reload refused' "$RCPTGUARD_LOG" | head -n 3)"
n=$(grep -E -c 'configuration .* reloaded: ' "$RCPTGUARD_LOG")
if ((n >= reloads / 4 && n > 0)); then
    ok "stress: the daemon logged $n reloads for $reloads signals"
else
    not_ok "stress: the daemon logged $n reloads for $reloads signals"
fi
# the configuration with the mirror was in use long enough for it to load
n=$(grep -c 'mirror ready: ' "$RCPTGUARD_LOG")
expect_match "stress: the directory mirror was loaded ($n times)" '^[1-9]' "$n"
n=$(grep -c ' source=mirror ' "$RCPTGUARD_LOG")
expect_match "stress: and answered recipients ($n)" '^[1-9]' "$n"
# a known address is never "unknown", whatever was restarted
bad=$(grep -E 'rcpt=<(john\.doe|jane\.smith|bob)@example\.com> verdict=unknown|rcpt=<alice@example\.org> verdict=unknown' \
    "$RCPTGUARD_LOG" | head -n 3)
expect_eq "stress: no known recipient was rejected as unknown" "" "$bad"

# After the churn: normal answers again (slapd needs a moment to be used).
cat >"$T/after.lua" <<'LUA'
local c = mt.connect(sock, 20, 0.1)
mt.conninfo(c, "client.example", "127.0.0.1")
mt.mailfrom(c, "<s@example.net>")
mt.rcptto(c, "<bob@example.com>")
local a = mt.getreply(c)
mt.rcptto(c, "<nobody@example.com>")
local b = mt.getreply(c)
print(tostring(a == SMFIR_CONTINUE) .. " " .. tostring(b == SMFIR_REPLYCODE))
mt.disconnect(c)
LUA
ans=
for ((i = 0; i < 20; i++)); do
    kill -0 "$PID" 2>/dev/null || break
    ans=$(timeout 20 miltertest -D "sock=$SOCK" -s "$T/after.lua" 2>>"$T/after.err")
    [[ $ans == 'true true' ]] && break
    sleep 0.5
done
expect_eq "stress: afterwards a known recipient is accepted and an unknown one refused" \
    'true true' "$ans"

stop_rcptguard
case ${RCPTGUARD_STATUS:-none} in
0 | 66) ok "stress: rcptguard exits cleanly on SIGTERM (status $RCPTGUARD_STATUS)" ;;
*) not_ok "stress: rcptguard exits cleanly on SIGTERM" "exit status ${RCPTGUARD_STATUS:-none}" ;;
esac

# Every report is a failure, shutdown included: each is kept in a file of
# its own for the lines below.
: >"$T/judged"
awk -v out="$T/judged" '
    function flush() {
        if (text == "") return
        n++
        f = out "." n
        printf "%s", text > f
        close(f)
        print "report", f >> out
        text = ""
    }
    /^==================$/ { flush(); next }
    /^WARNING: ThreadSanitizer/ { flush() }
    /^ThreadSanitizer: reported/ { next }
    { if ($0 != "" || text != "") text = text $0 "\n" }
    END { flush() }
' $(ls "$REPORTS"/* 2>/dev/null | sort) /dev/null
nrep=0
while read -r kind f; do
    summary=$(grep -m 1 '^SUMMARY' "$f" | sed 's/^SUMMARY: ThreadSanitizer: //')
    nrep=$((nrep + 1))
    not_ok "stress: ThreadSanitizer: $summary" \
        "$(grep -E '^WARNING|^  [A-Z]|^    #[0-5] ' "$f" | head -n 24)"
    if [[ -n ${RG_REPORT_DIR:-} ]]; then
        mkdir -p "$RG_REPORT_DIR" && cp "$f" "$RG_REPORT_DIR/tsan.$$.$nrep"
    fi
done <"$T/judged" 2>/dev/null
# a report that missed log_path would be in the daemon's own output
n=$(grep -c '^WARNING: ThreadSanitizer' "$RCPTGUARD_LOG")
if [[ $n -gt 0 ]]; then
    nrep=$((nrep + n))
    not_ok "stress: ThreadSanitizer reports in $RCPTGUARD_LOG" \
        "$(grep -A 12 '^WARNING: ThreadSanitizer' "$RCPTGUARD_LOG" | head -n 24)"
fi
if [[ $nrep -eq 0 ]]; then
    ok "stress: no ThreadSanitizer report"
else
    RG_KEEP=1
fi
tap_done
