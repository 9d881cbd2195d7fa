#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/28-schema-presets.sh - DirectorySchema presets against
# directories in their schema's shape.
#
# For each preset tried here, slapd holds a directory in that schema's shape
# (tests/data/NAME.ldif; its schema, written from the published
# definitions, in tests/data/NAME-schema.ldif) and rcptguard's
# configuration says nothing about the schema but "DirectorySchema NAME"; a
# table of addresses with the answer the product's own Postfix maps give
# (each LDIF says, entry by entry, what they answer and why) is compared,
# exactly, with rcptguard-query's verdicts, live and from the directory
# mirror:
#   iredmail       shadowAddress; accountStatus, domainStatus and the
#                  services mail and deliver; forwarding only with
#                  enabledService=forward but always on a mailAlias, a copy
#                  kept; an alias loop; lists by memberOfGroup (an outside
#                  member too), an mlmmj list; the catch-all of example.org;
#   inetorgperson  a small directory written here: mail is the address, any
#                  entry that has it is a mailbox, nothing else counts;
#   ad             "SMTP:"/"smtp:" proxyAddresses, userAccountControl bit 2
#                  through AD's bit rule (slapd has it: integerBitAndMatch),
#                  groups in groups through member;
#   postfix-book   mailAlias, mailEnabled, groups named on the member
#                  (mailGroupMember), PostfixBookMailForward entries;
#   kolab          alias, forwarding entries (389-DS's mailRecipient) and
#                  the forwards a Kolab user's own entry does not use,
#                  groups by uniqueMember, a dynamic group, a shared folder;
#   univention     alternative addresses, forwards living and dead, a copy
#                  kept, posixGroups by uniqueMember, mailing lists, a
#                  shared folder, a deactivated user who still gets mail.
# rcptguard-audit reports exactly the problems each directory plants, and
# for iredmail and ad every address of the table gets, through a private
# Postfix, the reply its answer calls for (compared exactly).
# And "rcptguard -n -v" prints the effective values, those of the preset
# marked, and a key the file sets wins over the preset, before or after the
# DirectorySchema line.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "schema-presets: directory checks" jq

COMMON=("CacheTTL 0" "NegativeCacheTTL 0" "StaleTTL 0" "Suggest off" "MaxUnknownRecipients 0")

# full_address WORD: WORD when it holds an "@", else WORD@example.com
full_address() {
    case $1 in
    *@*) echo "$1" ;;
    *) echo "$1@example.com" ;;
    esac
}

# check_table NAME CONF TABLE: rcptguard-query's "ADDRESS VERDICT" for every
# address of TABLE ("LOCAL VERDICT" lines, @example.com added; or "ADDRESS
# VERDICT") is TABLE's
check_table() {
    local name=$1 conf=$2 table=$3 want addrs got
    want=$(while read -r l v; do echo "$(full_address "$l") $v"; done <<<"$table")
    addrs=$(while read -r l v; do full_address "$l"; done <<<"$table")
    got=$("$QUERY" -c "$conf" --json <<<"$addrs" 2>>"$T/query.err" | jq -r '"\(.address) \(.verdict)"')
    expect_eq "schema-presets: $name: rcptguard-query answers as the schema's own stack" \
        "$want" "$got"
}

# check_audit NAME CONF WANT: rcptguard-audit reports exactly WANT
# ("PROBLEM|ALIAS|TARGET" lines, sorted)
check_audit() {
    local got
    got=$("$AUDIT" -c "$2" --json 2>>"$T/audit.err" | jq -r '"\(.problem)|\(.alias)|\(.target // "-")"' | sort)
    expect_eq "schema-presets: $1: rcptguard-audit reports exactly the planted problems" "$3" "$got"
}

# --- iredmail ----------------------------------------------------------------

