#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 60-audit.sh - rcptguard-audit against a real slapd.
#
# tests/data/aliases.ldif holds healthy aliases (nisMailAlias, groupOfNames
# with member DNs, a forward chain three deep) and exactly one of each
# problem.  The audit must report exactly those, in every output form; a
# fixed directory must be clean; a directory it cannot read whole (slapd
# stopped, slapd's size limit on the bind DN) must give 75, never a clean
# report.  --alerts reads the runtime alerts from AlertLog and from Redis.
set -u
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

AUDIT=$RG_BUILD/directory/rcptguard-audit
B=dc=example,dc=com

# The seeded problems, as the table prints them (runs of blanks squeezed).
EXPECTED="PROBLEM ALIAS TARGET DN
dangling-target sales@example.com gone@example.com cn=sales,ou=aliases,$B
disabled-target support@example.com leaver@example.com cn=support,ou=aliases,$B
duplicate-address frank@example.com - uid=frank,ou=people,$B; uid=frank.old,ou=people,$B
loop loop-a@example.com loop-a@example.com cn=loop-a,ou=aliases,$B
loop loop-b@example.com loop-b@example.com cn=loop-b,ou=aliases,$B
no-targets empty@example.com - cn=empty,ou=aliases,$B
self-target helpdesk@example.com helpdesk@example.com cn=helpdesk,ou=aliases,$B
too-deep deep1@example.com deep5@example.com uid=deep1,ou=people,$B
too-many-targets everyone@example.com - cn=everyone,ou=aliases,$B"

# run_audit ARG...: stdout in $OUT, stderr in $ERR, exit status in $RC.
run_audit() {
    RC=0
    "$AUDIT" "$@" >"$T/out" 2>"$T/err" || RC=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
}

squeeze() {
    tr -s ' '
}

start_slapd "$TOP/tests/data/aliases.ldif" || { not_ok "slapd starts"; tap_done; }
write_conf "$T/audit.conf" \
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" \
    "LDAPAddressAttributes mail mailLocalAddress" \
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress" \
    "LDAPMemberAttributes member uniqueMember" \
    "LDAPDisabledFilter (description=disabled)" \
    "AliasMaxDepth 4" \
    "AliasMaxTargets 5" \
    "AlertLog $T/alerts.log"

# --- the table ---------------------------------------------------------------
run_audit -c "$T/audit.conf"
expect_eq "audit: exit 1 when problems were found" 1 "$RC"
expect_eq "audit: exactly the seeded problems, sorted" "$EXPECTED" "$(printf '%s\n' "$OUT" | squeeze)"
expect_eq "audit: nothing on standard error" "" "$ERR"
if printf '%s\n' "$OUT" | grep -Eq 'staff@|team@|fwd[123]@|retired@|john\.doe@|carol@'; then
    not_ok "audit: nothing on the healthy aliases, groups and chain" "$OUT"
else
    ok "audit: nothing on the healthy aliases, groups and chain"
fi
header=$(printf '%s\n' "$OUT" | head -n 1)
expect_match "audit: header columns separated by two blanks at least" \
    '^PROBLEM  +ALIAS  +TARGET  +DN$' "$header"

# the same run twice gives the same bytes
first=$OUT
run_audit -c "$T/audit.conf"
expect_eq "audit: output is deterministic" "$first" "$OUT"

# --- JSON ----------------------------------------------------------------------
run_audit -c "$T/audit.conf" --json
expect_eq "--json: exit 1" 1 "$RC"
expect_eq "--json: one object per problem" 9 "$(printf '%s\n' "$OUT" | grep -c '^{.*}$')"
host=$(hostname)
if command -v jq >/dev/null 2>&1; then
    fields=$(printf '%s\n' "$OUT" | jq -c 'keys_unsorted' | sort -u | tr '\n' ' ')
    expect_eq "--json: fields problem alias target dn host time (target when there is one)" \
        '["problem","alias","dn","host","time"] ["problem","alias","target","dn","host","time"] ' "$fields"
    rows=$(printf '%s\n' "$OUT" | jq -r '[.problem, .alias, (.target // "-"), .dn] | join(" ")')
    expect_eq "--json: the same problems as the table" "$(printf '%s\n' "$EXPECTED" | tail -n +2)" "$rows"
    expect_eq "--json: host is this host" "$host" "$(printf '%s\n' "$OUT" | jq -r .host | sort -u)"
    times=$(printf '%s\n' "$OUT" | jq -r .time | sort -u)
