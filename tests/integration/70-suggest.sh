#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/70-suggest.sh - "Did you mean": the suggestion index.
#
# A directory of more than 500 users, generated at run time (1200 first.last
# users, john.doe, and one user stored after all the others), loaded into a
# real slapd.  rcptguard binds as cn=reader, whose paged searches slapd does
# not cap (size.prtotal=unlimited, see tests/lib/servers.sh), and as
# cn=lister, a second bind DN without that grant.  Through a private Postfix
# and swaks the reply lines are compared exactly:
#   - trusted client: the two-line reply; untrusted: one line;
#   - Suggest off: never a second line; Suggest all: untrusted clients too;
#   - a user stored after the 500th entry is suggested (the load is paged);
#   - a user added to slapd is suggested after a refresh (SuggestRefresh 10),
#     a deleted one no longer is;
#   - a bind DN without the grant: the load fails, is logged naming the
#     size limit, and rejects go out with one line (no partial index).
# rcptguard-query checks separators, swapped name parts and the same local
# part in another of Domains.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "suggest: end-to-end checks" postfix swaks ldapsearch ldapadd

NUSERS=1200
LISTER_DN=cn=lister,$RG_BASE_DN
LISTER_PW=listerpw

# --- the directory -------------------------------------------------------------

# gen_ldif: base entries, the reader, a second bind DN without the size
# grant, john.doe first, 1200 generated users, and zebulon.quartermaine
# last of all (far beyond the 500th entry).  No generated name is within
# edit distance 2 of john.doe, new.person or zebulon.quartermaine.
gen_ldif() {
    cat <<EOF
dn: $RG_BASE_DN
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: $RG_READER_DN
objectClass: simpleSecurityObject
objectClass: organizationalRole
cn: reader
description: read-only bind DN for rcptguard (paged searches not capped)
userPassword: $RG_READER_PW

dn: $LISTER_DN
objectClass: simpleSecurityObject
objectClass: organizationalRole
cn: lister
description: a bind DN with slapd's default size limit only
userPassword: $LISTER_PW

dn: ou=people,$RG_BASE_DN
objectClass: organizationalUnit
ou: people

dn: uid=john.doe,ou=people,$RG_BASE_DN
objectClass: inetOrgPerson
uid: john.doe
cn: John Doe
sn: Doe
mail: john.doe@example.com

EOF
    local -a first=(adelaide benedict cordelia dorian evangeline florian gwendolyn horatio
        isadora jasper katarina leopold magdalena nathaniel octavia percival quentin rosalind
        sebastian theodora ulysses valentina wilhelmina xavier yolanda alistair beatrix
        cornelius desdemona ezekiel fredericka gideon henrietta ignatius josephine
        lysander marguerite montgomery philippa reginald)
    local -a last=(abernathy blackwood castellano delacroix eastwood fairbanks gallagher
        hawthorne ingersoll jablonski kowalczyk lindqvist mcallister northcott oyelaran
        pemberton quinteros rutherford stanislaus thornbury underhill vanderbilt
        whitfield yamamoto zimmerman ashworth brightman cartwright dunleavy elsworth)
    local n=0 f l
    for f in "${first[@]}"; do
        for l in "${last[@]}"; do
            ((n < NUSERS)) || break 2
            printf 'dn: uid=%s.%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s.%s\ncn: %s %s\nsn: %s\nmail: %s.%s@example.com\n\n' \
                "$f" "$l" "$RG_BASE_DN" "$f" "$l" "$f" "$l" "$l" "$f" "$l"
            n=$((n + 1))
        done
    done
    cat <<EOF
dn: uid=zebulon.quartermaine,ou=people,$RG_BASE_DN
objectClass: inetOrgPerson
uid: zebulon.quartermaine
cn: Zebulon Quartermaine
sn: Quartermaine
mail: zebulon.quartermaine@example.com
EOF
}
gen_ldif >"$T/suggest.ldif"
TOTAL=$((NUSERS + 2))   # addresses in the index: the users, john.doe, zebulon
got=$(grep -c '^mail: ' "$T/suggest.ldif")
expect_eq "suggest: the generated directory holds $TOTAL addresses" "$TOTAL" "$got"

