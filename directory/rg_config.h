/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_config.h - the rcptguard configuration, read once and never changed.
 *
 * A configuration is loaded whole from a file of "Key value" lines, checked
 * key by key against a table of names, types, defaults and bounds, and then
 * treated as read-only.  A reload builds a new one and swaps it in only when
 * every check passed.
 */
#ifndef RG_CONFIG_H
#define RG_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define RG_ERRLEN 512
#define RG_FILTER_MAX 16384             /* an expanded LDAP filter, at most */
#define RG_INCLUDE_DEPTH 8              /* files open at once through Include */
#define RG_SENTINELS_MAX 16             /* servers in RedisSentinels, at most */

enum rg_on_failure { RG_FAIL_TEMPFAIL, RG_FAIL_ACCEPT };
enum rg_suggest_mode { RG_SUGGEST_OFF, RG_SUGGEST_TRUSTED, RG_SUGGEST_ALL };
enum rg_broken_action { RG_BROKEN_REJECT, RG_BROKEN_ACCEPT, RG_BROKEN_TEMPFAIL };
enum rg_tls_verify { RG_TLS_DEMAND, RG_TLS_ALLOW, RG_TLS_NEVER };
enum rg_mirror_mode { RG_MIRROR_AUTO, RG_MIRROR_YES, RG_MIRROR_NO };
enum rg_disabled_reply { RG_DISABLED_UNKNOWN, RG_DISABLED_DISABLED };

/*
 * A list of strings, owned by the configuration.  v[n] is always NULL, and
 * in a loaded configuration v is never NULL (an empty list is { NULL }), so
 * v may be handed as it is to C APIs that want a NULL-terminated array, such
 * as the attribute list of ldap_search_ext().
 */
struct rg_filter;                       /* rg_filter.h */

struct rg_strlist {
	char **v;
	size_t n;
};

/* A server as HOST:PORT, for RedisSentinels; HOST without brackets. */
struct rg_hostport {
	char host[256];
	int port;
};

/* One network in CIDR form, for TrustedNetworks. */
struct rg_net {
	int family;                     /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

struct rg_config {
	char *path;                     /* the file it was read from */

	/* milter */
	char *socket;
	char *user_id;
	char *pid_file;
	int syslog;
	int syslog_facility;
	int log_accepted;               /* LogAccepted: a line for each accepted RCPT */
	int max_unknown;                /* MaxUnknownRecipients, 0: no limit */
	char *socket_mode_text;         /* SocketMode as written */
	int socket_mode;                /* SocketMode: permissions of a unix socket */

	/* addresses */
	struct rg_strlist domains;      /* lower case, no trailing dot */
	char *recipient_delimiter;

	/* LDAP */
	int directory_schema;           /* DirectorySchema: 0 none, else a preset */
	struct rg_strlist preset_keys;  /* the keys whose value came from it */
	char *ldap_config;              /* LDAPConfig: a Postfix ldap_table(5) file */
	char *ldap_uri;                 /* space-separated, as libldap wants */
	char *ldap_base;
	char *ldap_filter;
	char *ldap_bind_dn;
	char *ldap_bind_password_file;
	char *ldap_bind_password;       /* read from the file; never logged */
	int ldap_starttls;
	char *ldap_tls_cacert_file;     /* LDAPTLSCACertFile: the CAs trusted for servers */
	char *ldap_tls_cert_file;       /* LDAPTLSCertFile, "": no client certificate */
	char *ldap_tls_key_file;        /* LDAPTLSKeyFile */
	enum rg_tls_verify ldap_tls_verify;
	char *ldap_sasl_mech;           /* LDAPSASLMech: "" (simple bind) or EXTERNAL */
	char *ldap_sasl_authzid;        /* LDAPSASLAuthzID, "": none */
	double ldap_timeout;
	int ldap_pool_size;

	/* cache */
	char *redis_uri;                /* "none" or a URI */
	double redis_timeout;
	int cache_ttl;
	int negative_cache_ttl;
	int stale_ttl;                  /* StaleTTL: a found address may answer for an
					 * outage this long after it was seen, 0: never */
	int local_cache_size;
	enum rg_on_failure on_lookup_failure;
	char *redis_password_file;      /* RedisPasswordFile, "" for none */
	char *redis_password;           /* read from the file; never logged */
	char *redis_user;               /* RedisUser: an ACL user (Redis 6+), "" for none */
	char *redis_key_prefix;         /* RedisKeyPrefix: every key starts with it */
	char *redis_tls_ca_file;        /* RedisTLSCACertFile, for rediss:// */
	char *redis_sentinels_text;     /* RedisSentinels as written, "" for none */
	struct rg_hostport *redis_sentinels;    /* RedisSentinels, in order */
	size_t nredis_sentinels;        /* 0: RedisURI names the server */
	char *redis_master_name;        /* RedisMasterName: the master the sentinels watch */
	int redis_db;                   /* RedisDB, with RedisSentinels */
	char *redis_sentinel_password_file;     /* RedisSentinelPasswordFile, "" for none */
	char *redis_sentinel_password;  /* read from the file; never logged */

