#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 25-edges.sh - the edges a mail admin runs into: addresses of other domains
# that look odd (never judged, never a 5xx), an empty password file, a group
# whose member is a group known only by its DN, a referral in the search
# scope (could not tell: 451, never 550), and the limit on unknown
# recipients per connection (421 through Postfix).
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

q() {   # q EXPECTED_STATUS DESC EXPECTED_OUTPUT CONF ADDRESS...
	expect_query "$@"
}

# --- no directory at all: nothing of another domain is looked up ------------
SLAPD_URI=ldap://127.0.0.1:$(free_port)      # nobody listens there
write_conf "$T/nodir.conf"
sed -i 's/^LDAPTimeout .*/LDAPTimeout 0.5/' "$T/nodir.conf"
long=$(printf 'x%.0s' {1..70})
q 0 "other domain, two dots in a row: not ours, not judged" \
	"taro..yamada@docomo.ne.jp not-ours none" "$T/nodir.conf" "taro..yamada@docomo.ne.jp"
q 0 "other domain, underscore in the domain: not ours" \
	"a_b@my_host.example.net not-ours none" "$T/nodir.conf" "a_b@my_host.example.net"
q 0 "other domain, 70-octet local part: not ours" \
	"$long@gmail.com not-ours none" "$T/nodir.conf" "$long@gmail.com"
q 1 "our domain, 70-octet local part: refused without a lookup" \
	"$long@example.com unknown none" "$T/nodir.conf" "$long@example.com"
q 75 "our domain, directory unreachable: tempfail, never unknown" \
	"x@example.com tempfail ldap" "$T/nodir.conf" "x@example.com"

# --- an empty password file ----------------------------------------------------
: >"$T/empty.pw"
write_conf "$T/emptypw.conf"
sed -i "s|^LDAPBindPasswordFile .*|LDAPBindPasswordFile $T/empty.pw|" "$T/emptypw.conf"
line=$(grep -n '^LDAPBindPasswordFile' "$T/emptypw.conf" | cut -d: -f1)
out=$("$RCPTGUARD" -n -c "$T/emptypw.conf" 2>&1)
rc=$?
expect_eq "an empty password file is refused (exit 78)" 78 "$rc"
expect_eq "the refusal names file, line and problem" \
	"rcptguard: $T/emptypw.conf:$line: LDAPBindPasswordFile $T/empty.pw is empty" "$out"

# --- nested groups and a referral, against slapd -------------------------------
cat >"$T/nested.ldif" <<'EOF'
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

dn: uid=john.doe,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: john.doe
cn: John Doe
sn: Doe
mail: john.doe@example.com

dn: uid=nomail,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: nomail
cn: No Mail
sn: Mail

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: cn=subteam,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: subteam
member: uid=john.doe,ou=people,dc=example,dc=com

dn: cn=team,ou=groups,dc=example,dc=com
objectClass: groupOfNames
objectClass: inetLocalMailRecipient
cn: team
mailLocalAddress: team@example.com
member: cn=subteam,ou=groups,dc=example,dc=com

dn: cn=hollow,ou=groups,dc=example,dc=com
objectClass: groupOfNames
objectClass: inetLocalMailRecipient
cn: hollow
mailLocalAddress: hollow@example.com
member: uid=nomail,ou=people,dc=example,dc=com
EOF
start_slapd "$T/nested.ldif" || { not_ok "slapd starts"; exit 1; }
write_conf "$T/nested.conf" "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" \
	"LDAPAddressAttributes mail mailLocalAddress" "LDAPMemberAttributes member"
q 0 "a group whose member is a group without an address is expanded: ok" \
	"team@example.com ok ldap
  -> cn=subteam,ou=groups,dc=example,dc=com alias
    -> john.doe@example.com ok" "$T/nested.conf" team@example.com
q 1 "a group whose only member has no address is broken" \
	"hollow@example.com alias-broken ldap
  -> uid=nomail,ou=people,dc=example,dc=com no-address dangling-target" \
	"$T/nested.conf" hollow@example.com

ldap_admin ldapadd -M >/dev/null 2>"$T/ldapadd.err" <<EOF
dn: ou=remote,dc=example,dc=com
objectClass: referral
objectClass: extensibleObject
ou: remote
ref: ldap://127.0.0.1:$(free_port)/ou=remote,dc=example,dc=com
EOF
if [[ $? -ne 0 ]]; then
	not_ok "a referral object can be added" "$(cat "$T/ldapadd.err")"
else
	q 75 "an address not found but behind a referral: could not tell" \
		"nobody@example.com tempfail ldap" "$T/nested.conf" nobody@example.com
	q 0 "an address found beside a referral: ok" \
		"john.doe@example.com ok ldap" "$T/nested.conf" john.doe@example.com
fi

# --- Redis answering with errors: still answers, says why, once ------------------
start_redis || { not_ok "redis-server starts"; exit 1; }
write_conf "$T/oom.conf"
sed -i '/^LDAPFilter/d' "$T/oom.conf"
redis_cli config set maxmemory-policy noeviction >/dev/null
redis_cli config set maxmemory 1 >/dev/null
ldap_admin ldapdelete -M "ou=remote,dc=example,dc=com" >/dev/null 2>&1
q 0 "Redis refusing writes (OOM): the answer still comes, from LDAP" \
	"john.doe@example.com ok ldap
john.doe@example.com ok cache" "$T/oom.conf" john.doe@example.com john.doe@example.com
if grep -q "warning: Redis refused SET: OOM" "$T/query.err"; then
	ok "Redis refusing writes: the error reply is logged"
else
	not_ok "Redis refusing writes: the error reply is logged" "$(cat "$T/query.err")"
fi
if grep -q "Redis unreachable" "$T/query.err"; then
	not_ok "an error reply is not taken for Redis being down"
else
	ok "an error reply is not taken for Redis being down"
fi
redis_cli config set maxmemory 0 >/dev/null
stop_redis

# --- too many unknown recipients on one connection: 421 ---------------------------
write_conf "$T/limit.conf" "MaxUnknownRecipients 2" "Suggest off"
sed -i '/^LDAPFilter/d' "$T/limit.conf"
ldap_admin ldapdelete -M "ou=remote,dc=example,dc=com" >/dev/null 2>&1
start_rcptguard "$T/limit.conf" || { not_ok "rcptguard starts"; exit 1; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "Postfix starts"; exit 1; }
out=$(smtp_rcpts "$POSTFIX_PORT" tester@example.net a1@example.com john.doe@example.com \
	a2@example.com a3@example.com 2>&1 | grep '^RCPT')
expect_eq "the third unknown recipient ends the session with 421 4.7.0" \
	"RCPT <a1@example.com>: 550 5.1.1 <a1@example.com>: Recipient address rejected: User unknown
RCPT <john.doe@example.com>: 250 2.1.5 Ok
RCPT <a2@example.com>: 550 5.1.1 <a2@example.com>: Recipient address rejected: User unknown
RCPT <a3@example.com>: 421 4.7.0 Error: too many unknown recipients" "$out"

tap_done