start_slapd "$T/suggest.ldif" || { not_ok "suggest: slapd starts"; tap_done; }

# The grant the test relies on: cn=reader has size.prtotal=unlimited in
# slapd's configuration, cn=lister has not.
# (slapd.d folds long lines: a line that starts with a blank continues the last)
limits=$(cat "$SLAPD_DIR"/slapd.d/cn=config/olcDatabase=*mdb.ldif 2>/dev/null |
    sed -e ':a' -e 'N' -e '$!ba' -e 's/\n //g' | grep '^olcLimits:')
expect_match "suggest: slapd grants cn=reader size.prtotal=unlimited (olcLimits)" \
    "dn\.exact=\"$RG_READER_DN\" .*size\.prtotal=unlimited" "$limits"
if [[ $limits == *"$LISTER_DN"* ]]; then
    not_ok "suggest: cn=lister has no olcLimits of its own" "$limits"
else
    ok "suggest: cn=lister has no olcLimits of its own"
fi

# count_entries DN PW [ldapsearch options]: entries with a mail attribute
# that slapd hands out, and ldapsearch's exit status.
count_entries() {
    local dn=$1 pw=$2 out rc
    shift 2
    out=$(ldapsearch -x -LLL -o ldif-wrap=no -H "$SLAPD_URI" -D "$dn" -w "$pw" \
        -b "$RG_BASE_DN" "$@" '(mail=*)' mail 2>/dev/null)
    rc=$?
    printf '%s rc=%s\n' "$(grep -c '^mail: ' <<<"$out")" "$rc"
}
expect_eq "suggest: slapd caps a plain search by cn=reader at 500 (sizelimit exceeded)" \
    "500 rc=4" "$(count_entries "$RG_READER_DN" "$RG_READER_PW")"
expect_eq "suggest: a paged search by cn=reader gets all $TOTAL entries" \
    "$TOTAL rc=0" "$(count_entries "$RG_READER_DN" "$RG_READER_PW" -E pr=200/noprompt)"
got=$(count_entries "$LISTER_DN" "$LISTER_PW" -E pr=200/noprompt)
expect_match "suggest: a paged search by cn=lister is cut short by the size limit" \
    '^[0-9]+ rc=4$' "$got"
[[ ${got%% *} -lt $TOTAL ]] || not_ok "suggest: cn=lister got every entry" "$got"

# --- rcptguard and Postfix ----------------------------------------------------

COMMON=("TrustedNetworks 127.0.0.1/32" "SuggestRefresh 10" "MaxUnknownRecipients 0")
two_lines() {
    printf '550-5.1.1 <%s>: Recipient address rejected: User unknown\n550 5.1.1 Did you mean <%s>?' "$1" "$2"
}
one_line() {
    printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"
}
UNTRUSTED=(--local-interface 127.0.0.2)

write_conf "$T/trusted.conf" "${COMMON[@]}" "Suggest trusted"
mark=$(rg_log_lines)
start_rcptguard "$T/trusted.conf" || { not_ok "suggest: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "suggest: postfix starts"; tap_done; }

if line=$(rg_log_wait 'suggestion index loaded' 30 "$mark"); then
    ok "suggest: rcptguard logs that the suggestion index is loaded"
    expect_match "suggest: the index holds all $TOTAL addresses (paged load past 500)" \
        "suggestion index loaded: $TOTAL addresses" "$line"
else
    not_ok "suggest: rcptguard logs that the suggestion index is loaded" \
        "$(tail -n 5 "$RCPTGUARD_LOG")"
fi

a=jhon.doe@example.com
expect_eq "suggest: trusted client gets the two-line reply for $a" \
    "$(two_lines $a john.doe@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "suggest: client outside TrustedNetworks (127.0.0.2) gets one line for $a" \
    "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a "${UNTRUSTED[@]}")"
a=zebulon.quartermiane@example.com
expect_eq "suggest: a user stored after the 500th entry is suggested ($a)" \
    "$(two_lines $a zebulon.quartermaine@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=theodora.pembreton@example.com
expect_eq "suggest: a generated user is suggested ($a)" \
    "$(two_lines $a theodora.pemberton@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=qqqqzzzz.xxyy@example.com
