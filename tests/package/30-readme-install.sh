#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/package/30-readme-install.sh - README's install from source, followed
# as written, in a clean root.
#
# The commands between README's "install-steps" markers run one by one in a
# copy of the source tree with DESTDIR set to a fresh root $R (apt-get is
# left out: the packages are here).  Then: the layout that make install and
# contrib/install-system made in $R; the installed rcptguard.conf (that of
# contrib/) against slapd loaded with contrib/sample-directory.ldif, changed
# only where an admin of this root would (LDAPURI, RedisURI, the root's
# paths), passes rcptguard -n; the installed daemon, started as root in a
# mount namespace whose /etc/passwd and /etc/group are $R's (the user
# install-system made exists only there), serves a Postfix whose smtpd (user
# postfix) reaches the socket; every reply README shows is checked through
# it, and rcptguard-query --no-cache shows an alias's expansion after a
# cached answer did not.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"

rg_require "README's install steps" unshare postfix swaks slapd redis-server
if [[ $(id -u) -ne 0 ]]; then
    skip "README's install steps" "needs root"
    tap_done
fi
rg_setup
R=$T/root
SRC=$T/src
mkdir -p "$R/etc" "$R/var/spool/postfix" "$SRC"
chmod 755 "$R" "$R/etc" "$R/var" "$R/var/spool" "$R/var/spool/postfix"
# the root starts with this system's users and groups, as a real one would
for f in passwd group shadow gshadow; do cp -p "/etc/$f" "$R/etc/$f"; done
(cd "$TOP" && git ls-files -co --exclude-standard | grep -v -e '^build/' -e '^debian/' |
    tar -cf - -T -) | tar -xf - -C "$SRC"

# --- the steps, as README gives them ------------------------------------------------

steps=$(sed -n '/^<!-- install-steps/,/^<!-- install-steps end/p' "$TOP/README.md" |
    sed -n '/^```sh$/,/^```$/p' | sed '1d;$d')
