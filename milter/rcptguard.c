/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rcptguard - the milter daemon: recipient checks against LDAP at RCPT TO.
 *
 * rcptguard [-f] [-n [-v]] [-t] [-V] [-c FILE] [-p SOCKET]
 *
 *	-c FILE    configuration file (default SYSCONFDIR/rcptguard.conf)
 *	-f         stay in the foreground and log to standard error (not syslog)
 *	-n         check the configuration and exit: 0 when good, 78 when not
 *	-v         with -n: first print every key with its effective value
 *	-t         also try it against the servers (milter/selftest.c): 0 when
 *	           every check passed, 75 when one did not, 78 for a bad file
 *	-p SOCKET  listen on SOCKET instead of the configuration's Socket
 *	-V         print the version and exit
 *
 * Start-up: read and check the configuration (the bind password with it;
 * from then on the process is not dumpable), open the socket (as root, so
 * that it may live where the MTA looks) with SocketMode, drop to UserID and
 * its groups before any LDAP or Redis connection, detach unless -f,
 * and serve until SIGTERM or SIGINT, which close the socket and remove its
 * file once every MTA connection has its last answer.  SIGUSR1 (or SIGHUP)
 * reads the configuration again and swaps it in whole when
 * every check passes; a bad file is logged and the running one kept.  The
 * suggestion index and the in-process cache carry over when the settings
 * they depend on are unchanged (directory/rg_directory.h); the log line of
 * the reload says what was kept.
 */
#include "config.h"
#include "listener.h"
#include "mlfi.h"
#include "selftest.h"
#include "runcheck.h"
#include "rg_alertmail.h"
#include "rg_ldap.h"
#include "rg_metrics.h"
#include "rg_log.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
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
	fprintf(stderr, "usage: rcptguard [-f] [-n [-v]] [-t] [-V] [-c FILE] [-p SOCKET]\n");
	exit(EX_USAGE);
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

/*
 * Become UserID: the user UNAME (UID), group GID and the user's
 * supplementary groups.  Called before any LDAP or Redis connection, so
 * that the directory sees that user (the peer credentials of ldapi://).
 * Without UserID, a warning when running as root.  0, or -1 (logged).
 */
static int
become_user(const struct rg_config *cf, const char *uname, uid_t uid, gid_t gid)
{
	if (uname[0] == '\0') {
		if (geteuid() == 0)
			rg_log(LOG_WARNING, "running as root: set UserID to the user rcptguard "
			    "should run as (it keeps root for nothing)");
		return 0;
	}
	if (initgroups(uname, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		rg_log(LOG_ERR, "cannot become %s: %s", cf->user_id, strerror(errno));
		return -1;
	}
	return 0;
}

/* Reloads and the stop exclude each other. */
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static int stopping;

static void *
reload_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		/* no reload once the stop has begun: it would install a directory
		 * after the last one was closed */
		pthread_mutex_lock(&reload_mu);
		if (stopping) {
			pthread_mutex_unlock(&reload_mu);
			continue;
		}
		char err[RG_ERRLEN];
		struct rg_config *cf = rg_config_load(conf_file, err, sizeof(err));
		char kept[RG_ERRLEN];
		if (cf == NULL || mlfi_reload(cf, RG_DIR_BACKGROUND | RG_DIR_ALERTS, kept,
		    sizeof(kept), err, sizeof(err)) < 0)
			rg_log(LOG_ERR, "reload refused, keeping the running configuration: %s", err);
		else
			rg_log(LOG_INFO, "configuration %s reloaded: %s (Socket and UserID take "
			    "effect at the next start)", conf_file, kept);
		pthread_mutex_unlock(&reload_mu);
	}
	return NULL;
}

/*
 * Go to the background.  The parent waits until the child says it serves
 * (detach_done()), so that whoever started it, a service manager reading
 * PidFile among them, finds the pid file written; it exits 0 then, and 1
 * when the child died first.  Returns the pipe's end for detach_done().
 */
