#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/95-ldap-replicas.sh - LDAPURI names replicas.
#
# A provider slapd (syncprov) and a consumer slapd that replicates it with
# syncrepl refreshAndPersist, as a site with a directory replica on each
# mail host runs them; rcptguard has "LDAPURI consumer provider" (order is
# preference) and answers a private Postfix.  Checked:
#   - rcptguard talks to the consumer, the first URI, and not the provider;
#   - a user added on the provider is accepted through rcptguard within 2 s
#     (the time syncrepl needs to bring it to the consumer);
#   - with the consumer killed under a steady stream of recipients, no
#     recipient gets a 5xx that the directory would not give (the known ones
#     get 250 or at worst 451 while the loss is noticed; the first second
#     after the kill aside, every one is 250), the unknown ones 550 from
#     the provider, and rcptguard is then connected to the provider;
#   - the consumer restarted, rcptguard goes back to it by itself (LDAPURI
#     order is preference) within 8 s, answering right meanwhile.
# No cache layer is on (no Redis, LocalCacheSize 0, CacheTTL 0): every
# answer is a lookup.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/replica.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "ldap-replicas: end-to-end checks" postfix swaks ss

OK="250 2.1.5 Ok"
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }
# connected_to PORT: has rcptguard an established TCP connection to PORT?
connected_to() {
    ss -Htnp state established "dport = :$1" 2>/dev/null | grep -q "pid=$RCPTGUARD_PID,"
}

RG_SLAPD_SYNCPROV=1 start_slapd "$TOP/tests/data/directory.ldif" ||
    { not_ok "ldap-replicas: the provider slapd starts"; tap_done; }
start_consumer || { not_ok "ldap-replicas: the consumer slapd starts and replicates"; tap_done; }
ok "ldap-replicas: the consumer holds the provider's entries"
SLAPD_URI="$CONSUMER_URI $SLAPD_URI" write_conf "$T/rcptguard.conf" "Suggest off" \
    "MaxUnknownRecipients 0" "LocalCacheSize 0" "CacheTTL 0" "NegativeCacheTTL 0"
