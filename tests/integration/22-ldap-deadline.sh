#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 22-ldap-deadline.sh - LDAP servers that hang where libldap does not look.
#
# With LDAPTimeout 1 a lookup must end in tempfail (451) within
# 2 x LDAPTimeout + 0.5 s, and say why, when
#   - an ldaps:// server accepts TCP and never answers the TLS handshake,
#   - a server answers StartTLS with success and then says nothing,
#   - the name of the server cannot be resolved (a DNS server that never
#     answers; needs root for a private /etc/resolv.conf, else skipped);
# and TLS to a real slapd (ldaps:// and StartTLS) still works.
# With two LDAPURI values where the first accepts and never answers, the
# daemon answers from the second, and the dead one costs at most one
# timeout per back-off interval, not one per lookup or per pool slot, also
# with the suggestion index's loader and watcher connecting on their own.
# A server that refused connections for 8 s is used again half a second after
# it listens again.
# A referral under LDAPBase makes rcptguard-audit fail (75) and name it,
# instead of reporting a partial directory as clean.
# The fake servers are tests/lib/silent_ldap.py (Python 3, stdlib only).
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

PY=/usr/bin/python3
SILENT=$TOP/tests/lib/silent_ldap.py
LIMIT=2.5       # seconds: 2 x LDAPTimeout + 0.5
if [[ ! -x $PY ]]; then
	skip "LDAP servers that hang" "$PY is not installed"
	exit 0
fi

# start_silent MODE NAME: a fake server; sets the port in ${NAME}_PORT and
# its event log in $T/NAME.log.
start_silent() {
	local mode=$1 name=$2 i
	"$PY" "$SILENT" "$mode" "$T/$name.port" "$T/$name.log" 2>>"$T/$name.err" &
	rg_on_exit "kill $! 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		[[ -s $T/$name.port ]] && break
		sleep 0.05
	done
	printf -v "${name}_PORT" '%s' "$(cat "$T/$name.port" 2>/dev/null)"
	: >>"$T/$name.log"
}

# elapsed T0 T1: seconds from T0 to T1 (date +%s.%N), three decimals.
elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'
}

# within SECONDS: true when SECONDS <= $LIMIT.
within() {
	awk -v s="$1" -v l="$LIMIT" 'BEGIN { exit !(s <= l) }'
}

# timed_query DESC CONF ADDRESS EXPECTED_OUTPUT STDERR_REGEX: rcptguard-query
# must print EXPECTED_OUTPUT, exit 75, within $LIMIT s, and name the cause.
# The time counted is the answer's: the same command for an address of a
# domain not ours (no lookup at all) is timed too, and its time, the cost of
# starting the process on this machine at this moment, is taken off.
timed_query() {
	local desc=$1 conf=$2 addr=$3 expected=$4 why=$5 t0 t1 out rc=0 secs start
	t0=$(date +%s.%N)
	timeout 30 "$QUERY" -c "$conf" someone@example.net >/dev/null 2>&1
	t1=$(date +%s.%N)
	start=$(elapsed "$t0" "$t1")
	t0=$(date +%s.%N)
	out=$(timeout 30 "$QUERY" -c "$conf" "$addr" 2>"$T/query.err") || rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$(elapsed "$t0" "$t1")" -v b="$start" 'BEGIN { printf "%.3f", a - b }')
	expect_eq "$desc: $expected" "$expected" "$out"
	expect_eq "$desc: exit status 75" 75 "$rc"
	if within "$secs"; then
		ok "$desc: answered in ${secs}s (at most ${LIMIT}s; start-up ${start}s not counted)"
	else
		not_ok "$desc: answered in ${secs}s (at most ${LIMIT}s; start-up ${start}s not counted)"
	fi
	expect_match "$desc: the error names the cause" "$why" "$(cat "$T/query.err")"
}

# --- a silent ldaps:// peer, and StartTLS then silence -------------------------
start_silent silent quiet
start_silent starttls tls

write_conf "$T/ldaps.conf" "Suggest off"
sed -i "s|^LDAPURI .*|LDAPURI ldaps://127.0.0.1:$quiet_PORT|; s|^LDAPTimeout .*|LDAPTimeout 1|" \
	"$T/ldaps.conf"
