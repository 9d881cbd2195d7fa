#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/34-secrets.sh - the bind password and the privileges.
#
#   - a password file that the group or others can read: rcptguard -n (and
#     the daemon) warn, naming the file and its mode; 0600: no warning;
#   - a relative LDAPBindPasswordFile is refused;
#   - a wrong password: tempfail, and the password is in no error, log line
#     or reply (through Postfix);
#   - the daemon, started as an unprivileged user, is not dumpable once it
#     has read the password (its /proc entries then belong to root), and the
#     password is not in its command line;
#   - SocketMode: a unix socket gets exactly that mode (default 0660), a
#     value that is not an octal mode is refused;
#   - started as root without UserID: a warning; with UserID: none.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "secrets and privileges" slapd setpriv stat

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts"; tap_done; }

# check_n DESC CONF: rcptguard -n's exit status and output in RC and OUT.
check_n() {
    RC=0
    OUT=$("$RCPTGUARD" -n -c "$1" 2>&1) || RC=$?
}

# --- the mode of the password file -------------------------------------------------
write_conf "$T/rg.conf" "Suggest off"
check_n "$T/rg.conf"
expect_eq "password file 0600: -n says only OK" "$T/rg.conf: configuration OK" "$OUT"
chmod 640 "$T/ldap.pw"
check_n "$T/rg.conf"
expect_eq "password file 0640: -n still accepts it" 0 "$RC"
expect_eq "password file 0640: a warning naming the file and its mode" \
    "rcptguard: warning: LDAPBindPasswordFile $T/ldap.pw is readable by its group (mode 0640); make it 0600, owned by the user that starts rcptguard
$T/rg.conf: configuration OK" "$OUT"
chmod 604 "$T/ldap.pw"
check_n "$T/rg.conf"
expect_match "password file 0604: a warning naming others and the mode" \
    "LDAPBindPasswordFile $T/ldap\\.pw is readable by others \\(mode 0604\\)" "$OUT"
chmod 600 "$T/ldap.pw"

write_conf "$T/relative.conf"
sed -i 's|^LDAPBindPasswordFile .*|LDAPBindPasswordFile ldap.pw|' "$T/relative.conf"
line=$(grep -n '^LDAPBindPasswordFile' "$T/relative.conf" | cut -d: -f1)
check_n "$T/relative.conf"
expect_eq "a relative LDAPBindPasswordFile is refused (exit 78)" 78 "$RC"
expect_eq "a relative LDAPBindPasswordFile: the message" \
    "rcptguard: $T/relative.conf:$line: LDAPBindPasswordFile \"ldap.pw\" is a relative path; give the full path" \
    "$OUT"

# --- a wrong password ---------------------------------------------------------------
write_conf "$T/wrong.conf" "Suggest off"
printf '%s\n' "$RG_WRONG_PW" >"$T/wrong.pw"
chmod 600 "$T/wrong.pw"
sed -i "s|^LDAPBindPasswordFile .*|LDAPBindPasswordFile $T/wrong.pw|" "$T/wrong.conf"
expect_query 75 "a wrong bind password: tempfail" "john.doe@example.com tempfail ldap" \
    "$T/wrong.conf" john.doe@example.com
expect_match "a wrong bind password: the error names the DN and the server" \
    "bind as \"$RG_READER_DN\" to ldap://127\\.0\\.0\\.1:$SLAPD_PORT: Invalid credentials" \
    "$(cat "$T/query.err")"
if grep -qF "$RG_WRONG_PW" "$T/query.err"; then
    not_ok "a wrong bind password: not in rcptguard-query's error"
else
    ok "a wrong bind password: not in rcptguard-query's error"
fi

# --- the daemon as an unprivileged user: not dumpable ------------------------------------
NOBODY_UID=$(id -u nobody 2>/dev/null)
NOBODY_GID=$(id -g nobody 2>/dev/null)
if [[ $(id -u) -ne 0 || -z $NOBODY_UID ]]; then
    skip "the daemon is not dumpable" "needs root and the user nobody"
