#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 64-audit-html.sh - rcptguard-audit --html against a real slapd, rendered by
# headless Chromium.
#
# The directory of 60-audit.sh (tests/data/aliases.ldif: one of each
# problem).  The page must name every planted problem in the table of its
# kind with alias, target and DN, count them by kind, draw one inline SVG
# chain per broken alias when Graphviz's dot is in PATH (and say that it is
# not, tables intact, when it is not), and name no other resource.
# Chromium renders it to a PNG that must not be blank.
set -u
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

B=dc=example,dc=com
# The planted problems, as 60-audit.sh's table has them.
EXPECTED="dangling-target sales@example.com gone@example.com cn=sales,ou=aliases,$B
disabled-target support@example.com leaver@example.com cn=support,ou=aliases,$B
duplicate-address frank@example.com - uid=frank,ou=people,$B; uid=frank.old,ou=people,$B
loop loop-a@example.com loop-a@example.com cn=loop-a,ou=aliases,$B
loop loop-b@example.com loop-b@example.com cn=loop-b,ou=aliases,$B
no-targets empty@example.com - cn=empty,ou=aliases,$B
self-target helpdesk@example.com helpdesk@example.com cn=helpdesk,ou=aliases,$B
too-deep deep1@example.com deep5@example.com uid=deep1,ou=people,$B
too-many-targets everyone@example.com - cn=everyone,ou=aliases,$B"

# rows HTML: "KIND ALIAS TARGET DN" for each row of the tables of problems,
# KIND the id of the heading above the table; then "COUNT KIND" for each row
# of the summary, prefixed "summary".
rows() {
    python3 - "$1" <<'PY'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.kind, self.cell, self.row, self.out, self.summary = None, None, [], [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self.kind = a.get("id")
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "tr":
            self.row = []
    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row and self.row[0] not in ("problem", "alias"):
            if len(self.row) == 3 and self.kind:
                self.out.append(" ".join([self.kind] + self.row))
            elif len(self.row) == 2:
                self.summary.append("summary %s %s" % (self.row[1], self.row[0]))
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
print("\n".join(p.out))
print("\n".join(p.summary))
PY
}

start_slapd "$TOP/tests/data/aliases.ldif" || { not_ok "audit --html: slapd starts"; tap_done; }
write_conf "$T/audit.conf" \
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" \
    "LDAPAddressAttributes mail mailLocalAddress" \
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress" \
    "LDAPMemberAttributes member uniqueMember" \
    "LDAPDisabledFilter (description=disabled)" \
    "AliasMaxDepth 4" \
    "AliasMaxTargets 5"

SUMMARY="summary 1 dangling-target
summary 1 disabled-target
summary 1 duplicate-address
summary 2 loop
summary 1 no-targets
summary 1 self-target
summary 1 too-deep
summary 1 too-many-targets"

# --- with Graphviz ------------------------------------------------------------------
rc=0
"$AUDIT" -c "$T/audit.conf" --html "$T/report.html" >"$T/out" 2>"$T/err" || rc=$?
expect_eq "audit --html: exit 1 when problems were found" 1 "$rc"
expect_eq "audit --html: nothing on standard output or error" "" "$(cat "$T/out" "$T/err")"
expect_eq "audit --html: every planted problem in the table of its kind, and the counts" \
    "$EXPECTED
$SUMMARY" "$(rows "$T/report.html")"
if grep -Eqi '<(script|link|img|iframe|object)|(src|href)="[a-z]+:|url\(|@import|https?://' \
    "$T/report.html"; then
    not_ok "audit --html: self-contained: no script, no link, no URL" \
        "$(grep -Eoi '.{20}(<script|<link|<img|src=|href="[a-z]+:|url\(|https?://).{20}' "$T/report.html" | head -3)"
else
    ok "audit --html: self-contained: no script, no link, no URL"
fi
if command -v dot >/dev/null 2>&1; then
    # a chain per broken alias (every problem but the duplicate address)
    expect_eq "audit --html: an inline SVG chain for each of the 8 broken aliases" 8 \
        "$(grep -c '^<svg' "$T/report.html")"
    expect_eq "audit --html: the dangling edge of sales is drawn in red" 1 \
        "$(awk '/^<h3>/ { c = /sales@/ } c && /stroke="red"/ { n++ } END { print (n > 0) }' \
            "$T/report.html")"
else
    skip "audit --html: inline SVG chains" "Graphviz (dot) is not installed"
fi

# --- without Graphviz: the tables alone -----------------------------------------------
rc=0
PATH=/nonexistent "$AUDIT" -c "$T/audit.conf" --html "$T/nodot.html" >/dev/null 2>&1 || rc=$?
expect_eq "audit --html without dot: exit 1" 1 "$rc"
expect_eq "audit --html without dot: no SVG" 0 "$(grep -c '<svg' "$T/nodot.html")"
expect_eq "audit --html without dot: says so, once per broken alias" 8 \
    "$(grep -c 'Graphviz (dot) is not installed' "$T/nodot.html")"
expect_eq "audit --html without dot: the same tables" "$EXPECTED
$SUMMARY" "$(rows "$T/nodot.html")"

# --- an unwritable file -----------------------------------------------------------------
rc=0
"$AUDIT" -c "$T/audit.conf" --html /nonexistent/report.html >/dev/null 2>"$T/err" || rc=$?
expect_eq "audit --html: a file that cannot be written is 74" 74 "$rc"
expect_match "audit --html: ... naming it" "/nonexistent/report.html: " "$(cat "$T/err")"

# --- rendered by Chromium ---------------------------------------------------------------
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $CHROMIUM ]]; then
    skip "audit --html: rendered by headless Chromium" "chromium is not installed"
    tap_done
fi
timeout -k 5 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$T/chromium" --screenshot="$T/report.png" --window-size=1200,2000 \
    "file://$T/report.html" >"$T/chromium.log" 2>&1
if [[ -s $T/report.png ]]; then
    ok "audit --html: Chromium renders it to a PNG"
else
    not_ok "audit --html: Chromium renders it to a PNG" "$(tail -n 5 "$T/chromium.log")"
    tap_done
fi
read -r w h colours red < <(python3 "$TOP/tests/lib/png_colours.py" "$T/report.png")
expect_eq "audit --html: the screenshot is 1200x2000" "1200x2000" "${w}x${h}"
if ((colours > 50)); then
    ok "audit --html: the screenshot is not blank ($colours colours)"
else
    not_ok "audit --html: the screenshot is not blank" "$colours colours"
fi
if ((red > 100)); then
    ok "audit --html: red problem marks are visible ($red red pixels)"
else
    not_ok "audit --html: red problem marks are visible" "$red red pixels"
fi
[[ -n ${RG_AUDIT_PNG:-} ]] && cp "$T/report.png" "$RG_AUDIT_PNG"
tap_done
