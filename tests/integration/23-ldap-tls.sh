#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/23-ldap-tls.sh - TLS to the directory, verified.
#
# A CA of the test's own (tests/lib/tls.sh) and a slapd with a certificate
# from it, on ldaps:// and with StartTLS on ldap://.  With the right
# LDAPTLSCACertFile a known user is found (rcptguard-query, and 250 through
# Postfix); with another CA, an expired certificate or a certificate for
# another name the answer is tempfail (451 4.3.0 through Postfix) and the
# error says what was wrong with the certificate.  LDAPTLSVerify allow and
# never accept it.  libldap's process-wide TLS defaults (here LDAPTLS_CACERT
# and LDAPTLS_REQCERT, as /etc/ldap/ldap.conf would set them) change
# nothing.  LDAPStartTLS yes against a server without TLS is tempfail,
# never a bind in plain text.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/tls.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "LDAP over TLS" openssl slapd ldapsearch

# tls_conf FILE URI [LINE...]: a configuration for URI with no suggestions.
tls_conf() {
    local file=$1 uri=$2
    shift 2
    write_conf "$file" "Suggest off" "$@"
    sed -i "s|^LDAPURI .*|LDAPURI $uri|" "$file"
}

# refused DESC CONF REGEX: rcptguard-query answers tempfail for a known
# user and its error matches REGEX.
refused() {
    expect_query 75 "$1: tempfail" "john.doe@example.com tempfail ldap" "$2" john.doe@example.com
    expect_match "$1: the error names the cause" "$3" "$(cat "$T/query.err")"
}

# --- a server without TLS: StartTLS is required, never skipped ----------------
start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts"; tap_done; }
tls_conf "$T/notls.conf" "$SLAPD_URI" "LDAPStartTLS yes"
refused "LDAPStartTLS yes, the server has no TLS" "$T/notls.conf" \
    "StartTLS with ldap://127\.0\.0\.1:$SLAPD_PORT: "
if grep -q 'bind' "$T/query.err"; then
    not_ok "LDAPStartTLS yes, the server has no TLS: no bind was tried" "$(cat "$T/query.err")"
else
    ok "LDAPStartTLS yes, the server has no TLS: no bind was tried"
fi
stop_slapd

# --- a server with a certificate of our CA ------------------------------------------
tls_make_pki || { not_ok "openssl makes the certificates" "$(tail -n 5 "$T/pki/openssl.log")"; tap_done; }
start_tls_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd with TLS starts"; tap_done; }
P=$T/pki
CAOK="LDAPTLSCACertFile $P/ca.crt"
CABAD="LDAPTLSCACertFile $P/other-ca.crt"

tls_conf "$T/ldaps.conf" "$LDAPS_URI" "$CAOK"
expect_query 0 "ldaps://, the right CA: a known user" "john.doe@example.com ok ldap" \
    "$T/ldaps.conf" john.doe@example.com
tls_conf "$T/starttls.conf" "$SLAPD_URI" "$CAOK" "LDAPStartTLS yes"
expect_query 0 "StartTLS, the right CA: a known user" "john.doe@example.com ok ldap" \
    "$T/starttls.conf" john.doe@example.com
expect_query 1 "StartTLS, the right CA: an unknown user" "nobody@example.com unknown ldap" \
    "$T/starttls.conf" nobody@example.com

tls_conf "$T/ldaps-badca.conf" "$LDAPS_URI" "$CABAD"
refused "ldaps://, another CA" "$T/ldaps-badca.conf" \
    "TLS handshake with ldaps://127\.0\.0\.1:$LDAPS_PORT: certificate verify failed: .*issuer is unknown"
tls_conf "$T/starttls-badca.conf" "$SLAPD_URI" "$CABAD" "LDAPStartTLS yes"
refused "StartTLS, another CA" "$T/starttls-badca.conf" \
    "TLS handshake with ldap://127\.0\.0\.1:$SLAPD_PORT: certificate verify failed: .*issuer is unknown"

# libldap's process-wide defaults, as ldap.conf or the environment set them
LDAPTLS_CACERT=$P/ca.crt expect_query 75 \
    "another CA, though LDAPTLS_CACERT names the right one: tempfail" \
    "john.doe@example.com tempfail ldap" "$T/ldaps-badca.conf" john.doe@example.com
LDAPTLS_REQCERT=never expect_query 75 \
    "another CA, though LDAPTLS_REQCERT is never: tempfail" \
    "john.doe@example.com tempfail ldap" "$T/ldaps-badca.conf" john.doe@example.com