timed_query "ldaps:// peer that never answers the handshake" "$T/ldaps.conf" x@example.com \
	"x@example.com tempfail ldap" "TLS handshake with ldaps://127\.0\.0\.1:$quiet_PORT timed out"

write_conf "$T/starttls.conf" "Suggest off" "LDAPStartTLS yes"
sed -i "s|^LDAPURI .*|LDAPURI ldap://127.0.0.1:$tls_PORT|; s|^LDAPTimeout .*|LDAPTimeout 1|" \
	"$T/starttls.conf"
timed_query "StartTLS answered, then silence" "$T/starttls.conf" x@example.com \
	"x@example.com tempfail ldap" "TLS handshake with ldap://127\.0\.0\.1:$tls_PORT timed out"
if grep -qx starttls "$T/tls.log"; then
	ok "StartTLS: the fake server did answer the extended operation"
else
	not_ok "StartTLS: the fake server did answer the extended operation" "$(cat "$T/tls.err")"
fi

# --- a DNS server that never answers ---------------------------------------------
dns_addr=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
if [[ $(id -u) -ne 0 ]] || ! command -v unshare >/dev/null; then
	skip "an LDAPURI host whose DNS server never answers" "needs root and unshare"
else
	"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
open(sys.argv[2], "w").write("up\n")
while True:
    s.recv(4096)
' "$dns_addr" "$T/dns.up" 2>"$T/dns.err" &
	rg_on_exit "kill $! 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		[[ -s $T/dns.up ]] && break
		sleep 0.05
	done
	printf 'nameserver %s\noptions timeout:5 attempts:2\n' "$dns_addr" >"$T/resolv.conf"
	write_conf "$T/dns.conf" "Suggest off"
	sed -i "s|^LDAPURI .*|LDAPURI ldap://ldap.rcptguard-test.example:389|;
		s|^LDAPTimeout .*|LDAPTimeout 1|" "$T/dns.conf"
	if [[ ! -s $T/dns.up ]]; then
		skip "an LDAPURI host whose DNS server never answers" "$(cat "$T/dns.err")"
	else
		# the query runs with a private /etc/resolv.conf naming the silent server
		QUERY_REAL=$QUERY
		QUERY=$T/query-private-dns
		printf '#!/bin/sh\nexec unshare -m sh -c %s sh "$@"\n' \
			"'mount --bind $T/resolv.conf /etc/resolv.conf && exec $QUERY_REAL \"\$@\"'" \
			>"$QUERY"
		chmod +x "$QUERY"
		timed_query "the DNS server never answers" "$T/dns.conf" x@example.com \
			"x@example.com tempfail ldap" "resolving ldap\.rcptguard-test\.example timed out"
		QUERY=$QUERY_REAL
	fi
fi

# --- TLS to a real slapd still works ---------------------------------------------
# start_tls_slapd: slapd with a certificate of a CA of this test, listening
# on ldap:// and ldaps://; sets SLAPD_PORT, SLAPD_URI, LDAPS_PORT.
start_tls_slapd() {
	local dir=$T/slapd i
	(
		cd "$T" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj /CN=test-ca
		openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >srv.ext
		openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt \
			-days 2 -extfile srv.ext
		chmod 644 srv.key
	) >"$T/openssl.log" 2>&1 || return 1
	rm -rf "$dir"
	mkdir -p "$dir/slapd.d" "$dir/data"
	_rg_slapd_config "$dir" | sed "/^olcArgsFile:/a\\
olcTLSCACertificateFile: $T/ca.crt\\
olcTLSCertificateFile: $T/srv.crt\\
olcTLSCertificateKeyFile: $T/srv.key" >"$dir/config.ldif"
	slapadd -n 0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1 || return 1
	slapadd -q -n 1 -F "$dir/slapd.d" -l "$TOP/tests/data/directory.ldif" \
		>>"$dir/slapadd.log" 2>&1 || return 1
	SLAPD_PORT=$(free_port)
	LDAPS_PORT=$(free_port)
	SLAPD_URI=ldap://127.0.0.1:$SLAPD_PORT
	SLAPD_DIR=$dir
	export SLAPD_PORT SLAPD_URI SLAPD_DIR
	_rg_register stop_slapd
	"$RG_SLAPD_BIN" -F "$dir/slapd.d" \
		-h "ldap://127.0.0.1:$SLAPD_PORT/ ldaps://127.0.0.1:$LDAPS_PORT/" \
		>>"$dir/slapd.log" 2>&1 || return 1
	for ((i = 0; i < 100; i++)); do
		if LDAPTLS_CACERT=$T/ca.crt ldapsearch -x -LLL -o nettimeout=1 \
			-H "ldaps://127.0.0.1:$LDAPS_PORT" -b '' -s base namingContexts >/dev/null 2>&1; then
			SLAPD_PID=$(head -n 1 "$dir/slapd.pid" 2>/dev/null)
			return 0
		fi
		sleep 0.1
	done
	return 1
}

