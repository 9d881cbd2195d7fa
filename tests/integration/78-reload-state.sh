#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/78-reload-state.sh - a SIGUSR1 reload keeps the
# suggestion index and the in-process cache when their settings are
# unchanged, and reloads the index when they are not.
#
# slapd with tests/data/directory.ldif, no Redis (only the in-process cache
# can answer), rcptguard behind a private Postfix with Suggest trusted,
# swaks from 127.0.0.1 (reply lines compared exactly):
#   - after a reload with the file unchanged, and after one that changes an
#     unrelated key (MaxUnknownRecipients): the reload line says the index
#     and cache were kept; a typo gets its suggestion with no index load in
#     the log since the reload; with slapd stopped, an address asked before
#     the reload is accepted from the cache (source=cache);
#   - after a reload that changes LDAPBase, and one that changes LDAPFilter:
#     the reload line names the change and the index is loaded again.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "reload-state: end-to-end checks" postfix swaks

COMMON=(
    "Suggest trusted"
    "TrustedNetworks 127.0.0.1/32"
    "SuggestRefresh 3600"
    "CacheTTL 600"
    "NegativeCacheTTL 60"
)
OK="250 2.1.5 Ok"
two_lines() {
    printf '550-5.1.1 <%s>: Recipient address rejected: User unknown\n550 5.1.1 Did you mean <%s>?' "$1" "$2"
}

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "reload-state: slapd starts"; tap_done; }
write_conf "$T/rg.conf" "${COMMON[@]}" "MaxUnknownRecipients 0"
start_rcptguard "$T/rg.conf" || { not_ok "reload-state: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "reload-state: postfix starts"; tap_done; }
rg_log_wait 'suggestion index loaded' 30 0 >/dev/null ||
    not_ok "reload-state: the index is loaded at start" "$(tail -n 5 "$RCPTGUARD_LOG")"

typo=jhon.doe@example.com
cached=jane.smith@example.com
expect_eq "reload-state: before any reload, $typo gets the suggestion" \
    "$(two_lines $typo john.doe@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $typo)"
expect_eq "reload-state: $cached accepted (and cached)" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $cached)"

# kept_checks WHAT: after a reload that should keep everything.
kept_checks() {
    local what=$1 from line
    from=$(rg_log_lines)
    line=$(rg_reload)
    expect_match "reload-state: $what: the reload keeps the index and the cache" \
        'configuration .* reloaded: suggestion index and cache kept' "$line"
    expect_eq "reload-state: $what: $typo gets the suggestion at once" \
        "$(two_lines $typo john.doe@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $typo)"
    sleep 1     # time for a load, if one (wrongly) started
    line=$(tail -n +"$((from + 1))" "$RCPTGUARD_LOG" | grep 'suggestion index loaded')
    expect_eq "reload-state: $what: no index load since the reload" "" "$line"
    stop_slapd
    expect_eq "reload-state: $what: slapd stopped, $cached is accepted" \
        "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $cached)"
    line=$(tail -n +"$((from + 1))" "$RCPTGUARD_LOG" | grep -F "rcpt=<$cached> verdict=" | tail -n 1)
    expect_match "reload-state: $what: ... answered from the cache" 'verdict=ok source=cache ' "$line"
    restart_slapd || not_ok "reload-state: $what: slapd starts again"
}

kept_checks "file unchanged"
write_conf "$T/rg.conf" "${COMMON[@]}" "MaxUnknownRecipients 5"
kept_checks "MaxUnknownRecipients changed"

# reloaded_checks WHAT KEY: after a reload that changes KEY.
reloaded_checks() {
    local what=$1 key=$2 from line
    from=$(rg_log_lines)
    line=$(rg_reload)
    expect_match "reload-state: $what: the reload line says the index is loaded again" \
        "configuration .* reloaded: suggestion index reloading \($key changed\)" "$line"
    if rg_log_wait 'suggestion index loaded' 30 "$from" >/dev/null; then
        ok "reload-state: $what: the index is loaded again"
    else
        not_ok "reload-state: $what: the index is loaded again" "$(tail -n 5 "$RCPTGUARD_LOG")"
    fi
    expect_eq "reload-state: $what: $typo gets the suggestion" \
        "$(two_lines $typo john.doe@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $typo)"
}

write_conf "$T/rg.conf" "${COMMON[@]}" "MaxUnknownRecipients 5"
sed -i "s|^LDAPBase .*|LDAPBase ou=people,$RG_BASE_DN|" "$T/rg.conf"
reloaded_checks "LDAPBase changed" LDAPBase
write_conf "$T/rg.conf" "${COMMON[@]}" "MaxUnknownRecipients 5" \
    "LDAPFilter (&(objectClass=inetOrgPerson)(mail=%s))"
sed -i "s|^LDAPBase .*|LDAPBase ou=people,$RG_BASE_DN|" "$T/rg.conf"
reloaded_checks "LDAPFilter changed" LDAPFilter

if kill -0 "$RCPTGUARD_PID" 2>/dev/null; then
    ok "reload-state: rcptguard still running after the reloads"
else
    not_ok "reload-state: rcptguard still running after the reloads"
fi
tap_done