tls_conf "$T/nocafile.conf" "$LDAPS_URI"
LDAPTLS_CACERT=$P/ca.crt expect_query 75 \
    "no LDAPTLSCACertFile (the system's CAs), though LDAPTLS_CACERT names ours: tempfail" \
    "john.doe@example.com tempfail ldap" "$T/nocafile.conf" john.doe@example.com

tls_conf "$T/allow.conf" "$LDAPS_URI" "$CABAD" "LDAPTLSVerify allow"
expect_query 0 "LDAPTLSVerify allow, another CA: a known user" "john.doe@example.com ok ldap" \
    "$T/allow.conf" john.doe@example.com
tls_conf "$T/never.conf" "$SLAPD_URI" "$CABAD" "LDAPTLSVerify never" "LDAPStartTLS yes"
expect_query 0 "LDAPTLSVerify never, another CA: a known user" "john.doe@example.com ok ldap" \
    "$T/never.conf" john.doe@example.com


tls_conf "$T/noca.conf" "$LDAPS_URI" "LDAPTLSCACertFile $T/no-such-ca.crt"
refused "LDAPTLSCACertFile that does not exist" "$T/noca.conf" \
    "LDAPTLSCACertFile $T/no-such-ca\.crt: No such file or directory"


tls_slapd_cert "$P/expired.crt" || not_ok "slapd restarts with an expired certificate"
refused "ldaps://, an expired certificate" "$T/ldaps.conf" \
    "certificate verify failed: .*expired"
refused "StartTLS, an expired certificate" "$T/starttls.conf" \
    "certificate verify failed: .*expired"

tls_slapd_cert "$P/wrongname.crt" || not_ok "slapd restarts with a certificate for another name"
refused "ldaps://, a certificate for another name" "$T/ldaps.conf" \
    "certificate verify failed: .*name in the certificate does not match"
refused "StartTLS, a certificate for another name" "$T/starttls.conf" \
    "certificate verify failed: .*name in the certificate does not match"

# --- bad keys are refused by -n -------------------------------------------------
nconf() { # nconf DESC REGEX LINE...: rcptguard -n refuses, naming REGEX
    local desc=$1 re=$2 out rc=0
    shift 2
    tls_conf "$T/n.conf" "$LDAPS_URI" "$@"
    out=$("$RCPTGUARD" -n -c "$T/n.conf" 2>&1) || rc=$?
    expect_eq "$desc: exit 78" 78 "$rc"
    expect_match "$desc: the message" "$re" "$out"
}
nconf "LDAPTLSVerify maybe" 'LDAPTLSVerify wants one of demand, allow, never, not "maybe"' \
    "LDAPTLSVerify maybe"
nconf "LDAPTLSCertFile without LDAPTLSKeyFile" \
    'LDAPTLSCertFile and LDAPTLSKeyFile go together' "LDAPTLSCertFile $P/client.crt"
nconf "a relative LDAPTLSCACertFile" 'LDAPTLSCACertFile "ca.crt" is a relative path' \
    "LDAPTLSCACertFile ca.crt"

# --- through Postfix -------------------------------------------------------------
if ! command -v postfix >/dev/null || ! command -v swaks >/dev/null; then
    skip "LDAP over TLS through Postfix" "postfix or swaks is not installed"
    tap_done
fi
tls_slapd_cert "$P/srv.crt" || not_ok "slapd restarts with its own certificate"
start_rcptguard "$T/ldaps.conf" || { not_ok "rcptguard starts (ldaps://)"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "postfix starts"; tap_done; }
expect_eq "postfix, ldaps:// with the right CA: 250 for a known user" "250 2.1.5 Ok" \
    "$(swaks_rcpt "$POSTFIX_PORT" john.doe@example.com)"
expect_eq "postfix, ldaps:// with the right CA: 550 for an unknown user" \
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" \
    "$(swaks_rcpt "$POSTFIX_PORT" nobody@example.com)"
stop_rcptguard
mv "$RCPTGUARD_LOG" "$T/rcptguard-ok.log"

start_rcptguard "$T/starttls-badca.conf" || { not_ok "rcptguard starts (another CA)"; tap_done; }
expect_eq "postfix, StartTLS with another CA: 451 for a known user" \
    "451 4.3.0 <john.doe@example.com>: Temporary lookup failure" \
    "$(swaks_rcpt "$POSTFIX_PORT" john.doe@example.com)"
expect_match "postfix, StartTLS with another CA: the log names the cause" \
    "LDAP unreachable: TLS handshake with ldap://127\.0\.0\.1:$SLAPD_PORT: certificate verify failed: The certificate is NOT trusted\. The certificate issuer is unknown\." \
    "$(cat "$RCPTGUARD_LOG")"
stop_rcptguard

tap_done
