/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * runcheck.c - what the running daemon will need from the system, checked
 * before it needs it.
 *
 * rcptguard opens its socket as root and then serves as UserID: writing the
 * pid file's removal, the alert log, a reload reading the bind password all
 * happen as that user.  A configuration that parses can still fail there;
 * these checks find such a problem at "rcptguard -n" and name the line of
 * the key.  Permissions are judged from the mode bits of the file and of
 * every folder above it (ACLs are not read); when the identity checked is
 * the caller's own, access(2) is asked as well, so that a read-only mount
 * counts too.
 */
#include "config.h"
#include "runcheck.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#define RC_NGROUPS 256

struct ident {
	uid_t uid;
	gid_t gid;
	gid_t groups[RC_NGROUPS];
	int ngroups;
	int self;                       /* the caller's own identity */
	char name[256];
};

unsigned
rc_key_line(const char *file, const char *key)
{
	FILE *fp = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0, klen = strlen(key);
	unsigned lineno = 0, found = 0;

	if (fp == NULL)
		return 0;
	while (found == 0 && getline(&line, &cap, fp) >= 0) {
		const char *s = line;
		lineno++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (strncasecmp(s, key, klen) == 0 && (s[klen] == ' ' || s[klen] == '\t' ||
		    s[klen] == '\n' || s[klen] == '\0'))
			found = lineno;
	}
	free(line);
	fclose(fp);
	return found;
}

/* Fill ID from "user[:group]", or from the caller when SPEC is empty. */
static int
ident_of(const char *spec, struct ident *id, char *why, size_t whylen)
{
	char user[256];
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);

	memset(id, 0, sizeof(*id));
	if (spec[0] == '\0') {
		id->uid = geteuid();
		id->gid = getegid();
		id->ngroups = getgroups(RC_NGROUPS, id->groups);
		if (id->ngroups < 0)
			id->ngroups = 0;
		id->self = 1;
		struct passwd *pw = getpwuid(id->uid);
		snprintf(id->name, sizeof(id->name), "%s", pw ? pw->pw_name : "this user");
		return 0;
	}
	if (ulen == 0 || ulen >= sizeof(user)) {
		snprintf(why, whylen, "UserID \"%s\": no user name", spec);
		return -1;
	}
	memcpy(user, spec, ulen);
	user[ulen] = '\0';
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(why, whylen, "UserID \"%s\": no such user \"%s\"", spec, user);
		return -1;
	}
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	snprintf(id->name, sizeof(id->name), "%s", pw->pw_name);
	if (colon != NULL) {
		struct group *gr = getgrnam(colon + 1);
		if (gr == NULL) {
			snprintf(why, whylen, "UserID \"%s\": no such group \"%s\"", spec, colon + 1);
			return -1;
		}
		id->gid = gr->gr_gid;
	}
	/* the daemon calls initgroups(user, gid): the same groups */
	id->ngroups = RC_NGROUPS;
	if (getgrouplist(id->name, id->gid, id->groups, &id->ngroups) < 0)
		id->ngroups = RC_NGROUPS;
	id->self = id->uid == geteuid() && id->gid == getegid();
	return 0;
}

/* May ID do WANT (4 read, 2 write, 1 search) to the object of ST? */
static int
may(const struct stat *st, const struct ident *id, unsigned want)
{
	unsigned m;

	if (id->uid == 0)
		return 1;
	if (st->st_uid == id->uid) {
		m = (st->st_mode >> 6) & 7;
	} else {
		int member = st->st_gid == id->gid;
		for (int i = 0; !member && i < id->ngroups; i++)
			member = st->st_gid == id->groups[i];
		m = member ? (st->st_mode >> 3) & 7 : st->st_mode & 7;
	}
	return (m & want) == want;
}

/*
 * Can ID reach PATH (search every folder above it) and do WANT to it?
 * 0, or -1 with why.  A missing PATH is ENOENT in errno.
 */
