#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/21-selftest.sh - rcptguard -t against real servers.
#
# A real slapd (with syncprov) and redis-server: every check passes, exit 0,
# and the report is compared line for line.  Then one thing at a time goes
# wrong and the report must name it and exit 75: a wrong LDAPBase, a wrong
# bind password, slapd stopped, redis stopped, the milter socket in use, a
# socket folder that does not exist; a server that accepts and never answers
# costs LDAPTimeout, not a hang.  A bad file still exits 78.
set -u
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

export RG_SLAPD_SYNCPROV=1
start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "-t: slapd starts"; tap_done; }
start_redis || { not_ok "-t: redis-server starts"; tap_done; }
write_conf "$T/rcptguard.conf" "LDAPTimeout 1"
sed -i '/^LDAPTimeout 2$/d' "$T/rcptguard.conf"
U=$SLAPD_URI

# selftest CONF [ARG...]: run rcptguard -t; its report in $out, its status in $rc.
selftest() {
    local conf=$1
    shift
    rc=0
    out=$("$RCPTGUARD" -t -c "$conf" "$@" 2>"$T/selftest.err") || rc=$?
}

# conf_with FILE KEY VALUE: a copy of the good configuration with KEY changed.
conf_with() {
    sed "s|^$2 .*|$2 $3|" "$T/rcptguard.conf" >"$1"
}

