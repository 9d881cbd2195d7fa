#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 90-metrics.sh - the Prometheus metrics, scraped while a real Postfix sends
# recipients through rcptguard.
#
# slapd (tests/data/directory.ldif), redis-server, rcptguard with
# MetricsListen and MetricsFile, a private Postfix; swaks sends known and
# unknown recipients, and each scrape of /metrics (curl) must show the
# counters moved by exactly what was sent: decisions by verdict and source,
# the cache layers, the latency histogram, LDAP errors once slapd is
# stopped, Redis errors once redis-server is, and a harvest throttle.
# MetricsFile holds the same exposition, renamed into place whole.  promtool (package prometheus)
# checks the exposition and contrib/prometheus-rules.yml when installed;
# contrib/grafana-dashboard.json must parse and use only metrics that exist.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "metrics: scraped through Postfix" postfix swaks curl

# metric NAME{LABELS}: its value in the last scrape ($T/scrape), or "absent".
metric() {
    awk -v m="$1" 'index($0, m " ") == 1 { print $2; found = 1 } END { if (!found) print "absent" }' \
        "$T/scrape"
}
scrape() {
    curl -sS --max-time 5 -o "$T/scrape" -w '%{http_code} %{content_type}' \
        "http://127.0.0.1:$METRICS_PORT/metrics"
}
D='rcptguard_decisions_total'

# --- configuration -------------------------------------------------------------
write_conf "$T/bad.conf" "MetricsListen 9791"
rc=0; "$RCPTGUARD" -n -c "$T/bad.conf" >"$T/n.out" 2>&1 || rc=$?
expect_eq "metrics: MetricsListen without inet: is refused (78)" 78 "$rc"
expect_match "metrics: the error names the line and the form" \
    "bad.conf:[0-9]+: .*inet:PORT@ADDRESS" "$(cat "$T/n.out")"

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "metrics: slapd starts"; tap_done; }
start_redis || { not_ok "metrics: redis-server starts"; tap_done; }
METRICS_PORT=$(free_port)
write_conf "$T/rcptguard.conf" "MetricsListen inet:$METRICS_PORT@127.0.0.1" \
    "MetricsFile $T/metrics.prom" "MetricsInterval 1" "Suggest off" \
    "HarvestLimit 2/600" "HarvestExemptNetworks 127.0.0.1/32"
start_rcptguard "$T/rcptguard.conf" || { not_ok "metrics: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "metrics: postfix starts"; tap_done; }

# --- before any mail -------------------------------------------------------------
expect_eq "metrics: GET /metrics answers 200 in text format 0.0.4" \
    "200 text/plain; version=0.0.4; charset=utf-8" "$(scrape)"
expect_eq "metrics: no decision yet" 0 "$(metric "$D{verdict=\"unknown\",source=\"ldap\"}")"
expect_eq "metrics: other paths are 404" 404 \
    "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/")"

# --- three unknown, one known twice, one not ours ----------------------------------
for a in nobody1@example.com nobody2@example.com nobody3@example.com; do
    swaks_rcpt "$POSTFIX_PORT" "$a" >/dev/null
done
swaks_rcpt "$POSTFIX_PORT" john.doe@example.com >/dev/null
swaks_rcpt "$POSTFIX_PORT" john.doe@example.com >/dev/null
swaks_rcpt "$POSTFIX_PORT" someone@example.net >/dev/null
scrape >/dev/null
expect_eq "metrics: 3 unknown from LDAP" 3 "$(metric "$D{verdict=\"unknown\",source=\"ldap\"}")"
expect_eq "metrics: 1 known from LDAP" 1 "$(metric "$D{verdict=\"ok\",source=\"ldap\"}")"
expect_eq "metrics: 1 known from the cache" 1 "$(metric "$D{verdict=\"ok\",source=\"cache\"}")"
expect_eq "metrics: 1 not ours" 1 "$(metric "$D{verdict=\"not-ours\",source=\"none\"}")"
expect_eq "metrics: no tempfail" 0 "$(metric "$D{verdict=\"tempfail\",source=\"none\"}")"
expect_eq "metrics: process cache: 1 hit" 1 \
    "$(metric 'rcptguard_cache_requests_total{layer="process",result="hit"}')"
expect_eq "metrics: process cache: 4 misses" 4 \
    "$(metric 'rcptguard_cache_requests_total{layer="process",result="miss"}')"
expect_eq "metrics: redis cache: 4 misses" 4 \
    "$(metric 'rcptguard_cache_requests_total{layer="redis",result="miss"}')"
expect_eq "metrics: histogram counts the 5 lookups of our domains" 5 \
    "$(metric 'rcptguard_lookup_duration_seconds_count')"
expect_eq "metrics: histogram +Inf bucket holds them all" 5 \
    "$(metric 'rcptguard_lookup_duration_seconds_bucket{le="+Inf"}')"