static int
detach(void)
{
	int ready[2];

	if (pipe(ready) != 0) {
		fprintf(stderr, "rcptguard: pipe: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "rcptguard: fork: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	if (pid > 0) {
		char c;
		close(ready[1]);
		_exit(read(ready[0], &c, 1) == 1 ? 0 : 1);
	}
	close(ready[0]);
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
	return ready[1];
}

/* Tell the parent of detach() that the daemon serves. */
static void
detach_done(int fd)
{
	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		rg_log(LOG_WARNING, "cannot tell the parent process that start-up is done");
	close(fd);
}

/* A problem found by rc_check() at start-up: logged, not fatal. */
static void
warn_problem(const char *msg)
{
	rg_log(LOG_WARNING, "%s", msg);
}

/* A problem found by rc_check() for -n. */
static void
print_problem(const char *msg)
{
	fprintf(stderr, "rcptguard: %s\n", msg);
}

/*
 * Write the pid file.  When the daemon is to become another user, a missing
 * folder is made for that user, so that the file can be removed at the stop
 * after privileges are gone.
 */
static void
write_pid_file(const char *file, const char *uname, uid_t uid, gid_t gid)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (uname[0] != '\0' && slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0 && chown(dir, uid, gid) != 0)
			rg_log(LOG_WARNING, "chown %s: %s", dir, strerror(errno));
	}
	FILE *fp = fopen(file, "w");
	if (fp == NULL) {
		rg_log(LOG_ERR, "PidFile %s: %s", file, strerror(errno));
		return;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	fclose(fp);
	if (uname[0] != '\0' && chown(file, uid, gid) != 0)
		rg_log(LOG_WARNING, "chown %s: %s", file, strerror(errno));
}

int
main(int argc, char **argv)
{
	const char *sock_override = NULL;
	int foreground = 0, check_only = 0, self_test = 0, verbose = 0, opt;
	char err[RG_ERRLEN];

	while ((opt = getopt(argc, argv, "c:fnp:tvVh")) != -1) {
		switch (opt) {
		case 'c': conf_file = optarg; break;
		case 'f': foreground = 1; break;
		case 'n': check_only = 1; break;
		case 'p': sock_override = optarg; break;
		case 't': self_test = 1; break;
		case 'v': verbose = 1; break;
		case 'V':
			printf("rcptguard %s\n", PACKAGE_VERSION);
			return 0;
		default: usage();
		}
	}
	if (optind != argc || (verbose && !check_only))
		usage();
#ifdef __GLIBC__
	/*
	 * The directory mirror and the suggestion index are large arrays and
	 * blocks, made while a load allocates and frees many small things.
	 * With a fixed threshold they always get pages of their own, instead
	 * of landing in the heap between those small things once glibc has
	 * raised its threshold, where what is freed around them cannot be
	 * given back: about 15 MiB at a million entries.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
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
		fprintf(stderr, "rcptguard: %s:%u: UserID \"%s\": no such user or group\n",
		    conf_file, rc_key_line(conf_file, "UserID"), cf->user_id);
		rg_config_free(cf);
		return EX_CONFIG;
	}
	if (self_test) {
		int rc = selftest_run(cf, cf->socket, stdout);
		rg_config_free(cf);
		return rc;
	}
	if (check_only) {
		if (verbose)
			rg_config_print(cf, stdout);
		if (rc_check(cf, print_problem) > 0) {
			rg_config_free(cf);
			return EX_CONFIG;
		}
		printf("%s: configuration OK\n", conf_file);
		rg_config_free(cf);
		return 0;
	}

	/* started as UserID already (a service manager's User= and Group=) */
	if (uname[0] != '\0' && getuid() == uid && geteuid() == uid && getgid() == gid)
		uname[0] = '\0';
	signal(SIGPIPE, SIG_IGN);
	/* -f: standard error only, so that a line is never written twice */
	rg_log_open("rcptguard", foreground ? 0 : cf->syslog, cf->syslog_facility, foreground);
	(void)rc_check(cf, warn_problem);

	char *sock = strdup(cf->socket);
	const char *path = ml_socket_path(sock);
	/* the MTA must be able to connect: SocketMode, by default group
	 * read/write and nothing for others; no moment with more */
	mode_t old_umask = umask(0777 & ~(mode_t)cf->socket_mode);
	int lfd = ml_listen(sock, err, sizeof(err));
	umask(old_umask);
	if (lfd < 0) {
		fprintf(stderr, "rcptguard: cannot listen on %s\n", err);
		free(sock);
		rg_config_free(cf);
		return EX_OSERR;
	}
	if (path != NULL && chmod(path, (mode_t)cf->socket_mode) != 0)
		rg_log(LOG_WARNING, "chmod %s: %s", path, strerror(errno));
	if (path != NULL && uname[0] != '\0' && chown(path, uid, gid) != 0)
		rg_log(LOG_WARNING, "chown %s: %s", path, strerror(errno));

	int ready = foreground ? -1 : detach();
	if (cf->pid_file[0] != '\0')
		write_pid_file(cf->pid_file, uname, uid, gid);
	if (become_user(cf, uname, uid, gid) < 0)
		return EX_OSERR;
	char *pid_file = strdup(cf->pid_file);

	/*
	 * Block the signals before any thread starts, so that every thread
	 * inherits the mask: SIGUSR1 and SIGHUP go to the reload thread,
	 * SIGTERM and SIGINT to this one, which then stops.
	 */
	static sigset_t reloads;
	sigset_t stops, blocked;
	sigemptyset(&reloads);
	sigaddset(&reloads, SIGUSR1);
	sigaddset(&reloads, SIGHUP);
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	blocked = stops;
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	pthread_t rt;
	pthread_create(&rt, NULL, reload_thread, &reloads);
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
	if (ml_start(lfd, &mlfi_filter, err, sizeof(err)) < 0) {
		rg_log(LOG_ERR, "%s", err);
		return EX_OSERR;
	}
	rg_log(LOG_INFO, "rcptguard %s listening on %s", PACKAGE_VERSION, sock);
	detach_done(ready);

	int sig;
	while (sigwait(&stops, &sig) != 0)
		;
	rg_log(LOG_INFO, "rcptguard stopping");
	/* every MTA connection answers the command it is on; an LDAP or Redis
	 * call ends within its deadline, well inside this wait */
	pthread_mutex_lock(&reload_mu);         /* a reload under way ends first */
	stopping = 1;
	pthread_mutex_unlock(&reload_mu);
	int drained = ml_stop(30) == 0;
	if (path != NULL && unlink(path) != 0 && errno != ENOENT)
		rg_log(LOG_WARNING, "cannot remove socket %s: %s", path, strerror(errno));
	if (pid_file[0] != '\0')
		unlink(pid_file);
	/* a connection still busy may be inside libldap or hiredis: no exit
	 * handler or close may run under it */
	if (!drained)
		_exit(0);
	rg_alertmail_stop();
	rg_metrics_stop();
	mlfi_shutdown();
	free(pid_file);
	free(sock);
	return 0;
}
