# SPDX-License-Identifier: BSD-2-Clause
# tests/lib/mta.sh - start and stop a real Postfix and a real Sendmail for
# end-to-end tests.  Sourced after tests/lib/servers.sh, whose rg_setup sets $T
# (the test's temporary folder) and whose rg_on_exit, free_port this file uses.
#
#   start_postfix SOCKET   Postfix on 127.0.0.1:$POSTFIX_PORT, private config in
#                          $T/postfix/conf, smtpd_milters = SOCKET.  SOCKET is
#                          in Postfix syntax (inet:HOST:PORT, unix:/path) or in
#                          milter syntax (inet:PORT@HOST), which is converted.
#   stop_postfix
#   start_sendmail MILTER_PORT
#                          Sendmail on 127.0.0.1:$SENDMAIL_PORT, run from its
#                          unpacked Debian packages (cached in $RG_SENDMAIL_CACHE),
#                          INPUT_MAIL_FILTER inet:MILTER_PORT@127.0.0.1 with F=T.
#                          Returns 2 (and sets RG_SENDMAIL_MISSING to the
#                          reason) when Sendmail cannot be obtained: skip then.
#   stop_sendmail
#   swaks_rcpt PORT ADDR   swaks up to RCPT TO; prints the reply to RCPT
#   smtp_rcpts PORT FROM RCPT...  several RCPTs in one transaction
#   mta_run_checks NAME PORT STYLE  the checks every MTA must pass (known,
#                          unknown, case, subaddress, "*", not ours, several
#                          RCPTs, log lines, LDAP down and back)
#   mta_query_agrees NAME PORT STYLE CONF ADDR...
#                          rcptguard-query --reply shows, for each ADDR, the
#                          very lines the MTA answers
#
# Both MTAs relay example.com, example.org and example.net (the last one is not
# in rcptguard's Domains: "not ours") and discard/queue whatever they accept.
# Each start registers its stop with rg_on_exit, so a failing test still stops
# them.  Setting RG_NO_EXIT_HOOK=1 leaves them running (the quick start uses
# this: its demo outlives the script).

: "${RG_SENDMAIL_CACHE:=/var/cache/rcptguard-tests/sendmail}"
RG_RELAY_DOMAINS="example.com example.org example.net"

# --- helpers -----------------------------------------------------------------

