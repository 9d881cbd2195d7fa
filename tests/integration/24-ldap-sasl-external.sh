#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/24-ldap-sasl-external.sh - LDAPSASLMech EXTERNAL.
#
# slapd (tests/lib/tls.sh) lets only cn=reader read the directory, and maps
# two outside identities to it with olcAuthzRegexp: the peer credentials of
# the user nobody on ldapi:// and the client certificate CN=rcptguard-client
# on TLS.  rcptguard binds with SASL EXTERNAL and no password:
#   - over ldapi:// as nobody: a known user is found; as root (not mapped)
#     the base is not even visible (tempfail), so the identity decides;
#   - over ldaps:// and StartTLS with LDAPTLSCertFile/LDAPTLSKeyFile: found;
#     without a client certificate: tempfail, naming the SASL bind;
#   - LDAPSASLAuthzID its own DN: found; another DN: tempfail, naming it;
#   - the daemon started as root with UserID nobody and ldapi://: 250
#     through Postfix, because it became nobody before it connected.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/tls.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "SASL EXTERNAL" openssl slapd ldapsearch setpriv
if [[ $(id -u) -ne 0 ]] || ! getent passwd nobody >/dev/null; then
    skip "SASL EXTERNAL" "needs root and the user nobody"
    tap_done
fi
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)

tls_make_pki || { not_ok "openssl makes the certificates" "$(tail -n 5 "$T/pki/openssl.log")"; tap_done; }
P=$T/pki
RG_TLS_ACL="to * by dn.exact=\"$RG_READER_DN\" read by * none" \
start_tls_slapd "$TOP/tests/data/directory.ldif" \
    "olcAuthzPolicy: to" \
    "olcAuthzRegexp: {0}\"^gidnumber=$NOBODY_GID\\+uidnumber=$NOBODY_UID,cn=peercred,cn=external,cn=auth\$\" \"$RG_READER_DN\"" \
    "olcAuthzRegexp: {1}\"^cn=rcptguard-client\$\" \"$RG_READER_DN\"" ||
    { not_ok "slapd with TLS and olcAuthzRegexp starts" "$(tail -n 5 "$T/slapd/slapadd.log")"; tap_done; }
chmod 755 "$T/pki"
chown nobody "$P/client.key"

# sasl_conf FILE URI [LINE...]: SASL EXTERNAL to URI, no bind DN, no password.
sasl_conf() {
    local file=$1 uri=$2
    shift 2
    write_conf "$file" "Suggest off" "LDAPTLSCACertFile $P/ca.crt" "$@"
    sed -i "s|^LDAPURI .*|LDAPURI $uri|; /^LDAPBindDN /d; /^LDAPBindPasswordFile /d" "$file"
}

# as_nobody CMD...: run CMD as the user nobody.
as_nobody() {
    setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --init-groups "$@"
}

# --- ldapi:// and peer credentials ------------------------------------------------
sasl_conf "$T/ldapi.conf" "$LDAPI_URI" "LDAPSASLMech EXTERNAL"
QUERY_ROOT=$QUERY
printf '#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --init-groups %s "$@"\n' \
    "$NOBODY_UID" "$NOBODY_GID" "$QUERY_ROOT" >"$T/query-as-nobody"
chmod 755 "$T/query-as-nobody"
QUERY=$T/query-as-nobody
expect_query 0 "ldapi://, EXTERNAL as nobody (mapped to the reader): a known user" \
    "john.doe@example.com ok ldap" "$T/ldapi.conf" john.doe@example.com
expect_query 1 "ldapi://, EXTERNAL as nobody: an unknown user" \
    "nobody@example.com unknown ldap" "$T/ldapi.conf" nobody@example.com
QUERY=$QUERY_ROOT
expect_query 75 "ldapi://, EXTERNAL as root (not mapped, may read nothing): tempfail" \
    "john.doe@example.com tempfail ldap" "$T/ldapi.conf" john.doe@example.com
expect_match "ldapi://, EXTERNAL as root: the base is not even visible" \
    "search \\(mail=john\\.doe@example\\.com\\): No such object" "$(cat "$T/query.err")"

# --- TLS and a client certificate -------------------------------------------------
CERT=("LDAPTLSCertFile $P/client.crt" "LDAPTLSKeyFile $P/client.key")
sasl_conf "$T/ldaps.conf" "$LDAPS_URI" "LDAPSASLMech EXTERNAL" "${CERT[@]}"
expect_query 0 "ldaps://, EXTERNAL with a client certificate: a known user" \
    "john.doe@example.com ok ldap" "$T/ldaps.conf" john.doe@example.com
