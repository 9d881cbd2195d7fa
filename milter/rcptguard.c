/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rcptguard - the milter daemon: recipient checks against LDAP at RCPT TO.
 *
 * rcptguard [-f] [-n] [-V] [-c FILE] [-p SOCKET]
 *
 *	-c FILE    configuration file (default SYSCONFDIR/rcptguard.conf)
 *	-f         stay in the foreground and log to standard error as well
 *	-n         check the configuration and exit: 0 when good, 78 when not
 *	-p SOCKET  listen on SOCKET instead of the configuration's Socket
 *	-V         print the version and exit
 *
 * Start-up: read and check the configuration, open the socket (as root, so
 * that it may live where the MTA looks), drop to UserID, detach unless -f,
 * and serve until SIGTERM or SIGINT, which close the socket and remove its
 * file.  SIGUSR1 reads the configuration again and swaps it in whole when
 * every check passes; a bad file is logged and the running one kept.  The
 * suggestion index and the in-process cache carry over when the settings
 * they depend on are unchanged (directory/rg_directory.h); the log line of
 * the reload says what was kept.
 */
#include "config.h"
#include "mlfi.h"
#include "rg_alertmail.h"
#include "rg_ldap.h"
#include "rg_metrics.h"
#include "rg_log.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

static const char *conf_file = SYSCONFDIR "/rcptguard.conf";

static void
usage(void)
{
	fprintf(stderr, "usage: rcptguard [-f] [-n] [-V] [-c FILE] [-p SOCKET]\n");
	exit(EX_USAGE);
}

/* The path of a unix socket, or NULL for inet sockets. */
static const char *
socket_path(const char *sock)
{
	if (strncmp(sock, "unix:", 5) == 0)
		return sock + 5;
	if (strncmp(sock, "local:", 6) == 0)
		return sock + 6;
	if (sock[0] == '/')
		return sock;
	return NULL;
}

static int
lookup_user(const char *spec, uid_t *uid, gid_t *gid, char *name, size_t namelen)
{
	char user[256];
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);

	if (ulen == 0 || ulen >= sizeof(user))
		return -1;
	memcpy(user, spec, ulen);
	user[ulen] = '\0';
	struct passwd *pw = getpwnam(user);
	if (pw == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	snprintf(name, namelen, "%s", pw->pw_name);
	if (colon != NULL) {
		struct group *gr = getgrnam(colon + 1);
		if (gr == NULL)
			return -1;
		*gid = gr->gr_gid;
	}
	return 0;
}

static void *
reload_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		char err[RG_ERRLEN];
		struct rg_config *cf = rg_config_load(conf_file, err, sizeof(err));
		if (cf == NULL) {
			rg_log(LOG_ERR, "reload refused, keeping the running configuration: %s", err);
			continue;
		}
		char kept[RG_ERRLEN];
		if (mlfi_reload(cf, RG_DIR_BACKGROUND | RG_DIR_ALERTS, kept, sizeof(kept), err,
		    sizeof(err)) < 0) {
			rg_log(LOG_ERR, "reload refused, keeping the running configuration: %s", err);
			continue;
		}
		rg_log(LOG_INFO, "configuration %s reloaded: %s (Socket and UserID take effect "
		    "at the next start)", conf_file, kept);
	}
	return NULL;
}