expect_eq "suggest: nothing close, no second line ($a)" \
    "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=john.doe@example.com
expect_eq "suggest: the user itself is accepted" "250 2.1.5 Ok" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
line=$(grep -F 'rcpt=<jhon.doe@example.com> verdict=unknown' "$RCPTGUARD_LOG" | grep 'client=127.0.0.1 ' | head -n 1)
expect_match "suggest: the decision line of a trusted reject names the suggestion" \
    'reply="550 5\.1\.1" suggestion=<john\.doe@example\.com>' "$line"
line=$(grep -F 'rcpt=<jhon.doe@example.com> verdict=unknown' "$RCPTGUARD_LOG" | grep 'client=127.0.0.2 ' | head -n 1)
if [[ -n $line && $line != *suggestion=* ]]; then
    ok "suggest: the decision line of an untrusted reject has no suggestion"
else
    not_ok "suggest: the decision line of an untrusted reject has no suggestion" "line: '$line'"
fi

# --- rcptguard-query: separators, swapped parts, other domain -----------------

q() { "$QUERY" -c "$T/trusted.conf" "$@" 2>>"$T/query.err"; }
for a in johndoe john_doe john-doe doe.john jhon.doe; do
    expect_eq "suggest: rcptguard-query $a@example.com finds john.doe" \
        "$a@example.com unknown ldap did-you-mean=<john.doe@example.com>" "$(q $a@example.com)"
done
for a in jhon.doe+news@example.com JHON.DOE@EXAMPLE.COM; do
    expect_eq "suggest: rcptguard-query $a finds john.doe" \
        "$a unknown ldap did-you-mean=<john.doe@example.com>" "$(q $a)"
done
a=john.doe@example.org
expect_eq "suggest: rcptguard-query $a (not in the directory) finds the same local part in example.com" \
    "$a unknown ldap did-you-mean=<john.doe@example.com>" "$(q $a)"
a=quartermaine.zebulon@example.com
expect_eq "suggest: rcptguard-query $a (swapped, past the 500th entry)" \
    "$a unknown ldap did-you-mean=<zebulon.quartermaine@example.com>" "$(q $a)"
got=$(q --json jhon.doe@example.com)
expect_eq "suggest: rcptguard-query --json has the suggestion field" \
    '{"address":"jhon.doe@example.com","verdict":"unknown","source":"ldap","suggestion":"john.doe@example.com","reply":["550 5.1.1 <jhon.doe@example.com>: Recipient address rejected: User unknown"]}' \
    "$got"
a=anyone@example.net
expect_eq "suggest: rcptguard-query, a domain not ours gets no suggestion" \
    "$a not-ours none" "$(q $a)"

# --- a user added to slapd shows up after a refresh, a deleted one goes -------

a=nwe.person@example.com
expect_eq "suggest: before new.person exists, $a gets one line" \
    "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
gone=adelaide.abernahty@example.com
expect_eq "suggest: before adelaide.abernathy is deleted, $gone gets the suggestion" \
    "$(two_lines $gone adelaide.abernathy@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $gone)"
ldap_admin ldapdelete "uid=adelaide.abernathy,ou=people,$RG_BASE_DN" 2>"$T/ldapdelete.err" ||
    not_ok "suggest: ldapdelete of adelaide.abernathy" "$(cat "$T/ldapdelete.err")"
# added after the delete: a load that has new.person has the delete too
printf 'dn: uid=new.person,ou=people,%s\nobjectClass: inetOrgPerson\nuid: new.person\ncn: New Person\nsn: Person\nmail: new.person@example.com\n' \
    "$RG_BASE_DN" | ldap_admin ldapadd >/dev/null 2>"$T/ldapadd.err" ||
    not_ok "suggest: ldapadd of new.person" "$(cat "$T/ldapadd.err")"
want=$(two_lines $a new.person@example.com)
start=$SECONDS
got=
while ((SECONDS - start < 25)); do
    got=$(swaks_rcpt "$POSTFIX_PORT" $a)
    [[ $got == "$want" ]] && break
    sleep 1
done
expect_eq "suggest: new.person added to slapd is suggested after a refresh (SuggestRefresh 10, $((SECONDS - start)) s)" \
    "$want" "$got"