sasl_conf "$T/starttls.conf" "$SLAPD_URI" "LDAPSASLMech EXTERNAL" "LDAPStartTLS yes" "${CERT[@]}"
expect_query 0 "StartTLS, EXTERNAL with a client certificate: a known user" \
    "john.doe@example.com ok ldap" "$T/starttls.conf" john.doe@example.com
sasl_conf "$T/nocert.conf" "$LDAPS_URI" "LDAPSASLMech EXTERNAL"
expect_query 75 "ldaps://, EXTERNAL without a client certificate: tempfail" \
    "john.doe@example.com tempfail ldap" "$T/nocert.conf" john.doe@example.com
expect_match "ldaps://, EXTERNAL without a client certificate: the error names the bind" \
    "SASL EXTERNAL bind to ldaps://127\.0\.0\.1:$LDAPS_PORT: " "$(cat "$T/query.err")"

# --- LDAPSASLAuthzID ----------------------------------------------------------------
sasl_conf "$T/authz-self.conf" "$LDAPS_URI" "LDAPSASLMech EXTERNAL" "${CERT[@]}" \
    "LDAPSASLAuthzID dn:$RG_READER_DN"
expect_query 0 "LDAPSASLAuthzID its own DN: a known user" \
    "john.doe@example.com ok ldap" "$T/authz-self.conf" john.doe@example.com
sasl_conf "$T/authz-admin.conf" "$LDAPS_URI" "LDAPSASLMech EXTERNAL" "${CERT[@]}" \
    "LDAPSASLAuthzID dn:$RG_ADMIN_DN"
expect_query 75 "LDAPSASLAuthzID a DN it may not act as: tempfail" \
    "john.doe@example.com tempfail ldap" "$T/authz-admin.conf" john.doe@example.com
expect_match "LDAPSASLAuthzID a DN it may not act as: the error names it" \
    "SASL EXTERNAL bind as authzid dn:$RG_ADMIN_DN to ldaps://127\.0\.0\.1:$LDAPS_PORT: " \
    "$(cat "$T/query.err")"

# --- keys that do not go together ---------------------------------------------------
write_conf "$T/both.conf" "LDAPSASLMech EXTERNAL"
out=$("$RCPTGUARD" -n -c "$T/both.conf" 2>&1)
expect_eq "LDAPSASLMech with LDAPBindDN is refused (exit 78)" 78 "$?"
expect_match "LDAPSASLMech with LDAPBindDN: the message" \
    "LDAPSASLMech EXTERNAL takes the identity from the connection" "$out"
sasl_conf "$T/plain.conf" "$LDAPS_URI" "LDAPSASLMech PLAIN"
out=$("$RCPTGUARD" -n -c "$T/plain.conf" 2>&1)
expect_eq "LDAPSASLMech PLAIN is refused (exit 78)" 78 "$?"
expect_match "LDAPSASLMech PLAIN: the message" 'LDAPSASLMech "PLAIN": only EXTERNAL is supported' \
    "$out"

# --- the daemon: UserID before the first connection ------------------------------------
if ! command -v postfix >/dev/null || ! command -v swaks >/dev/null; then
    skip "SASL EXTERNAL through Postfix" "postfix or swaks is not installed"
    tap_done
fi
sasl_conf "$T/daemon.conf" "$LDAPI_URI" "LDAPSASLMech EXTERNAL" "UserID nobody"
start_rcptguard "$T/daemon.conf" || { not_ok "rcptguard starts (ldapi://, UserID nobody)"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "postfix starts"; tap_done; }
expect_eq "postfix, ldapi:// EXTERNAL as UserID nobody: 250 for a known user" "250 2.1.5 Ok" \
    "$(swaks_rcpt "$POSTFIX_PORT" john.doe@example.com)"
expect_eq "postfix, ldapi:// EXTERNAL as UserID nobody: 550 for an unknown user" \
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" \
    "$(swaks_rcpt "$POSTFIX_PORT" nobody@example.com)"
groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$RCPTGUARD_PID/status" | xargs)
expect_eq "the daemon's supplementary groups are nobody's (initgroups)" \
    "$(id -G nobody | tr ' ' '\n' | sort -n | xargs)" "$(tr ' ' '\n' <<<"$groups" | sort -n | xargs)"
stop_rcptguard

tap_done
