#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/89-redis-sentinel.sh - RedisSentinels: the master found
# through Redis Sentinel, and a failover followed without a restart.
#
# slapd (tests/data/directory.ldif); a Redis master, one replica and three
# sentinels (requirepass, down-after-milliseconds 1000, failover-timeout
# 3000), each sentinel with its own writable file in $T; two rcptguard
# instances (RedisSentinels, RedisMasterName, RedisSentinelPasswordFile,
# HarvestLimit counted for 127.0.0.1), each behind its own Postfix, under a
# steady stream of sessions with known and unknown recipients (plain bash
# SMTP, one loop per Postfix).  Checked:
#   - both instances find the master through the sentinels and write to it;
#   - the master killed (SIGKILL): the sentinels promote the replica, and
#     each instance writes its cache entries (and the shared harvest
#     counters) to the new master within 5 s of the promotion (the sentinels
#     polled until they name it; the promotion time from the replica's log,
#     the write times from what was written; the figures are printed),
#     without a restart;
#   - across the whole run: no known recipient got a 5xx, no unknown one a
#     250, and every RCPT got 250 or 550 (LDAP answers while Redis is away);
#   - the sentinel password is in no log; RedisURI beside RedisSentinels is
#     refused by rcptguard -n;
#   - an instance whose RedisSentinels name only dead ports answers from
#     LDAP, no RCPT waits on them, and it says so in one log line; so does
#     one with a dead and a hung sentinel, which is asked at most once per
#     back-off interval, not once per RCPT.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "redis-sentinel: end-to-end checks" postfix redis-server redis-cli swaks

NAME=rgmaster
SENTINEL_PW=rg-sentinel-pw-7c1e
OK="250 2.1.5 Ok"
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }

# node_stop NAME: kill the redis-server (or sentinel) in $T/NAME: it keeps
# nothing worth a clean shutdown.
node_stop() {
    local pidf=$T/$1/pid pid
    [[ -s $pidf ]] || return 0
    pid=$(head -n 1 "$pidf")
    kill -KILL "$pid" 2>/dev/null
    rm -f "$pidf"
}

# node_start NAME PORT ARGS...: redis-server in $T/NAME on PORT, waiting
# (at most 10 s) until it answers PING.  A sentinel gets its file as ARGS.
node_start() {
    local name=$1 port=$2 dir=$T/$1 i
    shift 2
    mkdir -p "$dir"
    rg_on_exit "node_stop $name"
    redis-server "$@" --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
        --pidfile "$dir/pid" --logfile "$dir/log" >/dev/null 2>&1 || return 1
    for ((i = 0; i < 100; i++)); do
        [[ $(redis-cli -p "$port" PING 2>/dev/null) =~ ^(PONG|NOAUTH) ]] && return 0
        sleep 0.1
    done
    echo "# $name on port $port did not answer within 10 s:" >&2
    tail -n 10 "$dir/log" 2>/dev/null | sed 's/^/#   /' >&2
    return 1
}

# sentinel_conf NAME PORT: the writable file of one sentinel.
sentinel_conf() {
    mkdir -p "$T/$1"
    cat >"$T/$1/sentinel.conf" <<EOF
port $2
bind 127.0.0.1
requirepass $SENTINEL_PW
sentinel monitor $NAME 127.0.0.1 $M_PORT 2
sentinel down-after-milliseconds $NAME 1000
sentinel failover-timeout $NAME 3000
EOF
}

scli() { redis-cli -p "$1" --no-auth-warning -a "$SENTINEL_PW" "${@:2}"; }
# master_port: the master's port as the first sentinel names it
master_port() { scli "$S1_PORT" SENTINEL get-master-addr-by-name "$NAME" 2>/dev/null | sed -n 2p; }
# keys PORT PATTERN: how many keys of that server match
keys() { redis-cli -p "$1" --scan --pattern "$2" 2>/dev/null | wc -l; }
now_ms() { date +%s%3N; }
# first_write PORT PATTERN SINCE: the earliest seen= (ms since the epoch) of
# the cache entries matching PATTERN written after SINCE (ms), if any
first_write() {
    redis-cli -p "$1" --scan --pattern "$2" 2>/dev/null | xargs -r redis-cli -p "$1" MGET |
        sed -n 's/.*;seen=\([0-9.]*\);.*/\1/p' |
        awk -v since="$3" '{ ms = int($1 * 1000) } ms > since && (m == "" || ms < m) { m = ms }
            END { if (m != "") printf "%.0f\n", m }'
}