# _mta_wait_port PORT SECONDS: wait until something answers SMTP on the port.
_mta_wait_port() {
    local port=$1 secs=${2:-20} i line
    for ((i = 0; i < secs * 10; i++)); do
        if { exec 9<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
            line=
            read -r -t 5 line <&9 || true
            printf 'QUIT\r\n' >&9 2>/dev/null || true
            exec 9<&- 9>&-
            [[ $line == 220* ]] && return 0
        fi
        sleep 0.1
    done
    return 1
}

# _mta_kill_pid PID: TERM, wait up to 10 s, then KILL.
_mta_kill_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

_mta_on_exit() {
    [[ ${RG_NO_EXIT_HOOK:-0} == 1 ]] && return 0
    if declare -F _rg_register >/dev/null; then
        _rg_register "$1"   # once, however often the MTA is started
    else
        rg_on_exit "$1"
    fi
}

# _mta_postfix_socket SOCKET: milter syntax inet:PORT@HOST -> Postfix inet:HOST:PORT
_mta_postfix_socket() {
    local s=$1
    if [[ $s =~ ^inet:([0-9]+)@(.+)$ ]]; then
        printf 'inet:%s:%s\n' "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
    else
        printf '%s\n' "$s"
    fi
}

# --- Postfix -------------------------------------------------------------------

# write_postfix_conf DIR PORT SOCKET: a private Postfix configuration in DIR/conf.
write_postfix_conf() {
    local pf=$1 port=$2 sock
    sock=$(_mta_postfix_socket "$3")
    mkdir -p "$pf/conf" "$pf/queue" "$pf/data"
    chmod 755 "$pf" "$pf/conf"
    chown root:root "$pf/queue" && chmod 755 "$pf/queue"
    chown postfix "$pf/data"
    # master.cf: Debian's, smtpd on our port, no chroot (the private queue
    # folder has no copies of /etc files, and unix milter sockets stay simple).
    sed -e "s/^smtp      inet/$port      inet/" /etc/postfix/master.cf >"$pf/conf/master.cf"
    cat >"$pf/conf/main.cf" <<EOF
# Private Postfix instance for rcptguard's tests.
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
myhostname = mx.test.local
mydomain = test.local
myorigin = \$myhostname
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP
biff = no

# The milter decides who exists: Postfix accepts every address of these
# domains (empty relay_recipient_maps) and asks rcptguard.
relay_domains = $RG_RELAY_DOMAINS
relay_recipient_maps =
transport_maps = inline:{ example.com=discard:, example.org=discard:, example.net=discard: }
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination

smtpd_milters = $sock
non_smtpd_milters =
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 10s
milter_command_timeout = 10s
milter_content_timeout = 30s

maillog_file = $pf/maillog
maillog_file_prefixes = $pf
EOF
    postconf -c "$pf/conf" -F '*/*/chroot = n' >/dev/null 2>&1 || true
}

start_postfix() {
    local sock=${1:?start_postfix SOCKET}
    POSTFIX_DIR=${POSTFIX_DIR:-$T/postfix}
    POSTFIX_PORT=${POSTFIX_PORT:-$(free_port)}
    # Postfix's daemons run as "postfix" and need to reach their folders.
    chmod o+x "$(dirname "$POSTFIX_DIR")" 2>/dev/null || true
    write_postfix_conf "$POSTFIX_DIR" "$POSTFIX_PORT" "$sock"
    _mta_on_exit stop_postfix
    if ! postfix -c "$POSTFIX_DIR/conf" check >"$POSTFIX_DIR/check.log" 2>&1; then
        echo "# postfix check failed:" >&2
        sed 's/^/#   /' "$POSTFIX_DIR/check.log" >&2
        return 1
    fi
    if ! postfix -c "$POSTFIX_DIR/conf" start >"$POSTFIX_DIR/start.log" 2>&1; then
        echo "# postfix start failed:" >&2
        sed 's/^/#   /' "$POSTFIX_DIR/start.log" "$POSTFIX_DIR/maillog" 2>/dev/null >&2
        return 1
    fi
    if ! _mta_wait_port "$POSTFIX_PORT" 20; then
        echo "# postfix does not answer on port $POSTFIX_PORT" >&2
        tail -n 20 "$POSTFIX_DIR/maillog" 2>/dev/null | sed 's/^/#   /' >&2
        return 1
    fi
    export POSTFIX_DIR POSTFIX_PORT
}

stop_postfix() {
    [[ -n ${POSTFIX_DIR:-} && -d $POSTFIX_DIR/conf ]] || return 0
    local pidf=$POSTFIX_DIR/queue/pid/master.pid pid=
    [[ -f $pidf ]] && read -r pid <"$pidf"
    postfix -c "$POSTFIX_DIR/conf" stop >/dev/null 2>&1 || true
    # postfix stop returns before the master is gone; make sure it is.
    if [[ -n $pid ]]; then
        local i
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        _mta_kill_pid "$pid"
    fi
    return 0
}

# --- Sendmail ------------------------------------------------------------------

# sendmail_fetch: unpack sendmail-bin and sendmail-cf into $RG_SENDMAIL_CACHE/root
# (once; reused across runs).  Returns 2 when they cannot be had.
sendmail_fetch() {
    local c=$RG_SENDMAIL_CACHE
    if [[ -x $c/root/usr/libexec/sendmail/sendmail && -f $c/root/usr/share/sendmail/cf/m4/cf.m4 ]]; then
        return 0
    fi
    command -v m4 >/dev/null || { RG_SENDMAIL_MISSING="m4 is not installed"; return 2; }
    mkdir -p "$c" || { RG_SENDMAIL_MISSING="cannot create $c"; return 2; }
    # One fetch at a time when tests run side by side.
    local lk rc=0
    exec {lk}>"$c/.lock" && flock -w 300 "$lk"
    if [[ ! -x $c/root/usr/libexec/sendmail/sendmail ]]; then
        _sendmail_unpack "$c" || rc=$?
    fi
    exec {lk}>&-
    return $rc
}

_sendmail_unpack() {
    local c=$1
    (
        cd "$c" || exit 1
        ls sendmail-bin_*.deb sendmail-cf_*.deb >/dev/null 2>&1 ||
            apt-get download sendmail-bin sendmail-cf >download.log 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get download sendmail-bin sendmail-cf >download.log 2>&1; }
    ) || { RG_SENDMAIL_MISSING="apt-get download sendmail-bin sendmail-cf failed"; return 2; }
    rm -rf "$c/root.new" && mkdir -p "$c/root.new" || return 2
    local d
    for d in "$c"/sendmail-bin_*.deb "$c"/sendmail-cf_*.deb; do
        dpkg -x "$d" "$c/root.new" || { RG_SENDMAIL_MISSING="dpkg -x $d failed"; return 2; }
    done
    rm -rf "$c/root" && mv "$c/root.new" "$c/root"
    [[ -x $c/root/usr/libexec/sendmail/sendmail ]] ||
        { RG_SENDMAIL_MISSING="no sendmail binary in the packages"; return 2; }
}

