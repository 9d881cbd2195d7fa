# SPDX-License-Identifier: BSD-2-Clause
# tests/lib/tls.sh - a CA of the test's own and a slapd that speaks TLS.
#
# Sourced after tests/lib/servers.sh (which gives $T, free_port,
# _rg_slapd_config, stop_slapd).
#
#   tls_make_pki            in $T/pki: ca.crt (the CA the server's
#                           certificates come from), other-ca.crt (a CA that
#                           signed nothing here), srv.crt (CN=localhost,
#                           subjectAltName localhost and 127.0.0.1),
#                           expired.crt (the same names and key, valid for one
#                           day in 2020), wrongname.crt (only the name
#                           ldap.other.example), client.crt and client.key
#                           (CN=rcptguard-client, for SASL EXTERNAL)
#   start_tls_slapd LDIF [CONFIG-LINE...]
#                           slapd in $T/slapd with srv.crt, the entries of
#                           LDIF, listening on ldap:// (SLAPD_PORT, SLAPD_URI),
#                           ldaps:// (LDAPS_PORT, LDAPS_URI) and a unix socket
#                           (LDAPI_URI); client certificates are asked for,
#                           not required.  CONFIG-LINEs go into cn=config
#                           (olcAuthzRegexp: ..., say).  RG_TLS_ACL, when set,
#                           replaces the database's last olcAccess line.
#   tls_slapd_cert FILE     restart that slapd (same ports) with FILE as its
#                           certificate (srv.key stays its key)
#
# libldap reads certificates from the files at every new connection, so
# the slapd has to be restarted, not the files changed under it.

# tls_make_pki: the files above; returns 1 (openssl's words in
# $T/pki/openssl.log) when openssl fails.
tls_make_pki() {
    local d=$T/pki
    mkdir -p "$d"
    (
        set -e
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 2 \
            -subj /CN=rcptguard-test-ca
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other-ca.key -out other-ca.crt \
            -days 2 -subj /CN=rcptguard-other-ca
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >srv.ext
        openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out srv.crt -days 2 -extfile srv.ext
        printf 'subjectAltName=DNS:ldap.other.example\n' >wrongname.ext
        openssl req -new -key srv.key -out wrongname.csr -subj /CN=ldap.other.example
        openssl x509 -req -in wrongname.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out wrongname.crt -days 2 -extfile wrongname.ext
        # openssl x509 cannot date a certificate in the past; openssl ca can
        : >index.txt
        echo 1000 >serial
        cat >ca.cnf <<'EOF'
[ ca ]
default_ca = test
[ test ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = anything
[ anything ]
commonName = supplied
EOF
        openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in srv.csr \
            -out expired.crt -startdate 20200101000000Z -enddate 20200102000000Z \
            -extfile srv.ext -notext
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key -out client.csr \
            -subj /CN=rcptguard-client
        openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out client.crt -days 2
        chmod 600 client.key
        chmod 644 srv.key       # slapd runs as root here, but keep it simple to read
        cp srv.crt slapd.crt
    ) >"$d/openssl.log" 2>&1
}

# start_tls_slapd LDIF [CONFIG-LINE...]
start_tls_slapd() {
    local ldif=${1:?start_tls_slapd LDIF} dir=$T/slapd line extra=
    shift
    for line in "$@"; do
        extra+="$line"$'\n'
    done
    rm -rf "$dir"
    mkdir -p "$dir/slapd.d" "$dir/data"
    {
        _rg_slapd_config "$dir" | awk -v extra="$extra" -v acl="${RG_TLS_ACL:-}" \
            -v ca="$T/pki/ca.crt" -v crt="$T/pki/slapd.crt" -v key="$T/pki/srv.key" '
            /^olcArgsFile:/ {
                print
                print "olcTLSCACertificateFile: " ca
                print "olcTLSCertificateFile: " crt
                print "olcTLSCertificateKeyFile: " key
                print "olcTLSVerifyClient: try"
                printf "%s", extra
                next
            }
            /^olcAccess: \{1\}/ && acl != "" { print "olcAccess: {1}" acl; next }
            { print }'
    } >"$dir/config.ldif"
    slapadd -n 0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1 || return 1
    slapadd -q -n 1 -F "$dir/slapd.d" -l "$ldif" >>"$dir/slapadd.log" 2>&1 || return 1
    SLAPD_PORT=$(free_port)
    LDAPS_PORT=$(free_port)
    SLAPD_URI=ldap://127.0.0.1:$SLAPD_PORT
    LDAPS_URI=ldaps://127.0.0.1:$LDAPS_PORT
    LDAPI_PATH=$dir/ldapi
    LDAPI_URI=ldapi://${LDAPI_PATH//\//%2F}
    SLAPD_DIR=$dir
    export SLAPD_PORT SLAPD_URI SLAPD_DIR LDAPS_PORT LDAPS_URI LDAPI_URI
    _rg_register stop_slapd
    _tls_slapd_run
}

# Start the prepared slapd; wait (at most 10 s) until ldaps:// answers.
_tls_slapd_run() {
    local i
    rm -f "$SLAPD_DIR/slapd.pid"
    "$RG_SLAPD_BIN" -F "$SLAPD_DIR/slapd.d" \
        -h "$SLAPD_URI/ $LDAPS_URI/ $LDAPI_URI" >>"$SLAPD_DIR/slapd.log" 2>&1 || return 1
    for ((i = 0; i < 100; i++)); do
        if LDAPTLS_CACERT=$T/pki/ca.crt LDAPTLS_REQCERT=never ldapsearch -x -LLL \
            -o nettimeout=1 -H "$LDAPS_URI" -b '' -s base namingContexts >/dev/null 2>&1; then
            SLAPD_PID=$(head -n 1 "$SLAPD_DIR/slapd.pid" 2>/dev/null)
            return 0
        fi
        sleep 0.1
    done
    echo "# slapd with TLS did not answer within 10 s:" >&2
    tail -n 5 "$SLAPD_DIR/slapd.log" | sed 's/^/#   /' >&2
    return 1
}

# tls_slapd_cert FILE: the same slapd, restarted with FILE as its certificate.
tls_slapd_cert() {
    stop_slapd
    cp "$1" "$T/pki/slapd.crt"
    _tls_slapd_run
}