# launch TAG CONF: rcptguard in the foreground, as a job of this script, log
# in $T/TAG.log; waits (at most 10 s) for its socket.  Sets LAUNCHED.
launch() {
    local tag=$1 conf=$2 port i
    port=$(sed -n 's/^Socket inet:\([0-9]*\)@.*/\1/p' "$conf")
    "$RCPTGUARD" -f -c "$conf" </dev/null >>"$T/$tag.log" 2>&1 &
    LAUNCHED=$!
    rg_on_exit "kill -TERM $LAUNCHED 2>/dev/null; wait $LAUNCHED 2>/dev/null"
    for ((i = 0; i < 100; i++)); do
        _rg_port_open 127.0.0.1 "$port" && return 0
        kill -0 "$LAUNCHED" 2>/dev/null || break
        sleep 0.1
    done
    echo "# rcptguard $tag did not open its socket:" >&2
    tail -n 10 "$T/$tag.log" | sed 's/^/#   /' >&2
    return 1
}

# sentinel_rcptguard_conf FILE SENTINELS: a configuration that finds Redis
# through SENTINELS (RedisURI left out).
sentinel_rcptguard_conf() {
    local file=$1 sentinels=$2
    MILTER_PORT=$(free_port)
    write_conf "$file" "RedisSentinels $sentinels" "RedisMasterName $NAME" \
        "RedisSentinelPasswordFile $T/sentinel.pw" "RedisTimeout 0.5" "Suggest off" \
        "MaxUnknownRecipients 0" "HarvestLimit 100000/600" "HarvestExemptNetworks none" \
        "LocalCacheSize 0"
    sed -i '/^RedisURI /d' "$file"
}

# load TAG PORT: sessions through the Postfix on PORT until $T/stop exists,
# each with two known recipients and a new unknown one (TAG-N); the reply
# lines go to $T/load-TAG.txt as "RCPT <addr>: REPLY".
load() {
    local tag=$1 port=$2 n=0
    while [[ ! -e $T/stop ]]; do
        n=$((n + 1))
        smtp_rcpts "$port" tester@example.net john.doe@example.com "$tag-$n@example.com" \
            jane.smith@example.com | grep '^RCPT ' >>"$T/load-$tag.txt"
        sleep 0.05
    done
}

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "redis-sentinel: slapd starts"; tap_done; }

# --- master, replica, three sentinels ------------------------------------------------

M_PORT=$(free_port)
R_PORT=$(free_port)
S1_PORT=$(free_port)
S2_PORT=$(free_port)
S3_PORT=$(free_port)
node_start master "$M_PORT" --save '' --appendonly no --repl-diskless-sync-delay 0 ||
    { not_ok "redis-sentinel: the master starts"; tap_done; }
node_start replica "$R_PORT" --save '' --appendonly no --replicaof 127.0.0.1 "$M_PORT" ||
    { not_ok "redis-sentinel: the replica starts"; tap_done; }
for ((i = 0; i < 100; i++)); do
    redis-cli -p "$R_PORT" INFO replication 2>/dev/null | grep -q '^master_link_status:up' && break
    sleep 0.1
done
sentinel_conf s1 "$S1_PORT"
sentinel_conf s2 "$S2_PORT"
sentinel_conf s3 "$S3_PORT"
for s in s1:$S1_PORT s2:$S2_PORT s3:$S3_PORT; do
    node_start "${s%:*}" "${s#*:}" "$T/${s%:*}/sentinel.conf" --sentinel ||
        { not_ok "redis-sentinel: sentinel ${s%:*} starts"; tap_done; }