	/* suggestions */
	enum rg_suggest_mode suggest;
	struct rg_net *trusted;
	size_t ntrusted;
	int suggest_max_distance;
	struct rg_strlist address_attrs;
	int suggest_refresh;

	/* aliases */
	struct rg_strlist alias_attrs;
	struct rg_strlist member_attrs;
	struct rg_strlist alias_classes;
	char *ldap_disabled_filter;
	char *ldap_forward_filter;      /* LDAPForwardFilter, "": every entry forwards */
	struct rg_filter *forward_filter;       /* it parsed, NULL when "" */
	struct rg_strlist member_of_attrs;      /* LDAPMemberOfAttributes */
	char *member_scope;             /* LDAPFilter with its address assertions made
					 * presence tests (rg_filter_walk), for them */
	int alias_max_depth;
	int alias_max_targets;
	enum rg_broken_action broken_alias_action;
	struct rg_strlist moved_attrs;  /* LDAPMovedToAttribute: where a disabled
					 * entry names its new address */
	enum rg_disabled_reply disabled_reply;  /* DisabledReply */
	char *ldap_catchall_filter;     /* LDAPCatchAllFilter, "": no catch-all */
	char *alert_log;
	int alert_interval;

	/* harvest throttling, across connections (rg_harvest) */
	char *harvest_limit_text;       /* HarvestLimit as written: N/SECONDS or 0 */
	int harvest_limit;              /* unknown recipients per window, 0: off */
	int harvest_window;             /* seconds */
	int harvest_prefix4;            /* a client network is an IPv4 /N */
	int harvest_prefix6;            /* and an IPv6 /N */
	struct rg_net *harvest_exempt;  /* HarvestExemptNetworks */
	size_t nharvest_exempt;
	int harvest_exempt_set;         /* else TrustedNetworks stand for it */
	/* reply texts (rg_reply.h): %a the recipient, %s the suggestion */
	char *reject_text;
	char *tempfail_text;
	char *suggest_text;
	/* the directory in memory (rg_mirror) */
	enum rg_mirror_mode mirror;
	int mirror_refresh;             /* MirrorRefresh: seconds between walks
					 * when the server has no RFC 4533 */
	/* reporting */
	char *metrics_listen;           /* "" or inet:PORT@ADDR */
	char *metrics_file;
	int metrics_interval;
	struct rg_strlist alert_mail_to;
	char *alert_mail_from;
	char *sendmail_path;

	/* FNV-1a of every setting that can change a cached answer, in hex;
	 * part of every cache key */
	char fingerprint[17];

	int holds;                      /* rg_config_hold() calls not yet freed */
};

/*
 * Read FILE.  On success returns a configuration to be released with
 * rg_config_free().  On failure returns NULL and writes "FILE:LINE: problem"
 * into err.
 */
struct rg_config *rg_config_load(const char *file, char *err, size_t errlen);

/*
 * One more owner for CF (any thread): it is released by the last of the
 * rg_config_free() calls, one for the load and one for each hold.  CF.
 */
struct rg_config *rg_config_hold(struct rg_config *cf);
void rg_config_free(struct rg_config *);

/*
 * Write every key of CF with its effective value to FP, one "Key value" a
 * line in the order of the key table (a file rcptguard can read again);
 * a value that came from DirectorySchema is followed by
 * "  # from DirectorySchema NAME".  Secrets are never in it: only the
 * names of the files that hold them are keys.
 */
void rg_config_print(const struct rg_config *, FILE *fp);

/* Is DOMAIN (lower case, no trailing dot) one of Domains? */
int rg_config_domain_ours(const struct rg_config *, const char *domain);

/* Is the textual IP address in TrustedNetworks? */
int rg_config_trusted(const struct rg_config *, const char *ip);

/* Is the textual IP address in HarvestExemptNetworks (by default
 * TrustedNetworks)? */
int rg_config_harvest_exempt(const struct rg_config *, const char *ip);

/* Parse "a.b.c.d/n" or "x::y/n" into NET; 0 on success. */
int rg_net_parse(const char *text, struct rg_net *net);

#endif
