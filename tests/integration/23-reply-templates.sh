#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/23-reply-templates.sh - RejectText, TempfailText and
# SuggestText through a real Postfix and a real Sendmail.
#
# A site's own texts ("write to postmaster@...", a literal "%%") must reach
# the SMTP client exactly, with the codes and enhanced codes unchanged, the
# address where the template puts it, and Sendmail's "<addr>... " in front of
# a 550 not doubled by a leading "<%a>: ".  A template rcptguard cannot send is
# refused at start, naming the file and line.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "templates: end-to-end checks" postfix swaks

# Bad templates are configuration errors that name the file and the line.
write_conf "$T/bad.conf" 'RejectText <%a>: unknown, ask %u'
out=$("$RCPTGUARD" -n -c "$T/bad.conf" 2>&1)
expect_exit "templates: an unknown % sequence is refused (exit 78)" 78 "$RCPTGUARD" -n -c "$T/bad.conf"
expect_match "templates: the message names file, line and sequence" \
    "^rcptguard: $T/bad.conf:11: RejectText \"%u\" is not one of %a %%" "$out"
write_conf "$T/bad.conf" $'TempfailText try\tlater'
expect_match "templates: a control character is refused, naming file and line" \
    "^rcptguard: $T/bad.conf:11: TempfailText holds a control character" \
    "$("$RCPTGUARD" -n -c "$T/bad.conf" 2>&1)"

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "templates: slapd starts"; tap_done; }
write_conf "$T/rcptguard.conf" \
    'RejectText <%a>: no such user here; write to postmaster@example.com (100%% sure)' \
    'TempfailText <%a>: directory busy, try again later' \
    'SuggestText Perhaps you meant <%s>, not <%a>?'
start_rcptguard "$T/rcptguard.conf" || { not_ok "templates: rcptguard starts"; tap_done; }
for ((i = 0; i < 50; i++)); do
    grep -q 'suggestion index loaded' "$RCPTGUARD_LOG" && break
    sleep 0.1
done

# run_checks NAME PORT: the replies through one MTA; Sendmail writes
# "<addr>... " itself in front of a 550, so there the template's "<%a>: " goes.
run_checks() {
    local mta=$1 port=$2 lead550
    lead550='<nobody@example.com>: '
    [[ $mta == sendmail ]] && lead550='<nobody@example.com>... '
    expect_eq "templates: $mta: an unknown recipient gets RejectText" \
        "550 5.1.1 ${lead550}no such user here; write to postmaster@example.com (100% sure)" \
        "$(swaks_rcpt "$port" nobody@example.com)"
    lead550='<jhon.doe@example.com>: '
    [[ $mta == sendmail ]] && lead550='<jhon.doe@example.com>... '
    expect_eq "templates: $mta: a typo gets RejectText and SuggestText" \
        "550-5.1.1 ${lead550}no such user here; write to postmaster@example.com (100% sure)
550 5.1.1 Perhaps you meant <john.doe@example.com>, not <jhon.doe@example.com>?" \
        "$(swaks_rcpt "$port" jhon.doe@example.com)"
    local ok_line="250 2.1.5 Ok"
    [[ $mta == sendmail ]] && ok_line="250 2.1.5 <john.doe@example.com>... Recipient ok"
    expect_eq "templates: $mta: a known recipient is accepted" "$ok_line" \
        "$(swaks_rcpt "$port" john.doe@example.com)"
    stop_slapd
    expect_eq "templates: $mta: the directory away gets TempfailText" \
        "451 4.3.0 <never.seen.$mta@example.com>: directory busy, try again later" \
        "$(swaks_rcpt "$port" "never.seen.$mta@example.com")"
    restart_slapd || not_ok "templates: $mta: slapd restarts"
}

start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "templates: postfix starts"; tap_done; }
run_checks postfix "$POSTFIX_PORT"
stop_postfix

rc=0
start_sendmail "$MILTER_PORT" || rc=$?
if ((rc == 2)); then
    skip "templates: sendmail checks" "${RG_SENDMAIL_MISSING:-Sendmail not available}"
    tap_done
elif ((rc != 0)); then
    not_ok "templates: sendmail starts from its unpacked packages"
    tap_done
fi
run_checks sendmail "$SENDMAIL_PORT"

tap_done
