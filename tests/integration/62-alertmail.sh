#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 62-alertmail.sh - alias problems mailed as a digest (AlertMailTo), end to end.
#
# slapd with tests/data/aliases.ldif (the planted problems of 60-audit.sh),
# redis-server, and two rcptguard instances on that one Redis, both milters
# of one private Postfix; Postfix is also the local MTA the digest goes
# through (SendmailPath: Postfix's sendmail with this Postfix's folder) and
# delivers admin@admins.test into a mailbox file in the test's folder.
# Recipients that hit broken aliases raise alerts in both instances while
# the MTA refuses the digest (the sendmail wrapper exits 75 until the test
# opens it: every round fails and is tried again, and no digest is cut in
# two by a round that comes too early); then exactly one digest must arrive, grouped by problem, each line with alias, target,
# DN and the rcptguard-audit command; a problem mailed once is not mailed
# again, a new one comes in a second digest.  Without Redis, one instance
# mails what it raised itself.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "alert digest: through a real Postfix" postfix swaks

B=dc=example,dc=com
INTERVAL=4
MBOX=$T/mail/admin

# digests: how many digests the mailbox holds.
digests() {
    local n
    n=$(grep -c '^Subject: rcptguard: ' "$MBOX" 2>/dev/null)
    echo "${n:-0}"
}
# wait_digests N SECONDS: until the mailbox holds N digests.
wait_digests() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [[ $(digests) -ge $1 ]] && return 0
        sleep 0.1
    done
    return 1
}
# body N: the body of the Nth digest (from its first line to the one before
# the next "From " line of the mailbox).
body() {
    awk -v n="$1" '/^From /{k++; inb=0; next} k==n && /^$/ && !inb {inb=1; next} k==n && inb' "$MBOX" |
        sed -e '${/^$/d}'
}

start_slapd "$TOP/tests/data/aliases.ldif" || { not_ok "alert digest: slapd starts"; tap_done; }
start_redis || { not_ok "alert digest: redis-server starts"; tap_done; }

# Postfix first: its folder is where the digest is submitted.
PORT_A=$(free_port)
PORT_B=$(free_port)
start_postfix "inet:127.0.0.1:$PORT_A, inet:127.0.0.1:$PORT_B" ||
    { not_ok "alert digest: postfix starts"; tap_done; }
mkdir -p "$T/mail" && chown nobody "$T/mail"
postconf -c "$POSTFIX_DIR/conf" -e "virtual_mailbox_domains = admins.test" \
    "virtual_mailbox_base = $T/mail" "virtual_mailbox_maps = inline:{ admin@admins.test=admin }" \
    "virtual_uid_maps = static:$(id -u nobody)" "virtual_gid_maps = static:$(id -g nobody)" \
    "milter_default_action = accept"
postfix -c "$POSTFIX_DIR/conf" reload >/dev/null 2>&1
printf '#!/bin/sh\n[ -e %s/mta-open ] || exit 75\nexec /usr/sbin/sendmail -C %s "$@"\n' \
    "$T" "$POSTFIX_DIR/conf" >"$T/sendmail"
chmod 755 "$T/sendmail"
mta_open() { touch "$T/mta-open"; }
mta_close() { rm -f "$T/mta-open"; }
# wait_alerts ALIAS...: until the log shows an alert for each ALIAS
wait_alerts() {
    local a i
    for a in "$@"; do
        for ((i = 0; i < 200; i++)); do
            grep -q "alias problem: alias=<$a>" "$RCPTGUARD_LOG" && break
            sleep 0.1
        done
    done
}

# conf FILE PORT [LINE...]
conf() {
    local file=$1 port=$2
    shift 2
    MILTER_PORT=$port write_conf "$file" \
        "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" \
        "LDAPAddressAttributes mail mailLocalAddress" \
        "LDAPAliasAttributes rfc822MailMember mailRoutingAddress" \
        "LDAPMemberAttributes member uniqueMember" \
        "LDAPDisabledFilter (description=disabled)" \
        "AliasMaxDepth 4" "AliasMaxTargets 5" "Suggest off" \
        "AlertInterval $INTERVAL" "AlertMailTo admin@admins.test" \
        "AlertMailFrom rcptguard@mx.test.local" "SendmailPath $T/sendmail" "$@"
}
conf "$T/a.conf" "$PORT_A"
conf "$T/b.conf" "$PORT_B"
start_rcptguard "$T/a.conf" || { not_ok "alert digest: rcptguard A starts"; tap_done; }
PID_A=$RCPTGUARD_PID
rg_on_exit "kill $PID_A"
RCPTGUARD_PID=
start_rcptguard "$T/b.conf" || { not_ok "alert digest: rcptguard B starts"; tap_done; }

smtp_rcpts "$POSTFIX_PORT" tester@example.net sales@example.com support@example.com \
    empty@example.com >/dev/null
