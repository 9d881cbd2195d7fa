# SPDX-License-Identifier: BSD-2-Clause
# tests/lib/servers.sh - real servers for the integration tests.
#
# Sourced (bash) by every tests/integration/*.sh.  Each test gets a fresh
# temporary folder $T and starts what it needs there, on 127.0.0.1 and on
# ports nobody else uses; whatever it starts is stopped when the script ends,
# also when it fails or is interrupted.
#
#   rg_setup                 make $T, set $TOP $RCPTGUARD $QUERY $AUDIT (the
#                            programs of $RG_BUILD), install the
#                            exit trap (RG_KEEP=1 keeps $T for a post-mortem)
#   rg_on_exit CMD...        run CMD at exit (the last registered runs first)
#   free_port                print a free TCP port on 127.0.0.1
#   start_slapd LDIF         slapd in $T/slapd, suffix dc=example,dc=com, the
#                            entries of LDIF; sets SLAPD_PORT SLAPD_URI
#                            (RG_SLAPD_SCHEMAS, or the one RG_SLAPD_SCHEMA:
#                            more schema LDIFs, absolute paths, loaded after
#                            the system's)
#   stop_slapd, restart_slapd (same data, same port)
#   ldap_admin CMD LDIF      ldapadd/ldapmodify/ldapdelete as cn=admin
#   start_redis              redis-server in $T/redis; sets REDIS_PORT REDIS_URI
#   stop_redis
#   write_conf FILE [LINE...]  an rcptguard.conf for these servers
#   start_rcptguard CONF [ARG...]  the daemon in the foreground (-f), in the
#                            background of the script, log in $T/rcptguard.log
#   stop_rcptguard           SIGTERM, wait; its exit status in RCPTGUARD_STATUS
#   rg_log_lines, rg_log_wait REGEX SECONDS [FROM-LINE]  the daemon's log:
#                            its length; a line matching REGEX after FROM-LINE
#   rg_reload                SIGUSR1; prints the line saying how it went
#
# Directory: root DN cn=admin,dc=example,dc=com (password adminpw); the
# reader cn=reader,dc=example,dc=com (password readerpw) is an entry of the
# test LDIF and may read everything; anonymous may read everything but
# passwords.  The reader has slapd's 500-entry size limit on plain searches
# and no limit on paged ones, as a production bind DN would.

RG_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$RG_LIB/../.." && pwd)
# RG_BUILD: the build folder whose programs are tested (tests/run-all sets it
# to build/normal, build/asan, ...).  By hand: the source tree when it was
# built in place, else build/normal.
if [[ -z ${RG_BUILD:-} ]]; then
    if [[ -x $TOP/milter/rcptguard || ! -x $TOP/build/normal/milter/rcptguard ]]; then
        RG_BUILD=$TOP
    else
        RG_BUILD=$TOP/build/normal
    fi
fi
RCPTGUARD=$RG_BUILD/milter/rcptguard
QUERY=$RG_BUILD/directory/rcptguard-query
AUDIT=$RG_BUILD/directory/rcptguard-audit
RG_BASE_DN=dc=example,dc=com
RG_ADMIN_DN=cn=admin,dc=example,dc=com
RG_ADMIN_PW=adminpw
RG_READER_DN=cn=reader,dc=example,dc=com
RG_READER_PW=readerpw
RG_SLAPD_BIN=${RG_SLAPD_BIN:-/usr/sbin/slapd}

# shellcheck source=tap.sh
. "$RG_LIB/tap.sh"
# shellcheck source=secrets.sh
. "$RG_LIB/secrets.sh"

RG_EXIT_HOOKS=()

# --- set-up and clean-up -----------------------------------------------------

_rg_cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#RG_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
        eval "${RG_EXIT_HOOKS[i]}" >/dev/null 2>&1 || true
    done
    RG_EXIT_HOOKS=()
    if [[ -n ${T:-} && -d $T ]]; then
        # tests/run-all: no test password in what this test leaves behind
        [[ -n ${RG_SECRET_HITS:-} ]] && rg_secret_scan "$T" >>"$RG_SECRET_HITS"
        if [[ ${RG_KEEP:-0} == 1 || ${RG_NO_EXIT_HOOK:-0} == 1 ]]; then
            echo "# kept $T" >&2
        else
            rm -rf "$T"
        fi
    fi
    exit "$rc"
}