else
    skip "--json: fields checked with jq" "jq is not installed"
    times=$(printf '%s\n' "$OUT" | sed -n 's/.*"time":"\([^"]*\)".*/\1/p' | sort -u)
fi
expect_match "--json: time in RFC 3339, UTC" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$times"
line=$(printf '%s\n' "$OUT" | grep '"problem":"dangling-target"')
expect_match "--json: a dangling target in full" \
    '^\{"problem":"dangling-target","alias":"sales@example.com","target":"gone@example.com","dn":"cn=sales,ou=aliases,dc=example,dc=com","host":"[^"]+","time":"[^"]+"\}$' "$line"

# --- Graphviz ------------------------------------------------------------------
run_audit -c "$T/audit.conf" --dot
expect_eq "--dot: exit 1" 1 "$RC"
printf '%s\n' "$OUT" >"$T/graph.dot"
expect_eq "--dot: a digraph" "digraph rcptguard {" "$(head -n 1 "$T/graph.dot")"
expect_eq "--dot: closed" "}" "$(tail -n 1 "$T/graph.dot")"
bad=$(sed '1d;$d' "$T/graph.dot" | grep -Ev '^  ((rankdir|node|edge)[ =].*|"[^"]+"( -> "[^"]+")?( \[[^]]*\])?);$' || true)
expect_eq "--dot: every line a node, an edge or a default" "" "$bad"
expect_eq "--dot: braces and quotes balance" "0 0" \
    "$(tr -cd '{}' <"$T/graph.dot" | wc -c | awk '{print $1 % 2}') $(tr -cd '"' <"$T/graph.dot" | wc -c | awk '{print $1 % 2}')"
expect_match "--dot: a healthy edge" '"staff@example.com" -> "john.doe@example.com";' "$OUT"
expect_match "--dot: a member edge names the member" '"team@example.com" -> "bob@example.com";' "$OUT"
expect_match "--dot: the dangling edge red, dashed, labelled" \
    '"sales@example.com" -> "gone@example.com" \[color=red, style=dashed, fontcolor=red, label="dangling-target"\];' "$OUT"
expect_match "--dot: the loop edges labelled" \
    '"loop-a@example.com" -> "loop-b@example.com" \[color=red, style=dashed, fontcolor=red, label="loop"\];' "$OUT"
expect_eq "--dot: red edges: dangling, disabled, self, two of the loop" 5 \
    "$(grep -c -- '-> .*color=red' "$T/graph.dot")"
if command -v dot >/dev/null 2>&1; then
    expect_exit "--dot: dot -Tsvg reads it" 0 dot -Tsvg -o "$T/graph.svg" "$T/graph.dot"
else
    skip "--dot: dot -Tsvg reads it" "graphviz is not installed"
fi

# --- recent alerts -------------------------------------------------------------
run_audit -c "$T/audit.conf" --alerts
expect_eq "--alerts: no AlertLog yet: nothing, exit 0" "0:" "$RC:$OUT"
for i in $(seq 1 150); do
    printf '{"time":"2026-11-28T01:%02d:%02dZ","alias":"staff@example.com","problem":"dangling-target","target":"gone%d@example.com","dn":"cn=staff,ou=aliases,dc=example,dc=com","host":"mx1"}\n' \
        $((i / 60)) $((i % 60)) "$i"
done >"$T/alerts.log"
run_audit -c "$T/audit.conf" --alerts
expect_eq "--alerts: exit 0" 0 "$RC"
expect_eq "--alerts: the last 100 lines of AlertLog, as written" "$(tail -n 100 "$T/alerts.log")" "$OUT"
printf '{"time":"2026-11-28T02:00:00Z","alias":"a@example.com","problem":"loop","target":"a@example.com","dn":"cn=a","host":"mx2"}' >>"$T/alerts.log"
run_audit -c "$T/audit.conf" --alerts
expect_eq "--alerts: a last line without newline counts" "$(tail -n 100 "$T/alerts.log")" "$OUT"

if start_redis; then
    write_conf "$T/redis.conf" "AlertLog $T/none.log" \
        "LDAPAliasAttributes rfc822MailMember"
    for i in 1 2 3; do
        redis_cli XADD rcptguard:alerts '*' time "2026-11-28T01:02:0${i}Z" alias staff@example.com \
            problem dangling-target target "gone$i@example.com" dn "cn=staff,ou=aliases,$B" host mx1 >/dev/null
    done
    run_audit -c "$T/redis.conf" --alerts
    expect_eq "--alerts: from the Redis stream, oldest first" \
        "$(for i in 1 2 3; do printf '{"time":"2026-11-28T01:02:0%dZ","alias":"staff@example.com","problem":"dangling-target","target":"gone%d@example.com","dn":"cn=staff,ou=aliases,%s","host":"mx1"}\n' $i $i "$B"; done)" \
        "$OUT"
    expect_eq "--alerts: Redis exit 0" 0 "$RC"
    stop_redis
    run_audit -c "$T/redis.conf" --alerts
    expect_eq "--alerts: Redis down: exit 75" 75 "$RC"