start_rcptguard "$T/rcptguard.conf" || { not_ok "ldap-replicas: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "ldap-replicas: Postfix starts"; tap_done; }

a=john.doe@example.com
expect_eq "ldap-replicas: $a accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
if connected_to "$CONSUMER_PORT" && ! connected_to "$SLAPD_PORT"; then
    ok "ldap-replicas: rcptguard reads the consumer, the first LDAPURI, not the provider"
else
    not_ok "ldap-replicas: rcptguard reads the consumer, the first LDAPURI, not the provider"
    ss -Htnp state established 2>/dev/null | grep "pid=$RCPTGUARD_PID," | sed 's/^/#   /'
fi

# --- a user added on the provider -----------------------------------------------

a=new.hire@example.com
expect_eq "ldap-replicas: $a unknown before it is added" "$(unknown $a)" \
    "$(swaks_rcpt "$POSTFIX_PORT" $a)"
ldap_admin ldapadd >/dev/null <<LDIF || not_ok "ldap-replicas: ldapadd on the provider"
dn: uid=new.hire,ou=people,$RG_BASE_DN
objectClass: inetOrgPerson
uid: new.hire
cn: New Hire
sn: Hire
mail: $a
LDIF
t0=$(date +%s.%N)
got=
while :; do
    got=$(swaks_rcpt "$POSTFIX_PORT" $a)
    now=$(date +%s.%N)
    [[ $got == "$OK" ]] && break
    awk -v a="$t0" -v b="$now" 'BEGIN { exit !(b - a > 5) }' && break
    sleep 0.1
done
took=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
if [[ $got == "$OK" ]] && awk -v t="$took" 'BEGIN { exit !(t <= 2) }'; then
    ok "ldap-replicas: added on the provider, accepted through the consumer after ${took} s"
else
    not_ok "ldap-replicas: added on the provider, accepted through the consumer within 2 s"
    echo "#   after ${took} s the reply was: $got"
fi

# --- the consumer dies under load ---------------------------------------------------

# a steady stream: sessions of two known and one unknown recipient; one
# line per answer: time address reply
stream() {
    local i line
    for ((i = 0; ; i++)); do
        smtp_rcpts "$POSTFIX_PORT" tester@example.net john.doe@example.com \
            jane.smith@example.com "nobody.$i@example.com" | while IFS= read -r line; do
            [[ $line == "RCPT <"* ]] || continue
            line=${line#RCPT <}
            printf '%s %s %s\n' "$(date +%s.%N)" "${line%%>: *}" "${line#*>: }"
        done
    done
}
stream >"$T/stream.log" &
spid=$!
rg_on_exit "kill $spid 2>/dev/null"
sleep 1.5
kill_at=$(date +%s.%N)
stop_consumer KILL
sleep 4
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
# each line: time address reply
false5=$(awk '$2 !~ /^nobody/ && $3 ~ /^5/' "$T/stream.log" | wc -l)
wrong_unknown=$(awk '$2 ~ /^nobody/ && $3 !~ /^(550|451)/' "$T/stream.log" | wc -l)
late=$(awk -v k="$kill_at" '$1 > k + 1 && $2 !~ /^nobody/ && $3 " " $4 " " $5 != "250 2.1.5 Ok"' \
    "$T/stream.log" | wc -l)
after=$(awk -v k="$kill_at" '$1 > k + 1' "$T/stream.log" | wc -l)
total=$(wc -l <"$T/stream.log")
if [[ $false5 -eq 0 && $wrong_unknown -eq 0 ]]; then
    ok "ldap-replicas: consumer killed: 0 known recipients with a 5xx in $total (unknown ones 550 or 451)"
else
    not_ok "ldap-replicas: consumer killed: $false5 known recipients got a 5xx, $wrong_unknown unknown ones neither 550 nor 451"
    grep -v ' 250 2.1.5 Ok$' "$T/stream.log" | head -n 10 | sed 's/^/#   /'
fi
if [[ $after -ge 6 && $late -eq 0 ]]; then
    ok "ldap-replicas: from 1 s after the kill, every known recipient ($after answers in all) is accepted from the provider"
else
    not_ok "ldap-replicas: from 1 s after the kill, every known recipient is accepted ($late of $after answers were not)"
    awk -v k="$kill_at" '$1 > k + 1' "$T/stream.log" | grep -v ' 250 2.1.5 Ok$' | head -n 10 | sed 's/^/#   /'
fi
a=nobody.else@example.com
expect_eq "ldap-replicas: consumer down: $a rejected by the provider's answer" "$(unknown $a)" \
    "$(swaks_rcpt "$POSTFIX_PORT" $a)"
if connected_to "$SLAPD_PORT"; then
    ok "ldap-replicas: rcptguard is connected to the provider"
else
    not_ok "ldap-replicas: rcptguard is connected to the provider"
fi

# --- the consumer comes back ----------------------------------------------------------

restart_consumer || not_ok "ldap-replicas: the consumer restarts"
t0=$(date +%s.%N)
back=
bad=()
for ((i = 0; i < 40; i++)); do
    got=$(swaks_rcpt "$POSTFIX_PORT" jane.smith@example.com)
    [[ $got == "$OK" ]] || bad+=("$got")
    if connected_to "$CONSUMER_PORT"; then
        back=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        break
    fi
    sleep 0.3
done
if [[ -n $back ]] && awk -v t="$back" 'BEGIN { exit !(t <= 8) }'; then
    ok "ldap-replicas: consumer back: rcptguard reads it again after $back s"
else
    not_ok "ldap-replicas: consumer back: rcptguard reads it again within 8 s (${back:-not after 40 tries})"
fi
expect_eq "ldap-replicas: consumer back: every answer meanwhile was 250" "" "${bad[*]}"
tap_done