if ! command -v openssl >/dev/null; then
	skip "TLS to a real slapd" "openssl is not installed"
elif ! start_tls_slapd; then
	not_ok "slapd with TLS starts" "$(cat "$T/openssl.log" "$T/slapd/slapadd.log" 2>/dev/null |
		tail -n 5)"
else
	export LDAPTLS_CACERT=$T/ca.crt
	write_conf "$T/real-ldaps.conf" "Suggest off" "LDAPTLSCACertFile $T/ca.crt"
	sed -i "s|^LDAPURI .*|LDAPURI ldaps://127.0.0.1:$LDAPS_PORT|" "$T/real-ldaps.conf"
	expect_query 0 "ldaps:// to slapd: a known user" "john.doe@example.com ok ldap" \
		"$T/real-ldaps.conf" john.doe@example.com
	write_conf "$T/real-starttls.conf" "Suggest off" "LDAPStartTLS yes" "LDAPTLSCACertFile $T/ca.crt"
	expect_query 1 "StartTLS to slapd: an unknown user" "nobody@example.com unknown ldap" \
		"$T/real-starttls.conf" nobody@example.com
	write_conf "$T/byname.conf" "Suggest off"
	sed -i "s|^LDAPURI .*|LDAPURI ldap://localhost:$SLAPD_PORT|" "$T/byname.conf"
	expect_query 0 "a host name in LDAPURI (resolved, then each address tried): a known user" \
		"john.doe@example.com ok ldap" "$T/byname.conf" john.doe@example.com
	write_conf "$T/real-badca.conf" "Suggest off"
	sed -i "s|^LDAPURI .*|LDAPURI ldaps://127.0.0.1:$LDAPS_PORT|" "$T/real-badca.conf"
	LDAPTLS_CACERT=/dev/null expect_query 75 "ldaps:// with a certificate not trusted: tempfail" \
		"john.doe@example.com tempfail ldap" "$T/real-badca.conf" john.doe@example.com
	expect_match "an untrusted certificate: the error says TLS handshake" \
		"TLS handshake with ldaps://127\.0\.0\.1:$LDAPS_PORT: " "$(cat "$T/query.err")"
	unset LDAPTLS_CACERT
fi

# --- the daemon, through miltertest ------------------------------------------------
if ! command -v miltertest >/dev/null 2>&1; then
	skip "the daemon against servers that hang" "miltertest is not installed"
	tap_done
fi
# rcpts.lua: one connection, a RCPT for each word of -D rcpts=...
cat >"$T/rcpts.lua" <<'EOF'
local conn = mt.connect(sock, 50, 0.1)
if conn == nil then error("cannot connect to " .. sock) end
mt.set_timeout(30)
mt.conninfo(conn, "client.example", "192.0.2.9")
mt.mailfrom(conn, "<sender@example.net>")
for r in string.gmatch(rcpts, "%S+") do
	mt.rcptto(conn, "<" .. r .. ">")
	print("RCPT " .. r .. " " .. tostring(mt.getreply(conn)))
end
mt.disconnect(conn)
EOF
# rcpts ADDRESS...: send them through the daemon on one milter connection.
rcpts() {
	timeout -k 5 60 miltertest -D "sock=$RCPTGUARD_SOCKET" -D "rcpts=$*" -s "$T/rcpts.lua" \
		</dev/null 2>>"$T/miltertest.err"
}
# logged ADDRESS: the daemon's decision line for ADDRESS (the last one).
logged() {
	grep -F "rcpt=<$1>" "$RCPTGUARD_LOG" | tail -n 1
}

