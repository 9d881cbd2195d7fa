#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/80-alias-rcpt.sh - aliases resolved at RCPT time.
#
# slapd with tests/data/alias-rcpt.ldif (nisMailAlias and groupOfNames
# aliases, healthy and broken), rcptguard with alias handling on, and a
# private Postfix; swaks talks to Postfix and the reply lines are compared
# exactly.  Checked: an alias with no living target is rejected; one with a
# dead and a living target is accepted and raises exactly one alert (syslog
# line, AlertLog JSON line, and with Redis one entry of the stream
# rcptguard:alerts, not repeated by a second rcptguard sharing that Redis);
# loops end, deferred (451 4.4.6) even with a living target; a group
# with a member DN that does not exist; BrokenAliasAction
# accept and tempfail; slapd stopped gives 451, never 550; rcptguard-query's
# verdict alias-broken and the expansion.  Last, the quick start's sample
# directory is checked for the broken aliases it promises.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "alias-rcpt: end-to-end checks" postfix swaks redis-server redis-cli

B=dc=example,dc=com
HOST=$(hostname)
ALIAS_CONF=(
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))"
    "LDAPAddressAttributes mail mailLocalAddress"
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress"
    "LDAPMemberAttributes member"
    "LDAPDisabledFilter (description=disabled)"
    "CacheTTL 0"
    "NegativeCacheTTL 0"
    "StaleTTL 0"
    "Suggest off"
    "MaxUnknownRecipients 0"
)

unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }
tempfail() { printf '451 4.3.0 <%s>: Temporary lookup failure' "$1"; }
aliasloop() { printf '451 4.4.6 <%s>: Alias loop' "$1"; }
OK="250 2.1.5 Ok"