IREDMAIL="ada ok
ada.lovelace ok
old unknown
nodeliver unknown
domoff unknown
alan.kay ok
grace ok
stale alias-broken
niels.bohr ok
info ok
deadalias alias-broken
offalias unknown
ops alias-loop
team ok
alumni unknown
retired unknown
outside ok
announce ok
carol unknown
skipper@example.org ok
whoever@example.org ok
nobody unknown"

RG_SLAPD_SCHEMA=$TOP/tests/data/iredmail-schema.ldif start_slapd "$TOP/tests/data/iredmail.ldif" ||
    { not_ok "schema-presets: slapd starts with the iRedMail directory"; tap_done; }
write_conf "$T/iredmail.conf" "DirectorySchema iredmail" "${COMMON[@]}"
RG_TEST_MIRROR=yes write_conf "$T/iredmail-mirror.conf" "DirectorySchema iredmail" "${COMMON[@]}"
check_table iredmail "$T/iredmail.conf" "$IREDMAIL"
check_table "iredmail, from the mirror" "$T/iredmail-mirror.conf" "$IREDMAIL"
got=$("$QUERY" -c "$T/iredmail-mirror.conf" --json team@example.com outside@example.com \
    announce@example.com whoever@example.org 2>>"$T/query.err" | jq -r .source | sort -u)
expect_eq "schema-presets: iredmail: the mirror answers for lists by their members and for the catch-all" \
    "mirror" "$got"
got=$("$QUERY" -c "$T/iredmail.conf" whoever@example.org skipper@example.org 2>>"$T/query.err")
expect_eq "schema-presets: iredmail: the catch-all takes what its domain does not know, nothing else" \
    "whoever@example.org ok ldap
  -> @example.org catch-all
    -> ada@example.com ok
skipper@example.org ok ldap" "$got"
check_audit iredmail "$T/iredmail.conf" "dangling-target|deadalias@example.com|gone@example.com
dangling-target|niels.bohr@example.com|gone@example.com
dangling-target|stale@example.com|departed@example.com
loop|ops2@example.com|ops2@example.com
loop|ops@example.com|ops@example.com"
got=$("$QUERY" -c "$T/iredmail.conf" niels.bohr@example.com 2>>"$T/query.err")
expect_eq "schema-presets: iredmail: a forward to oneself keeps a copy" \
    "niels.bohr@example.com ok ldap
  -> niels.bohr@example.com local
  -> gone@example.com unknown dangling-target" "$got"

# the same directory without the preset: what the preset changes
write_conf "$T/plain.conf" "${COMMON[@]}"
got=$("$QUERY" -c "$T/plain.conf" --json ada.lovelace@example.com carol@example.com \
    old@example.com 2>>"$T/query.err" | jq -r '"\(.address) \(.verdict)"')
expect_eq "schema-presets: iredmail: without the preset, shadowAddress, class and status do not count" \
    "ada.lovelace@example.com unknown
carol@example.com ok
old@example.com ok" "$got"

# --- rcptguard -n -v ------------------------------------------------------------

PRESET_LINES="DirectorySchema iredmail
LDAPFilter (&(|(objectClass=mailUser)(objectClass=mailList)(objectClass=mailAlias)(objectClass=mailExternalUser))(|(mail=%s)(shadowAddress=%s)))  # from DirectorySchema iredmail
LDAPAddressAttributes mail shadowAddress  # from DirectorySchema iredmail
LDAPAliasAttributes mailForwardingAddress  # from DirectorySchema iredmail
LDAPMemberAttributes  # from DirectorySchema iredmail
LDAPForwardFilter (|(enabledService=forward)(objectClass=mailAlias)(mail=@*)(shadowAddress=@*))  # from DirectorySchema iredmail
LDAPMemberOfAttributes memberOfGroup  # from DirectorySchema iredmail
LDAPAliasClasses mailAlias  # from DirectorySchema iredmail
LDAPDisabledFilter (|(!(accountStatus=active))(domainStatus=disabled)(&(!(mail=@*))(!(shadowAddress=@*))(|(!(enabledService=mail))(!(enabledService=deliver))))(&(objectClass=mailList)(!(enabledService=mlmmj))))  # from DirectorySchema iredmail
LDAPCatchAllFilter (&(objectClass=mailUser)(|(mail=@%d)(shadowAddress=@%d)))  # from DirectorySchema iredmail"
KEYS='^(DirectorySchema|LDAPFilter|LDAPAddressAttributes|LDAPAliasAttributes|LDAPMemberAttributes|LDAPForwardFilter|LDAPMemberOfAttributes|LDAPAliasClasses|LDAPDisabledFilter|LDAPCatchAllFilter)( |$)'
out=$("$RCPTGUARD" -n -v -c "$T/iredmail.conf" 2>"$T/v.err")
rc=$?
expect_eq "schema-presets: rcptguard -n -v exits 0" "0" "$rc"
expect_eq "schema-presets: rcptguard -n -v marks the values of the preset" \
    "$PRESET_LINES" "$(grep -E "$KEYS" <<<"$out")"