if start_rcptguard "$T/ldaps.conf"; then
	t0=$(date +%s.%N)
	rcpts hang@example.com >/dev/null
	secs=$(elapsed "$t0" "$(date +%s.%N)")
	expect_match "daemon, ldaps:// peer that never answers: 451" \
		'rcpt=<hang@example\.com> verdict=tempfail .*reply="451 4\.3\.0" reason="TLS handshake' "$(logged hang@example.com)"
	if within "$secs"; then
		ok "daemon, ldaps:// peer that never answers: answered in ${secs}s (at most ${LIMIT}s)"
	else
		not_ok "daemon, ldaps:// peer that never answers: answered in ${secs}s (at most ${LIMIT}s)"
	fi
	if grep -q "LDAP unreachable: TLS handshake with ldaps://127\.0\.0\.1:$quiet_PORT timed out" \
		"$RCPTGUARD_LOG"; then
		ok "daemon, ldaps:// peer that never answers: the log names the cause"
	else
		not_ok "daemon, ldaps:// peer that never answers: the log names the cause"
		tail -n 5 "$RCPTGUARD_LOG" | sed 's/^/#   /' >&2
	fi
	stop_rcptguard
	mv "$RCPTGUARD_LOG" "$T/rcptguard-ldaps.log"
else
	not_ok "rcptguard starts with a silent ldaps:// server"
fi

# --- two URIs, the first accepts and never answers -----------------------------------
if [[ -z ${SLAPD_URI:-} ]]; then
	start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts"; tap_done; }
fi
start_silent silent dead
write_conf "$T/two.conf" "Suggest off" "LocalCacheSize 0" "LDAPPoolSize 4"
sed -i "s|^LDAPURI .*|LDAPURI ldap://127.0.0.1:$dead_PORT $SLAPD_URI|;
	s|^LDAPTimeout .*|LDAPTimeout 1|" "$T/two.conf"
if start_rcptguard "$T/two.conf"; then
	# four milter connections at once (every pool slot opens), ten RCPTs each
	pids=()
	for c in 1 2 3 4; do
		list=
		for i in 1 2 3 4 5 6 7 8 9 10; do
			case $((i % 4)) in
			0) list+=" john.doe+c$c.$i@example.com" ;;
			1) list+=" bob+c$c.$i@example.com" ;;
			2) list+=" jane.smith+c$c.$i@example.com" ;;
			3) list+=" nobody.c$c.$i@example.com" ;;
			esac
		done
		rcpts $list >"$T/rcpts.$c.out" &
		pids+=($!)
	done
	wait "${pids[@]}"
	stop_rcptguard
	lines=$(grep -c 'rcpt=<' "$RCPTGUARD_LOG")
	expect_eq "two URIs, the first dead: 40 decisions logged" 40 "$lines"
	wrong=$(grep 'rcpt=<' "$RCPTGUARD_LOG" | grep -vE \
		'rcpt=<(john\.doe|bob|jane\.smith)\+[^>]*> verdict=ok source=ldap |rcpt=<nobody\.[^>]*> verdict=unknown source=ldap ')
	expect_eq "two URIs, the first dead: every answer comes from the second" "" "$wrong"
	slow=$(grep 'rcpt=<' "$RCPTGUARD_LOG" | sed -n 's/.* ms=\([0-9]*\).*/\1/p' |
		awk '$1 >= 450' | wc -l)
	# the one attempt on the dead server costs its lookup half of LDAPTimeout,
	# and a connection that starts meanwhile waits for its outcome (the
	# server was never tried): at most one wait per pool slot, the same one
	if ((slow <= 4)); then
		ok "two URIs, the first dead: $slow of 40 lookups waited on it (at most 4, the pool's slots, once)"
	else
		not_ok "two URIs, the first dead: $slow of 40 lookups waited on it (at most 4, the pool's slots, once)"
		grep 'rcpt=<' "$RCPTGUARD_LOG" | sed 's/^/#   /' >&2
	fi
	tries=$(grep -c accept "$T/dead.log")
	if ((tries <= 2)); then
		ok "two URIs, the first dead: it was tried $tries times, not once per slot or lookup"
	else
		not_ok "two URIs, the first dead: it was tried $tries times, not once per slot or lookup"
	fi
else
	not_ok "rcptguard starts with two URIs"
fi

