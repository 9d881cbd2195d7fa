#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/24-ldapcf-postfix.sh - one Postfix ldap_table(5) file
# for Postfix's proxy:ldap and for rcptguard's LDAPConfig: same verdicts.
#
# The file uses the forms admins write: server_host as host:port, a search
# base with blanks, a filter with %s, domain, result_attribute, a simple
# bind with bind_pw.  First Postfix alone answers with
# relay_recipient_maps = proxy:ldap:FILE; then the same Postfix, with empty
# recipient maps, asks rcptguard, whose configuration names only the socket
# and LDAPConfig FILE.  Known, unknown, other-domain, upper-case,
# subaddressed and wildcard addresses must get the same code and enhanced
# code both times, and rcptguard's own text must show it was rcptguard.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "LDAPConfig: same verdicts as Postfix" postfix postconf swaks
if [[ ! -e /usr/lib/postfix/postfix-ldap.so ]]; then
    skip "LDAPConfig: same verdicts as Postfix" "postfix-ldap is not installed"
    tap_done
fi

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "LDAPConfig: slapd starts"; tap_done; }
cat >"$T/ldap-recipients.cf" <<EOF
# relay recipients, as Postfix and rcptguard read them
server_host = 127.0.0.1:$SLAPD_PORT
search_base = dc=example, dc=com
query_filter = (mail=%s)
domain = example.com, example.org
result_attribute = mail
bind = yes
bind_dn = $RG_READER_DN
bind_pw = $RG_READER_PW
version = 3
timeout = 2
scope = sub
EOF
chmod 644 "$T/ldap-recipients.cf"
MILTER_PORT=$(free_port)
cat >"$T/rcptguard.conf" <<EOF
Socket inet:$MILTER_PORT@127.0.0.1
LDAPConfig ldap-recipients.cf     # relative: in this file's folder
Syslog no
EOF

ADDRS=(john.doe@example.com JOHN.DOE@EXAMPLE.COM mixed.case@example.com alice@example.org
    nobody@example.com bob+news@example.com nobody@example.org anyone@example.net
    '*@example.com' 'john*@example.com')

# verdicts PORT: "ADDRESS CODE XCODE" for each address, one a line.
verdicts() {
    local a r
    for a in "${ADDRS[@]}"; do
        r=$(swaks_rcpt "$1" "$a" | head -n 1)
        printf '%s %s\n' "$a" "${r:0:9}" | sed 's/ \([0-9]\{3\}\)-/ \1 /'
    done
}

# postfix_with KEY=VALUE...: restart the private Postfix with these main.cf settings.
postfix_with() {
    stop_postfix
    postconf -c "$POSTFIX_DIR/conf" -e "$@" || return 1
    postfix -c "$POSTFIX_DIR/conf" start >"$POSTFIX_DIR/start.log" 2>&1 &&
        _mta_wait_port "$POSTFIX_PORT" 20
}

start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "LDAPConfig: postfix starts"; tap_done; }
postfix_with "smtpd_milters =" "relay_recipient_maps = proxy:ldap:$T/ldap-recipients.cf" \
    "relay_domains = example.com, example.org" "recipient_delimiter = +" ||
    { not_ok "LDAPConfig: postfix restarts with proxy:ldap"; tap_done; }
by_postfix=$(verdicts "$POSTFIX_PORT")
expect_eq "LDAPConfig: Postfix's own verdicts through proxy:ldap" \
"john.doe@example.com 250 2.1.5
JOHN.DOE@EXAMPLE.COM 250 2.1.5
mixed.case@example.com 250 2.1.5
alice@example.org 250 2.1.5
nobody@example.com 550 5.1.1
bob+news@example.com 250 2.1.5
nobody@example.org 550 5.1.1
anyone@example.net 250 2.1.5
*@example.com 550 5.1.1
john*@example.com 550 5.1.1" "$by_postfix"
expect_eq "LDAPConfig: Postfix names its own table" \
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in relay recipient table" \
    "$(swaks_rcpt "$POSTFIX_PORT" nobody@example.com)"

start_rcptguard "$T/rcptguard.conf" || { not_ok "LDAPConfig: rcptguard starts"; tap_done; }
postfix_with "smtpd_milters = inet:127.0.0.1:$MILTER_PORT" "relay_recipient_maps =" ||
    { not_ok "LDAPConfig: postfix restarts with rcptguard"; tap_done; }
expect_eq "LDAPConfig: rcptguard gives the same verdicts from the same file" \
    "$by_postfix" "$(verdicts "$POSTFIX_PORT")"
expect_eq "LDAPConfig: the reject is rcptguard's" \
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" \
    "$(swaks_rcpt "$POSTFIX_PORT" nobody@example.com)"

# -t reads the same file: the search base with its blanks, the bind DN, the filter.
out=$("$RCPTGUARD" -t -c "$T/rcptguard.conf" -p "inet:$(free_port)@127.0.0.1" 2>&1)
expect_match "LDAPConfig: -t binds as bind_dn and finds search_base" \
    "ok    ldap://127.0.0.1:$SLAPD_PORT: bind as $RG_READER_DN.*ok    ldap://127.0.0.1:$SLAPD_PORT: base dc=example, dc=com exists" \
    "$out"

# What rcptguard cannot honour stops it, naming the parameter and the line.
echo "dereference = 3" >>"$T/ldap-recipients.cf"
out=$("$RCPTGUARD" -n -c "$T/rcptguard.conf" 2>&1)
expect_eq "LDAPConfig: a parameter rcptguard cannot honour is refused, naming file and line" \
    "rcptguard: $T/ldap-recipients.cf:13: dereference: \"3\": rcptguard never dereferences LDAP aliases (dereference 0)" \
    "$out"

tap_done