done
# ready when every sentinel knows the replica and the two other sentinels
ready=0
for ((i = 0; i < 150 && ready == 0; i++)); do
    ready=1
    for p in "$S1_PORT" "$S2_PORT" "$S3_PORT"; do
        info=$(scli "$p" SENTINEL master "$NAME" 2>/dev/null | paste - - | tr '\t' ' ')
        grep -q '^num-slaves 1$' <<<"$info" && grep -q '^num-other-sentinels 2$' <<<"$info" ||
            ready=0
    done
    ((ready)) || sleep 0.1
done
expect_eq "redis-sentinel: three sentinels watch the master and its replica" 1 "$ready"
expect_eq "redis-sentinel: the sentinels name the master" "$M_PORT" "$(master_port)"

# --- two instances, each behind its own Postfix ---------------------------------------

printf '%s\n' "$SENTINEL_PW" >"$T/sentinel.pw"
chmod 600 "$T/sentinel.pw"
SENTINELS=127.0.0.1:$S1_PORT,127.0.0.1:$S2_PORT,127.0.0.1:$S3_PORT
sentinel_rcptguard_conf "$T/a.conf" "$SENTINELS"
PORT_A=$MILTER_PORT
sentinel_rcptguard_conf "$T/b.conf" "$SENTINELS"
PORT_B=$MILTER_PORT
out=$("$RCPTGUARD" -n -c "$T/a.conf" 2>&1)
expect_eq "redis-sentinel: rcptguard -n takes the configuration" 0 $?
# RedisURI beside RedisSentinels: refused, naming both
write_conf "$T/both.conf" "RedisSentinels $SENTINELS" "RedisMasterName $NAME"
line=$(grep -n '^RedisURI ' "$T/both.conf" | cut -d: -f1)
expect_eq "redis-sentinel: rcptguard -n refuses RedisURI beside RedisSentinels" \
    "rcptguard: $T/both.conf:$line: RedisURI and RedisSentinels exclude each other: the sentinels name the Redis master; leave RedisURI out" \
    "$("$RCPTGUARD" -n -c "$T/both.conf" 2>&1)"
launch a "$T/a.conf" || { not_ok "redis-sentinel: rcptguard a starts"; tap_done; }
PID_A=$LAUNCHED
launch b "$T/b.conf" || { not_ok "redis-sentinel: rcptguard b starts"; tap_done; }
PID_B=$LAUNCHED
# the two Postfix instances start side by side (each takes seconds); their
# stops are registered here, out of the subshells
PF_A=$(free_port)
PF_B=$(free_port)
rg_on_exit "POSTFIX_DIR=$T/postfix-a stop_postfix"
rg_on_exit "POSTFIX_DIR=$T/postfix-b stop_postfix"
(POSTFIX_DIR=$T/postfix-a POSTFIX_PORT=$PF_A start_postfix "inet:$PORT_A@127.0.0.1") &
pf_a=$!
(POSTFIX_DIR=$T/postfix-b POSTFIX_PORT=$PF_B start_postfix "inet:$PORT_B@127.0.0.1") &
pf_b=$!
wait "$pf_a" || { not_ok "redis-sentinel: Postfix a starts"; tap_done; }
wait "$pf_b" || { not_ok "redis-sentinel: Postfix b starts"; tap_done; }

expect_eq "redis-sentinel: through a: a known recipient is accepted" "$OK" \
    "$(swaks_rcpt "$PF_A" john.doe@example.com)"
expect_eq "redis-sentinel: through b: an unknown recipient is rejected" \
    "$(unknown ghost@example.com)" "$(swaks_rcpt "$PF_B" ghost@example.com)"
for tag in a b; do
    expect_match "redis-sentinel: $tag logs the master the sentinels named" \
        "Redis master $NAME is 127\.0\.0\.1:$M_PORT \(sentinel 127\.0\.0\.1:$S1_PORT\)" \
        "$(grep 'Redis master' "$T/$tag.log")"
done
expect_eq "redis-sentinel: the master holds the cache entry (a key of b)" 1 \
    "$(keys "$M_PORT" 'rcptguard:v1:*:ghost@example.com')"

