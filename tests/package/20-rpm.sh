#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/package/20-rpm.sh - packaging/rpm/rcptguard.spec: rpmspec -P parses
# it, rpmbuild -bb builds it (with Debian's rpm: the build dependencies are
# Debian packages here, so --nodeps; no debuginfo package), and the RPM holds
# the same unit, configuration and folders as the Debian package.
set -u
. "$(dirname "$0")/../lib/servers.sh"

rg_require "the RPM" rpmbuild rpmspec rpm
rg_setup
spec=$TOP/packaging/rpm/rcptguard.spec

if rpmspec -P "$spec" >"$T/spec.out" 2>&1; then
    ok "rpmspec -P parses the spec"
else
    not_ok "rpmspec -P parses the spec"
    sed 's/^/#   /' "$T/spec.out" >&2
fi
version=$(rpmspec -q --qf '%{version}\n' "$spec" 2>/dev/null | head -n 1)
expect_eq "the spec's version is the one configure.ac says" \
    "$(sed -n 's/^AC_INIT(\[rcptguard\], \[\([^]]*\)\].*/\1/p' "$TOP/configure.ac")" "$version"

mkdir -p "$T/rpm/SOURCES" "$T/src/rcptguard-$version"
(cd "$TOP" && git ls-files -co --exclude-standard | grep -v -e '^build/' -e '^debian/' |
    tar -cf - -T -) | tar -xf - -C "$T/src/rcptguard-$version"
tar -czf "$T/rpm/SOURCES/rcptguard-$version.tar.gz" -C "$T/src" "rcptguard-$version"
start=$SECONDS
if nice rpmbuild -bb --nodeps --define "_topdir $T/rpm" --define 'debug_package %{nil}' \
    --define '_smp_mflags -j2' "$spec" >"$T/rpmbuild.log" 2>&1; then
    ok "rpmbuild -bb builds the RPM ($((SECONDS - start)) s)"
else
    not_ok "rpmbuild -bb builds the RPM"
    tail -n 30 "$T/rpmbuild.log" | sed 's/^/#   /' >&2
    tap_done
fi
rpmfile=$(ls "$T"/rpm/RPMS/*/rcptguard-"$version"-*.rpm 2>/dev/null | head -n 1)
files=$(rpm -qp --qf '[%{filemodes:perms} %{fileusername}:%{filegroupname} %{filenames}\n]' "$rpmfile" 2>/dev/null)
for want in \
    '-rwxr-xr-x root:root /usr/sbin/rcptguard' \
    '-rw-r--r-- root:root /usr/lib/systemd/system/rcptguard.service' \
    '-rw-r--r-- root:root /etc/rcptguard/rcptguard.conf' \
    'drwxr-x--- rcptguard:rcptguard /etc/rcptguard' \
    'drwxr-x--- rcptguard:rcptguard /var/log/rcptguard' \
    '-rw-r--r-- root:root /etc/logrotate.d/rcptguard'; do
    expect_eq "the RPM holds: $want" "$want" "$(grep -xF -- "$want" <<<"$files")"
done
expect_eq "the RPM's unit is contrib/rcptguard.service" "same" \
    "$(rpm2cpio "$rpmfile" | (cd "$T" && cpio -id --quiet ./usr/lib/systemd/system/rcptguard.service) &&
        cmp -s "$T/usr/lib/systemd/system/rcptguard.service" "$TOP/contrib/rcptguard.service" && echo same)"
expect_eq "the conffile is %config(noreplace)" "/etc/rcptguard/rcptguard.conf" \
    "$(rpm -qp --configfiles "$rpmfile" 2>/dev/null | grep -x /etc/rcptguard/rcptguard.conf)"
tap_done
