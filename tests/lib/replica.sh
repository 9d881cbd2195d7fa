# SPDX-License-Identifier: BSD-2-Clause
# tests/lib/replica.sh - a second slapd that replicates the first (syncrepl).
#
# Sourced after servers.sh, once start_slapd has started the provider with
# RG_SLAPD_SYNCPROV=1 (the consumer reads it with RFC 4533 refreshAndPersist,
# as OpenLDAP's own replicas do, and offers syncprov itself).
#
#   start_consumer           slapd in $T/consumer, replicating $SLAPD_URI;
#                            waits until it holds the provider's entries;
#                            sets CONSUMER_PORT CONSUMER_URI CONSUMER_DIR
#   stop_consumer [SIGNAL]   SIGTERM (or SIGNAL: KILL for a crash), wait
#   restart_consumer         the same data on the same port
#   consumer_pid             its pid, from its pid file

# The consumer's cn=config: the provider's, with its own paths and the
# syncrepl clause on the database.
_rg_consumer_config() {
    local dir=$1
    RG_SLAPD_SYNCPROV=1 _rg_slapd_config "$dir" | awk -v sr="olcSyncrepl: rid=001 \
provider=$SLAPD_URI bindmethod=simple binddn=\"$RG_ADMIN_DN\" credentials=$RG_ADMIN_PW \
searchbase=\"$RG_BASE_DN\" type=refreshAndPersist retry=\"1 +\" timeout=2 network-timeout=2" '
        { print }
        /^olcDbIndex: mail eq$/ {
            print "olcDbIndex: entryUUID eq"
            print "olcDbIndex: entryCSN eq"
            print sr
        }'
}

consumer_pid() {
    [[ -n ${CONSUMER_DIR:-} && -s $CONSUMER_DIR/slapd.pid ]] && head -n 1 "$CONSUMER_DIR/slapd.pid"
}

# Start the consumer's slapd on its prepared folder; wait (10 s) until it answers.
_rg_consumer_run() {
    local i
    rm -f "$CONSUMER_DIR/slapd.pid"
    "$RG_SLAPD_BIN" -F "$CONSUMER_DIR/slapd.d" -h "ldap://127.0.0.1:$CONSUMER_PORT/" \
        >>"$CONSUMER_DIR/slapd.log" 2>&1 || return 1
    for ((i = 0; i < 100; i++)); do
        ldapsearch -x -LLL -o nettimeout=1 -H "$CONSUMER_URI" -b '' -s base namingContexts \
            >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# The number of entries under the base on server URI.
_rg_count_entries() {
    ldapsearch -x -LLL -o nettimeout=2 -H "$1" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" \
        -b "$RG_BASE_DN" 1.1 2>/dev/null | grep -c '^dn:'
}

start_consumer() {
    local dir=$T/consumer want i
    rm -rf "$dir"
    mkdir -p "$dir/slapd.d" "$dir/data"
    _rg_consumer_config "$dir" >"$dir/config.ldif"
    if ! slapadd -n 0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1; then
        echo "# slapadd of the consumer's configuration failed:" >&2
        sed 's/^/#   /' "$dir/slapadd.log" >&2
        return 1
    fi
    CONSUMER_DIR=$dir
    CONSUMER_PORT=$(free_port) || return 1
    CONSUMER_URI=ldap://127.0.0.1:$CONSUMER_PORT
    export CONSUMER_DIR CONSUMER_PORT CONSUMER_URI
    _rg_register stop_consumer
    if ! _rg_consumer_run; then
        echo "# the consumer slapd did not start:" >&2
        tail -n 20 "$dir/slapd.log" | sed 's/^/#   /' >&2
        return 1
    fi
    want=$(_rg_count_entries "$SLAPD_URI")
    for ((i = 0; i < 100; i++)); do
        [[ $(_rg_count_entries "$CONSUMER_URI") == "$want" ]] && return 0
        sleep 0.1
    done
    echo "# the consumer did not copy the provider's $want entries within 10 s" >&2
    return 1
}

stop_consumer() {
    local pid sig=${1:-TERM}
    pid=$(consumer_pid) || return 0
    if [[ $sig == KILL ]]; then
        kill -KILL "$pid" 2>/dev/null
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    else
        _rg_stop_pid "$pid" 15
    fi
    rm -f "$CONSUMER_DIR/slapd.pid"
}

restart_consumer() {
    stop_consumer
    _rg_consumer_run
}