selftest "$T/rcptguard.conf"
expect_eq "-t: all checks pass against slapd and redis" \
"ok    $U: connect
note  $U: TLS not used (ldap:// without LDAPStartTLS): the password and the addresses cross the network in clear
ok    $U: bind as cn=reader,dc=example,dc=com
ok    $U: base dc=example,dc=com exists
ok    $U: search (mail=postmaster@example.com): 0 entries
ok    $U: RFC 4533 sync (syncprov) offered
ok    $REDIS_URI: connect and write a test key (SET EX 10)
ok    $REDIS_URI: read it back (GET)
ok    socket inet:$MILTER_PORT@127.0.0.1: can be bound
rcptguard -t: all 8 checks passed" "$out"
expect_eq "-t: exit status 0 when all pass" 0 "$rc"
expect_eq "-t: the test key is gone from Redis" "" \
    "$(redis_cli --scan --pattern 'rcptguard:selftest:*')"

conf_with "$T/base.conf" LDAPBase "ou=nowhere,dc=example,dc=com"
selftest "$T/base.conf"
expect_match "-t: a wrong base is named" \
    "FAIL  $U: base ou=nowhere,dc=example,dc=com does not exist \(LDAPBase\)" "$out"
expect_eq "-t: a wrong base exits 75" 75 "$rc"

echo wrongpw >"$T/wrong.pw"
conf_with "$T/bind.conf" LDAPBindPasswordFile "$T/wrong.pw"
selftest "$T/bind.conf"
expect_match "-t: a wrong password fails the bind line" \
    "FAIL  $U: bind as cn=reader,dc=example,dc=com: bind as \"cn=reader,dc=example,dc=com\" to $U: Invalid credentials" \
    "$out"
expect_eq "-t: a wrong password exits 75" 75 "$rc"

# The socket in use: the daemon itself listens on it.
start_rcptguard "$T/rcptguard.conf" || not_ok "-t: rcptguard starts"
selftest "$T/rcptguard.conf"
expect_match "-t: a socket in use is named" \
    "FAIL  socket inet:$MILTER_PORT@127.0.0.1: in use \(is rcptguard running already\?\)" "$out"
expect_eq "-t: a socket in use exits 75" 75 "$rc"
selftest "$T/rcptguard.conf" -p "inet:$(free_port)@127.0.0.1"
expect_eq "-t: -p tests another socket" 0 "$rc"
stop_rcptguard

conf_with "$T/unix.conf" Socket "unix:$T/no/such/dir/rg.sock"
selftest "$T/unix.conf"
expect_match "-t: a socket folder that does not exist is named" \
    "FAIL  socket unix:$T/no/such/dir/rg.sock: cannot create a socket in $T/no/such/dir: No such file or directory" \
    "$out"
conf_with "$T/unix.conf" Socket "unix:$T/rg.sock"
selftest "$T/unix.conf"
expect_match "-t: a unix socket that can be created" "ok    socket unix:$T/rg.sock: can be created" "$out"
[[ -e $T/rg.sock || -n $(ls -A "$T" | grep rcptguard-t) ]] && not_ok "-t: leaves no socket file" ||
    ok "-t: leaves no socket file"

stop_redis
selftest "$T/rcptguard.conf"
expect_match "-t: redis stopped is named" \
    "FAIL  $REDIS_URI: connect and write a test key \(SET EX 10\): " "$out"
expect_eq "-t: redis stopped exits 75" 75 "$rc"
conf_with "$T/noredis.conf" RedisURI none
selftest "$T/noredis.conf"
expect_eq "-t: no Redis configured is a note, not a failure" 0 "$rc"

stop_slapd
t0=$(date +%s.%N)
selftest "$T/noredis.conf"
t1=$(date +%s.%N)
expect_eq "-t: slapd stopped: the connect line names it" \
    "FAIL  $U: connect: cannot reach $U: Connection refused" "$(printf '%s\n' "$out" | head -n 1)"
expect_eq "-t: slapd stopped exits 75" 75 "$rc"

# Two servers, the first one down: each has its own lines.
restart_slapd || not_ok "-t: slapd restarts"
dead=ldap://127.0.0.1:$(free_port)
conf_with "$T/two.conf" LDAPURI "$dead $U"
selftest "$T/two.conf"
expect_eq "-t: each LDAPURI is tested alone" \
"FAIL  $dead: connect: cannot reach $dead: Connection refused
ok    $U: connect" "$(printf '%s\n' "$out" | grep -E '^(ok|FAIL) +ldap:[^ ]*: connect')"
expect_eq "-t: one server down of two exits 75" 75 "$rc"

# A server that accepts and never answers costs LDAPTimeout (1 s), not a hang.
PY=/usr/bin/python3
if [[ -x $PY ]]; then
    "$PY" "$TOP/tests/lib/silent_ldap.py" silent "$T/silent.port" "$T/silent.log" 2>/dev/null &
    rg_on_exit "kill $! 2>/dev/null"
    for ((i = 0; i < 100; i++)); do [[ -s $T/silent.port ]] && break; sleep 0.05; done
    silent=ldap://127.0.0.1:$(cat "$T/silent.port")
    conf_with "$T/silent.conf" LDAPURI "$silent"
    sed -i '/^RedisURI/d' "$T/silent.conf"
    # the cost of the rest (start-up, a refused server, the socket) is taken off
    conf_with "$T/refused.conf" LDAPURI "$dead"
    sed -i '/^RedisURI/d' "$T/refused.conf"
    t0=$(date +%s.%N)
    selftest "$T/refused.conf" -p "inet:$(free_port)@127.0.0.1"
    t1=$(date +%s.%N)
    selftest "$T/silent.conf" -p "inet:$(free_port)@127.0.0.1"
    t2=$(date +%s.%N)
    expect_match "-t: a silent server fails its bind line" "FAIL  $silent: bind as .*timed out" "$out"
    took=$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.2f", (c - b) - (b - a) }')
    if awk -v s="$took" 'BEGIN { exit !(s < 2) }'; then
        ok "-t: a silent server costs LDAPTimeout (1 s), not a hang"
    else
        not_ok "-t: a silent server costs LDAPTimeout (1 s), not a hang" "took $took s more"
    fi
else
    skip "-t: a silent server" "$PY is not installed"
fi

# TLS: slapd with a CA of the test's own, on ldaps:// and with StartTLS.
# start_tls_slapd: stop the plain slapd, add the certificates to its
# configuration, and start it on ldap:// and ldaps://; sets LDAPS_URI.
start_tls_slapd() {
    local d=$T/tls i
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
            -subj /CN=test-ca &&
        openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >srv.ext &&
        openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt \
            -days 2 -extfile srv.ext &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 \
            -subj /CN=other-ca
    ) >"$d/openssl.log" 2>&1 || return 1
    chmod 644 "$d"/*.key
    stop_slapd
    printf 'dn: cn=config\nchangetype: modify\nadd: olcTLSCACertificateFile\nolcTLSCACertificateFile: %s\n-\nadd: olcTLSCertificateFile\nolcTLSCertificateFile: %s\n-\nadd: olcTLSCertificateKeyFile\nolcTLSCertificateKeyFile: %s\n' \
        "$d/ca.crt" "$d/srv.crt" "$d/srv.key" >"$d/tls.ldif"
    slapmodify -n 0 -F "$SLAPD_DIR/slapd.d" -l "$d/tls.ldif" >"$d/slapmodify.log" 2>&1 || return 1
    LDAPS_PORT=$(free_port)
    LDAPS_URI=ldaps://127.0.0.1:$LDAPS_PORT
    "$RG_SLAPD_BIN" -F "$SLAPD_DIR/slapd.d" \
        -h "ldap://127.0.0.1:$SLAPD_PORT/ ldaps://127.0.0.1:$LDAPS_PORT/" >>"$d/slapd.log" 2>&1 ||
        return 1
    for ((i = 0; i < 100; i++)); do
        LDAPTLS_CACERT=$d/ca.crt ldapsearch -x -LLL -o nettimeout=1 -H "$LDAPS_URI" -b '' \
            -s base namingContexts >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
if command -v openssl >/dev/null && command -v slapmodify >/dev/null; then
    if start_tls_slapd; then
        conf_with "$T/ldaps.conf" LDAPURI "$LDAPS_URI"
        sed -i '/^RedisURI/d' "$T/ldaps.conf"
        out=$(LDAPTLS_CACERT=$T/tls/ca.crt "$RCPTGUARD" -t -c "$T/ldaps.conf" \
            -p "inet:$(free_port)@127.0.0.1" 2>>"$T/selftest.err") && rc=0 || rc=$?
        expect_eq "-t: ldaps:// with the right CA: TLS ok" \
"ok    $LDAPS_URI: connect
ok    $LDAPS_URI: TLS (ldaps://)
ok    $LDAPS_URI: bind as cn=reader,dc=example,dc=com" "$(printf '%s\n' "$out" | head -n 3)"
        expect_eq "-t: ldaps:// with the right CA exits 0" 0 "$rc"
        conf_with "$T/starttls.conf" LDAPStartTLS yes
        grep -q '^LDAPStartTLS yes' "$T/starttls.conf" || echo "LDAPStartTLS yes" >>"$T/starttls.conf"
        sed -i '/^RedisURI/d' "$T/starttls.conf"
        out=$(LDAPTLS_CACERT=$T/tls/ca.crt "$RCPTGUARD" -t -c "$T/starttls.conf" \
            -p "inet:$(free_port)@127.0.0.1" 2>>"$T/selftest.err")
        expect_eq "-t: StartTLS: TLS ok" "ok    $U: TLS (StartTLS)" \
            "$(printf '%s\n' "$out" | sed -n 2p)"
        out=$(LDAPTLS_CACERT=$T/tls/other.crt "$RCPTGUARD" -t -c "$T/ldaps.conf" \
            -p "inet:$(free_port)@127.0.0.1" 2>>"$T/selftest.err") && rc=0 || rc=$?
        expect_match "-t: ldaps:// with a CA that did not sign the server's certificate: the TLS line fails" \
            "^ok    $LDAPS_URI: connect
FAIL  $LDAPS_URI: TLS: TLS handshake with $LDAPS_URI" "$out"
        expect_eq "-t: a TLS failure exits 75" 75 "$rc"
    else
        not_ok "-t: slapd starts with TLS"
        sed 's/^/#   /' "$T/tls/"*.log >&2
    fi
else
    skip "-t: TLS checks" "openssl or slapmodify is not installed"
fi

# A bad file is a configuration error, as with -n.
conf_with "$T/bad.conf" LDAPTimeout "soon"
selftest "$T/bad.conf"
expect_eq "-t: a bad file exits 78" 78 "$rc"

tap_done