# alerts_for FILE ALIAS: the lines of AlertLog FILE about ALIAS.
alerts_for() {
    grep -F "\"alias\":\"$2\"" "$1" 2>/dev/null
}
# syslog_for LOG ALIAS: the "alias problem" lines of a log about ALIAS.
syslog_for() {
    grep -F "alias problem: alias=<$2> " "$1" 2>/dev/null
}
# json_field LINE KEY: the string value of KEY in a one-line JSON object.
json_field() {
    printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"
}
# check_alert_json DESC LINE ALIAS PROBLEM TARGET DN
check_alert_json() {
    local desc=$1 line=$2 bad=() k v
    local -A want=([alias]=$3 [problem]=$4 [target]=$5 [dn]=$6 [host]=$HOST)
    for k in alias problem target dn host; do
        v=$(json_field "$line" "$k")
        [[ $v == "${want[$k]}" ]] || bad+=("$k: want '${want[$k]}', got '$v'")
    done
    v=$(json_field "$line" time)
    [[ $v =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$ ]] ||
        bad+=("time: not RFC 3339: '$v'")
    [[ $line =~ ^\{.*\}$ ]] || bad+=("not one JSON object on one line")
    if ((${#bad[@]} == 0)); then
        ok "$desc"
    else
        not_ok "$desc" "line: $line" "${bad[@]}"
    fi
}
# rcpt_timed ADDRESS: swaks_rcpt, and the seconds it took in $ELAPSED.
rcpt_timed() {
    local t0 t1
    t0=$(date +%s%N)
    RCPT_REPLY=$(swaks_rcpt "$POSTFIX_PORT" "$1")
    t1=$(date +%s%N)
    ELAPSED=$(((t1 - t0) / 1000000))
}
# restart_with CONF: stop the running rcptguard and start it with CONF.
restart_with() {
    stop_rcptguard
    start_rcptguard "$1"
}

start_slapd "$TOP/tests/data/alias-rcpt.ldif" || { not_ok "alias-rcpt: slapd starts"; tap_done; }
write_conf "$T/main.conf" "${ALIAS_CONF[@]}" "AlertLog $T/alerts.log"
start_rcptguard "$T/main.conf" || { not_ok "alias-rcpt: rcptguard starts"; tap_done; }
M1=$MILTER_PORT
start_postfix "inet:$M1@127.0.0.1" || { not_ok "alias-rcpt: postfix starts"; tap_done; }

# --- broken and healthy aliases, BrokenAliasAction reject (the default) -------

a=dead@example.com
expect_eq "alias-rcpt: alias whose every target is dead ($a) gets 550 5.1.1" \
    "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=staff@example.com
expect_eq "alias-rcpt: alias with one dead and one living target ($a) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
got=$(alerts_for "$T/alerts.log" $a)
expect_eq "alias-rcpt: exactly one AlertLog line for $a" 1 "$(grep -c . <<<"$got")"
check_alert_json "alias-rcpt: the AlertLog line has time, alias, problem, target, dn, host" \
    "$(head -n 1 <<<"$got")" $a dangling-target gone@example.com "cn=staff,ou=aliases,$B"
expect_eq "alias-rcpt: exactly one syslog-style alert line for $a in rcptguard's log" \
    "alias problem: alias=<$a> problem=dangling-target target=<gone@example.com> dn=\"cn=staff,ou=aliases,$B\"" \
    "$(syslog_for "$RCPTGUARD_LOG" $a | sed 's/.*\(alias problem: \)/\1/')"
expect_eq "alias-rcpt: a second RCPT to $a within AlertInterval is accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
n=$(grep -c -F "rcpt=<$a> verdict=ok source=ldap" "$RCPTGUARD_LOG")
expect_eq "alias-rcpt: both RCPTs to $a were resolved from LDAP (CacheTTL 0)" 2 "$n"
expect_eq "alias-rcpt: still one AlertLog line for $a after the second RCPT" \
    1 "$(alerts_for "$T/alerts.log" $a | grep -c .)"
expect_eq "alias-rcpt: still one syslog-style alert line for $a after the second RCPT" \
    1 "$(syslog_for "$RCPTGUARD_LOG" $a | grep -c .)"

a=ops@example.com
expect_eq "alias-rcpt: alias with a disabled and a living target ($a) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "alias-rcpt: $a raises one disabled-target alert" \
    "alias problem: alias=<$a> problem=disabled-target target=<olduser@example.com> dn=\"cn=ops,ou=aliases,$B\"" \
    "$(syslog_for "$RCPTGUARD_LOG" $a | sed 's/.*\(alias problem: \)/\1/')"
a=olduser@example.com
expect_eq "alias-rcpt: a disabled user ($a) gets 550 5.1.1" "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=forward@example.com
expect_eq "alias-rcpt: a forward through mailRoutingAddress to a living user ($a) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
if [[ -z $(alerts_for "$T/alerts.log" $a) ]]; then
    ok "alias-rcpt: no alert for the healthy forward $a"
else
    not_ok "alias-rcpt: no alert for the healthy forward $a" "$(alerts_for "$T/alerts.log" $a)"
fi

# --- loops --------------------------------------------------------------------

a=loopa@example.com
rcpt_timed $a
expect_eq "alias-rcpt: a loop without a living target ($a -> loopb -> loopa) is deferred" \
    "$(aliasloop $a)" "$RCPT_REPLY"
if ((ELAPSED < 5000)); then
    ok "alias-rcpt: the loop ends quickly (${ELAPSED} ms)"
else
    not_ok "alias-rcpt: the loop ends quickly" "took ${ELAPSED} ms"
fi
got=$(grep -F 'alias problem:' "$RCPTGUARD_LOG" | grep -F 'problem=loop' | grep -c -E 'alias=<loop[ab]@example\.com>')
if ((got >= 1)); then
    ok "alias-rcpt: the loop is reported (problem=loop)"
else
    not_ok "alias-rcpt: the loop is reported (problem=loop)" "$(grep 'alias problem' "$RCPTGUARD_LOG")"
fi
a=loopx@example.com
rcpt_timed $a
expect_eq "alias-rcpt: a loop with an external target ($a) is deferred, never 250" \
    "$(aliasloop $a)" "$RCPT_REPLY"
((ELAPSED < 5000)) && ok "alias-rcpt: the loop with an external target ends quickly (${ELAPSED} ms)" ||
    not_ok "alias-rcpt: the loop with an external target ends quickly" "took ${ELAPSED} ms"
a=loopy@example.com
expect_eq "alias-rcpt: the other alias of that loop ($a) is deferred too" "$(aliasloop $a)" \
    "$(swaks_rcpt "$POSTFIX_PORT" $a)"

# --- a group with a member DN that does not exist ------------------------------

a=devs@example.com
expect_eq "alias-rcpt: group with one living member and one missing member DN ($a) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
got=$(syslog_for "$RCPTGUARD_LOG" $a | sed 's/.*\(alias problem: \)/\1/')
expect_eq "alias-rcpt: $a raises one dangling-target alert naming the member DN" \
    "alias problem: alias=<$a> problem=dangling-target target=<uid=ghost,ou=people,$B> dn=\"cn=devs,ou=groups,$B\"" \
    "$got"
check_alert_json "alias-rcpt: the AlertLog line for $a" "$(alerts_for "$T/alerts.log" $a | head -n 1)" \
    $a dangling-target "uid=ghost,ou=people,$B" "cn=devs,ou=groups,$B"

# No alert for what is healthy; the alerts raised so far, by alias.  A loop
# is reported by the alias whose target closes it (RCPT loopa: alias loopb).
got=$(sed -n 's/.*"alias":"\([^"]*\)".*/\1/p' "$T/alerts.log" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')
expect_eq "alias-rcpt: AlertLog holds the expected alerts and nothing else" \
    "dead@example.com=2 devs@example.com=1 loopb@example.com=1 loopx@example.com=1 loopy@example.com=1 ops@example.com=1 staff@example.com=1 " \
    "$got"

# --- a target that cannot be checked, the rest dead: could not tell ----------

# The alias is read, but its target many@ is claimed by more entries than
# one lookup takes ("could not tell") and its other target is dead: 451.
a=crowd@example.com
expect_eq "alias-rcpt: alias with a dead target and a target whose lookup failed ($a) gets 451, not 550" \
    "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "alias-rcpt: $a still reports its dead target" \
    "alias problem: alias=<$a> problem=dangling-target target=<gone2@example.com> dn=\"cn=crowd,ou=aliases,$B\"" \
    "$(syslog_for "$RCPTGUARD_LOG" $a | sed 's/.*\(alias problem: \)/\1/')"
line=$(grep -F "rcpt=<$a> verdict=" "$RCPTGUARD_LOG" | tail -n 1)
expect_match "alias-rcpt: the decision line for $a says tempfail and why" \
    'verdict=tempfail source=ldap ms=[0-9]+ reply="451 4\.3\.0" reason="[^"]+"' "$line"

# --- rcptguard-query on the broken alias --------------------------------------

write_conf "$T/query.conf" "${ALIAS_CONF[@]}"
rc=0
got=$("$QUERY" -c "$T/query.conf" dead@example.com 2>"$T/query.err") || rc=$?
expect_eq "alias-rcpt: rcptguard-query dead@example.com: alias-broken and its expansion" \
    "dead@example.com alias-broken ldap
  -> gone@example.com unknown dangling-target
  -> vanished@example.com unknown dangling-target" "$got"
expect_eq "alias-rcpt: rcptguard-query exits 1 on a broken alias" 1 "$rc"
expect_eq "alias-rcpt: rcptguard-query --reply on the broken alias adds the 550" \
    "dead@example.com alias-broken ldap
  -> gone@example.com unknown dangling-target
  -> vanished@example.com unknown dangling-target
550 5.1.1 <dead@example.com>: Recipient address rejected: User unknown" \
    "$("$QUERY" -c "$T/query.conf" --reply dead@example.com 2>/dev/null)"
mta_query_agrees alias-rcpt "$POSTFIX_PORT" postfix "$T/query.conf" dead@example.com staff@example.com
rc=0
got=$("$QUERY" -c "$T/query.conf" staff@example.com 2>>"$T/query.err") || rc=$?
expect_eq "alias-rcpt: rcptguard-query staff@example.com: ok, one target dead" \
    "staff@example.com ok ldap
  -> john.doe@example.com ok
  -> gone@example.com unknown dangling-target" "$got"
expect_eq "alias-rcpt: rcptguard-query exits 0 on an alias with a living target" 0 "$rc"

# --- BrokenAliasAction accept / tempfail -------------------------------------

# (and LogAccepted no: what is let through despite a problem keeps its line)
write_conf "$T/accept.conf" "${ALIAS_CONF[@]}" "AlertLog $T/alerts.log" "BrokenAliasAction accept" \
    "LogAccepted no"
restart_with "$T/accept.conf" || { not_ok "alias-rcpt: rcptguard restarts (accept)"; tap_done; }
from=$(rg_log_lines)
a=dead@example.com
expect_eq "alias-rcpt: BrokenAliasAction accept: $a gets 250" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=nobody@example.com
expect_eq "alias-rcpt: BrokenAliasAction accept: an unknown user still gets 550" \
    "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=staff@example.com
expect_eq "alias-rcpt: BrokenAliasAction accept: a living alias gets 250" "$OK" \
    "$(swaks_rcpt "$POSTFIX_PORT" $a)"
lines=$(tail -n +$((from + 1)) "$RCPTGUARD_LOG")
expect_match "alias-rcpt: LogAccepted no: the broken alias let through has its line" \
    '^rcptguard: conn=[0-9A-F]{8} client=127\.0\.0\.1 rcpt=<dead@example\.com> verdict=alias-broken source=[a-z]+ ms=[0-9]+ reply=continue' \
    "$(grep -F 'rcpt=<dead@example.com>' <<<"$lines" | head -n 1)"
expect_match "alias-rcpt: LogAccepted no: the unknown user has its line" \
    'rcpt=<nobody@example\.com> verdict=unknown source=[a-z]+ ms=[0-9]+ reply="550 5\.1\.1"' \
    "$(grep -F 'rcpt=<nobody@example.com>' <<<"$lines" | head -n 1)"
expect_eq "alias-rcpt: LogAccepted no: the living alias has none" "" \
    "$(grep -F 'rcpt=<staff@example.com>' <<<"$lines")"
mta_query_agrees alias-rcpt "$POSTFIX_PORT" postfix "$T/accept.conf" dead@example.com nobody@example.com
rc=0
"$QUERY" -c "$T/accept.conf" dead@example.com >/dev/null 2>&1 || rc=$?
expect_eq "alias-rcpt: BrokenAliasAction accept: rcptguard-query exits 0, as the MTA lets it through" 0 "$rc"

write_conf "$T/tempfail.conf" "${ALIAS_CONF[@]}" "AlertLog $T/alerts.log" "BrokenAliasAction tempfail"
restart_with "$T/tempfail.conf" || { not_ok "alias-rcpt: rcptguard restarts (tempfail)"; tap_done; }
a=dead@example.com
expect_eq "alias-rcpt: BrokenAliasAction tempfail: $a gets 451 4.3.0" \
    "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=staff@example.com
expect_eq "alias-rcpt: BrokenAliasAction tempfail: an alias with a living target still gets 250" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
mta_query_agrees alias-rcpt "$POSTFIX_PORT" postfix "$T/tempfail.conf" dead@example.com staff@example.com
rc=0
"$QUERY" -c "$T/tempfail.conf" dead@example.com >/dev/null 2>&1 || rc=$?
expect_eq "alias-rcpt: BrokenAliasAction tempfail: rcptguard-query exits 75" 75 "$rc"

# --- Redis: the stream rcptguard:alerts, shared by two rcptguards -------------

start_redis || { not_ok "alias-rcpt: redis-server starts"; tap_done; }
write_conf "$T/redis1.conf" "${ALIAS_CONF[@]}" "AlertLog $T/alerts-r1.log"
restart_with "$T/redis1.conf" || { not_ok "alias-rcpt: rcptguard starts with Redis"; tap_done; }
M2=$(free_port)
write_conf "$T/redis2.conf" "${ALIAS_CONF[@]}" "AlertLog $T/alerts-r2.log"
sed -i "s|^Socket .*|Socket inet:$M2@127.0.0.1|" "$T/redis2.conf"
LOG2=$T/rcptguard2.log
"$RCPTGUARD" -f -c "$T/redis2.conf" </dev/null >>"$LOG2" 2>&1 &
PID2=$!
rg_on_exit "_rg_stop_pid $PID2 10"
for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$M2") 2>/dev/null && break
    sleep 0.1
done
# Both rcptguards in one Postfix: each RCPT that the first lets through is
# also asked of the second.
stop_postfix
start_postfix "inet:127.0.0.1:$M1 inet:127.0.0.1:$M2" ||
    { not_ok "alias-rcpt: postfix starts with two milters"; tap_done; }

# stream_records: the entries of rcptguard:alerts, one a line, "key=value ...".
stream_records() {
    redis_cli XRANGE rcptguard:alerts - + | awk '
        /^[0-9]+-[0-9]+$/ { if (rec != "") print rec; rec = ""; k = ""; next }
        k == "" { k = $0; next }
        { rec = rec (rec == "" ? "" : " ") k "=" $0; k = "" }
        END { if (rec != "") print rec }'
}

a=team@example.com
expect_eq "alias-rcpt: Redis: $a (one dead, one living target) accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "alias-rcpt: Redis: the second rcptguard resolved $a too" \
    1 "$(grep -c -F "rcpt=<$a> verdict=ok source=ldap" "$LOG2")"
got=$(stream_records | grep -F "alias=$a ")
expect_eq "alias-rcpt: Redis: one entry for $a in the stream rcptguard:alerts" 1 "$(grep -c . <<<"$got")"
expect_match "alias-rcpt: Redis: the stream entry has time, alias, problem, target, dn, host" \
    "^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\.[0-9]+)?Z alias=$a problem=dangling-target target=missing@example\.com dn=cn=team,ou=aliases,dc=example,dc=com host=$HOST$" \
    "$got"
n1=$(syslog_for "$RCPTGUARD_LOG" $a | grep -c .)
n2=$(syslog_for "$LOG2" $a | grep -c .)
expect_eq "alias-rcpt: Redis: the alert logged once, by the first rcptguard only (first, second)" \
    "1 0" "$n1 $n2"
expect_eq "alias-rcpt: Redis: the second rcptguard wrote no AlertLog line for $a" \
    "" "$(alerts_for "$T/alerts-r2.log" $a)"
expect_eq "alias-rcpt: Redis: again, still accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "alias-rcpt: Redis: still one stream entry and one log line after a second RCPT" \
    "1 1 0" "$(stream_records | grep -c -F "alias=$a ") $(syslog_for "$RCPTGUARD_LOG" $a | grep -c .) $(syslog_for "$LOG2" $a | grep -c .)"

# --- slapd stopped during expansion: 451, never 550 ---------------------------

stop_slapd
for a in dead@example.com staff@example.com devs@example.com loopa@example.com; do
    expect_eq "alias-rcpt: slapd stopped: $a gets 451 4.3.0" \
        "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
done
rc=0
got=$("$QUERY" -c "$T/query.conf" dead@example.com 2>>"$T/query.err") || rc=$?
expect_eq "alias-rcpt: slapd stopped: rcptguard-query says tempfail, exit 75" \
    "dead@example.com tempfail ldap 75" "$got $rc"

# --- the quick start's sample directory ---------------------------------------

SAMPLE=$TOP/contrib/sample-directory.ldif
if [[ -f $SAMPLE ]]; then
    stop_postfix
    stop_rcptguard
    _rg_stop_pid "$PID2" 10
    start_slapd "$SAMPLE" || not_ok "alias-rcpt: slapd starts with the sample directory"
    write_conf "$T/sample.conf" "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" \
        "LDAPAddressAttributes mail mailLocalAddress" "LDAPAliasAttributes rfc822MailMember"
    sed -i 's|^RedisURI .*|RedisURI none|' "$T/sample.conf"
    got=$("$QUERY" -c "$T/sample.conf" helpdesk@example.com press@example.com 2>>"$T/query.err")
    expect_match "alias-rcpt: sample directory: helpdesk@ is accepted with a dangling target" \
        $'^helpdesk@example.com ok ldap\n(  -> [^\n]*\n)*  -> peter.old@example.com unknown dangling-target' "$got"
    expect_match "alias-rcpt: sample directory: press@ is a broken alias" \
        $'press@example.com alias-broken ldap\n  -> maria.former@example.com unknown dangling-target' "$got"
else
    skip "alias-rcpt: sample directory has a broken alias" "no contrib/sample-directory.ldif"
fi

tap_done
