#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 20-config.sh - "rcptguard -n" accepts a good configuration and refuses a
# bad one with exit status 78 and a message naming the file and the line;
# "rcptguard -V" prints the version.  No server is needed: -n only reads.
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

EX_CONFIG=78
SLAPD_URI=ldap://127.0.0.1:389       # never contacted
VERSION=$(sed -n 's/^AC_INIT(\[rcptguard\], *\[\([^]]*\)\].*/\1/p' "$TOP/configure.ac")

# check DESC CODE REGEX CONF: run "rcptguard -n -c CONF", compare the exit
# status with CODE and its output (stdout and stderr) with REGEX.
check() {
    local desc=$1 code=$2 regex=$3 conf=$4 out rc=0
    out=$("$RCPTGUARD" -n -c "$conf" 2>&1) || rc=$?
    if [[ $rc -ne $code ]]; then
        not_ok "$desc" "rcptguard -n -c $conf: exit status $rc, expected $code" "output: $out"
    elif [[ ! $out =~ $regex ]]; then
        not_ok "$desc" "output does not match: $regex" "output: $out"
    elif [[ $out == *"$RG_READER_PW"* ]]; then
        not_ok "$desc" "the output shows the bind password" "output: $out"
    else
        ok "$desc"
    fi
}

# write_conf writes a comment and 9 keys: extra lines start at line 11.
X=11
qre() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }

write_conf "$T/good.conf" "CacheTTL 600" "NegativeCacheTTL 60" "OnLookupFailure tempfail"
check "a good configuration is accepted" 0 "" "$T/good.conf"

write_conf "$T/unknown.conf" "LDAPServer ldap://127.0.0.1"
check "an unknown key is refused, naming file and line" $EX_CONFIG \
    "$(qre "$T/unknown.conf"):$X:.*LDAPServer" "$T/unknown.conf"

write_conf "$T/badint.conf" "CacheTTL 1h"
check "a bad number is refused, naming file and line" $EX_CONFIG \
    "$(qre "$T/badint.conf"):$X:.*CacheTTL" "$T/badint.conf"

write_conf "$T/badenum.conf" "# a comment" "OnLookupFailure reject"
check "a bad choice is refused, naming file and line" $EX_CONFIG \
    "$(qre "$T/badenum.conf"):$((X + 1)):.*OnLookupFailure" "$T/badenum.conf"

write_conf "$T/twice.conf" "LDAPTimeout 5"
check "a repeated key is refused, naming file and line" $EX_CONFIG \
    "$(qre "$T/twice.conf"):$X:.*LDAPTimeout" "$T/twice.conf"

write_conf "$T/filter.conf" "LDAPFilter (&(mail=%s)(objectClass=inetOrgPerson)"
check "an LDAPFilter with unbalanced parentheses is refused, naming file and line" \
    $EX_CONFIG "$(qre "$T/filter.conf"):$X:.*LDAPFilter" "$T/filter.conf"

write_conf "$T/filter2.conf" "LDAPFilter (mail=%x)"
check "an LDAPFilter with an unknown %-sequence is refused, naming file and line" \
    $EX_CONFIG "$(qre "$T/filter2.conf"):$X:.*LDAPFilter" "$T/filter2.conf"

# Filters are checked as libldap reads them: every lookup would otherwise
# fail with "Bad search filter".
bad_filter() {
    local name=$1 line=$2 what=$3
    write_conf "$T/$name.conf" "$line"
    check "$what is refused, naming file, line and key" $EX_CONFIG \
        "$(qre "$T/$name.conf"):$X:.*${line%% *}" "$T/$name.conf"
}
bad_filter fdis1 "LDAPDisabledFilter (description=disabled" "an unbalanced LDAPDisabledFilter"
bad_filter fdis2 "LDAPDisabledFilter (a=b)(c=d)" "an LDAPDisabledFilter of two filters"
bad_filter fdis3 "LDAPDisabledFilter (!(a=b)(c=d))" "an LDAPDisabledFilter that libldap cannot parse"
bad_filter fltr1 "LDAPFilter (mail=%s)(uid=%u)" "an LDAPFilter of two filters"
bad_filter fltr2 "LDAPFilter (mail=%s)#x" "an LDAPFilter with text after it"
bad_filter fltr3 "LDAPFilter (ma il=%s)" "an LDAPFilter that libldap cannot parse"
bad_filter fltr4 "LDAPFilter (mail=%s\\zz)" "an LDAPFilter with a bad escape"
bad_filter fattr "LDAPAddressAttributes mail mail)" "an attribute name that is none"
write_conf "$T/fgood.conf" "LDAPFilter (&(objectClass=inetOrgPerson)(|(mail=%s)(uid=%u))) # ok" \
    "LDAPDisabledFilter (|(pwdAccountLockedTime=*)(description=disabled))"