expect_eq "metrics: no LDAP error yet" 0 "$(metric rcptguard_ldap_errors_total)"
expect_eq "metrics: no Redis error yet" 0 "$(metric rcptguard_redis_errors_total)"
expect_eq "metrics: reserved metrics stay hidden until set" absent \
    "$(metric rcptguard_mirror_entries)"

# --- the directory away: tempfail and an LDAP error ------------------------------------
stop_slapd
got=$(swaks_rcpt "$POSTFIX_PORT" never.seen@example.com)
expect_eq "metrics: slapd stopped: 451" \
    "451 4.3.0 <never.seen@example.com>: Temporary lookup failure" "$got"
scrape >/dev/null
expect_eq "metrics: 1 tempfail" 1 "$(metric "$D{verdict=\"tempfail\",source=\"ldap\"}")"
expect_eq "metrics: 1 LDAP error" 1 "$(metric rcptguard_ldap_errors_total)"
restart_slapd || not_ok "metrics: slapd restarts"

# --- Redis away ----------------------------------------------------------------------
stop_redis
swaks_rcpt "$POSTFIX_PORT" jane.smith@example.com >/dev/null
scrape >/dev/null
n=$(metric rcptguard_redis_errors_total)
if [[ $n =~ ^[0-9]+$ ]] && ((n > 0)); then
    ok "metrics: Redis stopped: Redis errors counted ($n)"
else
    not_ok "metrics: Redis stopped: Redis errors counted" "got $n"
fi
expect_eq "metrics: jane.smith still found through LDAP" 2 \
    "$(metric "$D{verdict=\"ok\",source=\"ldap\"}")"

# --- MetricsFile ----------------------------------------------------------------------
sleep 1.5
if grep -qxF "$D{verdict=\"unknown\",source=\"ldap\"} 3" "$T/metrics.prom" 2>/dev/null; then
    ok "metrics: MetricsFile holds the same counters"
else
    not_ok "metrics: MetricsFile holds the same counters" "$(head -c 300 "$T/metrics.prom" 2>&1)"
fi
expect_eq "metrics: MetricsFile ends with the histogram's and counters' last line" \
    "$(tail -n 1 "$T/scrape")" "$(tail -n 1 "$T/metrics.prom")"
expect_eq "metrics: no temporary file left beside it" "" "$(ls "$T" | grep 'metrics.prom.tmp')"

# --- harvest throttling: a client network over HarvestLimit ------------------------------
expect_eq "metrics: no harvest throttle yet" 0 "$(metric rcptguard_harvest_throttles_total)"
for a in guess1 guess2 guess3; do
    swaks_rcpt "$POSTFIX_PORT" "$a@example.com" --local-interface 127.0.0.2 >"$T/harvest.$a"
done
expect_match "metrics: the third guess from 127.0.0.2 is refused with 421" "^421 " \
    "$(cat "$T/harvest.guess3")"
scrape >/dev/null
expect_eq "metrics: 1 harvest throttle" 1 "$(metric rcptguard_harvest_throttles_total)"

# --- promtool, dashboard ------------------------------------------------------------
if command -v promtool >/dev/null 2>&1; then
    out=$(promtool check metrics <"$T/scrape" 2>&1) && rc=0 || rc=$?
    expect_eq "metrics: promtool check metrics finds nothing" "0 " "$rc $out"
    out=$(promtool check rules "$TOP/contrib/prometheus-rules.yml" 2>&1) && rc=0 || rc=$?
    expect_eq "metrics: promtool check rules accepts contrib/prometheus-rules.yml" 0 "$rc"
    [[ $rc -eq 0 ]] || printf '%s\n' "$out" | sed 's/^/#   /' >&2
    out=$(promtool test rules "$TOP/contrib/prometheus-rules.test.yml" 2>&1) && rc=0 || rc=$?
    expect_eq "metrics: the alert rules fire as their unit tests say" 0 "$rc"
    [[ $rc -eq 0 ]] || printf '%s\n' "$out" | sed 's/^/#   /' >&2
else
    out=$(python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(len(d["groups"]))' \
        "$TOP/contrib/prometheus-rules.yml" 2>&1)
    expect_eq "metrics: contrib/prometheus-rules.yml parses as YAML (no promtool)" 1 "$out"
fi
out=$(python3 - "$TOP/contrib/grafana-dashboard.json" "$T/scrape" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
have = set(l.split()[2] for l in open(sys.argv[2]) if l.startswith("# TYPE"))
used = set()
for p in d["panels"]:
    for t in p.get("targets", []):
        used.update(re.findall(r"rcptguard_[a-z_]+", t["expr"]))
base = lambda m: re.sub(r"_(bucket|sum|count)$", "", m)
print(" ".join(sorted(m for m in used if m not in have and base(m) not in have)) or "all known")
PY
)
expect_eq "metrics: the Grafana dashboard parses and uses only exposed metrics" "all known" "$out"

stop_rcptguard
expect_eq "metrics: rcptguard stops cleanly" 0 "${RCPTGUARD_STATUS:-x}"
tap_done
