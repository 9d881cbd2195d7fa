# SPDX-License-Identifier: BSD-2-Clause
# tests/lib/mirror.sh - what the 9x-mirror-*.sh tests share: a
# directory of users, aliases and groups in both domains, the addresses to
# ask about it, and the configuration (sourced, not run).
#
# mirror_ldif: tests/data/alias-rcpt.ldif (loops, dangling and disabled
# targets, 17 entries claiming one address) plus 300 users uNNNN (odd ones
# @example.org, every tenth disabled, every seventh with a second address
# alt-uNNNN@example.com), 60 nisMailAlias aliases aNNN@example.com (targets:
# users, disabled users, unknown addresses, other aliases, an external
# address) and 30 groups gNN (member DNs: users, disabled users, DNs that do
# not exist, other groups; every third group without an address of its own).
# 428 entries: under the reader's 500-entry limit, so that slapd's syncprov
# sends the whole directory in one refresh.

MIRROR_CONF=(
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))"
    "LDAPAddressAttributes mail mailLocalAddress"
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress"
    "LDAPMemberAttributes member"
    "LDAPDisabledFilter (description=disabled)"
    "Suggest off"
    "MaxUnknownRecipients 0"
)

# u_domain N: the domain of user N.
u_domain() { (($1 % 2)) && echo example.org || echo example.com; }

mirror_ldif() {
    local n d i t
    cat "$TOP/tests/data/alias-rcpt.ldif"
    for ((n = 1; n <= 300; n++)); do
        d=$(u_domain "$n")
        printf '\ndn: uid=u%04d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n' "$n"
        ((n % 7 == 0)) && printf 'objectClass: inetLocalMailRecipient\nmailLocalAddress: alt-u%04d@example.com\n' "$n"
        printf 'uid: u%04d\ncn: User %d\nsn: %d\nmail: u%04d@%s\n' "$n" "$n" "$n" "$n" "$d"
        ((n % 10 == 0)) && printf 'description: disabled\n'
    done
    for ((i = 1; i <= 60; i++)); do
        printf '\ndn: cn=a%03d,ou=aliases,dc=example,dc=com\nobjectClass: nisMailAlias\n' "$i"
        printf 'objectClass: inetLocalMailRecipient\ncn: a%03d\nmailLocalAddress: a%03d@example.com\n' "$i" "$i"
        case $((i % 6)) in
        0) t="u$(printf %04d $((i * 3)))@$(u_domain $((i * 3))) nobody$i@example.com" ;;
        1) t="gone$i@example.com nobody$i@example.org" ;;
        2) t="u$(printf %04d $((i * 5)))@$(u_domain $((i * 5)))" ;;
        3) t="a$(printf %03d $((i + 1)))@example.com" ;;
        4) t="u$(printf %04d $((i * 10 % 300 + 10)))@$(u_domain $((i * 10 % 300 + 10))) friend@example.net" ;;
        5) t="a$(printf %03d $((i - 4)))@example.com a$(printf %03d $((i + 1 > 60 ? 1 : i + 1)))@example.com" ;;
        esac
        for a in $t; do printf 'rfc822MailMember: %s\n' "$a"; done
    done
    for ((i = 1; i <= 30; i++)); do
        printf '\ndn: cn=g%02d,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\n' "$i"
        ((i % 3)) && printf 'objectClass: inetLocalMailRecipient\nmailLocalAddress: g%02d@example.com\n' "$i"
        printf 'cn: g%02d\n' "$i"
        case $((i % 5)) in
        0) printf 'member: uid=u%04d,ou=people,dc=example,dc=com\n' $((i * 7)) ;;
        1) printf 'member: uid=nobody%d,ou=people,dc=example,dc=com\n' "$i" ;;
        2) printf 'member: UID=u%04d, ou=People,dc=example,dc=com\n' $((i * 10)) ;;
        3) printf 'member: cn=g%02d,ou=groups,dc=example,dc=com\n' $((i % 30 + 1)) ;;
        4) printf 'member: cn=g%02d,ou=groups,dc=example,dc=com\nmember: uid=u%04d,ou=people,dc=example,dc=com\n' $((i - 1)) $((i * 9)) ;;
        esac
    done
}

# mirror_locals: every local part the directory knows, and some it does not.
mirror_locals() {
    local n
    for ((n = 1; n <= 300; n++)); do printf 'u%04d\n' "$n"; done
    for ((n = 7; n <= 300; n += 7)); do printf 'alt-u%04d\n' "$n"; done
    for ((n = 1; n <= 60; n++)); do printf 'a%03d\n' "$n"; done
    for ((n = 1; n <= 30; n++)); do printf 'g%02d\n' "$n"; done
    printf '%s\n' john.doe jane.smith bob alice olduser dead staff team ops forward \
        loopa loopb loopx loopy devs crowd many gone nobody
}

# mirror_addresses: 24 forms of each local part in each domain (case, a
# subaddress, typos, brackets, a trailing dot), and one in a domain not
# ours - 22,099 addresses.
mirror_addresses() {
    mirror_locals | awk '
    { l = $1; L = toupper(l); c = toupper(substr(l, 1, 1)) substr(l, 2)
      n = split("example.com example.org", ds, " ")
      for (i = 1; i <= n; i++) {
        d = ds[i]; D = toupper(d)
        print l "@" d; print L "@" d; print c "@" D; print l "@" D
        print l "+tag@" d; print L "+Tag@" d; print l "+a+b@" d; print l "+@" d
        print l "x@" d; print substr(l, 2) "@" d; print l "-@" d; print "x" l "@" d
        print "<" l "@" d ">"; print l "@" d "."; print l "+x@" D; print "<" L "+t@" d ">"
        print l "." l "@" d; print l "1@" d; print l "+" l "@" d; print l "+1@" d
        print substr(l, 1, length(l) - 1) "@" d; print l l "@" d; print "u" l "@" d
        print l "_@" d
      }
      print l "@example.net" }'
}

# mq_start CONF: rcptguard-query with CONF as a background job reading one
# address a line on fd 7 and answering on fd 8 (JSON); stopped at exit.
mq_start() {
    rm -f "$T/mq.in" "$T/mq.out"
    mkfifo "$T/mq.in" "$T/mq.out"
    "$QUERY" -c "$1" --json <"$T/mq.in" >"$T/mq.out" 2>>"$T/mq.err" &
    MQ_PID=$!
    rg_on_exit "kill $MQ_PID 2>/dev/null"
    exec 7>"$T/mq.in" 8<"$T/mq.out"
}

# mq_ask ADDRESS: "VERDICT SOURCE" of the answer of the query tool above.
mq_ask() {
    local line v s
    printf '%s\n' "$1" >&7
    IFS= read -r -t 20 line <&8 || { echo "no-answer"; return; }
    [[ $line =~ \"verdict\":\"([^\"]*)\",\"source\":\"([^\"]*)\" ]] &&
        echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
}