# write_sendmail_conf DIR PORT MILTER_PORT
write_sendmail_conf() {
    local sm=$1 port=$2 mport=$3 cf=$RG_SENDMAIL_CACHE/root/usr/share/sendmail/cf
    mkdir -p "$sm/mqueue"
    chmod 755 "$sm"
    chmod 700 "$sm/mqueue"
    tr ' ' '\n' <<<"$RG_RELAY_DOMAINS" >"$sm/relay-domains"
    printf 'postmaster: root\nMAILER-DAEMON: postmaster\n' >"$sm/aliases"
    printf 'hosts files\naliases files\n' >"$sm/service.switch"
    cat >"$sm/sendmail.mc" <<EOF
divert(-1)
# Private Sendmail instance for rcptguard's tests.
divert(0)dnl
define(\`MAIL_SETTINGS_DIR', \`$sm/')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mta.test.local')dnl
define(\`QUEUE_DIR', \`$sm/mqueue')dnl
define(\`confPID_FILE', \`$sm/sendmail.pid')dnl
define(\`STATUS_FILE', \`$sm/sendmail.st')dnl
define(\`confDEAD_LETTER_DROP', \`$sm/dead.letter')dnl
define(\`ALIAS_FILE', \`$sm/aliases')dnl
define(\`confCR_FILE', \`-o $sm/relay-domains')dnl
define(\`confSERVICE_SWITCH_FILE', \`$sm/service.switch')dnl
define(\`confHOSTS_FILE', \`/etc/hosts')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confDELIVERY_MODE', \`queue')dnl
define(\`confMILTER_MACROS_ENVRCPT', \`\`{rcpt_mailer}, {rcpt_host}, {rcpt_addr}, i, {auth_authen}'')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
DAEMON_OPTIONS(\`Port=$port, Addr=127.0.0.1, Name=MTA')dnl
INPUT_MAIL_FILTER(\`rcptguard', \`S=inet:$mport@127.0.0.1, F=T, T=C:10s;S:10s;R:10s;E:30s')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
    m4 -D_CF_DIR_="$cf/" "$cf/m4/cf.m4" "$sm/sendmail.mc" >"$sm/sendmail.cf"
}

start_sendmail() {
    local mport=${1:?start_sendmail MILTER_PORT} rc
    RG_SENDMAIL_MISSING=
    sendmail_fetch
    rc=$?
    if ((rc != 0)); then
        : "${RG_SENDMAIL_MISSING:=Sendmail could not be unpacked}"
        return 2
    fi
    SENDMAIL_DIR=${SENDMAIL_DIR:-$T/sendmail}
    SENDMAIL_PORT=${SENDMAIL_PORT:-$(free_port)}
    SENDMAIL_BIN=$RG_SENDMAIL_CACHE/root/usr/libexec/sendmail/sendmail
    chmod o+x "$(dirname "$SENDMAIL_DIR")" 2>/dev/null || true
    write_sendmail_conf "$SENDMAIL_DIR" "$SENDMAIL_PORT" "$mport" || return 1
    _mta_on_exit stop_sendmail
    # Sendmail sleeps a minute at every start (-bi too) when the host name has
    # no dot: give it a name of its own in a UTS namespace.
    unshare --uts sh -c 'hostname mta.test.local &&
        "$0" -C "$1" -bi >"$2/newaliases.log" 2>&1; exec "$0" -C "$1" -bd -q1h' \
        "$SENDMAIL_BIN" "$SENDMAIL_DIR/sendmail.cf" "$SENDMAIL_DIR" >"$SENDMAIL_DIR/start.log" 2>&1 || {
        echo "# sendmail failed to start:" >&2
        sed 's/^/#   /' "$SENDMAIL_DIR/start.log" >&2
        return 1
    }
    if ! _mta_wait_port "$SENDMAIL_PORT" 20; then
        echo "# sendmail does not answer on port $SENDMAIL_PORT" >&2
        sed 's/^/#   /' "$SENDMAIL_DIR/start.log" >&2
        return 1
    fi
    export SENDMAIL_DIR SENDMAIL_PORT
}

stop_sendmail() {
    [[ -n ${SENDMAIL_DIR:-} && -f $SENDMAIL_DIR/sendmail.pid ]] || return 0
    local pid=
    read -r pid <"$SENDMAIL_DIR/sendmail.pid"
    [[ $pid =~ ^[0-9]+$ ]] && _mta_kill_pid "$pid"
    rm -f "$SENDMAIL_DIR/sendmail.pid"
    return 0
}

# --- SMTP clients ------------------------------------------------------------

# swaks_rcpt PORT ADDRESS [SWAKS-OPTIONS...]: one session up to RCPT TO through
# swaks; prints the server's reply to RCPT TO, one line per reply line, without
# swaks' "<- " / "<** " marks (an empty result means the session ended before
# RCPT).  The whole transcript is kept in $RG_SWAKS_LOG when that is set.
swaks_rcpt() {
    local port=$1 addr=$2 out
    shift 2
    out=$(swaks --server "127.0.0.1:$port" --from tester@example.net --to "$addr" \
        --helo client.test.local --quit-after RCPT --timeout 40 "$@" 2>&1)
    [[ -n ${RG_SWAKS_LOG:-} ]] && printf '%s\n\n' "$out" >>"$RG_SWAKS_LOG"
    printf '%s\n' "$out" | awk '
        /^ *-> RCPT TO:/ { inrcpt = 1; next }
        inrcpt && /^ *-> /  { exit }
        inrcpt && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print }'
}

# smtp_rcpts PORT FROM RCPT...: one SMTP session with several RCPT TO in one
# transaction (swaks sends one).  Prints "RCPT <addr>: REPLY" for each reply
# line, so multi-line replies show every line.  Plain bash, no client needed.
smtp_rcpts() {
    local port=$1 from=$2 r line
    shift 2
    exec 8<>"/dev/tcp/127.0.0.1/$port" || return 1
    _smtp_reply() { # print the reply's lines, prefixed with $1
        local l
        while IFS= read -r -t 40 l <&8; do
            l=${l%$'\r'}
            printf '%s%s\n' "$1" "$l"
            [[ ${l:3:1} == "-" ]] || return 0
        done
        return 1
    }
    _smtp_reply "banner: " >/dev/null || { exec 8<&- 8>&-; return 1; }
    printf 'EHLO client.test.local\r\n' >&8
    _smtp_reply "ehlo: " >/dev/null
    printf 'MAIL FROM:<%s>\r\n' "$from" >&8
    _smtp_reply "MAIL: "
    for r in "$@"; do
        printf 'RCPT TO:<%s>\r\n' "$r" >&8
        _smtp_reply "RCPT <$r>: " || break
    done
    printf 'QUIT\r\n' >&8
    _smtp_reply "quit: " >/dev/null
    exec 8<&- 8>&-
    return 0
}

# --- the checks that every MTA must pass -------------------------------------

# mta_expect KIND STYLE ADDRESS: the exact reply line an SMTP client sees.
#   KIND  ok | unknown | tempfail
#   STYLE postfix (passes the milter's text unchanged) or sendmail (puts
#         "<addr>... " in front of 250, 450, 550 and 553 replies, not of 451).
mta_expect() {
    local kind=$1 style=$2 a=$3
    case $style:$kind in
    postfix:ok) echo "250 2.1.5 Ok" ;;
    sendmail:ok) echo "250 2.1.5 <$a>... Recipient ok" ;;
    postfix:unknown) echo "550 5.1.1 <$a>: Recipient address rejected: User unknown" ;;
    sendmail:unknown) echo "550 5.1.1 <$a>... Recipient address rejected: User unknown" ;;
    *:tempfail) echo "451 4.3.0 <$a>: Temporary lookup failure" ;;
    esac
}

# mta_log_verdict ADDRESS: the verdicts rcptguard logged for ADDRESS, one a line.
mta_log_verdict() {
    grep -F "rcpt=<$1> verdict=" "$RCPTGUARD_LOG" 2>/dev/null |
        sed -n 's/.* verdict=\([^ ]*\).*/\1/p'
}

# mta_run_checks NAME PORT STYLE: the end-to-end checks through one MTA that
# listens on PORT and asks the rcptguard started with start_rcptguard (its
# slapd started with start_slapd from tests/data/directory.ldif).
mta_run_checks() {
    local mta=$1 port=$2 style=$3 a got i

    a=john.doe@example.com
    expect_eq "$mta: known user accepted" "$(mta_expect ok "$style" $a)" "$(swaks_rcpt "$port" $a)"
    a=nobody@example.com
    expect_eq "$mta: unknown user rejected with 550 5.1.1" \
        "$(mta_expect unknown "$style" $a)" "$(swaks_rcpt "$port" $a)"
    a=JANE.SMITH@EXAMPLE.COM
    expect_eq "$mta: known user in upper case accepted" "$(mta_expect ok "$style" $a)" "$(swaks_rcpt "$port" $a)"
    a=bob+news@example.com
    expect_eq "$mta: subaddress of a known user accepted" "$(mta_expect ok "$style" $a)" "$(swaks_rcpt "$port" $a)"
    a='*@example.com'
    expect_eq "$mta: '*' is no LDAP wildcard: *@example.com rejected" \
        "$(mta_expect unknown "$style" "$a")" "$(swaks_rcpt "$port" "$a")"
    a=anyone@example.net
    expect_eq "$mta: domain not ours passes untouched" "$(mta_expect ok "$style" $a)" "$(swaks_rcpt "$port" $a)"

    # Several recipients in one transaction, each answered on its own.
    local -a rcpts=(alice@example.org ghost@example.com Mixed.Case@example.com ghost@example.org john.doe@example.com)
    local -a kinds=(ok unknown ok unknown ok)
    local expected="" actual
    for ((i = 0; i < ${#rcpts[@]}; i++)); do
        expected+="RCPT <${rcpts[i]}>: $(mta_expect "${kinds[i]}" "$style" "${rcpts[i]}")"$'\n'
    done
    actual=$(smtp_rcpts "$port" tester@example.net "${rcpts[@]}" | grep '^RCPT ')
    expect_eq "$mta: five RCPTs in one transaction, known and unknown mixed" "${expected%$'\n'}" "$actual"

    # One decision line per RCPT in rcptguard's log.
    local -A want=([nobody@example.com]=unknown [JANE.SMITH@EXAMPLE.COM]=ok
        [bob+news@example.com]=ok ['*@example.com']=unknown [anyone@example.net]=not-ours
        [ghost@example.com]=unknown [Mixed.Case@example.com]=ok [ghost@example.org]=unknown
        [alice@example.org]=ok)
    local bad=()
    for a in "${!want[@]}"; do
        got=$(mta_log_verdict "$a")
        [[ $got == "${want[$a]}" ]] || bad+=("rcpt=<$a>: want one line verdict=${want[$a]}, got: ${got//$'\n'/ }")
    done
    got=$(mta_log_verdict john.doe@example.com | sort | uniq -c | awk '{print $1, $2}')
    [[ $got == "2 ok" ]] || bad+=("rcpt=<john.doe@example.com>: want two lines verdict=ok, got: ${got//$'\n'/ }")
    if ((${#bad[@]} == 0)); then
        ok "$mta: rcptguard logs one decision line per RCPT"
    else
        not_ok "$mta: rcptguard logs one decision line per RCPT" "${bad[@]}"
    fi
    local line
    line=$(grep -F 'rcpt=<nobody@example.com> verdict=' "$RCPTGUARD_LOG" | head -n 1)
    expect_match "$mta: the decision line names connection, client, recipient, verdict, source, time" \
        'conn=[^ ]+ .*client=127\.0\.0\.1 rcpt=<nobody@example\.com> verdict=unknown source=(ldap|cache) ms=[0-9]+' "$line"

    # LDAP down: could not tell, so 451 and never 550.
    stop_slapd
    a=x@example.com
    expect_eq "$mta: LDAP down, uncached address gets 451 4.3.0" \
        "$(mta_expect tempfail "$style" $a)" "$(swaks_rcpt "$port" $a)"
    a=newcomer@example.org
    got=$(swaks_rcpt "$port" $a)
    if [[ $got == 5* || -z $got ]]; then
        not_ok "$mta: LDAP down, no 5xx for an address rcptguard cannot check" "got: '$got'"
    else
        ok "$mta: LDAP down, no 5xx for an address rcptguard cannot check"
    fi
    a=john.doe@example.com
    expect_eq "$mta: LDAP down, a cached known user is still accepted" \
        "$(mta_expect ok "$style" $a)" "$(swaks_rcpt "$port" $a)"

    # LDAP back: answers again without restarting rcptguard.
    restart_slapd || not_ok "$mta: slapd restarts"
    a=x@example.com
    for ((i = 0; i < 20; i++)); do
        got=$(swaks_rcpt "$port" $a)
        [[ $got == 4* ]] || break
        sleep 0.5
    done
    expect_eq "$mta: LDAP back, answers again without a restart (unknown)" \
        "$(mta_expect unknown "$style" $a)" "$got"
    a=jane.smith@example.com
    expect_eq "$mta: LDAP back, known user accepted" "$(mta_expect ok "$style" $a)" "$(swaks_rcpt "$port" $a)"
    if kill -0 "${RCPTGUARD_PID:-0}" 2>/dev/null; then
        ok "$mta: rcptguard still running (the same process)"
    else
        not_ok "$mta: rcptguard still running (the same process)"
    fi
}

# mta_query_agrees NAME PORT STYLE CONF ADDR...: for each ADDR, the reply lines
# that `rcptguard-query --reply --mta STYLE --client 127.0.0.1` prints with
# CONF are exactly the lines the MTA on PORT answers to RCPT TO (swaks comes
# from 127.0.0.1 too).  One test line per address.
mta_query_agrees() {
    local mta=$1 port=$2 style=$3 conf=$4 a want got
    shift 4
    for a in "$@"; do
        got=$(swaks_rcpt "$port" "$a")
        want=$("$QUERY" -c "$conf" --reply --mta "$style" --client 127.0.0.1 "$a" 2>/dev/null |
            grep -E '^[2-5][0-9][0-9][ -]')
        expect_eq "$mta: rcptguard-query --reply shows what the MTA answers for $a" "$want" "$got"
    done
}