rg_setup() {
    T=$(mktemp -d /tmp/rgtest.XXXXXX) || { echo "cannot make a temporary folder" >&2; exit 1; }
    chmod 755 "$T"
    export T TOP RG_BUILD RCPTGUARD QUERY AUDIT
    RG_EXIT_HOOKS=()
    trap _rg_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# rg_on_exit CMD...: the words are joined and run with eval at exit.
rg_on_exit() {
    RG_EXIT_HOOKS+=("$*")
}

# Register a stop function unless the caller wants the servers to outlive it.
_rg_register() {
    [[ ${RG_NO_EXIT_HOOK:-0} == 1 ]] && return 0
    local h
    for h in "${RG_EXIT_HOOKS[@]}"; do
        [[ $h == "$1" ]] && return 0
    done
    rg_on_exit "$1"
}

# --- ports and processes -----------------------------------------------------

# free_port: a random port in RG_PORT_MIN-RG_PORT_MAX (default 20000 up to
# the kernel's ephemeral ports, which outgoing connections take at any time:
# a port of that range can be free at the check and taken at the bind) on
# which no socket exists and that no test has claimed in the last ten
# minutes.  Claims live in one file for every test on this machine, read and
# written under flock, so two tests running at once (tests/run-all runs its
# passes in parallel) never get the same port between the check and the bind.
free_port() {
    local eph=32768 lo hi
    read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph=32768
    lo=${RG_PORT_MIN:-20000}
    hi=${RG_PORT_MAX:-$((eph > 21000 ? eph - 1 : 59999))}
    local claims=${RG_PORT_CLAIMS:-/tmp/rg-port-claims} port
    (
        flock -w 30 9 || { echo "free_port: cannot lock $claims" >&2; exit 1; }
        local now i p t keep=()
        now=$(date +%s)
        declare -A taken=()
        if [[ -f $claims ]]; then
            while read -r p t; do
                [[ -n $p && -n $t ]] || continue
                if ((now - t < 600)); then
                    taken[$p]=1
                    keep+=("$p $t")
                fi
            done <"$claims"
        fi
        for ((i = 0; i < 200; i++)); do
            p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
            [[ -n ${taken[$p]:-} ]] && continue
            ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
            keep+=("$p $now")
            printf '%s\n' "${keep[@]}" >"$claims.new" && mv -f "$claims.new" "$claims"
            echo "$p"
            exit 0
        done
        echo "free_port: no free port found in $lo-$hi" >&2
        exit 1
    ) 9>>"$claims.lock"
}

# _rg_port_open HOST PORT: does something accept TCP connections there?
_rg_port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# _rg_stop_pid PID [SECONDS]: SIGTERM, wait until it is gone, SIGKILL after
# SECONDS (default 10).
_rg_stop_pid() {
    local pid=$1 secs=${2:-10} i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    echo "# pid $pid ignored SIGTERM for ${secs}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    sleep 0.1
    return 0
}

# --- slapd -------------------------------------------------------------------

_rg_slapd_config() {
    local dir=$1
    cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid
olcArgsFile: $dir/slapd.args
olcLogLevel: none

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
${RG_SLAPD_SYNCPROV:+olcModuleLoad: syncprov}

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/misc.ldif
$(for f in ${RG_SLAPD_SCHEMAS:-}; do printf 'include: file://%s\n' "$f"; done)
${RG_SLAPD_SCHEMA:+include: file://$RG_SLAPD_SCHEMA}

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $RG_BASE_DN
olcDbDirectory: $dir/data
olcDbMaxSize: ${RG_SLAPD_MAXSIZE:-104857600}
olcRootDN: $RG_ADMIN_DN
olcRootPW: $RG_ADMIN_PW
olcDbIndex: objectClass eq
olcDbIndex: mail eq
olcLimits: {0}dn.exact="$RG_READER_DN" size.soft=${RG_SLAPD_READER_SIZE:-500} size.hard=${RG_SLAPD_READER_SIZE:-500} size.prtotal=unlimited
olcAccess: {0}to attrs=userPassword by dn.exact="$RG_READER_DN" read by anonymous auth by self read by * none
olcAccess: {1}to * by dn.exact="$RG_READER_DN" read by * read
EOF
    # RG_SLAPD_SCHEMA: one more schema LDIF (an absolute path) to include.
    # RG_SLAPD_READER_SIZE (default 500): the reader's size limit on plain
    # searches, unlimited for a mirror of more entries (its sync refresh is one
    # search).  RG_SLAPD_MONITOR=1: cn=Monitor (built into slapd), readable by all
    if [[ -n ${RG_SLAPD_MONITOR:-} ]]; then
        cat <<EOF

dn: olcDatabase={2}monitor,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {2}monitor
olcAccess: {0}to * by * read
EOF
    fi
    # RG_SLAPD_SYNCPROV=1: the server offers RFC 4533 content synchronisation
    if [[ -n ${RG_SLAPD_SYNCPROV:-} ]]; then
        cat <<EOF

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
EOF
    fi
}

# start_slapd LDIF: a fresh slapd in $T/slapd loaded with LDIF.
start_slapd() {
    local ldif=${1:?start_slapd LDIF} dir=$T/slapd
    rm -rf "$dir"
    mkdir -p "$dir/slapd.d" "$dir/data"
    _rg_slapd_config "$dir" >"$dir/config.ldif"
    if ! slapadd -n 0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1; then
        echo "# slapadd of the configuration failed:" >&2
        sed 's/^/#   /' "$dir/slapadd.log" >&2
        return 1
    fi
    if ! slapadd -q -n 1 -F "$dir/slapd.d" -l "$ldif" >>"$dir/slapadd.log" 2>&1; then
        echo "# slapadd of $ldif failed:" >&2
        sed 's/^/#   /' "$dir/slapadd.log" >&2
        return 1
    fi
    local chosen=1 i rc
    [[ -n ${SLAPD_PORT:-} ]] && chosen=
    SLAPD_PORT=${SLAPD_PORT:-$(free_port)}
    SLAPD_URI=ldap://127.0.0.1:$SLAPD_PORT
    SLAPD_DIR=$dir
    export SLAPD_PORT SLAPD_URI SLAPD_DIR
    _rg_register stop_slapd
    # A port picked here can still be taken between the check and the bind
    # by a program that does not claim ports through free_port: then slapd
    # exits at once (status 2 below), and another port is tried.
    for ((i = 0; i < 3; i++)); do
        rc=0
        _rg_slapd_run || rc=$?
        [[ $rc -eq 2 && -n $chosen ]] || return "$rc"
        SLAPD_PORT=$(free_port) || return 1
        SLAPD_URI=ldap://127.0.0.1:$SLAPD_PORT
        echo "# trying slapd on port $SLAPD_PORT instead" >&2
    done
    return 1
}

# Start slapd on the prepared folder and wait (at most 10 s) until it answers.
# Returns 2 when slapd exits at once (its port taken, say), 1 when it does
# not answer.
_rg_slapd_run() {
    local i
    rm -f "$SLAPD_DIR/slapd.pid"
    if ! "$RG_SLAPD_BIN" -F "$SLAPD_DIR/slapd.d" -h "ldap://127.0.0.1:$SLAPD_PORT/" \
        >>"$SLAPD_DIR/slapd.log" 2>&1; then
        echo "# slapd did not start:" >&2
        tail -n 20 "$SLAPD_DIR/slapd.log" | sed 's/^/#   /' >&2
        return 2
    fi
    for ((i = 0; i < 100; i++)); do
        if ldapsearch -x -LLL -o nettimeout=1 -H "$SLAPD_URI" -b '' -s base \
            namingContexts >/dev/null 2>&1; then
            SLAPD_PID=$(head -n 1 "$SLAPD_DIR/slapd.pid" 2>/dev/null)
            return 0
        fi
        sleep 0.1
    done
    echo "# slapd on port $SLAPD_PORT did not answer within 10 s" >&2
    return 1
}

# The pid of the running slapd: from its pid file, or the one remembered at
# start when the file is gone.
slapd_pid() {
    if [[ -n ${SLAPD_DIR:-} && -s $SLAPD_DIR/slapd.pid ]]; then
        head -n 1 "$SLAPD_DIR/slapd.pid"
    elif [[ -n ${SLAPD_PID:-} ]] && kill -0 "$SLAPD_PID" 2>/dev/null; then
        echo "$SLAPD_PID"
    else
        return 1
    fi
}

stop_slapd() {
    local pid
    pid=$(slapd_pid) || return 0
    _rg_stop_pid "$pid" 15
    rm -f "$SLAPD_DIR/slapd.pid"
    SLAPD_PID=
}

# restart_slapd: the same data on the same port.
restart_slapd() {
    stop_slapd
    _rg_slapd_run
}

# ldap_admin ldapadd|ldapmodify|ldapdelete [ARGS...]: run it as the root DN
# against the test slapd (LDIF on standard input or with -f FILE).
ldap_admin() {
    local tool=$1
    shift
    "$tool" -x -H "$SLAPD_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" "$@"
}

# --- redis -------------------------------------------------------------------

start_redis() {
    local dir=$T/redis i
    mkdir -p "$dir"
    REDIS_PORT=${REDIS_PORT:-$(free_port)}
    REDIS_URI=redis://127.0.0.1:$REDIS_PORT
    REDIS_DIR=$dir
    export REDIS_PORT REDIS_URI REDIS_DIR
    _rg_register stop_redis
    rm -f "$dir/redis.pid"
    if ! redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" >/dev/null 2>&1; then
        echo "# redis-server did not start:" >&2
        tail -n 20 "$dir/redis.log" 2>/dev/null | sed 's/^/#   /' >&2
        return 1
    fi
    for ((i = 0; i < 100; i++)); do
        if [[ $(redis_cli PING 2>/dev/null) == PONG ]]; then
            REDIS_PID=$(head -n 1 "$dir/redis.pid" 2>/dev/null)
            return 0
        fi
        sleep 0.1
    done
    echo "# redis-server on port $REDIS_PORT did not answer within 10 s" >&2
    return 1
}

redis_cli() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

stop_redis() {
    local pid=${REDIS_PID:-}
    if [[ -n ${REDIS_DIR:-} && -s $REDIS_DIR/redis.pid ]]; then
        pid=$(head -n 1 "$REDIS_DIR/redis.pid")
    fi
    [[ -n $pid ]] || return 0
    _rg_stop_pid "$pid" 10
    rm -f "$REDIS_DIR/redis.pid"
    REDIS_PID=
}

# --- rcptguard ---------------------------------------------------------------

# write_conf FILE ["Key value"...]: a configuration for the servers above.
write_conf() {
    local file=${1:?write_conf FILE} line
    shift
    MILTER_PORT=${MILTER_PORT:-$(free_port)}
    export MILTER_PORT
    printf '%s\n' "$RG_READER_PW" >"$T/ldap.pw"
    chmod 600 "$T/ldap.pw"
    {
        # one line, so that the lines after it keep their numbers: the
        # directory mirror only where a test asks for it (RG_TEST_MIRROR)
        echo "Mirror ${RG_TEST_MIRROR:-no}    # written by tests/lib/servers.sh"
        echo "Socket inet:$MILTER_PORT@127.0.0.1"
        echo "Domains example.com example.org"
        echo "LDAPURI ${SLAPD_URI:-ldap://127.0.0.1:1}"
        echo "LDAPBase $RG_BASE_DN"
        echo "LDAPBindDN $RG_READER_DN"
        echo "LDAPBindPasswordFile $T/ldap.pw"
        echo "LDAPTimeout 2"
        echo "RedisURI ${REDIS_URI:-none}"
        echo "Syslog no"
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$file"
}

# The Socket of CONF (or of "-p SOCKET" among the arguments).
_rg_conf_socket() {
    local conf=$1 sock
    shift
    while [[ $# -gt 0 ]]; do
        if [[ $1 == -p && $# -gt 1 ]]; then
            echo "$2"
            return
        fi
        shift
    done
    sock=$(sed -n 's/^[[:space:]]*[Ss][Oo][Cc][Kk][Ee][Tt][[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$conf" | tail -n 1)
    echo "${sock:-unix:/run/rcptguard/rcptguard.sock}"
}

# _rg_socket_ready SOCKET: does the milter socket accept connections?
_rg_socket_ready() {
    local sock=$1 port host path
    case $sock in
    inet:*@* | inet6:*@*)
        port=${sock#*:}
        port=${port%@*}
        host=${sock##*@}
        _rg_port_open "$host" "$port"
        ;;
    unix:* | local:*)
        path=${sock#*:}
        [[ -S $path ]] && ss -Hlx 2>/dev/null | grep -qF " $path "
        ;;
    *) return 1 ;;
    esac
}

# start_rcptguard CONF [ARG...]: run the daemon in the foreground (-f) as a
# background job of this script and wait (at most 10 s) until its socket
# accepts connections.  Sets RCPTGUARD_PID and RCPTGUARD_SOCKET.
start_rcptguard() {
    local conf=${1:?start_rcptguard CONF} i
    shift
    RCPTGUARD_SOCKET=$(_rg_conf_socket "$conf" "$@")
    RCPTGUARD_LOG=$T/rcptguard.log
    "$RCPTGUARD" -f -c "$conf" "$@" </dev/null >>"$RCPTGUARD_LOG" 2>&1 &
    RCPTGUARD_PID=$!
    RCPTGUARD_STATUS=
    export RCPTGUARD_PID RCPTGUARD_SOCKET RCPTGUARD_LOG
    _rg_register stop_rcptguard
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$RCPTGUARD_PID" 2>/dev/null; then
            wait "$RCPTGUARD_PID" 2>/dev/null
            RCPTGUARD_STATUS=$?
            echo "# rcptguard exited with status $RCPTGUARD_STATUS at start-up:" >&2
            tail -n 20 "$RCPTGUARD_LOG" | sed 's/^/#   /' >&2
            RCPTGUARD_PID=
            return 1
        fi
        if _rg_socket_ready "$RCPTGUARD_SOCKET"; then
            return 0
        fi
        sleep 0.1
    done
    echo "# rcptguard did not open $RCPTGUARD_SOCKET within 10 s:" >&2
    tail -n 20 "$RCPTGUARD_LOG" | sed 's/^/#   /' >&2
    return 1
}

# stop_rcptguard: SIGTERM and wait (at most 10 s, then SIGKILL).  Its exit
# status is left in RCPTGUARD_STATUS; returns non-zero when it had to be
# killed.
stop_rcptguard() {
    local pid=${RCPTGUARD_PID:-} i
    [[ -n $pid ]] || return 0
    RCPTGUARD_PID=
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 200; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            RCPTGUARD_STATUS=$?
            return 0
        fi
        sleep 0.05
    done
    echo "# rcptguard ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    RCPTGUARD_STATUS=$?
    return 1
}

# rg_log_lines: how many lines rcptguard's log has so far (0 before it exists).
rg_log_lines() {
    if [[ -f ${RCPTGUARD_LOG:-} ]]; then wc -l <"$RCPTGUARD_LOG"; else echo 0; fi
}

# rg_log_wait REGEX SECONDS [FROM-LINE]: wait (at most SECONDS) for a line of
# rcptguard's log after line FROM-LINE (default 0) that matches REGEX
# (grep -E); prints it.  Non-zero when none came.
rg_log_wait() {
    local re=$1 secs=$2 from=${3:-0} i line
    for ((i = 0; i < secs * 10; i++)); do
        line=$(tail -n +"$((from + 1))" "$RCPTGUARD_LOG" 2>/dev/null | grep -E -m 1 "$re")
        if [[ -n $line ]]; then
            printf '%s\n' "$line"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# rg_reload: SIGUSR1 to the daemon; prints the log line that says how the
# reload went ("configuration ... reloaded: ..." or "reload refused, ..."),
# waiting at most 10 s.  Not any line with "reloaded" in it: the index
# loader's "the suggestion index is reloaded every N s" may come first.
rg_reload() {
    local from
    from=$(rg_log_lines)
    kill -USR1 "$RCPTGUARD_PID"
    rg_log_wait 'configuration .* reloaded: |reload refused, ' 10 "$from"
}

# expect_query EXPECTED_STATUS DESC EXPECTED_OUTPUT CONF ADDRESS...: run
# rcptguard-query on the addresses and compare its output and exit status
# exactly; its standard error is shown when they differ.
expect_query() {
    local code=$1 desc=$2 expected=$3 conf=$4 out rc=0
    shift 4
    out=$("$QUERY" -c "$conf" "$@" 2>"$T/query.err") || rc=$?
    if [[ $out != "$expected" ]]; then
        not_ok "$desc"
        _tap_show_diff "$expected" "$out"
        sed 's/^/#   stderr: /' "$T/query.err" >&2
    elif [[ $rc -ne $code ]]; then
        not_ok "$desc" "exit status $rc, expected $code"
        sed 's/^/#   stderr: /' "$T/query.err" >&2
    else
        ok "$desc"
    fi
}