static void
detach(void)
{
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "rcptguard: fork: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	if (pid > 0)
		_exit(0);
	setsid();
	if (chdir("/") != 0)
		exit(EX_OSERR);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

int
main(int argc, char **argv)
{
	const char *sock_override = NULL;
	int foreground = 0, check_only = 0, opt;
	char err[RG_ERRLEN];

	while ((opt = getopt(argc, argv, "c:fnp:Vh")) != -1) {
		switch (opt) {
		case 'c': conf_file = optarg; break;
		case 'f': foreground = 1; break;
		case 'n': check_only = 1; break;
		case 'p': sock_override = optarg; break;
		case 'V':
			printf("rcptguard %s\n", PACKAGE_VERSION);
			return 0;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	/* libldap's global state, once, before any thread can race into it */
	if (rg_ldap_global_init() < 0) {
		fprintf(stderr, "rcptguard: cannot initialise libldap\n");
		return EX_SOFTWARE;
	}

	struct rg_config *cf = rg_config_load(conf_file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "rcptguard: %s\n", err);
		return EX_CONFIG;
	}
	/* a reload reads the same file after the chdir("/") of detaching */
	static char conf_abs[PATH_MAX];
	if (realpath(conf_file, conf_abs) != NULL)
		conf_file = conf_abs;
	if (sock_override != NULL) {
		free(cf->socket);
		cf->socket = strdup(sock_override);
	}
	uid_t uid = 0;
	gid_t gid = 0;
	char uname[256] = "";
	if (cf->user_id[0] != '\0' &&
	    lookup_user(cf->user_id, &uid, &gid, uname, sizeof(uname)) < 0) {
		fprintf(stderr, "rcptguard: %s: UserID \"%s\": no such user or group\n",
		    conf_file, cf->user_id);
		rg_config_free(cf);
		return EX_CONFIG;
	}
	if (check_only) {
		printf("%s: configuration OK\n", conf_file);
		rg_config_free(cf);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	rg_log_open("rcptguard", cf->syslog, cf->syslog_facility, foreground);

	char *sock = strdup(cf->socket);
	const char *path = socket_path(sock);
	if (smfi_setconn(sock) != MI_SUCCESS || smfi_register(mlfi_desc) != MI_SUCCESS) {
		fprintf(stderr, "rcptguard: cannot set up socket %s\n", sock);
		return EX_SOFTWARE;
	}
	/* the MTA must be able to connect: group read/write, nothing for others */
	mode_t old_umask = umask(007);
	if (smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "rcptguard: cannot listen on %s (in use? no such folder? "
		    "no permission?)\n", sock);
		return EX_OSERR;
	}
	umask(old_umask);
	if (path != NULL && uname[0] != '\0' && chown(path, uid, gid) != 0)
		rg_log(LOG_WARNING, "chown %s: %s", path, strerror(errno));

	if (!foreground)
		detach();
	if (cf->pid_file[0] != '\0') {
		FILE *fp = fopen(cf->pid_file, "w");
		if (fp == NULL) {
			rg_log(LOG_ERR, "PidFile %s: %s", cf->pid_file, strerror(errno));
		} else {
			fprintf(fp, "%ld\n", (long)getpid());
			fclose(fp);
			if (uname[0] != '\0' && chown(cf->pid_file, uid, gid) != 0)
				rg_log(LOG_WARNING, "chown %s: %s", cf->pid_file, strerror(errno));
		}
	}
	if (uname[0] != '\0') {
		if (setgid(gid) != 0 || initgroups(uname, gid) != 0 || setuid(uid) != 0) {
			rg_log(LOG_ERR, "cannot become %s: %s", cf->user_id, strerror(errno));
			return EX_OSERR;
		}
	}
	char *pid_file = strdup(cf->pid_file);

	/*
	 * Block the signals before any thread starts, so that every thread
	 * inherits the mask: SIGUSR1 goes to the reload thread, SIGTERM, SIGINT
	 * and SIGHUP to libmilter's own signal thread, which stops smfi_main().
	 */
	static sigset_t usr1;
	sigset_t stops;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&stops);
	sigaddset(&stops, SIGUSR1);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stops, NULL);
	pthread_t rt;
	pthread_create(&rt, NULL, reload_thread, &usr1);
	pthread_detach(rt);

	if (rg_metrics_start(cf, err, sizeof(err)) < 0 ||
	    rg_alertmail_start(cf, conf_file, err, sizeof(err)) < 0) {
		rg_log(LOG_ERR, "%s", err);
		return EX_CONFIG;
	}
	struct rg_directory *d = rg_directory_open(cf, RG_DIR_BACKGROUND | RG_DIR_ALERTS, err, sizeof(err));
	if (d == NULL) {
		rg_log(LOG_ERR, "%s", err);
		return EX_SOFTWARE;
	}
	mlfi_set_directory(d);
	rg_log(LOG_INFO, "rcptguard %s listening on %s", PACKAGE_VERSION, sock);

	int rc = smfi_main();

	rg_log(LOG_INFO, "rcptguard stopping");
	if (path != NULL && unlink(path) != 0 && errno != ENOENT)
		rg_log(LOG_WARNING, "cannot remove socket %s: %s", path, strerror(errno));
	if (pid_file[0] != '\0')
		unlink(pid_file);
	rg_alertmail_stop();
	rg_metrics_stop();
	mlfi_shutdown();
	free(pid_file);
	free(sock);
	return rc == MI_SUCCESS ? 0 : EX_SOFTWARE;
}