# --- steady load, then the master killed ------------------------------------------------

rm -f "$T/stop"
load a "$PF_A" &
LOAD_A=$!
load b "$PF_B" &
LOAD_B=$!
rg_on_exit "touch $T/stop; wait $LOAD_A $LOAD_B 2>/dev/null"
for ((i = 0; i < 100; i++)); do
    (($(keys "$M_PORT" 'rcptguard:v1:*:a-*') > 2 && $(keys "$M_PORT" 'rcptguard:v1:*:b-*') > 2)) &&
        break
    sleep 0.1
done
HARVEST_KEY=rcptguard:harvest:127.0.0.1/32
expect_match "redis-sentinel: under load, both write to the master (cache and harvest counters)" \
    '^[1-9][0-9]* [1-9][0-9]* [1-9][0-9]*$' \
    "$(keys "$M_PORT" 'rcptguard:v1:*:a-*') $(keys "$M_PORT" 'rcptguard:v1:*:b-*') $(redis-cli -p "$M_PORT" ZCARD "$HARVEST_KEY")"

pid=$(head -n 1 "$T/master/pid")
kill -KILL "$pid"
killed=$(now_ms)        # it runs nothing more (it may stay a zombie a while)
rm -f "$T/master/pid"
sleep 0.3
# what the replica holds of the old master: only writes to the new master add to it
BASE_A=$(keys "$R_PORT" 'rcptguard:v1:*:a-*')
BASE_B=$(keys "$R_PORT" 'rcptguard:v1:*:b-*')
BASE_H=$(redis-cli -p "$R_PORT" ZCARD "$HARVEST_KEY")
promoted=
for ((i = 0; i < 300; i++)); do
    if [[ $(master_port) == "$R_PORT" ]]; then
        promoted=$(now_ms)
        break
    fi
    sleep 0.05
done
if [[ -z $promoted ]]; then
    not_ok "redis-sentinel: the sentinels promote the replica within 15 s"
    touch "$T/stop"
    tap_done
fi
ok "redis-sentinel: the sentinels promote the replica"
# wait (at most 10 s) until each has written to the new master
for ((i = 0; i < 100; i++)); do
    (($(keys "$R_PORT" 'rcptguard:v1:*:a-*') > BASE_A && $(keys "$R_PORT" 'rcptguard:v1:*:b-*') > BASE_B &&
        $(redis-cli -p "$R_PORT" ZCARD "$HARVEST_KEY") > BASE_H)) && break
    sleep 0.1
done
# when: the cache entries carry the time they were written (seen=), the
# harvest counts theirs (the score); nothing reached Redis between the kill
# and the promotion, so the first after the kill is the first on the new master
T_A=$(first_write "$R_PORT" 'rcptguard:v1:*:a-*' "$killed")
T_B=$(first_write "$R_PORT" 'rcptguard:v1:*:b-*' "$killed")
T_H=$(redis-cli -p "$R_PORT" ZRANGEBYSCORE "$HARVEST_KEY" "(${killed:0:-3}.${killed: -3}" +inf \
    WITHSCORES LIMIT 0 1 | sed -n 2p | awk '{ printf "%.0f\n", $1 * 1000 }')