# --- two URIs, the first dead, with the suggestion index on ------------------------
# The index's loader and watcher connect to the directory too, on their own
# handles: the dead server must still be tried by one connection at a time,
# whoever asks (they used to connect to it at the same instant as each other).
FAKE=$TOP/tests/faults/fakeldap.py
fake_port=$(free_port)
"$PY" "$FAKE" silent "$fake_port" "$T/fake.log" 2>>"$T/fake.err" &
rg_on_exit "kill $! 2>/dev/null"
for ((i = 0; i < 200; i++)); do
	grep -q listening "$T/fake.log" 2>/dev/null && break
	sleep 0.05
done
t_start=$(date +%s.%N)
# (HarvestLimit off: the loop's made-up addresses, all from one client, are
# lookups to be answered here, not a harvest to be throttled)
write_conf "$T/two-index.conf" "Suggest trusted" "LocalCacheSize 0" "LDAPPoolSize 4" \
	"HarvestLimit 0"
sed -i "s|^LDAPURI .*|LDAPURI ldap://127.0.0.1:$fake_port $SLAPD_URI|;
	s|^LDAPTimeout .*|LDAPTimeout 1|" "$T/two-index.conf"
if start_rcptguard "$T/two-index.conf"; then
	# lookups for 4 s: the dead server's back-off ends again meanwhile
	end=$(($(date +%s) + 4))
	n=0
	while (($(date +%s) < end)); do
		pids=()
		for c in 1 2 3 4; do
			rcpts "john.doe+i$n.$c@example.com" "nobody.i$n.$c@example.com" \
				>"$T/index.$c.out" &
			pids+=($!)
		done
		wait "${pids[@]}"
		n=$((n + 1))
	done
	stop_rcptguard
	wrong=$(grep -E 'rcpt=<(john\.doe\+i|nobody\.i)' "$RCPTGUARD_LOG" | grep -vE \
		'rcpt=<john\.doe\+[^>]*> verdict=ok source=ldap |rcpt=<nobody\.[^>]*> verdict=unknown source=ldap ')
	expect_eq "two URIs, the first dead, index on: every answer comes from the second" "" "$wrong"
	tries=$(awk -v t="$t_start" '/accept/ && $1 > t' "$T/fake.log" | wc -l)
	gap=$(awk -v t="$t_start" '/accept/ && $1 > t {
		if (n++) { g = $1 - prev; if (min == "" || g < min) min = g } prev = $1 }
		END { printf "%.3f", (min == "" ? 999 : min) }' "$T/fake.log")
	if ((tries == 1)); then
		ok "two URIs, the first dead, index on: one connection to it"
	elif ((tries > 1)) && awk -v g="$gap" 'BEGIN { exit !(g >= 0.9) }'; then
		ok "two URIs, the first dead, index on: $tries connections to it, at least ${gap}s apart"
	else
		not_ok "two URIs, the first dead, index on: $tries connections to it, at least ${gap}s apart (at least one, 0.9 s apart)"
	fi
else
	not_ok "rcptguard starts with two URIs and the suggestion index"
fi

# --- a server that refused for 8 s is used again at once when it returns -----------
# A refused connect costs nothing, so it is retried soon; the doubling back-off
# (up to 5 s) is for failures that cost a timeout.
write_conf "$T/back.conf" "Suggest off" "LocalCacheSize 0" "LDAPPoolSize 4"
sed -i "s|^LDAPTimeout .*|LDAPTimeout 1|" "$T/back.conf"
if start_rcptguard "$T/back.conf"; then
	rcpts "john.doe@example.com" >/dev/null
	stop_slapd
	# lookups for 8 s at least, until one of them has just tried to connect
	# (after which a doubling back-off would have grown to 5 s)
	start=$(date +%s)
	n=0
	while (($(date +%s) < start + 20)); do
		rcpts "nobody.down$n@example.com" >/dev/null
		tried=$(logged "nobody.down$n@example.com" | grep -c 'Connection refused')
		n=$((n + 1))
		(($(date +%s) >= start + 8 && tried)) && break
		sleep 0.2
	done
	_rg_slapd_run >"$T/slapd-again.log" 2>&1 &
	restarter=$!
	for ((i = 0; i < 1500; i++)); do
		_rg_port_open 127.0.0.1 "$SLAPD_PORT" && break
		sleep 0.01
	done
	# a lookup half a second later must reach it (it used to wait out a
	# back-off that had grown to 5 s)
	sleep 0.5
	rcpts "nobody.back@example.com" >/dev/null
	wait "$restarter"
	stop_rcptguard
	expect_match "slapd refused for 8 s: a lookup 0.5 s after it listens again reaches it" \
		'rcpt=<nobody\.back@example\.com> verdict=unknown source=ldap ' \
		"$(logged nobody.back@example.com)"
