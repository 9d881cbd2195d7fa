#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/package/10-deb.sh - the Debian package as an admin gets it.
#
# Builds the .deb from a copy of the source tree (dpkg-buildpackage -b,
# nocheck: the unit tests run in their own pass), runs lintian (no error, no
# warning), checks the unit with systemd-analyze (verify clean, security
# exposure at most 2.0), installs the package, checks what postinst made,
# starts the daemon as the unit would (its ExecStartPre and ExecStart lines,
# as User= and Group=, in the RuntimeDirectory and LogsDirectory systemd
# would make; systemd itself is not used), lets a Postfix whose smtpd runs as
# user postfix reach it through the installed configuration's unix socket,
# stops it with SIGTERM (socket and pid file gone), purges the package and
# checks that nothing it made is left.  Needs root; skipped where
# dpkg-buildpackage, debhelper or lintian is missing, or where rcptguard is
# installed already (that installation is not touched).
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"

rg_require "the Debian package" dpkg-buildpackage dh lintian systemd-analyze setpriv postfix swaks
if [[ $(id -u) -ne 0 ]]; then
    skip "the Debian package" "needs root"
    tap_done
fi
if dpkg-query -W -f='${db:Status-Status}' rcptguard 2>/dev/null | grep -q installed ||
    getent passwd rcptguard >/dev/null; then
    skip "the Debian package" "rcptguard is installed on this machine already"
    tap_done
fi
rg_setup
CONF=/etc/rcptguard/rcptguard.conf
UNIT=/lib/systemd/system/rcptguard.service

# --- build and lintian ---------------------------------------------------------

B=$T/build
mkdir -p "$B/rcptguard"
(cd "$TOP" && git ls-files -co --exclude-standard | grep -v -e '^build/' -e '^debian/' |
    tar -cf - -T -) | tar -xf - -C "$B/rcptguard"
cp -r "$TOP/packaging/debian" "$B/rcptguard/debian"
start=$SECONDS
if (cd "$B/rcptguard" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
    nice dpkg-buildpackage -us -uc -b) >"$B/build.log" 2>&1; then
    ok "dpkg-buildpackage -us -uc -b builds the package ($((SECONDS - start)) s)"
else
    not_ok "dpkg-buildpackage -us -uc -b builds the package"
    tail -n 30 "$B/build.log" | sed 's/^/#   /' >&2
    tap_done
fi
deb=$(ls "$B"/rcptguard_*.deb)
out=$(cd "$B" && lintian --fail-on error,warning rcptguard_*.changes 2>&1)
rc=$?
expect_eq "lintian: no error, no warning" "0" "$rc$(grep -E '^[EW]:' <<<"$out")"

# --- install -------------------------------------------------------------------

purge() {
    dpkg --purge rcptguard >"$T/purge.log" 2>&1
}
rg_on_exit purge
if dpkg -i "$deb" >"$T/install.log" 2>&1; then
    ok "dpkg -i installs it"
else
    not_ok "dpkg -i installs it"
    sed 's/^/#   /' "$T/install.log" >&2
    tap_done
fi
expect_eq "$CONF is a conffile" "$CONF" \
    "$(dpkg-query -W -f='${Conffiles}\n' rcptguard | awk '{ print $1 }' | grep -x "$CONF")"
expect_eq "user rcptguard, group rcptguard" "rcptguard rcptguard" \
    "$(id -un rcptguard) $(id -gn rcptguard)"
expect_eq "/etc/rcptguard: rcptguard 0750, registered with dpkg-statoverride" \
    "rcptguard:rcptguard 750|rcptguard rcptguard 750 /etc/rcptguard" \
    "$(stat -c '%U:%G %a' /etc/rcptguard)|$(dpkg-statoverride --list /etc/rcptguard)"
expect_eq "/var/log/rcptguard: rcptguard:postfix 0750" "rcptguard:postfix 750" \
    "$(stat -c '%U:%G %a' /var/log/rcptguard)"
expect_eq "/var/spool/postfix/rcptguard: rcptguard:postfix 0750, registered" \
    "rcptguard:postfix 750|rcptguard postfix 750 /var/spool/postfix/rcptguard" \
    "$(stat -c '%U:%G %a' /var/spool/postfix/rcptguard)|$(dpkg-statoverride --list /var/spool/postfix/rcptguard)"
expect_eq "logrotate file installed and accepted by logrotate" "0" \
    "$(logrotate -d /etc/logrotate.d/rcptguard >"$T/logrotate.log" 2>&1; echo $?)$(grep -i error "$T/logrotate.log")"

# --- the unit --------------------------------------------------------------------

expect_eq "systemd-analyze verify: clean" "0" \
    "$(systemd-analyze verify "$UNIT" 2>&1; echo $?)"