expect_match "README has the install steps" 'make install' "$steps"
cmds=()
while IFS= read -r line; do
    while [[ $line == *'\' ]]; do
        IFS= read -r more || break
        line=${line%\\}$more
    done
    [[ $line == apt-get* || -z $line ]] && continue
    cmds+=("$line")
done <<<"$steps"
start=$SECONDS
for c in "${cmds[@]}"; do
    if (cd "$SRC" && DESTDIR=$R MAKEFLAGS=-j2 nice bash -c "$c") >>"$T/steps.log" 2>&1; then
        ok "README step: ${c%%#*}"
    else
        not_ok "README step: ${c%%#*}"
        tail -n 20 "$T/steps.log" | sed 's/^/#   /' >&2
        tap_done
    fi
done
echo "# the steps took $((SECONDS - start)) s" >&2

# --- what they made ----------------------------------------------------------------

uid=$(awk -F: '$1 == "rcptguard" { print $3 }' "$R/etc/passwd")
pgid=$(awk -F: '$1 == "postfix" { print $3 }' "$R/etc/group")
expect_match "the user rcptguard is in the root's passwd" '^[0-9]+$' "$uid"
for p in usr/sbin/rcptguard usr/bin/rcptguard-query usr/bin/rcptguard-audit \
    usr/share/man/man8/rcptguard.8 usr/share/man/man5/rcptguard.conf.5 \
    etc/rcptguard/rcptguard.conf etc/logrotate.d/rcptguard etc/systemd/system/rcptguard.service; do
    [[ -e $R/$p ]] && ok "installed: /$p" || not_ok "installed: /$p"
done
expect_eq "/etc/rcptguard: owner rcptguard, 0750" "$uid 750" "$(stat -c '%u %a' "$R/etc/rcptguard")"
expect_eq "/var/log/rcptguard: rcptguard:postfix 0750" "$uid:$pgid 750" \
    "$(stat -c '%u:%g %a' "$R/var/log/rcptguard")"
expect_eq "/var/spool/postfix/rcptguard: rcptguard:postfix 0750" "$uid:$pgid 750" \
    "$(stat -c '%u:%g %a' "$R/var/spool/postfix/rcptguard")"
expect_eq "the installed configuration is contrib/rcptguard.conf" "same" \
    "$(cmp -s "$R/etc/rcptguard/rcptguard.conf" "$TOP/contrib/rcptguard.conf" && echo same)"
expect_eq "the unit starts the installed daemon" \
    "ExecStart=/usr/sbin/rcptguard -c /etc/rcptguard/rcptguard.conf" \
    "$(grep '^ExecStart=' "$R/etc/systemd/system/rcptguard.service")"

# --- the admin's part: password, servers, paths of this root ---------------------------

start_slapd "$TOP/contrib/sample-directory.ldif" || { not_ok "slapd starts"; tap_done; }
start_redis || { not_ok "redis-server starts"; tap_done; }
CONF=$R/etc/rcptguard/rcptguard.conf
printf 'readerpw\n' >"$R/etc/rcptguard/ldap.secret"
chown "$uid" "$R/etc/rcptguard/ldap.secret"
chmod 600 "$R/etc/rcptguard/ldap.secret"
sed -i -e "s|^LDAPURI .*|LDAPURI $SLAPD_URI|" -e "s|^RedisURI .*|RedisURI $REDIS_URI|" \
    -e "s|^\(Socket unix:\)/|\1$R/|" -e "s|^\(PidFile \)/|\1$R/|" -e "s|^\(AlertLog \)/|\1$R/|" \
    -e "s|^\(LDAPBindPasswordFile \)/|\1$R/|" "$CONF"
mkdir -p "$R/run"
chmod 755 "$R/run"
# /etc/passwd and /etc/group of the root, seen by the daemon only
in_root() {
    unshare --mount --propagation private bash -c \
        'mount --bind "$0/etc/passwd" /etc/passwd && mount --bind "$0/etc/group" /etc/group && exec "$@"' \
        "$R" "$@"
}
expect_eq "rcptguard -n: the installed configuration is OK" "$CONF: configuration OK" \
    "$(in_root "$R/usr/sbin/rcptguard" -n -c "$CONF" 2>&1)"
in_root "$R/usr/sbin/rcptguard" -c "$CONF" >"$T/start.log" 2>&1
expect_eq "the daemon starts as root and detaches, exit 0" "0" "$?$(cat "$T/start.log")"
pid=$(cat "$R/run/rcptguard/rcptguard.pid" 2>/dev/null)
rg_on_exit "kill ${pid:-0}"
expect_eq "it runs as rcptguard:postfix" "$uid $pgid" "$(ps -o uid=,gid= -p "${pid:-0}" | awk '{ print $1, $2 }')"
sock=$(sed -n 's/^Socket unix://p' "$CONF")

# --- README's replies through Postfix -----------------------------------------------------

start_postfix "unix:$sock" || { not_ok "Postfix starts"; tap_done; }
r() { swaks_rcpt "$POSTFIX_PORT" "$1"; }
expect_eq "john.doe@example.com: accepted" "250 2.1.5 Ok" "$(r john.doe@example.com)"
expect_eq "nobody@example.com: 550 5.1.1" \
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" \
    "$(r nobody@example.com)"
expect_eq "jhon.doe@example.com: 550 with the suggestion (127.0.0.1 is trusted)" \
    "550-5.1.1 <jhon.doe@example.com>: Recipient address rejected: User unknown
550 5.1.1 Did you mean <john.doe@example.com>?" "$(r jhon.doe@example.com)"
expect_eq "sales@example.com, a live alias: accepted" "250 2.1.5 Ok" "$(r sales@example.com)"
expect_eq "helpdesk@example.com, one target left: accepted" "250 2.1.5 Ok" "$(r helpdesk@example.com)"
# logrotate moves the alert log away: the next alert starts a new file
mv "$R/var/log/rcptguard/alerts.log" "$R/var/log/rcptguard/alerts.log.1" 2>/dev/null
expect_eq "press@example.com, every target gone: 550 5.1.1" \
    "550 5.1.1 <press@example.com>: Recipient address rejected: User unknown" \
    "$(r press@example.com)"

# --- the cache and rcptguard-query --no-cache ---------------------------------------------

q() { in_root "$R/usr/bin/rcptguard-query" -c "$CONF" "$@" 2>/dev/null; }
# the daemon answers from its mirror and leaves Redis alone: the tool's own
# first question puts the answer there
q helpdesk@example.com >/dev/null
expect_eq "rcptguard-query: helpdesk from the cache, no expansion" \
    "helpdesk@example.com ok cache" "$(q helpdesk@example.com)"
expect_eq "rcptguard-query --no-cache: from the directory, with its expansion" \
    "helpdesk@example.com ok ldap
  -> priya.natarajan@example.com ok
  -> peter.old@example.com unknown dangling-target" "$(q --no-cache helpdesk@example.com)"
expect_match "the alert log in /var/log/rcptguard had the dangling target" \
    '"alias":"helpdesk@example.com","problem":"dangling-target"' \
    "$(cat "$R/var/log/rcptguard/alerts.log.1" 2>&1)"
expect_match "after the rotation, the next alert went to a new alerts.log" \
    '"alias":"press@example.com"' "$(cat "$R/var/log/rcptguard/alerts.log" 2>&1)"
# README's small configuration, against the same sample directory
small=$T/small.conf
awk '/^A small configuration/ { f = 1 } f && /^```$/ { n++; if (n == 2) exit; next } f && n == 1' \
    "$TOP/README.md" >"$small"
sed -i -e "s|^LDAPURI .*|LDAPURI $SLAPD_URI|" -e "s|^RedisURI .*|RedisURI none|" \
    -e "s|^\(Socket *unix:\)/|\1$R/|" -e "s|^\(PidFile *\)/|\1$R/|" -e "s|^\(AlertLog *\)/|\1$R/|" \
    -e "s|^\(LDAPBindPasswordFile *\)/|\1$R/|" "$small"
expect_eq "README's small configuration: mailbox, live alias, broken alias, unknown" \
    "john.doe@example.com ok ldap
sales@example.com ok ldap
  -> jane.smith@example.com ok
  -> carlos.rivera@example.com ok
press@example.com alias-broken ldap
  -> maria.former@example.com unknown dangling-target
nobody@example.com unknown ldap" \
    "$(in_root "$R/usr/bin/rcptguard-query" -c "$small" john.doe@example.com sales@example.com \
        press@example.com nobody@example.com 2>&1)"

stop_slapd
expect_eq "directory down: a cached unknown recipient still gets 550" \
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" \
    "$(r nobody@example.com)"
expect_eq "directory down: a recipient the cache does not know gets 451" \
    "451 4.3.0 <nobody2@example.com>: Temporary lookup failure" "$(r nobody2@example.com)"

kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
expect_eq "SIGTERM: socket and pid file removed (as rcptguard, in its own folder)" "|" \
    "$(ls "$sock" 2>/dev/null)|$(ls "$R/run/rcptguard/rcptguard.pid" 2>/dev/null)"
# README: milter_default_action = tempfail defers all mail, at MAIL FROM
expect_eq "rcptguard stopped: Postfix answers MAIL FROM with 451 4.7.1" \
    "<** 451 4.7.1 Service unavailable - try again later" \
    "$(swaks --server "127.0.0.1:$POSTFIX_PORT" --from you@example.org --to john.doe@example.com \
        --quit-after RCPT 2>&1 | grep '^<\*\* ')"
stop_postfix
tap_done
