#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 10-query.sh - rcptguard-query against a real slapd and a real redis-server:
# hits, misses, LDAP syntax in addresses, case, subaddresses, other domains,
# exit codes, --json, standard input, the negative cache and its TTL, Redis
# stopped mid-run, slapd stopped or hung (tempfail, never unknown) and back.
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts"; exit 1; }
start_redis || { not_ok "redis-server starts"; exit 1; }
CONF=$T/rcptguard.conf
# CacheTTL long enough that no positive entry expires during the test, however
# slow the run (the sanitizer pass beside others took 51 s)
write_conf "$CONF" "CacheTTL 600" "NegativeCacheTTL 6"

# q EXPECTED_STATUS DESC EXPECTED_LINES ADDRESS...: expect_query on $CONF.
q() {
    expect_query "$1" "$2" "$3" "$CONF" "${@:4}"
}

# --- found, not found, and the cache -----------------------------------------

q 0 "a known user is ok, from LDAP" \
    "john.doe@example.com ok ldap" john.doe@example.com
q 0 "asked again, the answer comes from the Redis cache" \
    "john.doe@example.com ok cache" john.doe@example.com
q 1 "an unknown user is unknown, from LDAP (exit 1)" \
    "nobody@example.com unknown ldap" nobody@example.com

q 1 "LDAP filter syntax in the local part is data, not a wildcard" \
    "*@example.com unknown ldap