score=$(systemd-analyze security --offline=true "$UNIT" 2>&1 |
    sed -n 's/.*Overall exposure level for rcptguard.service: \([0-9.]*\).*/\1/p')
if [[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    ok "systemd-analyze security --offline=true: exposure $score (at most 2.0)"
else
    not_ok "systemd-analyze security --offline=true: exposure at most 2.0" "got '$score'"
fi
unit_value() { sed -n "s/^$1=//p" "$UNIT"; }
user=$(unit_value User)
group=$(unit_value Group)
expect_eq "the unit runs as rcptguard:postfix" "rcptguard:postfix" "$user:$group"

# --- start it as the unit would ---------------------------------------------------

start_slapd "$TOP/contrib/sample-directory.ldif" || { not_ok "slapd starts"; tap_done; }
# what an admin edits: the directory's address and the bind password
sed -i -e "s|^LDAPURI .*|LDAPURI $SLAPD_URI|" -e "s|^RedisURI .*|RedisURI none|" "$CONF"
printf 'readerpw\n' >/etc/rcptguard/ldap.secret
chown rcptguard /etc/rcptguard/ldap.secret
chmod 600 /etc/rcptguard/ldap.secret
# what systemd makes before the first ExecStartPre
install -d -o "$user" -g "$group" -m 0750 /run/rcptguard
rmdir /var/spool/postfix/rcptguard   # made again by ExecStartPre=+ (Postfix installed later)
as_unit() { setpriv --reuid="$user" --regid="$group" --init-groups "$@"; }
pre=()
while IFS= read -r line; do pre+=("$line"); done < <(unit_value ExecStartPre)
expect_eq "ExecStartPre=+ makes the socket folder" "rcptguard:postfix 750" \
    "$(eval "${pre[0]#+}" && stat -c '%U:%G %a' /var/spool/postfix/rcptguard)"
out=$(eval "as_unit ${pre[1]}" 2>&1)
expect_eq "ExecStartPre rcptguard -n, as the unit's user: configuration OK" \
    "$CONF: configuration OK" "$out"
eval "as_unit $(unit_value ExecStart)" >"$T/start.log" 2>&1
expect_eq "ExecStart: the daemon detaches, exit 0" "0" "$?$(cat "$T/start.log")"
pid=$(cat /run/rcptguard/rcptguard.pid 2>/dev/null)
rg_on_exit "kill ${pid:-999999}"
expect_eq "the pid file names a process of user rcptguard, group postfix" "rcptguard postfix" \
    "$(stat -c '%U %G' "/proc/${pid:-999999}" 2>&1)"
sock=$(sed -n 's/^Socket unix://p' "$CONF")
expect_eq "its socket: rcptguard:postfix, mode 0660" "rcptguard:postfix 660" \
    "$(stat -c '%U:%G %a' "$sock" 2>&1)"

# --- Postfix (smtpd as user postfix) reaches it --------------------------------------

if start_postfix "unix:$sock"; then
    expect_eq "through Postfix: a mailbox is accepted" "250 2.1.5 Ok" \
        "$(swaks_rcpt "$POSTFIX_PORT" john.doe@example.com)"
    expect_eq "through Postfix: an unknown recipient is rejected" \
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" \
        "$(swaks_rcpt "$POSTFIX_PORT" nobody@example.com)"
    stop_postfix
else
    not_ok "a Postfix starts with smtpd_milters = unix:$sock"
fi

kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
expect_eq "SIGTERM: the daemon ends, its socket and pid file are gone" "gone||" \
    "$(kill -0 "$pid" 2>/dev/null || echo gone)|$(ls "$sock" 2>/dev/null)|$(ls /run/rcptguard/rcptguard.pid 2>/dev/null)"
rmdir /run/rcptguard    # as systemd does at the stop

# --- purge ---------------------------------------------------------------------------

if purge; then
    ok "dpkg --purge removes it"
else
    not_ok "dpkg --purge removes it"
    sed 's/^/#   /' "$T/purge.log" >&2
fi
left=
for p in /etc/rcptguard /var/log/rcptguard /var/spool/postfix/rcptguard /run/rcptguard \
    /lib/systemd/system/rcptguard.service /usr/sbin/rcptguard /etc/logrotate.d/rcptguard; do
    [[ -e $p ]] && left+=" $p"
done
getent passwd rcptguard >/dev/null && left+=" user:rcptguard"
getent group rcptguard >/dev/null && left+=" group:rcptguard"
dpkg-statoverride --list | grep -q rcptguard && left+=" statoverride"
dpkg-query -W rcptguard >/dev/null 2>&1 && left+=" dpkg-entry"
expect_eq "nothing is left after the purge" "" "$left"

tap_done