expect_eq "schema-presets: rcptguard -n -v prints every other key too, then the verdict" \
    "MaxUnknownRecipients 0
LDAPBase dc=example,dc=com
Suggest off
$T/iredmail.conf: configuration OK" \
    "$(grep -E '^(LDAPBase|MaxUnknownRecipients|Suggest) |^/' <<<"$out")"
expect_eq "schema-presets: rcptguard -n -v prints no password" "" \
    "$(grep -F "$RG_READER_PW" <<<"$out")"
# its output is a configuration that answers the same
sed '$d' <<<"$out" >"$T/printed.conf"
check_table "iredmail, as printed by -v" "$T/printed.conf" "$IREDMAIL"

# a key of the file wins, before or after the DirectorySchema line
write_conf "$T/before.conf" "LDAPAliasClasses mailList" "DirectorySchema iredmail" \
    "LDAPForwardFilter (enabledService=forward)" "${COMMON[@]}"
expect_eq "schema-presets: keys set in the file win and are not marked" \
    "LDAPForwardFilter (enabledService=forward)
LDAPAliasClasses mailList" \
    "$("$RCPTGUARD" -n -v -c "$T/before.conf" 2>>"$T/v.err" | grep -E '^(LDAPForwardFilter|LDAPAliasClasses) ')"
# so info@ (a mailAlias) is no alias class and its forwards do not count:
# a plain mailbox
got=$("$QUERY" -c "$T/before.conf" info@example.com 2>>"$T/query.err")
expect_eq "schema-presets: and they change the answer" "info@example.com ok ldap" "$got"
expect_eq "schema-presets: rcptguard -v without -n is a usage error" "64" \
    "$("$RCPTGUARD" -v -c "$T/iredmail.conf" >/dev/null 2>&1; echo $?)"
stop_slapd

# --- inetorgperson ------------------------------------------------------------------

cat >"$T/inetorgperson.ldif" <<'LDIF'
dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: cn=reader,dc=example,dc=com
objectClass: simpleSecurityObject
objectClass: organizationalRole
cn: reader
userPassword: readerpw

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: uid=john,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: john
cn: john
sn: john
mail: john@example.com

dn: uid=jdoe,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: jdoe
cn: jdoe
sn: jdoe
mail: jdoe@example.com
mailLocalAddress: john.doe@example.com

dn: cn=staff,ou=people,dc=example,dc=com
objectClass: groupOfNames
objectClass: extensibleObject
cn: staff
mail: staff@example.com
member: uid=gone,ou=people,dc=example,dc=com
LDIF
INETORGPERSON="john ok
jdoe ok
john.doe unknown
staff ok
nobody unknown"

start_slapd "$T/inetorgperson.ldif" ||
    { not_ok "schema-presets: slapd starts with the inetOrgPerson directory"; tap_done; }