*)(mail=*@example.com unknown ldap
(mail=*)@example.com unknown ldap
\\x5c2a@example.com unknown ldap
*)(|(mail=*@example.com unknown ldap" \
    '*@example.com' '*)(mail=*@example.com' '(mail=*)@example.com' \
    '\2a@example.com' '*)(|(mail=*@example.com'

q 0 "lookups ignore case; the address is printed as given" \
    "Mixed.Case@Example.COM ok ldap
MIXED.CASE@EXAMPLE.COM ok cache
mixed.case@example.com ok cache
<JANE.SMITH@example.com> ok ldap" \
    Mixed.Case@Example.COM MIXED.CASE@EXAMPLE.COM mixed.case@example.com \
    '<JANE.SMITH@example.com>'

q 0 "a subaddress is found through its base address" \
    "bob+tag@example.com ok ldap" bob+tag@example.com
q 0 "a source route and a trailing dot are understood" \
    "<@mx.example.org:bob@example.com.> ok cache" '<@mx.example.org:bob@example.com.>'

q 0 "another domain is not ours and not looked up" \
    "someone@example.net not-ours none
alice@example.org ok ldap" someone@example.net alice@example.org

# the negative entry is asked for right after it is made: NegativeCacheTTL
# is 6 s, and nobody@ was cached several slow runs ago under ASan
q 1 "another unknown user, cached for the next run" \
    "nobody.twice@example.com unknown ldap" nobody.twice@example.com
q 1 "ok and unknown together: exit 1" \
    "john.doe@example.com ok cache
nobody.twice@example.com unknown cache
someone@example.net not-ours none" \
    john.doe@example.com nobody.twice@example.com someone@example.net

q 1 "control characters in an address get a defined answer" \
    "jo\\x01hn@example.com unknown none
john\\x0a@example.com unknown none" \
    $'jo\001hn@example.com' $'john\n@example.com'

long=$(printf 'x%.0s' {1..65})
q 1 "a 65-octet local part is refused, not truncated" \
    "$long@example.com unknown none" "$long@example.com"

q 1 "invalid UTF-8 gets a defined answer" \
    $'j\xc3@example.com unknown none' $'j\xc3@example.com'

# --- --json and standard input -----------------------------------------------

q 0 "--json prints one object per address" \
    '{"address":"john.doe@example.com","verdict":"ok","source":"cache","reply":["250 2.1.5 Ok"]}
{"address":"\"q\"@example.net","verdict":"not-ours","source":"none","reply":["250 2.1.5 Ok"]}' \
    --json john.doe@example.com '"q"@example.net'

rc=0
out=$(printf 'jane.smith@example.com\n\nnobody.else@example.com\r\nsomeone@example.net\n' |
    "$QUERY" -c "$CONF" 2>"$T/query.err") || rc=$?
expect_eq "standard input: one address a line, blank lines skipped" \
    "jane.smith@example.com ok cache
nobody.else@example.com unknown ldap
someone@example.net not-ours none
exit 1" "$out
exit $rc"

# --- the negative cache and its TTL ------------------------------------------

q 1 "a newcomer is unknown before being added" \
    "newcomer@example.com unknown ldap" newcomer@example.com
ldap_admin ldapadd >"$T/ldapadd.log" 2>&1 <<'EOF'
dn: uid=newcomer,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: newcomer
cn: New Comer
sn: Comer
mail: newcomer@example.com
EOF
if [[ $? -eq 0 ]]; then
    ok "the newcomer is added to the directory"
else
    not_ok "the newcomer is added to the directory" "$(cat "$T/ldapadd.log")"
fi
added=$SECONDS
q 1 "just added, the newcomer is still unknown from the negative cache" \
    "newcomer@example.com unknown cache" newcomer@example.com
# NegativeCacheTTL is 6 s; Redis expires the key after that.
sleep $((7 - (SECONDS - added) > 0 ? 7 - (SECONDS - added) : 0))
q 0 "after NegativeCacheTTL the newcomer is found" \
    "newcomer@example.com ok ldap" newcomer@example.com

# --- slapd stopped, hung, and back -------------------------------------------

stop_slapd
start=$SECONDS
q 0 "slapd stopped: a cached address is still ok" \
    "john.doe@example.com ok cache" john.doe@example.com
rc=0
out=$("$QUERY" -c "$CONF" never.seen@example.com 2>"$T/query.err") || rc=$?
expect_match "slapd stopped: an uncached address is tempfail, never unknown" \
    '^never\.seen@example\.com tempfail (ldap|none)$' "$out"
expect_eq "slapd stopped: exit status 75" 75 "$rc"
rc=0
out=$("$QUERY" -c "$CONF" john.doe@example.com never.seen@example.com someone@example.net \
    2>"$T/query.err") || rc=$?
expect_match "slapd stopped: ok, tempfail and not-ours together exit 75" \
    $'^john\\.doe@example\\.com ok cache\nnever\\.seen@example\\.com tempfail (ldap|none)\nsomeone@example\\.net not-ours none\n75$' \
    "$out"$'\n'"$rc"
if ((SECONDS - start <= 8)); then
    ok "slapd stopped: the answers come at once"
else
    not_ok "slapd stopped: the answers come at once" "took $((SECONDS - start)) s"
fi

restart_slapd || not_ok "slapd restarts"
q 1 "slapd back: the address that failed is looked up again (a failure is not cached)" \
    "never.seen@example.com unknown ldap" never.seen@example.com

# slapd hung: connections are accepted but nothing answers.  The lookup must
# give up after LDAPTimeout (2 s) with tempfail.
pid=$(slapd_pid)
kill -STOP "$pid"
rg_on_exit "kill -CONT $pid"
start=$(date +%s.%N)
rc=0
out=$("$QUERY" -c "$CONF" hung.slapd@example.com 2>"$T/query.err") || rc=$?
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
kill -CONT "$pid"
expect_match "slapd hung: tempfail, never unknown" \
    $'^hung\\.slapd@example\\.com tempfail (ldap|none)\n75$' "$out"$'\n'"$rc"
if (($(echo "$elapsed < 6" | bc))); then
    ok "slapd hung: the lookup gives up within LDAPTimeout"
else
    not_ok "slapd hung: the lookup gives up within LDAPTimeout" "took ${elapsed}s (LDAPTimeout 2)"
    sed 's/^/#   stderr: /' "$T/query.err" >&2
fi

# --- Redis stopped in the middle of a run ------------------------------------

coproc QP { "$QUERY" -c "$CONF" 2>"$T/coproc.err"; }
qpid=$QP_PID qin=${QP[1]} qout=${QP[0]}
rg_on_exit "kill $qpid"
l1= l2= l3=
echo "jane.smith@example.com" >&"$qin"
read -r -t 10 l1 <&"$qout"
stop_redis
echo "bob@example.com" >&"$qin"
read -r -t 10 l2 <&"$qout"
echo "nobody.at.all@example.com" >&"$qin"
read -r -t 10 l3 <&"$qout"
eval "exec $qin>&-"
wait "$qpid"
rc=$?
expect_eq "Redis stopped mid-run: the run goes on from LDAP" \
    "jane.smith@example.com ok cache
bob@example.com ok ldap
nobody.at.all@example.com unknown ldap
exit 1" "$l1
$l2
$l3
exit $rc"

q 0 "Redis stopped: a new run answers from LDAP, exit 0" \
    "john.doe@example.com ok ldap
jane.smith@example.com ok ldap" john.doe@example.com jane.smith@example.com

stop_slapd
rc=0
out=$("$QUERY" -c "$CONF" nobody@example.com 2>"$T/query.err") || rc=$?
expect_match "Redis and slapd stopped: a once-unknown address is tempfail, never unknown" \
    $'^nobody@example\\.com tempfail (ldap|none)\n75$' "$out"$'\n'"$rc"

tap_done
