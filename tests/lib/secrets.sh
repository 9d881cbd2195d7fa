# SPDX-License-Identifier: BSD-2-Clause
# tests/lib/secrets.sh - the passwords of the test suite, and a search for
# them where they must never be.
#
# The passwords live in tests/lib/servers.sh (RG_READER_PW, the bind
# password rcptguard is given; RG_ADMIN_PW, slapd's root DN) and here
# (RG_WRONG_PW, a wrong bind password some tests give on purpose).  None of
# them may show in a log line, an SMTP reply or any other output.
#
#   rg_secrets                NAME VALUE, one a line
#   rg_secret_scan PATH...    "PATH holds NAME" for every file named on the
#                             command line, and every log or output file
#                             (*.log *.err *.out *.txt *.json maillog)
#                             under a folder named there, that holds one

RG_WRONG_PW=${RG_WRONG_PW:-rg-Wrong-Secret-51a7}
_RG_SECRETS_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rg_secrets() {
    sed -n 's/^\(RG_[A-Z]*_PW\)=\([^[:space:]]\{1,\}\)$/\1 \2/p' "$_RG_SECRETS_LIB/servers.sh"
    echo "RG_WRONG_PW $RG_WRONG_PW"
}

rg_secret_scan() {
    local name value p f
    while read -r name value; do
        [[ -n $value ]] || continue
        for p in "$@"; do
            if [[ -d $p ]]; then
                grep -rlIF --include='*.log' --include='*.err' --include='*.out' \
                    --include='*.txt' --include='*.json' --include=maillog \
                    -e "$value" "$p" 2>/dev/null
            elif [[ -f $p ]]; then
                grep -lIF -e "$value" "$p" 2>/dev/null
            fi
        done | while IFS= read -r f; do
            printf '%s holds %s\n' "$f" "$name"
        done
    done < <(rg_secrets)
}