write_conf "$T/inetorgperson.conf" "DirectorySchema inetorgperson" "${COMMON[@]}"
check_table inetorgperson "$T/inetorgperson.conf" "$INETORGPERSON"
# without the preset, a groupOfNames is an alias class: one with a dead
# member and no targets is reported, not a mailbox
write_conf "$T/plain2.conf" "LDAPMemberAttributes member" "${COMMON[@]}"
got=$("$QUERY" -c "$T/plain2.conf" --json staff@example.com 2>>"$T/query.err" | jq -r .verdict)
expect_eq "schema-presets: inetorgperson: the same group with member handling is broken" \
    "alias-broken" "$got"
expect_eq "schema-presets: rcptguard-query wrote no errors" "" "$(cat "$T/query.err")"

# --- ad ---------------------------------------------------------------------------

AD="ada ok
ada.lovelace ok
bob ok
bobby ok
old unknown
locked unknown
norm ok
x400only unknown
partner ok
team ok
inner ok
outer alias-broken
inner2 alias-broken
ghosts alias-broken
nobody unknown"

stop_slapd
RG_SLAPD_SCHEMA=$TOP/tests/data/ad-schema.ldif start_slapd "$TOP/tests/data/ad.ldif" ||
    { not_ok "schema-presets: slapd starts with the Active Directory directory"; tap_done; }
write_conf "$T/ad.conf" "DirectorySchema ad" "${COMMON[@]}"
RG_TEST_MIRROR=yes write_conf "$T/ad-mirror.conf" "DirectorySchema ad" "${COMMON[@]}"
check_table ad "$T/ad.conf" "$AD"
check_table "ad, from the mirror" "$T/ad-mirror.conf" "$AD"
check_audit ad "$T/ad.conf" "dangling-target|ghosts@example.com|cn=gone,cn=Users,dc=example,dc=com
disabled-target|inner2@example.com|old@example.com"
got=$("$QUERY" -c "$T/ad-mirror.conf" --json ada.lovelace@example.com bobby@example.com \
    norm@example.com team@example.com 2>>"$T/query.err" | jq -r .source | sort -u)
expect_eq "schema-presets: ad: the mirror finds smtp: proxy addresses and evaluates bit 2 itself" \
    "mirror" "$got"
# the proxyAddresses values are the entries' own addresses, "smtp:" stripped:
# a typo of one held only there is offered it
got=$("$QUERY" -c "$T/ad.conf" --json ada.lovelcae@example.com bobbby@example.com \
    2>>"$T/query.err" | jq -r '"\(.verdict) \(.suggestion // "-")"')
expect_eq "schema-presets: ad: addresses held only in proxyAddresses are suggested" \
    "unknown ada.lovelace@example.com
unknown bobby@example.com" "$got"
got=$("$QUERY" -c "$T/ad.conf" team@example.com outer@example.com 2>>"$T/query.err")
expect_eq "schema-presets: ad: groups in groups are followed through member" \
    "team@example.com ok ldap
  -> ada@example.com ok
  -> inner@example.com alias
    -> bob@example.com ok
outer@example.com alias-broken ldap
  -> inner2@example.com alias
    -> old@example.com disabled disabled-target" "$got"
expect_eq "schema-presets: rcptguard-query wrote no errors (ad)" "" "$(cat "$T/query.err")"

# --- postfix-book, kolab, univention -------------------------------------------------

# the table of each: every shape its LDIF plants (read its header)
declare -A TABLE
TABLE[postfix-book]="ada ok
ada.lovelace ok
grace ok
old unknown
unset unknown
fwd ok
oldfwd unknown
shared ok
team ok
retired unknown
carol unknown
nobody unknown"
TABLE[kolab]="ada ok
ada.lovelace ok
keeper ok
fwd ok
deadfwd alias-broken
team ok
ghosts alias-broken
dyn ok
shared ok
carol unknown
nobody unknown"
TABLE[univention]="ada ok
ada.lovelace ok
former ok
fwd ok
deadfwd alias-broken
copy ok
team ok
ghosts alias-broken
list ok
deadlist alias-broken
shared ok
carol unknown
nobody unknown"