# the promotion: when the replica took REPLICAOF NO ONE from the sentinels
# (its log, to the millisecond; polling the sentinels above sees it later)
at=$(sed -n 's/^[0-9]*:[A-Z] \(.*\) [*#] MASTER MODE enabled.*/\1/p' "$T/replica/log" | head -n 1)
master_at=$(date -d "$at" +%s%3N 2>/dev/null) || master_at=$promoted
since() { [[ -n $1 ]] && echo $(($1 - master_at)); }
T_A=$(since "$T_A") T_B=$(since "$T_B") T_H=$(since "$T_H")
echo "# failover: the replica was promoted $((master_at - killed)) ms after the kill (the sentinels named it after $((promoted - killed)) ms)"
echo "# failover: first write on the new master after its promotion: cache a ${T_A:-never} ms, cache b ${T_B:-never} ms, harvest counters ${T_H:-never} ms"
for x in "a:${T_A:-}" "b:${T_B:-}" "harvest counters:${T_H:-}"; do
    t=${x#*:}
    if [[ -n $t ]] && ((t <= 5000)); then
        ok "redis-sentinel: ${x%%:*}: the new master written to within 5 s of the promotion (${t} ms)"
    else
        not_ok "redis-sentinel: ${x%%:*}: the new master written to within 5 s of the promotion" \
            "${t:-no write within 10 s}"
    fi
done
sleep 1
touch "$T/stop"
wait "$LOAD_A" "$LOAD_B" 2>/dev/null

for tag in a b; do
    n=$(wc -l <"$T/load-$tag.txt")
    known5=$(grep -E '^RCPT <(john\.doe|jane\.smith)@example\.com>: 5' "$T/load-$tag.txt" | wc -l)
    unknown250=$(grep -E "^RCPT <$tag-[0-9]+@example\.com>: 250" "$T/load-$tag.txt" | wc -l)
    other=$(grep -vE '^RCPT <[^>]*>: (250 2\.1\.5 Ok|550 5\.1\.1 <[^>]*>: Recipient address rejected: User unknown)$' \
        "$T/load-$tag.txt" | wc -l)
    echo "# load through $tag: $n RCPTs, $known5 false 5xx, $unknown250 false 250, $other other replies"
    expect_match "redis-sentinel: $tag: a steady load went through (at least 30 RCPTs)" \
        '^([3-9][0-9]|[1-9][0-9]{2,})$' "$n"
    expect_eq "redis-sentinel: $tag: no known recipient got a 5xx" 0 "$known5"
    expect_eq "redis-sentinel: $tag: no unknown recipient got a 250" 0 "$unknown250"
    if ((other == 0)); then
        ok "redis-sentinel: $tag: every RCPT got 250 or 550 (LDAP answered while Redis was away)"
    else
        not_ok "redis-sentinel: $tag: every RCPT got 250 or 550" \
            "$(grep -vE ': (250 2\.1\.5 Ok|550 5\.1\.1 <[^>]*>: Recipient address rejected: User unknown)$' \
                "$T/load-$tag.txt" | head -n 5)"
    fi
    expect_match "redis-sentinel: $tag follows the failover to the new master" \
        "Redis master $NAME is 127\.0\.0\.1:$R_PORT " "$(grep 'Redis master' "$T/$tag.log")"
done
if kill -0 "$PID_A" 2>/dev/null && kill -0 "$PID_B" 2>/dev/null; then
    ok "redis-sentinel: both instances still run (no restart)"
else
    not_ok "redis-sentinel: both instances still run (no restart)"
fi
expect_eq "redis-sentinel: the sentinel password is in no log" 0 \
    "$(cat "$T/a.log" "$T/b.log" | grep -cF "$SENTINEL_PW")"

# --- only dead sentinels ------------------------------------------------------------------

DEAD1=$(free_port)
DEAD2=$(free_port)
sentinel_rcptguard_conf "$T/c.conf" "127.0.0.1:$DEAD1 127.0.0.1:$DEAD2"
launch c "$T/c.conf" || { not_ok "redis-sentinel: rcptguard c starts"; tap_done; }
PID_C=$LAUNCHED
postconf -c "$T/postfix-a/conf" "smtpd_milters = inet:127.0.0.1:$MILTER_PORT" >/dev/null
postfix -c "$T/postfix-a/conf" reload >/dev/null 2>&1
sleep 1
for i in 1 2 3; do
    expect_eq "redis-sentinel: dead sentinels: a known recipient is accepted from LDAP ($i)" \
        "$OK" "$(swaks_rcpt "$PF_A" bob@example.com)"
    expect_eq "redis-sentinel: dead sentinels: an unknown one is rejected from LDAP ($i)" \
        "$(unknown "dead-$i@example.com")" "$(swaks_rcpt "$PF_A" "dead-$i@example.com")"
done
slow=$(grep -o 'verdict=.* ms=[0-9]*' "$T/c.log" | sed 's/.* ms=//' | awk '$1 > 300' | wc -l)
expect_eq "redis-sentinel: dead sentinels: no RCPT waited on them (ms <= 300)" 0 "$slow"
expect_eq "redis-sentinel: dead sentinels: one log line says so, naming each sentinel" \
    "Redis unreachable (no sentinel named the master $NAME: 127.0.0.1:$DEAD1 Connection refused; 127.0.0.1:$DEAD2 Connection refused); answering from LDAP until it is back" \
    "$(grep -o 'Redis unreachable.*' "$T/c.log")"

# --- a dead and a hung sentinel -----------------------------------------------------------

# the hung one accepts connections and never answers (tests/lib/silent_ldap.py
# speaks no protocol in this mode); it logs each connection
/usr/bin/python3 "$TOP/tests/lib/silent_ldap.py" silent "$T/hung.port" "$T/hung.log" 2>/dev/null &
rg_on_exit "kill $! 2>/dev/null"
for ((i = 0; i < 100; i++)); do
    [[ -s $T/hung.port ]] && break
    sleep 0.05
done
HUNG=$(cat "$T/hung.port" 2>/dev/null)
: >>"$T/hung.log"
sentinel_rcptguard_conf "$T/d.conf" "127.0.0.1:$DEAD1,127.0.0.1:$HUNG"
launch d "$T/d.conf" || { not_ok "redis-sentinel: rcptguard d starts"; tap_done; }
PID_D=$LAUNCHED
postconf -c "$T/postfix-a/conf" "smtpd_milters = inet:127.0.0.1:$MILTER_PORT" >/dev/null
postfix -c "$T/postfix-a/conf" reload >/dev/null 2>&1
sleep 1
rcpts=()
want=
for i in $(seq 1 10); do
    rcpts+=(john.doe@example.com "hung-$i@example.com")
    want+="RCPT <john.doe@example.com>: $OK"$'\n'"RCPT <hung-$i@example.com>: $(unknown "hung-$i@example.com")"$'\n'
done
before=$(grep -c accept "$T/hung.log")
t0=$(now_ms)
got=$(smtp_rcpts "$PF_A" tester@example.net "${rcpts[@]}" | grep '^RCPT ')
t1=$(now_ms)
tries=$(($(grep -c accept "$T/hung.log") - before))
expect_eq "redis-sentinel: a hung sentinel: 20 RCPTs in one session answered from LDAP" \
    "${want%$'\n'}" "$got"
slow=$(grep -o 'verdict=.* ms=[0-9]*' "$T/d.log" | sed 's/.* ms=//' | awk '$1 > 300' | wc -l)
expect_eq "redis-sentinel: a hung sentinel: no RCPT waited on it (ms <= 300)" 0 "$slow"
echo "# a hung sentinel: $tries connections to it during $((t1 - t0)) ms and 20 RCPTs"
if ((tries <= 2 + (t1 - t0) / 500)); then
    ok "redis-sentinel: a hung sentinel is asked at most once per back-off interval, not per RCPT"
else
    not_ok "redis-sentinel: a hung sentinel is asked at most once per back-off interval, not per RCPT" \
        "$tries connections in $((t1 - t0)) ms"
fi
expect_match "redis-sentinel: a hung sentinel: one log line names both sentinels" \
    "^Redis unreachable \(no sentinel named the master $NAME: 127\.0\.0\.1:$DEAD1 Connection refused; 127\.0\.0\.1:$HUNG [^;]+\); answering from LDAP until it is back$" \
    "$(grep -o 'Redis unreachable.*' "$T/d.log")"

# stop side by side what the exit hooks would stop one after the other
kill -TERM "$PID_A" "$PID_B" "$PID_C" "$PID_D" 2>/dev/null
(POSTFIX_DIR=$T/postfix-a stop_postfix) &
pf_a=$!
(POSTFIX_DIR=$T/postfix-b stop_postfix) &
pf_b=$!
wait "$PID_A" "$PID_B" "$PID_C" "$PID_D" "$pf_a" "$pf_b" 2>/dev/null
tap_done
