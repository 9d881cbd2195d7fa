#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/92-mirror-outage.sh - how far the mirror is trusted.
#
# Without RFC 4533 (slapd without syncprov): a found address comes from the
# mirror, an unknown one is asked live, so a user added after the load is
# found at once.  With it: both come from the mirror; slapd stopped (the
# session lost), found addresses still come from the mirror, unknown ones
# for NegativeCacheTTL (8 s here) and then get "could not tell" (451), never
# unknown; slapd back, the session is opened again and both come from the
# mirror again.  rcptguard-query (Mirror yes) runs for each part as a
# background job and is asked one address at a time.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mirror.sh"
rg_setup
rg_require "mirror outage" ldapadd

mirror_ldif >"$T/dir.ldif"

# --- without RFC 4533 ------------------------------------------------------------
start_slapd "$T/dir.ldif" || { not_ok "slapd starts"; exit 1; }
RG_TEST_MIRROR=yes write_conf "$T/walk.conf" "${MIRROR_CONF[@]}" "MirrorRefresh 600"
mq_start "$T/walk.conf"
expect_eq "no syncprov: a found address comes from the mirror" "ok mirror" "$(mq_ask u0002@example.com)"
expect_eq "an unknown one is asked live" "unknown ldap" "$(mq_ask nobody@example.com)"
printf 'dn: uid=fresh,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: fresh\ncn: f\nsn: f\nmail: fresh@example.com\n' |
    ldap_admin ldapadd >/dev/null
expect_eq "a user added after the load is found at once (live)" "ok ldap" "$(mq_ask fresh@example.com)"
kill "$MQ_PID" 2>/dev/null
exec 7>&- 8<&-
stop_slapd

# --- with RFC 4533 ---------------------------------------------------------------
RG_SLAPD_SYNCPROV=1 start_slapd "$T/dir.ldif" || { not_ok "slapd with syncprov starts"; exit 1; }
RG_TEST_MIRROR=yes write_conf "$T/sync.conf" "${MIRROR_CONF[@]}" "NegativeCacheTTL 8" \
    "CacheTTL 0"
mq_start "$T/sync.conf"
expect_eq "syncprov: a found address comes from the mirror" "ok mirror" "$(mq_ask u0002@example.com)"
expect_eq "and so does an unknown one" "unknown mirror" "$(mq_ask nobody@example.com)"
t_stop=$SECONDS
stop_slapd
sleep 0.5
expect_eq "slapd stopped: a found address still comes from the mirror" "ok mirror" \
    "$(mq_ask u0004@example.com)"
expect_eq "an unknown one too, for NegativeCacheTTL after the loss" "unknown mirror" \
    "$(mq_ask nobody2@example.com)"
expect_eq "a disabled user as well" "unknown mirror" "$(mq_ask u0010@example.com)"
while ((SECONDS < t_stop + 10)); do sleep 0.2; done
expect_eq "after NegativeCacheTTL: an unknown address cannot be told (451)" "tempfail ldap" \
    "$(mq_ask nobody3@example.com)"
expect_eq "while a found one still comes from the mirror (StaleTTL)" "ok mirror" \
    "$(mq_ask u0006@example.com)"
restart_slapd || not_ok "slapd restarts"
for ((i = 0; i < 100; i++)); do
    [[ $(mq_ask nobody4@example.com) == "unknown mirror" ]] && break
    sleep 0.1
done
expect_eq "slapd back: the session is opened again, unknown from the mirror" "unknown mirror" \
    "$(mq_ask nobody4@example.com)"

tap_done
