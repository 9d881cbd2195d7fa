#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/87-redis-auth.sh - a Redis with a password, an ACL user,
# and RedisKeyPrefix.
#
# slapd (tests/data/alias-rcpt.ldif), redis-server, rcptguard and a private
# Postfix; swaks talks to Postfix.  Checked:
#   - credentials in RedisURI are refused by "rcptguard -n", pointing to
#     RedisPasswordFile / RedisUser, and the password is not echoed;
#   - a Redis with requirepass is used with RedisPasswordFile (AUTH);
#   - an ACL user limited to ~PREFIX* and exactly the commands rcptguard
#     sends works (RedisUser): no command refused, the cache, alerts and
#     harvest counts land in Redis; then SCAN lists every key in Redis and
#     each one starts with the (non-default) RedisKeyPrefix;
#   - a wrong password: answers keep coming from LDAP (250 / 550, never a
#     5xx for a known address), and one log line says why, not one per RCPT;
#   - rediss:// with RedisTLSCACertFile, when built with hiredis_ssl: a TLS
#     Redis is used with the right CA, and with a wrong one answers come
#     from LDAP (skipped, saying so, without hiredis_ssl);
#   - neither password ever shows in rcptguard's log or -n's output.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "redis-auth: end-to-end checks" postfix swaks redis-server redis-cli

EX_CONFIG=78
OK="250 2.1.5 Ok"
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }
ADMIN_PW=adm-Secret-87x
ACL_PW=acl-Secret-87y
WRONG_PW=wrong-Secret-87z
PREFIX=t87/mx1:
ALIAS_CONF=(
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))"
    "LDAPAddressAttributes mail mailLocalAddress"
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress"
    "LDAPMemberAttributes member"
    "LDAPDisabledFilter (description=disabled)"
)
# The commands rcptguard sends, and nothing else.
COMMANDS=(+ping +get +pttl +set +del +xadd +xrevrange +multi +exec +zadd +zremrangebyscore
    +zcount +expire)

# check_n DESC CONF REGEX: "rcptguard -n" refuses CONF with EX_CONFIG and a
# message matching REGEX that holds no password.
check_n() {
    local desc=$1 conf=$2 regex=$3 out rc=0
    out=$("$RCPTGUARD" -n -c "$conf" 2>&1) || rc=$?
    printf '%s\n' "$out" >>"$T/n-output.txt"
    if [[ $rc -ne $EX_CONFIG ]]; then
        not_ok "$desc" "exit status $rc, expected $EX_CONFIG" "output: $out"
    elif [[ ! $out =~ $regex ]]; then
        not_ok "$desc" "output does not match: $regex" "output: $out"
    elif [[ $out == *"$ADMIN_PW"* || $out == *"$ACL_PW"* ]]; then
        not_ok "$desc" "the output shows the password" "output: $out"
    else
        ok "$desc"
    fi
}
rcli() { redis_cli --no-auth-warning -a "$ADMIN_PW" "$@"; }

# --- credentials in the URI ------------------------------------------------------

SLAPD_URI=ldap://127.0.0.1:389       # -n does not connect
REDIS_URI="redis://:$ADMIN_PW@127.0.0.1:6379/0" write_conf "$T/uri1.conf"
check_n "redis-auth: -n refuses redis://:PASSWORD@host/0, pointing to RedisPasswordFile" \
    "$T/uri1.conf" "uri1\.conf:[0-9]+: RedisURI must not carry credentials.*RedisPasswordFile.*RedisUser"
REDIS_URI="redis://rg:$ACL_PW@127.0.0.1:6379" write_conf "$T/uri2.conf"
check_n "redis-auth: -n refuses redis://USER:PASSWORD@host too" \
    "$T/uri2.conf" "RedisURI must not carry credentials"
write_conf "$T/user-only.conf" "RedisUser rg"
check_n "redis-auth: -n refuses RedisUser without RedisPasswordFile" \
    "$T/user-only.conf" "RedisUser is set but RedisPasswordFile is not"
: >"$T/empty.pw"
write_conf "$T/empty-pw.conf" "RedisPasswordFile $T/empty.pw"
check_n "redis-auth: -n refuses an empty RedisPasswordFile" "$T/empty-pw.conf" \
    "RedisPasswordFile $T/empty.pw is empty"
write_conf "$T/prefix.conf" "RedisKeyPrefix a*b"
check_n "redis-auth: -n refuses a glob character in RedisKeyPrefix" "$T/prefix.conf" \
    "RedisKeyPrefix \"a\*b\""
unset SLAPD_URI

# --- requirepass, RedisPasswordFile ------------------------------------------------