else
	not_ok "rcptguard starts for the refused-then-back case"
fi

# --- two URIs, the first binds and then hangs on every search --------------------
# Its connects and binds succeed, so a back-off kept only for failed
# connects let every lookup reconnect to it and wait LDAPTimeout on its
# search: every recipient got 451 after a second.  A search that timed out
# must put the server in its back-off, and a bind alone must not end it.
start_silent bindonly stuck
write_conf "$T/stuck.conf" "Suggest off" "LocalCacheSize 0" "LDAPPoolSize 2"
sed -i "s|^LDAPURI .*|LDAPURI ldap://127.0.0.1:$stuck_PORT $SLAPD_URI|;
	s|^LDAPTimeout .*|LDAPTimeout 1|" "$T/stuck.conf"
if start_rcptguard "$T/stuck.conf"; then
	list=
	for i in $(seq 1 12); do
		case $((i % 3)) in
		0) list+=" nobody.stuck$i@example.com" ;;
		*) list+=" john.doe+stuck$i@example.com" ;;
		esac
	done
	t0=$(date +%s.%N)
	for a in $list; do
		rcpts "$a" >/dev/null
	done
	secs=$(elapsed "$t0" "$(date +%s.%N)")
	stop_rcptguard
	tempfails=$(grep -c 'rcpt=<[^>]*stuck[^>]*> verdict=tempfail' "$RCPTGUARD_LOG")
	wrong=$(grep 'rcpt=<[^>]*stuck' "$RCPTGUARD_LOG" | grep -v ' verdict=tempfail ' | grep -vE \
		'rcpt=<john\.doe\+stuck[0-9]*@example\.com> verdict=ok source=ldap |rcpt=<nobody\.stuck[0-9]*@example\.com> verdict=unknown source=ldap ')
	searches=$(grep -c search "$T/stuck.log")
	if ((tempfails <= 3)) && [[ -z $wrong ]]; then
		ok "first URI hangs on searches: $tempfails of 12 recipients got 451 (at most 3), the rest the second server's answer"
	else
		not_ok "first URI hangs on searches: $tempfails of 12 recipients got 451 (at most 3), the rest the second server's answer"
		grep 'rcpt=<' "$RCPTGUARD_LOG" | sed 's/^/#   /' >&2
	fi
	if ((searches <= 4)); then
		ok "first URI hangs on searches: it got $searches searches in ${secs} s, not one per recipient"
	else
		not_ok "first URI hangs on searches: it got $searches searches in ${secs} s, not one per recipient"
	fi
	expect_match "first URI hangs on searches: the log says so" \
		"LDAP server ldap://127\.0\.0\.1:$stuck_PORT does not answer searches" "$(cat "$RCPTGUARD_LOG")"
	mv "$RCPTGUARD_LOG" "$T/rcptguard-stuck.log"
else
	not_ok "rcptguard starts with a first URI that hangs on searches"
fi

# --- a referral under LDAPBase: the audit must not pass a partial walk as whole ----
ref_url=ldap://127.0.0.1:$(free_port)/ou=remote,dc=example,dc=com
if ! ldap_admin ldapadd -M >/dev/null 2>"$T/ldapadd.err" <<EOF
dn: ou=remote,dc=example,dc=com
objectClass: referral
objectClass: extensibleObject
ou: remote
ref: $ref_url
EOF
then
	not_ok "a referral object can be added" "$(cat "$T/ldapadd.err")"
else
	write_conf "$T/audit.conf" "LDAPMemberAttributes member"
	rc=0
	"$AUDIT" -c "$T/audit.conf" >"$T/audit.out" 2>"$T/audit.err" || rc=$?
	expect_eq "audit over a referral: exit status 75 (the directory was not read whole)" 75 "$rc"
	expect_match "audit over a referral: the error names the referral" \
		"refers part of the tree to ${ref_url//./\\.}[^ ]* \\(a referral" "$(cat "$T/audit.err")"
	expect_eq "audit over a referral: no table as if the directory were clean" "" \
		"$(cat "$T/audit.out")"
fi

tap_done