else
    not_ok "redis-server starts"
fi

# --- usage and configuration ----------------------------------------------------
run_audit -c "$T/audit.conf" --json --dot
expect_eq "usage: two output forms: exit 64" 64 "$RC"
run_audit -c "$T/missing.conf"
expect_eq "a missing configuration: exit 78" 78 "$RC"

# --- fixed: clean ---------------------------------------------------------------
ldap_admin ldapmodify >"$T/fix.log" 2>&1 <<LDIF
dn: cn=sales,ou=aliases,$B
changetype: modify
delete: rfc822MailMember
rfc822MailMember: gone@example.com

dn: cn=support,ou=aliases,$B
changetype: modify
delete: rfc822MailMember
rfc822MailMember: leaver@example.com

dn: uid=frank.old,ou=people,$B
changetype: delete

dn: cn=loop-b,ou=aliases,$B
changetype: modify
replace: rfc822MailMember
rfc822MailMember: bob@example.com

dn: cn=empty,ou=aliases,$B
changetype: modify
add: rfc822MailMember
rfc822MailMember: carol@example.com

dn: cn=helpdesk,ou=aliases,$B
changetype: modify
delete: rfc822MailMember
rfc822MailMember: helpdesk@example.com

dn: uid=deep4,ou=people,$B
changetype: modify
replace: mailRoutingAddress
mailRoutingAddress: bob@example.com

dn: cn=everyone,ou=aliases,$B
changetype: modify
delete: rfc822MailMember
rfc822MailMember: erin@example.com
LDIF
run_audit -c "$T/audit.conf"
expect_eq "fixed directory: exit 0, the header only" "0:PROBLEM ALIAS TARGET DN" "$RC:$(printf '%s\n' "$OUT" | squeeze)"
run_audit -c "$T/audit.conf" --json
expect_eq "fixed directory: --json prints nothing" "0:" "$RC:$OUT"

# --- cannot read: 75, never clean -------------------------------------------------
stop_slapd
run_audit -c "$T/audit.conf"
expect_eq "slapd stopped: exit 75" 75 "$RC"
expect_eq "slapd stopped: no table" "" "$OUT"
expect_match "slapd stopped: the reason on standard error" 'cannot read the whole directory' "$ERR"

# more than slapd's 500-entry size limit: read whole with size.prtotal=unlimited
{
    cat "$TOP/tests/data/aliases.ldif"
    for i in $(seq 1 600); do
        printf '\ndn: uid=user%d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: user%d\ncn: User %d\nsn: %d\nmail: user%d@example.com\n' \
            "$i" "$B" "$i" "$i" "$i" "$i"
    done
} >"$T/big.ldif"
if start_slapd "$T/big.ldif"; then
    run_audit -c "$T/audit.conf"
    expect_eq "632 entries, reader with size.prtotal=unlimited: exactly the seeded problems" \
        "1:$EXPECTED" "$RC:$(printf '%s\n' "$OUT" | squeeze)"
    # without the reader's olcLimits, slapd stops every search at 500 entries
    stop_slapd
    cat >"$T/nolimits.ldif" <<LDIF
dn: olcDatabase={1}mdb,cn=config
changetype: modify
delete: olcLimits
LDIF
    if slapmodify -n 0 -F "$SLAPD_DIR/slapd.d" -l "$T/nolimits.ldif" >"$T/slapmodify.log" 2>&1 &&
        restart_slapd; then
        run_audit -c "$T/audit.conf"
        expect_eq "size limit: exit 75" 75 "$RC"
        expect_eq "size limit: no table, never a clean report" "" "$OUT"
        expect_match "size limit: the fix is named" 'size\.prtotal=unlimited' "$ERR"
        run_audit -c "$T/audit.conf" --json
        expect_eq "size limit: --json exit 75, nothing printed" "75:" "$RC:$OUT"
    else
        not_ok "slapd without olcLimits" "$(cat "$T/slapmodify.log")"
    fi
else
    not_ok "slapd with 632 entries starts"
fi

tap_done