start_slapd "$TOP/tests/data/alias-rcpt.ldif" || { not_ok "redis-auth: slapd starts"; tap_done; }
start_redis || { not_ok "redis-auth: redis-server starts"; tap_done; }
redis_cli CONFIG SET requirepass "$ADMIN_PW" >/dev/null
expect_eq "redis-auth: Redis now wants a password" "NOAUTH" \
    "$(redis_cli GET x 2>&1 | awk '{print $1}')"
printf '%s\n' "$ADMIN_PW" >"$T/admin.pw"
printf '%s\n' "$ACL_PW" >"$T/acl.pw"
printf '%s\n' "$WRONG_PW" >"$T/wrong.pw"
chmod 600 "$T"/*.pw
write_conf "$T/pass.conf" "${ALIAS_CONF[@]}" "RedisPasswordFile $T/admin.pw" "Suggest off"
"$RCPTGUARD" -n -c "$T/pass.conf" >>"$T/n-output.txt" 2>&1
expect_eq "redis-auth: -n accepts RedisPasswordFile" 0 "$?"
start_rcptguard "$T/pass.conf" || { not_ok "redis-auth: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "redis-auth: Postfix starts"; tap_done; }
a=john.doe@example.com
expect_eq "redis-auth: requirepass: $a accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "redis-auth: requirepass: the answer is in Redis (AUTH worked)" 1 \
    "$(rcli --scan --pattern "rcptguard:v1:*:$a" | grep -c .)"
expect_eq "redis-auth: requirepass: no NOAUTH in the log" 0 "$(grep -c NOAUTH "$RCPTGUARD_LOG")"
stop_rcptguard

# --- an ACL user limited to the prefix and rcptguard's commands ------------------

rcli FLUSHALL >/dev/null
rcli ACL SETUSER rg on ">$ACL_PW" "~$PREFIX*" resetchannels -@all "${COMMANDS[@]}" >/dev/null
expect_eq "redis-auth: the ACL user may not write outside the prefix" "NOPERM" \
    "$(redis_cli --no-auth-warning --user rg --pass "$ACL_PW" SET other 1 2>&1 | awk '{print $1}')"
write_conf "$T/acl.conf" "${ALIAS_CONF[@]}" "RedisPasswordFile $T/acl.pw" "RedisUser rg" \
    "RedisKeyPrefix $PREFIX" "TrustedNetworks 127.0.0.1/32" "Suggest off"
start_rcptguard "$T/acl.conf" || { not_ok "redis-auth: rcptguard starts as an ACL user"; tap_done; }
expect_eq "redis-auth: ACL user: john.doe@example.com accepted" "$OK" \
    "$(swaks_rcpt "$POSTFIX_PORT" john.doe@example.com)"
expect_eq "redis-auth: ACL user: ghost@example.com rejected" "$(unknown ghost@example.com)" \
    "$(swaks_rcpt "$POSTFIX_PORT" ghost@example.com --local-interface 127.0.0.2)"
expect_eq "redis-auth: ACL user: staff@example.com (an alias with a dead target) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" staff@example.com)"
sleep 0.5
expect_eq "redis-auth: ACL user: no command refused (NOPERM) and no AUTH failure" 0 \
    "$(grep -c -E 'Redis refused|NOPERM|AUTH' "$RCPTGUARD_LOG")"
rcli --scan >"$T/keys.txt"
for kind in "v1:" "alert:" "alerts" "harvest:"; do
    if grep -q -F "$PREFIX$kind" "$T/keys.txt"; then
        ok "redis-auth: SCAN finds a key $PREFIX$kind..."
    else
        not_ok "redis-auth: SCAN finds a key $PREFIX$kind..." "keys: $(tr '\n' ' ' <"$T/keys.txt")"
    fi
done
outside=$(awk -v p="$PREFIX" 'index($0, p) != 1' "$T/keys.txt")
if [[ -s $T/keys.txt && -z $outside ]]; then
    ok "redis-auth: every key in Redis ($(grep -c . "$T/keys.txt")) starts with $PREFIX"
else
    not_ok "redis-auth: every key in Redis starts with $PREFIX" "outside: $outside"
fi
stop_rcptguard

# --- a wrong password -------------------------------------------------------------

write_conf "$T/wrong.conf" "${ALIAS_CONF[@]}" "RedisPasswordFile $T/wrong.pw" "RedisUser rg" \
    "RedisKeyPrefix $PREFIX" "Suggest off" "CacheTTL 0" "NegativeCacheTTL 0"
start_rcptguard "$T/wrong.conf" || { not_ok "redis-auth: rcptguard starts with a wrong password"; tap_done; }
bad=()
for i in 1 2 3 4 5 6; do
    for a in jane.smith@example.com bob@example.com ghost$i@example.com; do
        want=$OK
        [[ $a == ghost* ]] && want=$(unknown $a)
        got=$(swaks_rcpt "$POSTFIX_PORT" $a)
        [[ $got == "$want" ]] || bad+=("$a: $got")
    done
done
if ((${#bad[@]} == 0)); then
    ok "redis-auth: wrong password: 18 answers from LDAP, 250 for known and 550 for unknown"
else
    not_ok "redis-auth: wrong password: answers from LDAP" "${bad[@]}"
fi
n=$(grep -c 'AUTH as rg refused: WRONGPASS' "$RCPTGUARD_LOG")
expect_eq "redis-auth: wrong password: one log line says AUTH was refused, not one per RCPT" 1 "$n"
grep 'AUTH as rg refused' "$RCPTGUARD_LOG" | sed 's/^/#   /'
stop_rcptguard

# --- rediss:// (only with hiredis_ssl) -------------------------------------------------

REDIS_URI=rediss://127.0.0.1:1 write_conf "$T/tls-probe.conf"
if "$RCPTGUARD" -n -c "$T/tls-probe.conf" 2>&1 | grep -q 'built without it'; then
    skip "redis-auth: rediss:// to a Redis with TLS" \
        "this rcptguard was built without hiredis_ssl (hiredis < 1.0, as Debian 12's 0.14): -n refuses rediss://"
else
    # a TLS-only redis-server with a certificate of the test's own CA
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.crt" -days 2 \
        -subj /CN=test-ca >/dev/null 2>&1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other-ca.key" -out "$T/other-ca.crt" \
        -days 2 -subj /CN=other-ca >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" \
        -subj /CN=127.0.0.1 >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1\n' >"$T/srv.ext"
    openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
        -out "$T/srv.crt" -days 2 -extfile "$T/srv.ext" >/dev/null 2>&1
    chmod 644 "$T/srv.key"
    TLS_PORT=$(free_port)
    mkdir -p "$T/redis-tls"
    redis-server --port 0 --tls-port "$TLS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --tls-cert-file "$T/srv.crt" --tls-key-file "$T/srv.key" --tls-ca-cert-file "$T/ca.crt" \
        --tls-auth-clients no --dir "$T/redis-tls" --daemonize yes \
        --pidfile "$T/redis-tls/redis.pid" --logfile "$T/redis-tls/redis.log" >/dev/null 2>&1
    rg_on_exit 'kill "$(cat "$T/redis-tls/redis.pid" 2>/dev/null)" 2>/dev/null'
    for ((i = 0; i < 50; i++)); do
        _rg_port_open 127.0.0.1 "$TLS_PORT" && break
        sleep 0.1
    done
    REDIS_URI=rediss://127.0.0.1:$TLS_PORT write_conf "$T/tls.conf" "RedisTLSCACertFile $T/ca.crt" \
        "RedisKeyPrefix t87tls:" "Suggest off"
    start_rcptguard "$T/tls.conf" || not_ok "redis-auth: rcptguard starts with rediss://"
    expect_eq "redis-auth: rediss://: john.doe@example.com accepted" "$OK" \
        "$(swaks_rcpt "$POSTFIX_PORT" john.doe@example.com)"
    n=$(redis-cli --tls --cacert "$T/ca.crt" -h 127.0.0.1 -p "$TLS_PORT" --scan --pattern 't87tls:v1:*' | grep -c .)
    expect_eq "redis-auth: rediss://: the answer went to Redis over TLS" 1 "$n"
    stop_rcptguard
    REDIS_URI=rediss://127.0.0.1:$TLS_PORT write_conf "$T/tls-bad.conf" \
        "RedisTLSCACertFile $T/other-ca.crt" "RedisKeyPrefix t87tls:" "Suggest off"
    start_rcptguard "$T/tls-bad.conf" || not_ok "redis-auth: rcptguard starts with rediss:// and a wrong CA"
    expect_eq "redis-auth: rediss:// with a wrong CA: jane.smith@example.com accepted from LDAP" "$OK" \
        "$(swaks_rcpt "$POSTFIX_PORT" jane.smith@example.com)"
    expect_eq "redis-auth: rediss:// with a wrong CA: one line says TLS failed" 1 \
        "$(grep -c 'Redis unreachable (TLS' "$RCPTGUARD_LOG")"
    stop_rcptguard
fi

# --- no password in any output ------------------------------------------------------

leaks=$(grep -l -F -e "$ADMIN_PW" -e "$ACL_PW" -e "$WRONG_PW" "$RCPTGUARD_LOG" "$T/n-output.txt" \
    "$POSTFIX_DIR/maillog" 2>/dev/null)
if [[ -z $leaks ]]; then
    ok "redis-auth: no password in rcptguard's log, -n's output or Postfix's log"
else
    not_ok "redis-auth: no password in any log" "found in: $leaks"
fi

tap_done