wait_alerts sales@example.com support@example.com empty@example.com
sleep $((INTERVAL + 1))
expect_eq "alert digest: nothing arrives while the MTA refuses it" 0 "$(digests)"
if grep -q 'alert digest: .*sendmail -t -oi: exit status not 0' "$RCPTGUARD_LOG"; then
    ok "alert digest: a refused digest is logged"
else
    not_ok "alert digest: a refused digest is logged"
fi
mta_open
if wait_digests 1 $((3 * INTERVAL + 5)); then
    ok "alert digest: a digest arrives in the mailbox"
else
    not_ok "alert digest: a digest arrives in the mailbox" "$(tail -n 5 "$POSTFIX_DIR/maillog")"
fi
sleep $((2 * INTERVAL + 1))
expect_eq "alert digest: two instances on one Redis sent one digest" 1 "$(digests)"
expect_eq "alert digest: one instance logged it" 1 \
    "$(grep -c 'alert digest: 3 problems mailed to 1 address' "$RCPTGUARD_LOG")"

EXPECTED="rcptguard found 3 alias problems not reported before.

dangling-target (1)
  alias=<sales@example.com> target=<gone@example.com> dn=\"cn=sales,ou=aliases,$B\"
    more: rcptguard-audit -c $T/X.conf | grep -F 'sales@example.com'

disabled-target (1)
  alias=<support@example.com> target=<leaver@example.com> dn=\"cn=support,ou=aliases,$B\"
    more: rcptguard-audit -c $T/X.conf | grep -F 'support@example.com'

no-targets (1)
  alias=<empty@example.com> target=<-> dn=\"cn=empty,ou=aliases,$B\"
    more: rcptguard-audit -c $T/X.conf | grep -F 'empty@example.com'

The whole directory: rcptguard-audit -c $T/X.conf --html report.html
Each problem is mailed once; rcptguard-audit shows those still there."
expect_eq "alert digest: grouped by problem, alias, target, DN and the audit command" \
    "$EXPECTED" "$(body 1 | sed -E "s#$T/[ab]\.conf#$T/X.conf#")"
expect_match "alert digest: From, To and Subject" \
    "From: rcptguard@mx.test.local To: admin@admins.test Subject: rcptguard: 3 new alias problems \(.*\)" \
    "$(grep -E '^(From|To|Subject): ' "$MBOX" | tr '\n' ' ')"

# The same problems again (their alerts are raised again after AlertInterval),
# and one new: only the new one is mailed.
mta_close
smtp_rcpts "$POSTFIX_PORT" tester@example.net sales@example.com support@example.com \
    helpdesk@example.com >/dev/null
wait_alerts helpdesk@example.com
# while someone else holds the round's lock, nobody here sends
redis_cli SET rcptguard:alertmail:lock elsewhere EX 60 >/dev/null
mta_open
sleep $((2 * INTERVAL + 1))
expect_eq "alert digest: no digest while another MTA holds the lock" 1 "$(digests)"
redis_cli DEL rcptguard:alertmail:lock >/dev/null
wait_digests 2 $((3 * INTERVAL + 5)) || true
sleep $((2 * INTERVAL + 1))
expect_eq "alert digest: a second digest for the new problem only" 2 "$(digests)"
expect_match "alert digest: it holds helpdesk's self-target, and nothing mailed before" \
    "^rcptguard found 1 alias problem not reported before\.  self-target \(1\)   alias=<helpdesk@example\.com> target=<helpdesk@example\.com> " \
    "$(body 2 | tr '\n' ' ')"
stop_rcptguard
RCPTGUARD_PID=$PID_A
stop_rcptguard

# --- without Redis: one instance, its own alerts ------------------------------------
: >"$MBOX"
mta_close
: >"$RCPTGUARD_LOG"
# no cache: every RCPT raises its alert again once AlertInterval is over
REDIS_URI= conf "$T/c.conf" "$PORT_A" "LocalCacheSize 0"
start_rcptguard "$T/c.conf" || { not_ok "alert digest: rcptguard without Redis starts"; tap_done; }
swaks_rcpt "$POSTFIX_PORT" sales@example.com >/dev/null
swaks_rcpt "$POSTFIX_PORT" sales@example.com >/dev/null
wait_alerts sales@example.com
mta_open
wait_digests 1 $((3 * INTERVAL + 5)) || true
expect_match "alert digest without Redis: the alert of this process is mailed" \
    "^rcptguard found 1 alias problem not reported before\.  dangling-target \(1\)   alias=<sales@example\.com> " \
    "$(body 1 | tr '\n' ' ')"
sleep $((INTERVAL + 1))
swaks_rcpt "$POSTFIX_PORT" sales@example.com >/dev/null
sleep $((2 * INTERVAL + 1))
expect_eq "alert digest without Redis: not mailed twice" 1 "$(digests)"
stop_rcptguard
expect_eq "alert digest: rcptguard stops cleanly" 0 "${RCPTGUARD_STATUS:-x}"
tap_done