else
    mkdir -p "$T/nobody"
    write_conf "$T/nobody/rg.conf" "Suggest off"
    cp "$T/ldap.pw" "$T/nobody/ldap.pw"
    sed -i "s|^LDAPBindPasswordFile .*|LDAPBindPasswordFile $T/nobody/ldap.pw|" "$T/nobody/rg.conf"
    chown -R nobody "$T/nobody"
    chmod 600 "$T/nobody/ldap.pw"
    printf '#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --clear-groups %s "$@"\n' \
        "$NOBODY_UID" "$NOBODY_GID" "$RCPTGUARD" >"$T/rcptguard-as-nobody"
    chmod 755 "$T/rcptguard-as-nobody"
    RCPTGUARD_REAL=$RCPTGUARD
    RCPTGUARD=$T/rcptguard-as-nobody
    if start_rcptguard "$T/nobody/rg.conf"; then
        expect_eq "the daemon runs as nobody" "$NOBODY_UID" \
            "$(awk '/^Uid:/ { print $2 }' "/proc/$RCPTGUARD_PID/status")"
        # the files of a process that is not dumpable belong to root
        expect_eq "the daemon, holding the password, is not dumpable" "0" \
            "$(stat -c %u "/proc/$RCPTGUARD_PID/environ")"
        if tr '\0' ' ' <"/proc/$RCPTGUARD_PID/cmdline" | grep -qF "$RG_READER_PW"; then
            not_ok "the password is not in the daemon's command line"
        else
            ok "the password is not in the daemon's command line"
        fi
        stop_rcptguard
        mv "$RCPTGUARD_LOG" "$T/rcptguard-nobody.log"
    else
        not_ok "rcptguard starts as nobody"
    fi
    RCPTGUARD=$RCPTGUARD_REAL
fi

# --- SocketMode, UserID -------------------------------------------------------------
write_conf "$T/badmode.conf" "SocketMode 0668"
check_n "$T/badmode.conf"
expect_eq "SocketMode 0668 is refused (exit 78)" 78 "$RC"
expect_match "SocketMode 0668: the message" \
    'SocketMode wants an octal mode from 0000 to 0777, not "0668"' "$OUT"

mkdir -p "$T/sock"
write_conf "$T/unix.conf" "Suggest off"
sed -i "s|^Socket .*|Socket unix:$T/sock/default.sock|" "$T/unix.conf"
if start_rcptguard "$T/unix.conf"; then
    expect_eq "a unix socket gets SocketMode's default, 0660" 660 \
        "$(stat -c %a "$T/sock/default.sock")"
    expect_match "started as root without UserID: a warning" \
        "warning: running as root: set UserID" "$(cat "$RCPTGUARD_LOG")"
    stop_rcptguard
    mv "$RCPTGUARD_LOG" "$T/rcptguard-default.log"
else
    not_ok "rcptguard starts on a unix socket"
fi

write_conf "$T/unix600.conf" "Suggest off" "SocketMode 0600" "UserID nobody"
sed -i "s|^Socket .*|Socket unix:$T/sock/private.sock|" "$T/unix600.conf"
if start_rcptguard "$T/unix600.conf"; then
    expect_eq "SocketMode 0600: the socket's mode" 600 "$(stat -c %a "$T/sock/private.sock")"
    expect_eq "UserID nobody: the socket belongs to nobody" nobody \
        "$(stat -c %U "$T/sock/private.sock")"
    if grep -q 'running as root' "$RCPTGUARD_LOG"; then
        not_ok "started as root with UserID: no warning" "$(grep 'running as root' "$RCPTGUARD_LOG")"
    else
        ok "started as root with UserID: no warning"
    fi
    stop_rcptguard
    mv "$RCPTGUARD_LOG" "$T/rcptguard-600.log"
else
    not_ok "rcptguard starts with SocketMode 0600 and UserID nobody"
fi

# --- a wrong password through Postfix -------------------------------------------------
if ! command -v postfix >/dev/null || ! command -v swaks >/dev/null; then
    skip "a wrong bind password through Postfix" "postfix or swaks is not installed"
    tap_done
fi
start_rcptguard "$T/wrong.conf" || { not_ok "rcptguard starts with a wrong password"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "postfix starts"; tap_done; }
RG_SWAKS_LOG=$T/swaks.log
expect_eq "postfix, a wrong bind password: 451 for a known user" \
    "451 4.3.0 <john.doe@example.com>: Temporary lookup failure" \
    "$(swaks_rcpt "$POSTFIX_PORT" john.doe@example.com)"
stop_rcptguard
leaks=$(grep -lF "$RG_WRONG_PW" "$RCPTGUARD_LOG" "$T/swaks.log" "$POSTFIX_DIR/maillog" 2>/dev/null)
expect_eq "a wrong bind password: not in the daemon's log, the SMTP session or Postfix's log" \
    "" "$leaks"
expect_match "a wrong bind password: the daemon's log names the bind" \
    "LDAP unreachable: bind as \"$RG_READER_DN\" to ldap://127\\.0\\.0\\.1:$SLAPD_PORT: Invalid credentials" \
    "$(cat "$RCPTGUARD_LOG")"

tap_done