expect_eq "suggest: adelaide.abernathy deleted from slapd is no longer suggested after that refresh" \
    "$(one_line $gone)" "$(swaks_rcpt "$POSTFIX_PORT" $gone)"
line=$(grep 'suggestion index loaded' "$RCPTGUARD_LOG" | tail -n 1)
expect_match "suggest: the refreshed index holds $TOTAL addresses (one added, one deleted)" \
    "suggestion index loaded: $TOTAL addresses" "$line"

# --- Suggest off / Suggest all --------------------------------------------------

stop_rcptguard
write_conf "$T/off.conf" "${COMMON[@]}" "Suggest off"
mark=$(rg_log_lines)
start_rcptguard "$T/off.conf" || { not_ok "suggest: rcptguard starts with Suggest off"; tap_done; }
sleep 2   # time enough for a load, if one (wrongly) happened
a=jhon.doe@example.com
expect_eq "suggest: Suggest off, trusted client gets one line" \
    "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "suggest: Suggest off, untrusted client gets one line" \
    "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a "${UNTRUSTED[@]}")"
a=zebulon.quartermiane@example.com
expect_eq "suggest: Suggest off, trusted client, another typo, one line" \
    "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "suggest: Suggest off, rcptguard-query still suggests (the admin runs it)" \
    "jhon.doe@example.com unknown ldap did-you-mean=<john.doe@example.com>" \
    "$("$QUERY" -c "$T/off.conf" jhon.doe@example.com 2>>"$T/query.err")"

stop_rcptguard
write_conf "$T/all.conf" "${COMMON[@]}" "Suggest all"
mark=$(rg_log_lines)
start_rcptguard "$T/all.conf" || { not_ok "suggest: rcptguard starts with Suggest all"; tap_done; }
rg_log_wait 'suggestion index loaded' 30 "$mark" >/dev/null ||
    not_ok "suggest: Suggest all, index loaded" "$(tail -n 5 "$RCPTGUARD_LOG")"
a=jhon.doe@example.com
expect_eq "suggest: Suggest all, untrusted client (127.0.0.2) gets the two-line reply" \
    "$(two_lines $a john.doe@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $a "${UNTRUSTED[@]}")"
expect_eq "suggest: Suggest all, trusted client gets the two-line reply" \
    "$(two_lines $a john.doe@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"

# --- a bind DN without size.prtotal: no index, no partial index ----------------

stop_rcptguard
printf '%s\n' "$LISTER_PW" >"$T/lister.pw"
chmod 600 "$T/lister.pw"
write_conf "$T/lister.conf" "${COMMON[@]}" "Suggest all"
sed -i -e "s|^LDAPBindDN .*|LDAPBindDN $LISTER_DN|" \
    -e "s|^LDAPBindPasswordFile .*|LDAPBindPasswordFile $T/lister.pw|" "$T/lister.conf"
mark=$(rg_log_lines)
start_rcptguard "$T/lister.conf" || { not_ok "suggest: rcptguard starts bound as cn=lister"; tap_done; }
if line=$(rg_log_wait 'suggestion index (not loaded|loaded)' 30 "$mark"); then
    expect_match "suggest: without size.prtotal the index is not loaded, and the log says why" \
        'suggestion index not loaded: .*size limit' "$line"
    expect_match "suggest: the log line names the fix (size.prtotal)" 'size\.prtotal=unlimited' "$line"
else
    not_ok "suggest: without size.prtotal the index is not loaded, and the log says why" \
        "no line about the index in 30 s" "$(tail -n 5 "$RCPTGUARD_LOG")"
fi
# john.doe is the first entry and zebulon the last: a partial index would
# still suggest john.doe.
for a in jhon.doe@example.com zebulon.quartermiane@example.com; do
    expect_eq "suggest: without size.prtotal, $a gets one line (no partial index)" \
        "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
done
a=john.doe@example.com
expect_eq "suggest: without size.prtotal, lookups still work (john.doe accepted)" \
    "250 2.1.5 Ok" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
if kill -0 "${RCPTGUARD_PID:-0}" 2>/dev/null; then
    ok "suggest: rcptguard still running after the failed load"
else
    not_ok "suggest: rcptguard still running after the failed load"
fi

tap_done