static int
reach(const char *path, const struct ident *id, unsigned want, char *why, size_t whylen)
{
	char buf[PATH_MAX];
	struct stat st;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf) || buf[0] != '/') {
		snprintf(why, whylen, "%s: not an absolute path", path);
		errno = EINVAL;
		return -1;
	}
	for (char *p = strchr(buf + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
			snprintf(why, whylen, "folder %s does not exist", buf);
			errno = ENOENT;
			return -1;
		}
		if (!may(&st, id, 1)) {
			snprintf(why, whylen, "folder %s cannot be entered by %s", buf, id->name);
			errno = EACCES;
			return -1;
		}
		*p = '/';
	}
	if (stat(path, &st) != 0) {
		int e = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	int mode = (want & 4 ? R_OK : 0) | (want & 2 ? W_OK : 0) | (want & 1 ? X_OK : 0);
	if (!may(&st, id, want) || (id->self && faccessat(AT_FDCWD, path, mode, AT_EACCESS) != 0)) {
		snprintf(why, whylen, "%s is not %s by %s", path, want & 2 ? "writable" :
		    "readable", id->name);
		errno = EACCES;
		return -1;
	}
	return 0;
}

/* The folder of PATH into DIR. */
static void
folder_of(const char *path, char *dir, size_t len)
{
	snprintf(dir, len, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
}

static void
report_key(const struct rg_config *cf, const char *key, const char *why,
    void (*report)(const char *))
{
	char msg[2 * (RG_ERRLEN + PATH_MAX)];

	snprintf(msg, sizeof(msg), "%s:%u: %s: %s", cf->path, rc_key_line(cf->path, key), key,
	    why);
	report(msg);
}

/*
 * FILE's folder must be writable by ID (so that FILE can be created,
 * replaced and removed).  When MAY_CREATE, a missing folder whose parent
 * exists is fine: the daemon, started as root, makes it for ID.
 */
static int
check_folder(const struct rg_config *cf, const char *key, const char *file,
    const struct ident *id, int may_create, void (*report)(const char *))
{
	char dir[PATH_MAX], why[RG_ERRLEN + PATH_MAX];

	folder_of(file, dir, sizeof(dir));
	if (reach(dir, id, 3, why, sizeof(why)) == 0)
		return 0;
	if (errno == ENOENT && may_create && geteuid() == 0) {
		char parent[PATH_MAX];
		folder_of(dir, parent, sizeof(parent));
		struct ident root = { .uid = 0, .self = 1 };
		if (reach(parent, &root, 3, why, sizeof(why)) == 0)
			return 0;
	}
	report_key(cf, key, why, report);
	return 1;
}

int
rc_check(const struct rg_config *cf, void (*report)(const char *msg))
{
	struct ident id;
	char why[RG_ERRLEN + PATH_MAX];
	int problems = 0;

	if (ident_of(cf->user_id, &id, why, sizeof(why)) < 0) {
		report_key(cf, "UserID", why, report);
		return 1;
	}
	if (cf->pid_file[0] != '\0')
		problems += check_folder(cf, "PidFile", cf->pid_file, &id, 1, report);
	if (cf->alert_log[0] != '\0') {
		if (access(cf->alert_log, F_OK) == 0) {
			if (reach(cf->alert_log, &id, 2, why, sizeof(why)) < 0) {
				report_key(cf, "AlertLog", why, report);
				problems++;
			}
		} else {
			problems += check_folder(cf, "AlertLog", cf->alert_log, &id, 0, report);
		}
	}
	if (cf->metrics_file[0] != '\0')
		problems += check_folder(cf, "MetricsFile", cf->metrics_file, &id, 0, report);
	const char *sock = cf->socket;
	if (strncmp(sock, "unix:", 5) == 0 || strncmp(sock, "local:", 6) == 0 || sock[0] == '/') {
		const char *path = sock[0] == '/' ? sock : strchr(sock, ':') + 1;
		problems += check_folder(cf, "Socket", path, &id, 0, report);
	}
	if (cf->ldap_bind_password_file[0] != '\0' &&
	    reach(cf->ldap_bind_password_file, &id, 4, why, sizeof(why)) < 0) {
		report_key(cf, "LDAPBindPasswordFile", why, report);
		problems++;
	}
	if (cf->redis_password_file[0] != '\0' &&
	    reach(cf->redis_password_file, &id, 4, why, sizeof(why)) < 0) {
		report_key(cf, "RedisPasswordFile", why, report);
		problems++;
	}
	return problems;
}