check "good LDAPFilter and LDAPDisabledFilter are accepted" 0 "" "$T/fgood.conf"

# A NUL byte ends a C string: the rest of the line must not vanish unseen.
write_conf "$T/nul.conf"
printf 'CacheTTL 60\0 # the rest of the line\n' >>"$T/nul.conf"
check "a NUL byte in a line is refused, naming file and line" $EX_CONFIG \
    "$(qre "$T/nul.conf"):$X:.*NUL" "$T/nul.conf"
write_conf "$T/nul2.conf"
printf 'LDAPFilter (mail=%%s)\0(uid=%%u)' >>"$T/nul2.conf"
check "a NUL byte in a last line without newline is refused, naming file and line" $EX_CONFIG \
    "$(qre "$T/nul2.conf"):$X:.*NUL" "$T/nul2.conf"
printf 'example.com\nexample.org\0example.net\n' >"$T/domains-nul"
write_conf "$T/nul3.conf" "Domains file:$T/domains-nul"
sed -i '/^Domains example/d' "$T/nul3.conf"
check "a NUL byte in a Domains file is refused, naming that file and its line" $EX_CONFIG \
    "$(qre "$T/nul3.conf"):$((X - 1)):.*$(qre "$T/domains-nul"):2:.*NUL" "$T/nul3.conf"

write_conf "$T/missing.conf"
sed -i '/^LDAPBase /d' "$T/missing.conf"
check "a missing required key is refused, naming file and key" $EX_CONFIG \
    "$(qre "$T/missing.conf"):.*LDAPBase" "$T/missing.conf"

write_conf "$T/nopw.conf"
sed -i "s|^LDAPBindPasswordFile .*|LDAPBindPasswordFile $T/no-such.pw|" "$T/nopw.conf"
check "a missing password file is refused, naming it" $EX_CONFIG \
    "$(qre "$T/nopw.conf"):.*$(qre "$T/no-such.pw")" "$T/nopw.conf"

write_conf "$T/nopwkey.conf"
sed -i '/^LDAPBindPasswordFile /d' "$T/nopwkey.conf"
check "LDAPBindDN without LDAPBindPasswordFile is refused" $EX_CONFIG \
    "$(qre "$T/nopwkey.conf"):.*LDAPBindPasswordFile" "$T/nopwkey.conf"

check "a configuration file that does not exist is refused" $EX_CONFIG \
    "$(qre "$T/nonexistent.conf")" "$T/nonexistent.conf"

# A password file the daemon's user cannot read (root reads everything, so
# check as nobody, when nobody can reach the binary).
write_conf "$T/unreadable.conf"
chmod 644 "$T/unreadable.conf"
chmod 600 "$T/ldap.pw"
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 &&
    setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$RCPTGUARD" 2>/dev/null; then
    rc=0
    out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$RCPTGUARD" -n -c "$T/unreadable.conf" 2>&1) || rc=$?
    if [[ $rc -eq $EX_CONFIG && $out == *"$T/ldap.pw"* ]]; then
        ok "an unreadable password file is refused, naming it"
    else
        not_ok "an unreadable password file is refused, naming it" \
            "exit status $rc, expected $EX_CONFIG" "output: $out"
    fi
else
    skip "an unreadable password file is refused, naming it" "cannot run as nobody here"
fi

out=$("$RCPTGUARD" -V 2>&1)
expect_eq "rcptguard -V prints the version" "rcptguard $VERSION" "$out"

rc=0
out=$("$QUERY" -c "$T/unknown.conf" john.doe@example.com 2>&1) || rc=$?
if [[ $rc -eq $EX_CONFIG && $out =~ $(qre "$T/unknown.conf"):$X: ]]; then
    ok "rcptguard-query refuses the same bad configuration"
else
    not_ok "rcptguard-query refuses the same bad configuration" "exit status $rc" "output: $out"
fi

tap_done
