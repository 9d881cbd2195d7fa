# SPDX-License-Identifier: BSD-2-Clause
# tests/bench/users.sh - the directory the milter benchmarks load (sourced
# after tests/lib/servers.sh).
#
#   bench_users N KNOWN   LDIF of the base, the reader and N users
#                         first.last[K]@example.com on standard output; their
#                         addresses, one a line, into the file KNOWN

bench_users() {
    awk -v n="$1" -v B="$RG_BASE_DN" -v known="$2" 'BEGIN {
    nf = split("james mary john patricia robert jennifer michael linda william elizabeth " \
        "david barbara richard susan joseph jessica thomas sarah charles karen " \
        "christopher nancy daniel lisa matthew betty anthony margaret mark sandra", F, " ")
    nl = split("smith johnson williams brown jones garcia miller davis rodriguez martinez " \
        "hernandez lopez gonzalez wilson anderson thomas taylor moore jackson martin " \
        "lee perez thompson white harris sanchez clark ramirez lewis robinson", L, " ")
    print "dn: " B "\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
    print "dn: cn=reader," B "\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: reader\nuserPassword: readerpw\n"
    print "dn: ou=people," B "\nobjectClass: organizationalUnit\nou: people\n"
    for (i = 0; i < n; i++) {
        f = F[i % nf + 1]; l = L[int(i / nf) % nl + 1]; k = int(i / (nf * nl))
        local = f "." l (k ? k + 1 : "")
        printf "dn: uid=u%d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: u%d\ncn: %s %s\nsn: %s\nmail: %s@example.com\n\n", i, B, i, f, l, l, local
        print local "@example.com" > known
    }
}'
}