declare -A PLANTED
PLANTED[kolab]="dangling-target|deadfwd@example.com|gone@example.com
dangling-target|ghosts@example.com|uid=gone,ou=people,dc=example,dc=com"
# postfix-book has no alias attribute or class; its groups are named by
# their members: what the audit has to say is the address two entries hold
PLANTED[postfix-book]="duplicate-address|shared@example.com|-"
PLANTED[univention]="dangling-target|copy@example.com|gone@example.com
dangling-target|deadfwd@example.com|gone@example.com
dangling-target|deadlist@example.com|gone@example.com
dangling-target|ghosts@example.com|uid=gone,ou=people,dc=example,dc=com"

for s in postfix-book kolab univention; do
    stop_slapd
    RG_SLAPD_SCHEMA=$TOP/tests/data/$s-schema.ldif start_slapd "$TOP/tests/data/$s.ldif" ||
        { not_ok "schema-presets: slapd starts with the $s directory"; continue; }
    write_conf "$T/$s.conf" "DirectorySchema $s" "${COMMON[@]}"
    RG_TEST_MIRROR=yes write_conf "$T/$s-mirror.conf" "DirectorySchema $s" "${COMMON[@]}"
    check_table "$s" "$T/$s.conf" "${TABLE[$s]}"
    check_table "$s, from the mirror" "$T/$s-mirror.conf" "${TABLE[$s]}"
    check_audit "$s" "$T/$s.conf" "${PLANTED[$s]}"
    # without the preset the schema's addresses are not found
    write_conf "$T/$s-plain.conf" "${COMMON[@]}"
    got=$("$QUERY" -c "$T/$s-plain.conf" --json ada.lovelace@example.com 2>>"$T/query.err" |
        jq -r .verdict)
    expect_eq "schema-presets: $s: without the preset, ada.lovelace@ is not found" "unknown" "$got"
done
expect_eq "schema-presets: rcptguard-query and rcptguard-audit wrote no errors" "" \
    "$(cat "$T/query.err" "$T/audit.err" 2>/dev/null)"

# --- through Postfix: iredmail and ad ---------------------------------------------

rg_require "schema-presets: through Postfix" postfix swaks

reply_for() {
    case $2 in
    ok) echo "250 2.1.5 Ok" ;;
    alias-loop) printf '451 4.4.6 <%s>: Alias loop' "$1" ;;
    *) printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1" ;;
    esac
}

# through_postfix NAME TABLE: rcptguard with "DirectorySchema NAME" behind
# the private Postfix, on the directory of NAME: every address of TABLE,
# all in one SMTP session, gets the reply of its verdict, compared exactly
through_postfix() {
    local s=$1 table=$2 l v want addrs=()
    stop_slapd
    RG_SLAPD_SCHEMA=$TOP/tests/data/$s-schema.ldif start_slapd "$TOP/tests/data/$s.ldif" ||
        { not_ok "schema-presets: Postfix: slapd starts with the $s directory"; return; }
    write_conf "$T/$s-mta.conf" "DirectorySchema $s" "${COMMON[@]}"
    start_rcptguard "$T/$s-mta.conf" ||
        { not_ok "schema-presets: Postfix: rcptguard starts with DirectorySchema $s"; return; }
    want=$(while read -r l v; do
        a=$(full_address "$l")
        echo "RCPT <$a>: $(reply_for "$a" "$v")"
    done <<<"$table")
    while read -r l v; do addrs+=("$(full_address "$l")"); done <<<"$table"
    expect_eq "schema-presets: Postfix: $s: every address gets the reply of its answer" "$want" \
        "$(smtp_rcpts "$POSTFIX_PORT" tester@example.net "${addrs[@]}" | grep '^RCPT ')"
    stop_rcptguard
}

if start_postfix "inet:$MILTER_PORT@127.0.0.1"; then
    through_postfix iredmail "$IREDMAIL"
    through_postfix ad "$AD"
    stop_postfix
else
    not_ok "schema-presets: Postfix: postfix starts"
fi

tap_done
