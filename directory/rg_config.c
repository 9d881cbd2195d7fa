/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_config.c - load and check the rcptguard configuration file.
 *
 * The file holds one "Key value" per line; keys are case-insensitive, "#"
 * at the start of a line or after a blank starts a comment (a "#" right
 * after another character belongs to the value), blank lines are ignored.
 * "Include FILE" reads FILE in place (a relative name is taken in the
 * folder of the file that names it), at most RG_INCLUDE_DEPTH files deep,
 * and refuses a file that includes itself; a key is set once across all of
 * them.  "LDAPConfig FILE" takes the LDAP keys the files leave unset from a
 * Postfix ldap_table(5) file (rg_ldapcf.h); then "DirectorySchema NAME"
 * fills the keys that describe a directory's schema and are still unset
 * from one table of presets (presets[]).  Every key is described once in
 * the table below (designated initializers) with its type, default, bounds,
 * whether it can change a cached answer, and the check of its value, run
 * once the whole file is read; the password file is read last, when every
 * check passed.  An unknown key, a value
 * out of bounds, a repeated key or a missing required key is an error that
 * names the file and the line.  The result is read-only once returned;
 * rg_config_print() writes its effective values back out as a file.
 */
#include "config.h"
#include "rg_config.h"
#include "rg_hash.h"
#include "rg_filter.h"
#include "rg_clock.h"
#include "rg_ldap.h"
#include "rg_reply.h"
#include "rg_ldapcf.h"
#include "rg_log.h"
#include "rg_mirror.h"
#include "rg_metrics.h"

#include <arpa/inet.h>
#include <lber.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>

enum kind { K_STR, K_BOOL, K_INT, K_DOUBLE, K_LIST, K_ENUM, K_NETS, K_FACILITY };

struct key;

/*
 * The check of one value, run once every key is read, in table order (so a
 * check may rely on the keys above it).  Returns 0, or -1 with the problem
 * in why; the error then carries the line the key was set on.
 */
typedef int (*key_check)(struct rg_config *, const struct key *, char *why, size_t whylen);

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	const char *def;               /* default, as it would be written */
	double min, max;               /* for K_INT and K_DOUBLE */
	const char *const *choices;    /* for K_ENUM, index is the value */
	int required;
	int answer;                    /* can change a cached answer: in the fingerprint */
	key_check check;               /* NULL when the type's own bounds suffice */
};

static const char *const on_failure_names[] = { "tempfail", "accept", NULL };
static const char *const suggest_names[] = { "off", "trusted", "all", NULL };
static const char *const broken_names[] = { "reject", "accept", "tempfail", NULL };
static const char *const tls_verify_names[] = { "demand", "allow", "never", NULL };
static const char *const mirror_names[] = { "auto", "yes", "no", NULL };
static const char *const disabled_reply_names[] = { "unknown", "disabled", NULL };
/* DirectorySchema: index 0 is no preset, the others index presets[] + 1 */
static const char *const schema_names[] = { "none", "iredmail", "ad", "univention", "kolab",
    "postfix-book", "inetorgperson", NULL };

#define OFF(f) offsetof(struct rg_config, f)

/* Checks of single values, defined further down. */
static int check_domains(struct rg_config *, const struct key *, char *, size_t);
static int check_socket(struct rg_config *, const struct key *, char *, size_t);
static int check_uris(struct rg_config *, const struct key *, char *, size_t);
static int check_filter(struct rg_config *, const struct key *, char *, size_t);
static int check_disabled_filter(struct rg_config *, const struct key *, char *, size_t);
static int check_forward_filter(struct rg_config *, const struct key *, char *, size_t);
static int check_member_of(struct rg_config *, const struct key *, char *, size_t);
static int check_redis_uri(struct rg_config *, const struct key *, char *, size_t);
static int check_delimiter(struct rg_config *, const struct key *, char *, size_t);
static int check_attr_names(struct rg_config *, const struct key *, char *, size_t);
static int check_class_names(struct rg_config *, const struct key *, char *, size_t);
static int check_key_prefix(struct rg_config *, const struct key *, char *, size_t);
static int check_redis_tls(struct rg_config *, const struct key *, char *, size_t);
static int check_redis_sentinels(struct rg_config *, const struct key *, char *, size_t);
static int check_master_name(struct rg_config *, const struct key *, char *, size_t);
static int check_redis_db(struct rg_config *, const struct key *, char *, size_t);
static int check_sentinel_pw_file(struct rg_config *, const struct key *, char *, size_t);
static int check_harvest_limit(struct rg_config *, const struct key *, char *, size_t);
static int check_reply_text(struct rg_config *, const struct key *, char *, size_t);
static int check_socket_mode(struct rg_config *, const struct key *, char *, size_t);
static int check_abs_path(struct rg_config *, const struct key *, char *, size_t);
static int check_sasl_mech(struct rg_config *, const struct key *, char *, size_t);
static int check_mirror(struct rg_config *, const struct key *, char *, size_t);
static int check_metrics_listen(struct rg_config *, const struct key *, char *, size_t);
static int check_moved_attrs(struct rg_config *, const struct key *, char *, size_t);
static int check_catchall_filter(struct rg_config *, const struct key *, char *, size_t);

static const struct key keys[] = {
	{ .name = "Socket", .kind = K_STR, .off = OFF(socket),
	    .def = "unix:/run/rcptguard/rcptguard.sock", .check = check_socket },
	{ .name = "UserID", .kind = K_STR, .off = OFF(user_id), .def = "" },
	{ .name = "SocketMode", .kind = K_STR, .off = OFF(socket_mode_text), .def = "0660",
	    .check = check_socket_mode },
	{ .name = "PidFile", .kind = K_STR, .off = OFF(pid_file), .def = "" },
	{ .name = "Syslog", .kind = K_BOOL, .off = OFF(syslog), .def = "yes" },
	{ .name = "LogAccepted", .kind = K_BOOL, .off = OFF(log_accepted), .def = "yes" },
	{ .name = "SyslogFacility", .kind = K_FACILITY, .off = OFF(syslog_facility),
	    .def = "mail" },
	{ .name = "MaxUnknownRecipients", .kind = K_INT, .off = OFF(max_unknown), .def = "20",
	    .min = 0, .max = 100000 },
	{ .name = "Domains", .kind = K_LIST, .off = OFF(domains), .def = "", .required = 1,
	    .answer = 1, .check = check_domains },
	{ .name = "RecipientDelimiter", .kind = K_STR, .off = OFF(recipient_delimiter),
	    .def = "+", .answer = 1, .check = check_delimiter },
	{ .name = "LDAPURI", .kind = K_STR, .off = OFF(ldap_uri), .def = "", .required = 1,
	    .answer = 1, .check = check_uris },
	{ .name = "LDAPBase", .kind = K_STR, .off = OFF(ldap_base), .def = "", .required = 1,
	    .answer = 1 },
	{ .name = "DirectorySchema", .kind = K_ENUM, .off = OFF(directory_schema),
	    .def = "none", .choices = schema_names },
	{ .name = "LDAPFilter", .kind = K_STR, .off = OFF(ldap_filter), .def = "(mail=%s)",
	    .answer = 1, .check = check_filter },
	{ .name = "LDAPBindDN", .kind = K_STR, .off = OFF(ldap_bind_dn), .def = "", .answer = 1 },
	{ .name = "LDAPBindPasswordFile", .kind = K_STR, .off = OFF(ldap_bind_password_file),
	    .def = "", .check = check_abs_path },
	{ .name = "LDAPStartTLS", .kind = K_BOOL, .off = OFF(ldap_starttls), .def = "no" },
	{ .name = "LDAPTLSCACertFile", .kind = K_STR, .off = OFF(ldap_tls_cacert_file),
	    .def = "/etc/ssl/certs/ca-certificates.crt", .check = check_abs_path },
	{ .name = "LDAPTLSCertFile", .kind = K_STR, .off = OFF(ldap_tls_cert_file), .def = "",
	    .answer = 1, .check = check_abs_path },
	{ .name = "LDAPTLSKeyFile", .kind = K_STR, .off = OFF(ldap_tls_key_file), .def = "",
	    .check = check_abs_path },
	{ .name = "LDAPTLSVerify", .kind = K_ENUM, .off = OFF(ldap_tls_verify), .def = "demand",
	    .choices = tls_verify_names },
	{ .name = "LDAPSASLMech", .kind = K_STR, .off = OFF(ldap_sasl_mech), .def = "",
	    .answer = 1, .check = check_sasl_mech },
	{ .name = "LDAPSASLAuthzID", .kind = K_STR, .off = OFF(ldap_sasl_authzid), .def = "",
	    .answer = 1 },
	{ .name = "LDAPTimeout", .kind = K_DOUBLE, .off = OFF(ldap_timeout), .def = "2",
	    .min = 0.01, .max = 10 },
	{ .name = "LDAPPoolSize", .kind = K_INT, .off = OFF(ldap_pool_size), .def = "4",
	    .min = 1, .max = 64 },
	{ .name = "RedisURI", .kind = K_STR, .off = OFF(redis_uri), .def = "none",
	    .check = check_redis_uri },
	{ .name = "RedisTimeout", .kind = K_DOUBLE, .off = OFF(redis_timeout), .def = "0.5",
	    .min = 0.01, .max = 2 },
	{ .name = "RedisPasswordFile", .kind = K_STR, .off = OFF(redis_password_file),
	    .def = "" },
	{ .name = "RedisTLSCACertFile", .kind = K_STR, .off = OFF(redis_tls_ca_file), .def = "",
	    .check = check_redis_tls },
	{ .name = "RedisUser", .kind = K_STR, .off = OFF(redis_user), .def = "" },
	{ .name = "RedisKeyPrefix", .kind = K_STR, .off = OFF(redis_key_prefix),
	    .def = "rcptguard:", .answer = 1, .check = check_key_prefix },
	/* RedisSentinels first: the checks of the three after it read it */
	{ .name = "RedisSentinels", .kind = K_STR, .off = OFF(redis_sentinels_text), .def = "",
	    .check = check_redis_sentinels },
	{ .name = "RedisMasterName", .kind = K_STR, .off = OFF(redis_master_name), .def = "",
	    .check = check_master_name },
	{ .name = "RedisDB", .kind = K_INT, .off = OFF(redis_db), .def = "0", .min = 0,
	    .max = 65535, .check = check_redis_db },
	{ .name = "RedisSentinelPasswordFile", .kind = K_STR,
	    .off = OFF(redis_sentinel_password_file), .def = "", .check = check_sentinel_pw_file },
	{ .name = "CacheTTL", .kind = K_INT, .off = OFF(cache_ttl), .def = "3600",
	    .min = 0, .max = 604800 },
	{ .name = "NegativeCacheTTL", .kind = K_INT, .off = OFF(negative_cache_ttl), .def = "300",
	    .min = 0, .max = 604800 },
	{ .name = "StaleTTL", .kind = K_INT, .off = OFF(stale_ttl), .def = "86400",
	    .min = 0, .max = 2592000 },
	{ .name = "LocalCacheSize", .kind = K_INT, .off = OFF(local_cache_size), .def = "100000",
	    .min = 0, .max = 10000000 },
	{ .name = "OnLookupFailure", .kind = K_ENUM, .off = OFF(on_lookup_failure),
	    .def = "tempfail", .choices = on_failure_names },
	{ .name = "Suggest", .kind = K_ENUM, .off = OFF(suggest), .def = "trusted",
	    .choices = suggest_names },
	{ .name = "TrustedNetworks", .kind = K_NETS, .def = "127.0.0.0/8, ::1" },
	{ .name = "SuggestMaxDistance", .kind = K_INT, .off = OFF(suggest_max_distance),
	    .def = "2", .min = 1, .max = 2 },
	{ .name = "LDAPAddressAttributes", .kind = K_LIST, .off = OFF(address_attrs),
	    .def = "mail", .answer = 1, .check = check_attr_names },
	{ .name = "SuggestRefresh", .kind = K_INT, .off = OFF(suggest_refresh), .def = "300",
	    .min = 10, .max = 86400 },
	{ .name = "LDAPAliasAttributes", .kind = K_LIST, .off = OFF(alias_attrs), .def = "",
	    .answer = 1, .check = check_attr_names },
	{ .name = "LDAPMemberAttributes", .kind = K_LIST, .off = OFF(member_attrs), .def = "",
	    .answer = 1, .check = check_attr_names },
	{ .name = "LDAPForwardFilter", .kind = K_STR, .off = OFF(ldap_forward_filter), .def = "",
	    .answer = 1, .check = check_forward_filter },
	{ .name = "LDAPMemberOfAttributes", .kind = K_LIST, .off = OFF(member_of_attrs),
	    .def = "", .answer = 1, .check = check_member_of },
	{ .name = "LDAPAliasClasses", .kind = K_LIST, .off = OFF(alias_classes),
	    .def = "nisMailAlias groupOfNames groupOfUniqueNames", .answer = 1,
	    .check = check_class_names },
	{ .name = "LDAPDisabledFilter", .kind = K_STR, .off = OFF(ldap_disabled_filter),
	    .def = "", .answer = 1, .check = check_disabled_filter },
	{ .name = "AliasMaxDepth", .kind = K_INT, .off = OFF(alias_max_depth), .def = "8",
	    .min = 1, .max = 64, .answer = 1 },
	{ .name = "AliasMaxTargets", .kind = K_INT, .off = OFF(alias_max_targets), .def = "1000",
	    .min = 1, .max = 100000, .answer = 1 },
	{ .name = "BrokenAliasAction", .kind = K_ENUM, .off = OFF(broken_alias_action),
	    .def = "reject", .choices = broken_names },
	/* after LDAPDisabledFilter, which its check reads */
	{ .name = "LDAPMovedToAttribute", .kind = K_LIST, .off = OFF(moved_attrs), .def = "",
	    .answer = 1, .check = check_moved_attrs },
	{ .name = "DisabledReply", .kind = K_ENUM, .off = OFF(disabled_reply), .def = "unknown",
	    .choices = disabled_reply_names },
	/* after Domains and LDAPDisabledFilter, which its check reads */
	{ .name = "LDAPCatchAllFilter", .kind = K_STR, .off = OFF(ldap_catchall_filter),
	    .def = "", .answer = 1, .check = check_catchall_filter },
	{ .name = "AlertLog", .kind = K_STR, .off = OFF(alert_log), .def = "" },
	{ .name = "AlertInterval", .kind = K_INT, .off = OFF(alert_interval), .def = "3600",
	    .min = 0, .max = 604800 },
	{ .name = "HarvestLimit", .kind = K_STR, .off = OFF(harvest_limit_text), .def = "30/600",
	    .check = check_harvest_limit },
	{ .name = "HarvestPrefix4", .kind = K_INT, .off = OFF(harvest_prefix4), .def = "32",
	    .min = 8, .max = 32 },
	{ .name = "HarvestPrefix6", .kind = K_INT, .off = OFF(harvest_prefix6), .def = "64",
	    .min = 16, .max = 128 },
	{ .name = "HarvestExemptNetworks", .kind = K_NETS, .def = "" },
	{ .name = "LDAPConfig", .kind = K_STR, .off = OFF(ldap_config), .def = "" },
	{ .name = "RejectText", .kind = K_STR, .off = OFF(reject_text),
	    .def = RG_REPLY_REJECT_TEXT, .check = check_reply_text },
	{ .name = "TempfailText", .kind = K_STR, .off = OFF(tempfail_text),
	    .def = RG_REPLY_TEMPFAIL_TEXT, .check = check_reply_text },
	{ .name = "SuggestText", .kind = K_STR, .off = OFF(suggest_text),
	    .def = RG_REPLY_SUGGEST_TEXT, .check = check_reply_text },
	/* after LDAPFilter and LDAPDisabledFilter, which its check reads */
	{ .name = "Mirror", .kind = K_ENUM, .off = OFF(mirror), .def = "auto",
	    .choices = mirror_names, .check = check_mirror },
	{ .name = "MirrorRefresh", .kind = K_INT, .off = OFF(mirror_refresh), .def = "300",
	    .min = 10, .max = 86400 },
	{ .name = "MetricsListen", .kind = K_STR, .off = OFF(metrics_listen), .def = "",
	    .check = check_metrics_listen },
	{ .name = "MetricsFile", .kind = K_STR, .off = OFF(metrics_file), .def = "" },
	{ .name = "MetricsInterval", .kind = K_INT, .off = OFF(metrics_interval), .def = "15",
	    .min = 1, .max = 3600 },
	{ .name = "AlertMailTo", .kind = K_LIST, .off = OFF(alert_mail_to), .def = "" },
	{ .name = "AlertMailFrom", .kind = K_STR, .off = OFF(alert_mail_from), .def = "" },
	{ .name = "SendmailPath", .kind = K_STR, .off = OFF(sendmail_path),
	    .def = "/usr/sbin/sendmail" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define LINE_MAX_LEN 4094               /* characters of a line, newline not counted */

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

/*
 * DirectorySchema: the keys a preset sets, and for each schema (in the order
 * of schema_names, "none" left out) their values, as each schema names its
 * attributes and classes and as the Postfix LDAP maps of its own mail stack
 * answer (a recipient is valid when those maps find it).  A preset sets
 * every one of these keys that no file (nor LDAPConfig) sets; a key set in
 * a file wins wherever the DirectorySchema line is.
 */
#define NPRESET 9
static const char *const preset_keys[NPRESET] = {
	"LDAPFilter", "LDAPAddressAttributes", "LDAPAliasAttributes", "LDAPMemberAttributes",
	"LDAPMemberOfAttributes", "LDAPAliasClasses", "LDAPDisabledFilter", "LDAPForwardFilter",
	"LDAPCatchAllFilter",
};

static const char *const presets[][NPRESET] = {
	/*
	 * iredmail: every map asks accountStatus=active, a domain not
	 * disabled, enabledService=mail and =deliver.  A user's forwards
	 * count with enabledService=forward, an alias's always.  A list's
	 * members name it in memberOfGroup (mailExternalUser: an outside
	 * member) and the list entry itself is never read, so it counts as
	 * disabled and its members decide; an mlmmj list is a recipient of
	 * its own.  catchall_maps.cf: a mailUser whose address is @domain,
	 * forwarding with nothing asked but its status and its domain's.
	 */
	[0] = {
		"(&(|(objectClass=mailUser)(objectClass=mailList)(objectClass=mailAlias)"
		    "(objectClass=mailExternalUser))(|(mail=%s)(shadowAddress=%s)))",
		"mail shadowAddress", "mailForwardingAddress", "", "memberOfGroup", "mailAlias",
		"(|(!(accountStatus=active))(domainStatus=disabled)(&(!(mail=@*))"
		    "(!(shadowAddress=@*))(|(!(enabledService=mail))(!(enabledService=deliver))))"
		    "(&(objectClass=mailList)(!(enabledService=mlmmj))))",
		"(|(enabledService=forward)(objectClass=mailAlias)(mail=@*)(shadowAddress=@*))",
		"(&(objectClass=mailUser)(|(mail=@%d)(shadowAddress=@%d)))",
	},
	/*
	 * ad: Active Directory (with or without Exchange): "smtp:" proxy
	 * addresses, groups in groups through member, ACCOUNTDISABLE (bit 2
	 * of userAccountControl) by AD's bitwise-AND rule.
	 */
	[1] = {
		"(&(|(objectClass=user)(objectClass=group)(objectClass=contact))"
		    "(|(mail=%s)(proxyAddresses=smtp:%s)))",
		"mail proxyAddresses", "", "member", "", "group",
		"(userAccountControl:1.2.840.113556.1.4.803:=2)", "", "",
	},
	/*
	 * univention: users (univentionMail) by primary or alternative
	 * address, forwarded by mailForwardAddress (a copy kept by listing
	 * the own address); groups are posixGroups expanded through
	 * uniqueMember (ldap.groups), lists univentionMailLists with member
	 * addresses (ldap.distlist), shared folders by primary address.
	 * No map tests a disabled state: a deactivated user gets mail.
	 */
	[2] = {
		"(|(&(objectClass=univentionMail)(|(mailPrimaryAddress=%s)"
		    "(mailAlternativeAddress=%s)))(&(|(objectClass=posixGroup)"
		    "(objectClass=univentionMailList)(objectClass=univentionMailSharedFolder))"
		    "(mailPrimaryAddress=%s)))",
		"mailPrimaryAddress mailAlternativeAddress",
		"mailForwardAddress univentionMailMember",
		"uniqueMember", "", "posixGroup univentionMailList", "", "", "",
	},
	/*
	 * kolab: Kolab 3 (pykolab's maps).  local_recipient_maps takes
	 * people, groups and shared folders by mail or alias; forwards are
	 * 389-DS's mailRecipient mailForwardingAddress, on inetOrgPersons
	 * that are no kolabInetOrgPerson (for those an earlier map answers
	 * first, with the own address); static groups are groupOfUniqueNames
	 * expanded through uniqueMember, dynamic ones (groupOfURLs) are
	 * taken as they are.  No map tests nsAccountLock or nsRoleDN.
	 */
	[3] = {
		"(&(|(mail=%s)(alias=%s))(|(objectClass=kolabInetOrgPerson)"
		    "(objectClass=kolabGroupOfUniqueNames)(objectClass=groupOfUniqueNames)"
		    "(objectClass=groupOfURLs)(objectClass=kolabSharedFolder)"
		    "(&(objectClass=mailRecipient)(objectClass=inetOrgPerson)"
		    "(mailForwardingAddress=*))))",
		"mail alias", "mailForwardingAddress", "uniqueMember", "", "groupOfUniqueNames", "",
		"(!(objectClass=kolabInetOrgPerson))", "",
	},
	/*
	 * postfix-book (docker-mailserver's maps): an entry by mail or
	 * mailAlias (a PostfixBookMailForward's mail is its target, so the
	 * alias's address leads to an entry that holds it); groups named on
	 * the member in mailGroupMember; every map asks mailEnabled=TRUE.
	 */
	[4] = {
		"(|(mail=%s)(mailAlias=%s))", "mail mailAlias", "", "", "mailGroupMember", "",
		"(!(mailEnabled=TRUE))", "", "",
	},
	/* inetorgperson: mail of any entry, nothing else */
	[5] = {
		"(mail=%s)", "mail", "", "", "", "", "", "", "",
	},
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Empty L: back to one NULL slot (v is never NULL after this). */
static int
strlist_clear(struct rg_strlist *l)
{
	if (l->v != NULL)
		for (size_t i = 0; i < l->n; i++)
			free(l->v[i]);
	free(l->v);
	l->n = 0;
	l->v = calloc(1, sizeof(*l->v));
	return l->v == NULL ? -1 : 0;
}

/* Release what L holds; L is left with no array at all. */
static void
strlist_free(struct rg_strlist *l)
{
	if (l->v != NULL)
		for (size_t i = 0; i < l->n; i++)
			free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Append the LEN bytes at S to L, keeping v[n] NULL.  -1: out of memory. */
static int
strlist_add(struct rg_strlist *l, const char *s, size_t len)
{
	char *copy = strndup(s, len);
	if (copy == NULL)
		return -1;
	char **v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (v == NULL) {
		free(copy);
		return -1;
	}
	l->v = v;
	v[l->n++] = copy;
	v[l->n] = NULL;
	return 0;
}

/* Split VALUE at commas and blanks into LIST. */
static int
split_words(const char *value, struct rg_strlist *list)
{
	const char *p = value;

	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p && *p != ',' && !isspace((unsigned char)*p))
			p++;
		if (strlist_add(list, start, (size_t)(p - start)) < 0)
			return -1;
	}
	return 0;
}

/*
 * "file:/path" reads words from a file, one or more a line, "#" comments.
 * Anything else is split in place.
 */
static int
read_words(const char *value, struct rg_strlist *list, char *why, size_t whylen)
{
	if (strncmp(value, "file:", 5) != 0) {
		if (split_words(value, list) < 0) {
			seterr(why, whylen, "out of memory");
			return -1;
		}
		return 0;
	}
	FILE *fp = fopen(value + 5, "r");
	if (fp == NULL) {
		seterr(why, whylen, "cannot read %s: %s", value + 5, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		if (memchr(line, '\0', (size_t)len) != NULL) {
			seterr(why, whylen, "%s:%u: NUL byte in line", value + 5, lineno);
			rc = -1;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		if (split_words(line, list) < 0) {
			seterr(why, whylen, "out of memory");
			rc = -1;
		}
	}
	free(line);
	fclose(fp);
	return rc;
}

int
rg_net_parse(const char *text, struct rg_net *net)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);

	if (alen == 0 || alen >= sizeof(buf) - 1)
		return -1;
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	memset(net, 0, sizeof(*net));
	unsigned maxbits;
	if (inet_pton(AF_INET, buf, net->addr) == 1) {
		net->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
		net->family = AF_INET6;
		maxbits = 128;
	} else {
		return -1;
	}
	net->prefix = maxbits;
	if (slash != NULL) {
		char *end;
		errno = 0;
		unsigned long bits = strtoul(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || errno != 0 || bits > maxbits)
			return -1;
		net->prefix = (unsigned)bits;
	}
	/* The host bits must be zero, as Postfix insists: 10.1.2.3/8 is a typo. */
	for (unsigned bit = net->prefix; bit < maxbits; bit++)
		if (net->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -1;
	return 0;
}

static int
net_match(const struct rg_net *net, int family, const unsigned char *addr)
{
	if (net->family != family)
		return 0;
	unsigned full = net->prefix / 8, rest = net->prefix % 8;
	if (memcmp(net->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (addr[full] & mask);
}

/* Is the textual IP address in one of the N networks NETS? */
static int
nets_match(const struct rg_net *nets, size_t n, const char *ip)
{
	unsigned char addr[16];
	int family;

	if (ip == NULL)
		return 0;
	if (inet_pton(AF_INET, ip, addr) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, addr) == 1) {
		family = AF_INET6;
		/* ::ffff:a.b.c.d is the IPv4 client it stands for */
		static const unsigned char mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
		if (memcmp(addr, mapped, 12) == 0) {
			memmove(addr, addr + 12, 4);
			family = AF_INET;
		}
	} else {
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (net_match(&nets[i], family, addr))
			return 1;
	return 0;
}

int
rg_config_trusted(const struct rg_config *cf, const char *ip)
{
	return nets_match(cf->trusted, cf->ntrusted, ip);
}

int
rg_config_harvest_exempt(const struct rg_config *cf, const char *ip)
{
	if (!cf->harvest_exempt_set)
		return rg_config_trusted(cf, ip);
	return nets_match(cf->harvest_exempt, cf->nharvest_exempt, ip);
}

/* VALUE, a list of networks, into *NETS and *NNETS (replacing them). */
static int
parse_netlist(struct rg_net **nets, size_t *nnets, const char *value, char *why,
    size_t whylen)
{
	struct rg_strlist words = { NULL, 0 };

	if (read_words(value, &words, why, whylen) < 0)
		return -1;
	free(*nets);
	*nets = calloc(words.n ? words.n : 1, sizeof(**nets));
	*nnets = 0;
	if (*nets == NULL) {
		strlist_free(&words);
		seterr(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < words.n; i++) {
		if (rg_net_parse(words.v[i], &(*nets)[*nnets]) < 0) {
			seterr(why, whylen, "\"%s\" is not a network in CIDR form "
			    "(address/bits, host bits zero)", words.v[i]);
			strlist_free(&words);
			return -1;
		}
		(*nnets)++;
	}
	strlist_free(&words);
	return 0;
}

/*
 * TrustedNetworks, or HarvestExemptNetworks: "" (its default) leaves
 * TrustedNetworks standing for it, "none" exempts no network.
 */
static int
parse_nets(struct rg_config *cf, const struct key *k, const char *value, char *why,
    size_t whylen)
{
	if (strcmp(k->name, "HarvestExemptNetworks") != 0)
		return parse_netlist(&cf->trusted, &cf->ntrusted, value, why, whylen);
	cf->harvest_exempt_set = value[0] != '\0';
	return parse_netlist(&cf->harvest_exempt, &cf->nharvest_exempt,
	    strcasecmp(value, "none") == 0 ? "" : value, why, whylen);
}

/* Store the index of VALUE among K's choices; on error write why and return -1. */
static int
set_enum(struct rg_config *cf, const struct key *k, const char *value, char *why,
    size_t whylen)
{
	char *base = (char *)cf;

	for (int i = 0; k->choices[i] != NULL; i++) {
		if (strcasecmp(value, k->choices[i]) == 0) {
			*(int *)(base + k->off) = i;
			return 0;
		}
	}
	char list[128] = "";
	for (int i = 0; k->choices[i] != NULL; i++) {
		strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, k->choices[i], sizeof(list) - strlen(list) - 1);
	}
	seterr(why, whylen, "%s wants one of %s, not \"%s\"", k->name, list, value);
	return -1;
}

/* Store VALUE for key K; on error write why and return -1. */
static int
set_value(struct rg_config *cf, const struct key *k, const char *value,
    char *why, size_t whylen)
{
	char *base = (char *)cf;
	char *end;

	switch (k->kind) {
	case K_STR: {
		char **sp = (char **)(base + k->off);
		char *copy = strdup(value);
		if (copy == NULL) {
			seterr(why, whylen, "out of memory");
			return -1;
		}
		free(*sp);
		*sp = copy;
		return 0;
	}
	case K_BOOL: {
		int *ip = (int *)(base + k->off);
		if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") ||
		    !strcasecmp(value, "on") || !strcmp(value, "1"))
			*ip = 1;
		else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") ||
		    !strcasecmp(value, "off") || !strcmp(value, "0"))
			*ip = 0;
		else {
			seterr(why, whylen, "%s wants yes, no, true, false, on, off, 1 or 0, "
			    "not \"%s\"", k->name, value);
			return -1;
		}
		return 0;
	}
	case K_INT: {
		errno = 0;
		long v = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 || v < k->min || v > k->max) {
			seterr(why, whylen, "%s wants a whole number from %.0f to %.0f, not \"%s\"",
			    k->name, k->min, k->max, value);
			return -1;
		}
		*(int *)(base + k->off) = (int)v;
		return 0;
	}
	case K_DOUBLE: {
		errno = 0;
		double v = strtod(value, &end);
		if (*value == '\0' || *end != '\0' || errno != 0 || !(v >= k->min && v <= k->max)) {
			seterr(why, whylen, "%s wants a number of seconds from %g to %g, not \"%s\"",
			    k->name, k->min, k->max, value);
			return -1;
		}
		*(double *)(base + k->off) = v;
		return 0;
	}
	case K_LIST: {
		struct rg_strlist *l = (struct rg_strlist *)(base + k->off);
		if (strlist_clear(l) < 0) {
			seterr(why, whylen, "out of memory");
			return -1;
		}
		return read_words(value, l, why, whylen);
	}
	case K_ENUM:
		return set_enum(cf, k, value, why, whylen);
	case K_NETS:
		return parse_nets(cf, k, value, why, whylen);
	case K_FACILITY:
		for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
			if (strcasecmp(value, facilities[i].name) == 0) {
				*(int *)(base + k->off) = facilities[i].value;
				return 0;
			}
		}
		seterr(why, whylen, "%s: unknown syslog facility \"%s\"", k->name, value);
		return -1;
	}
	return -1;
}

static void
fnv1a(uint64_t *h, const char *s)
{
	*h = rg_fnv1a(rg_fnv1a(*h, s), "\xff");   /* a separator no value contains */
}

struct rg_config *
rg_config_hold(struct rg_config *cf)
{
	__atomic_add_fetch(&cf->holds, 1, __ATOMIC_RELAXED);
	return cf;
}

void
rg_config_free(struct rg_config *cf)
{
	/* an owner other than the last one lets go */
	if (cf == NULL || __atomic_fetch_sub(&cf->holds, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		char *base = (char *)cf;
		if (keys[i].kind == K_STR)
			free(*(char **)(base + keys[i].off));
		else if (keys[i].kind == K_LIST)
			strlist_free((struct rg_strlist *)(base + keys[i].off));
	}
	if (cf->ldap_bind_password != NULL) {
		explicit_bzero(cf->ldap_bind_password, strlen(cf->ldap_bind_password));
		free(cf->ldap_bind_password);
	}
	if (cf->redis_password != NULL) {
		explicit_bzero(cf->redis_password, strlen(cf->redis_password));
		free(cf->redis_password);
	}
	strlist_free(&cf->preset_keys);
	rg_filter_free(cf->forward_filter);
	free(cf->member_scope);
	if (cf->redis_sentinel_password != NULL) {
		explicit_bzero(cf->redis_sentinel_password, strlen(cf->redis_sentinel_password));
		free(cf->redis_sentinel_password);
	}
	free(cf->redis_sentinels);
	free(cf->trusted);
	free(cf->harvest_exempt);
	free(cf->path);
	free(cf);
}

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/*
 * Say so when the password file PATH can be read by the group or by
 * others: the bind password is the key to the directory.
 */
static void
warn_password_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		rg_log(LOG_WARNING, "LDAPBindPasswordFile %s is readable by %s (mode %04o); "
		    "make it 0600, owned by the user that starts rcptguard", path,
		    (st.st_mode & S_IROTH) ? "others" : "its group",
		    (unsigned)(st.st_mode & 07777));
}

/*
 * Read the first line of LDAPBindPasswordFile into cf->ldap_bind_password.
 * From then on the process holds a secret: it is made non-dumpable (no core
 * file, no ptrace by the same unprivileged user, /proc/PID/mem closed).
 */
static int
read_password(struct rg_config *cf, char *why, size_t whylen)
{
	FILE *fp = fopen(cf->ldap_bind_password_file, "r");
	if (fp == NULL) {
		seterr(why, whylen, "LDAPBindPasswordFile: cannot read %s: %s",
		    cf->ldap_bind_password_file, strerror(errno));
		return -1;
	}
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* the first line is the password; a trailing newline is not part of it */
	buf[strcspn(buf, "\r\n")] = '\0';
	cf->ldap_bind_password = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (cf->ldap_bind_password == NULL) {
		seterr(why, whylen, "out of memory");
		return -1;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

/*
 * The first line of the file PATH (the value of key NAME) into *OUT, as the
 * LDAP password file is read.  0, or -1 with why.
 */
static int
read_secret(const char *name, const char *path, char **out, char *why, size_t whylen)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		seterr(why, whylen, "%s: cannot read %s: %s", name, path, strerror(errno));
		return -1;
	}
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (*out == NULL) {
		seterr(why, whylen, "out of memory");
		return -1;
	}
	if (**out == '\0') {
		seterr(why, whylen, "%s %s is empty", name, path);
		return -1;
	}
	return 0;
}

static int
key_index(const char *name)
{
	for (size_t k = 0; k < NKEYS; k++)
		if (strcmp(keys[k].name, name) == 0)
			return (int)k;
	return -1;
}

/* Name the key at fault, so that the message can carry its line. */
#define BADKEY(name) (*badkey = key_index(name))

/*
 * libldap's own filter encoder: ldap_search_ext() turns the filter string
 * into BER with it, and a string it refuses ends the search with "Bad
 * search filter".  libldap exports it (OpenLDAP 2.4 to 2.6) but declares it
 * only in its private header ldap-int.h, which is not installed.  Returns 0,
 * or -1 when STR is not a filter.
 */
int ldap_pvt_put_filter(BerElement *ber, const char *str);

/* The address a filter template is expanded with to be checked. */
#define SAMPLE_LOCAL "sample.user"

/*
 * The outer shape of filter F: one parenthesised filter, balanced, nothing
 * after it ("\" quotes the character after it, as libldap reads it).
 * Returns 0, or -1 with the problem in why.
 */
static int
filter_shape(const char *f, char *why, size_t whylen)
{
	int depth = 0;

	if (*f != '(') {
		seterr(why, whylen, "must start with \"(\"");
		return -1;
	}
	for (const char *p = f; *p; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth == 0) {
			if (p[1] != '\0') {
				seterr(why, whylen, "has text after the filter: \"%s\" "
				    "(several filters are joined with (&...) or (|...))", p + 1);
				return -1;
			}
			return 0;
		}
	}
	seterr(why, whylen, "has unbalanced parentheses");
	return -1;
}

/* Does libldap take F as a search filter?  0 yes, -1 no (why says so). */
static int
filter_parses(const char *f, char *why, size_t whylen)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	if (ber == NULL) {
		seterr(why, whylen, "out of memory");
		return -1;
	}
	int rc = ldap_pvt_put_filter(ber, f);
	ber_free(ber, 1);
	if (rc < 0) {
		seterr(why, whylen, "is not an LDAP search filter (RFC 4515): every "
		    "lookup would fail with \"Bad search filter\"");
		return -1;
	}
	return 0;
}

/*
 * LDAPFilter's %-sequences: only %s %u %d %%, and %s %u %d only in an
 * assertion value (after the "=" of an item): elsewhere an address would be
 * read as filter syntax, e.g. "(%u=x)" with the local part "john doe".
 * 0, or -1 with why.
 */
static int
filter_percents(const char *f, char *why, size_t whylen)
{
	int in_value = 0;

	for (const char *p = f; *p; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p == '(' || *p == ')')
			in_value = 0;
		else if (*p == '=')
			in_value = 1;
		if (*p != '%')
			continue;
		if (p[1] != 's' && p[1] != 'u' && p[1] != 'd' && p[1] != '%') {
			seterr(why, whylen, "\"%%%c\" is not one of %%s %%u %%d %%%%",
			    p[1] ? p[1] : ' ');
			return -1;
		}
		if (p[1] != '%' && !in_value) {
			seterr(why, whylen, "\"%%%c\" stands outside an assertion value "
			    "(an address there would be read as filter syntax)", p[1]);
			return -1;
		}
		p++;
	}
	return 0;
}

/* Can LDAPFilter F, expanded for the longest address, exceed RG_FILTER_MAX? */
static int
filter_too_long(const char *f, const char *disabled)
{
	size_t worst = strlen(f) + strlen(disabled) + 8;

	for (const char *p = f; *p; p++) {
		if (*p == '%' && p[1] == 's')
			worst += 3 * (64 + 255) + 1;
		else if (*p == '%' && p[1] == 'u')
			worst += 3 * 64;
		else if (*p == '%' && p[1] == 'd')
			worst += 3 * 255;
		if (*p == '%' && p[1] != '\0')
			p++;
	}
	return worst >= RG_FILTER_MAX;
}

/*
 * Is NAME an attribute description of RFC 4512 2.5 (a name or a numeric
 * OID, then ";option"s when OPTIONS)?  Class names take no options.
 */
static int
attr_name_ok(const char *name, int options)
{
	const char *p = name;

	if (isdigit((unsigned char)*p)) {
		/* numericoid: number *( "." number ), no leading zeros */
		for (;;) {
			if (!isdigit((unsigned char)*p) || (*p == '0' && isdigit((unsigned char)p[1])))
				return 0;
			while (isdigit((unsigned char)*p))
				p++;
			if (*p != '.')
				break;
			p++;
		}
	} else {
		if (!isalpha((unsigned char)*p))
			return 0;
		while (isalnum((unsigned char)*p) || *p == '-')
			p++;
	}
	while (options && *p == ';') {
		const char *o = ++p;
		while (isalnum((unsigned char)*p) || *p == '-')
			p++;
		if (p == o)
			return 0;
	}
	return *p == '\0';
}

/* Each name of the list of key K is one: OPTIONS, of an attribute (with
 * options such as ";lang-de"), not of an object class. */
static int
check_list_names(struct rg_config *cf, const struct key *k, int options, char *why,
    size_t whylen)
{
	const struct rg_strlist *l = (const void *)((char *)cf + k->off);

	for (size_t i = 0; i < l->n; i++) {
		if (!attr_name_ok(l->v[i], options)) {
			seterr(why, whylen, "%s: \"%s\" is not an LDAP %s name", k->name, l->v[i],
			    options ? "attribute" : "object class");
			return -1;
		}
	}
	return 0;
}

static int
check_attr_names(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	if (check_list_names(cf, k, 1, why, whylen) < 0)
		return -1;
	if (k->off == OFF(address_attrs) && cf->address_attrs.n == 0) {
		seterr(why, whylen, "LDAPAddressAttributes names no attribute");
		return -1;
	}
	return 0;
}

static int
check_class_names(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	return check_list_names(cf, k, 0, why, whylen);
}

/*
 * LDAPFilter must be a filter the server takes: it is expanded for a
 * sample address of the first of Domains (checked above it) and run through
 * libldap's own filter encoder.
 */
static int
check_filter(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char problem[RG_ERRLEN], expanded[RG_FILTER_MAX];
	const char *f = cf->ldap_filter;

	(void)k;
	if (filter_percents(f, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "LDAPFilter: %s", problem);
		return -1;
	}
	if (filter_too_long(f, cf->ldap_disabled_filter)) {
		seterr(why, whylen, "LDAPFilter \"%s\" can expand to more than %d characters",
		    f, RG_FILTER_MAX - 1);
		return -1;
	}
	snprintf(problem, sizeof(problem), "is too long once expanded");
	if (filter_shape(f, problem, sizeof(problem)) < 0 ||
	    rg_ldap_expand_filter(f, SAMPLE_LOCAL, cf->domains.v[0], expanded,
	    sizeof(expanded)) < 0 || filter_parses(expanded, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "LDAPFilter \"%s\" %s", f, problem);
		return -1;
	}
	return 0;
}

/*
 * Mirror yes: LDAPFilter and LDAPDisabledFilter must be ones the mirror can
 * evaluate in memory exactly; the error names the assertion that cannot be.
 */
static int
check_mirror(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char problem[RG_ERRLEN];

	(void)k;
	if (cf->mirror == RG_MIRROR_YES && rg_mirror_possible(cf, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "Mirror yes: the directory cannot be mirrored: %s", problem);
		return -1;
	}
	return 0;
}

/*
 * LDAPDisabledFilter, when set, must be a filter the server takes.  It is
 * sent as written, so it takes no placeholder: a % sign is refused (a
 * reader, and the mirror, would take it for one); \25 is a percent sign.
 */
static int
check_disabled_filter(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char problem[RG_ERRLEN];
	const char *d = cf->ldap_disabled_filter;

	(void)k;
	if (strchr(d, '%') != NULL) {
		seterr(why, whylen, "LDAPDisabledFilter \"%s\": a %% sign (it takes no placeholder; "
		    "a percent sign in a value is written \\25)", d);
		return -1;
	}
	if (d[0] != '\0' && (filter_shape(d, problem, sizeof(problem)) < 0 ||
	    filter_parses(d, problem, sizeof(problem)) < 0)) {
		seterr(why, whylen, "LDAPDisabledFilter \"%s\" %s", d, problem);
		return -1;
	}
	return 0;
}

/*
 * LDAPMovedToAttribute: attribute names; it is read from disabled entries
 * only, so it needs LDAPDisabledFilter.
 */
static int
check_moved_attrs(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	if (check_list_names(cf, k, 1, why, whylen) < 0)
		return -1;
	if (cf->moved_attrs.n > 0 && cf->ldap_disabled_filter[0] == '\0') {
		seterr(why, whylen, "LDAPMovedToAttribute is read from disabled entries only: "
		    "set LDAPDisabledFilter too");
		return -1;
	}
	return 0;
}

/*
 * LDAPCatchAllFilter: empty, or a filter as LDAPFilter is, with only %d
 * (the catch-all is one per domain, and its answer is cached so).
 */
static int
check_catchall_filter(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char problem[RG_ERRLEN], expanded[RG_FILTER_MAX];
	const char *f = cf->ldap_catchall_filter;

	(void)k;
	if (f[0] == '\0')
		return 0;
	if (filter_percents(f, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "LDAPCatchAllFilter: %s", problem);
		return -1;
	}
	for (const char *p = f; (p = strchr(p, '%')) != NULL; p += 2) {
		if (p[1] == 's' || p[1] == 'u') {
			seterr(why, whylen, "LDAPCatchAllFilter: \"%%%c\": a catch-all is one per "
			    "domain, only %%d may stand in it", p[1]);
			return -1;
		}
	}
	if (filter_too_long(f, cf->ldap_disabled_filter)) {
		seterr(why, whylen, "LDAPCatchAllFilter \"%s\" can expand to more than %d "
		    "characters", f, RG_FILTER_MAX - 1);
		return -1;
	}
	snprintf(problem, sizeof(problem), "is too long once expanded");
	if (filter_shape(f, problem, sizeof(problem)) < 0 ||
	    rg_ldap_expand_filter(f, SAMPLE_LOCAL, cf->domains.v[0], expanded,
	    sizeof(expanded)) < 0 || filter_parses(expanded, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "LDAPCatchAllFilter \"%s\" %s", f, problem);
		return -1;
	}
	return 0;
}

/*
 * LDAPForwardFilter, when set: a filter without placeholders that can be
 * evaluated in memory (it is matched against each fetched entry, never
 * sent); kept parsed in cf->forward_filter.
 */
static int
check_forward_filter(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char problem[RG_ERRLEN];
	const char *f = cf->ldap_forward_filter;

	(void)k;
	rg_filter_free(cf->forward_filter);
	cf->forward_filter = NULL;
	if (f[0] == '\0')
		return 0;
	if (strchr(f, '%') != NULL) {
		seterr(why, whylen, "LDAPForwardFilter \"%s\": a %% sign (it takes no placeholder)", f);
		return -1;
	}
	if (rg_filter_parse(f, &cf->forward_filter, problem, sizeof(problem)) < 0 ||
	    rg_filter_mirrorable(cf->forward_filter, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "LDAPForwardFilter \"%s\": %s", f, problem);
		return -1;
	}
	return 0;
}

/*
 * LDAPMemberOfAttributes: attribute names; when set, LDAPFilter must parse
 * in rg_filter, whose walk form (every address assertion a presence test)
 * is kept in cf->member_scope: the entries that may name a group.
 */
static int
check_member_of(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char problem[RG_ERRLEN], walk[RG_FILTER_MAX];
	struct rg_filter *f = NULL;

	free(cf->member_scope);
	cf->member_scope = NULL;
	if (check_list_names(cf, k, 1, why, whylen) < 0)
		return -1;
	if (cf->member_of_attrs.n == 0)
		return 0;
	if (rg_filter_parse(cf->ldap_filter, &f, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "LDAPMemberOfAttributes needs an LDAPFilter it can read: %s",
		    problem);
		return -1;
	}
	int rc = rg_filter_walk(f, walk, sizeof(walk));
	rg_filter_free(f);
	if (rc < 0 || (cf->member_scope = strdup(walk)) == NULL) {
		seterr(why, whylen, "LDAPMemberOfAttributes: LDAPFilter is too long, or holds a "
		    "placeholder in an extensible match without an attribute");
		return -1;
	}
	return 0;
}

/*
 * LDAPURI: every word must be an ldap://, ldaps:// or ldapi:// URI; they are
 * stored space-separated, the form ldap_initialize() takes.
 */
static int
check_uris(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	struct rg_strlist uris = { NULL, 0 };
	if (split_words(cf->ldap_uri, &uris) < 0) {
		strlist_free(&uris);
		seterr(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < uris.n; i++) {
		if (strncasecmp(uris.v[i], "ldap://", 7) && strncasecmp(uris.v[i], "ldaps://", 8) &&
		    strncasecmp(uris.v[i], "ldapi://", 8)) {
			seterr(why, whylen, "LDAPURI: \"%s\" is not an ldap://, ldaps:// or ldapi:// URI",
			    uris.v[i]);
			strlist_free(&uris);
				return -1;
		}
	}
	size_t len = 1;
	for (size_t i = 0; i < uris.n; i++)
		len += strlen(uris.v[i]) + 1;
	char *joined = calloc(1, len);
	if (joined == NULL) {
		strlist_free(&uris);
		seterr(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < uris.n; i++) {
		if (i)
			strcat(joined, " ");
		strcat(joined, uris.v[i]);
	}
	strlist_free(&uris);
	free(cf->ldap_uri);
	cf->ldap_uri = joined;
	return 0;
}

/* RejectText, TempfailText, SuggestText: templates rg_reply can expand. */
static int
check_reply_text(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	const char *t = *(char *const *)((const char *)cf + k->off);
	char problem[RG_ERRLEN];
	int suggestion = k->off == OFF(suggest_text);

	if (t[0] == '\0') {
		seterr(why, whylen, "%s is empty", k->name);
		return -1;
	}
	if (rg_reply_template_check(t, suggestion, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "%s %s", k->name, problem);
		return -1;
	}
	return 0;
}

/* Domains: names, lower-cased, without a trailing dot. */
static int
check_domains(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (cf->domains.n == 0) {
		seterr(why, whylen, "Domains names no domain");
		return -1;
	}
	for (size_t i = 0; i < cf->domains.n; i++) {
		char *d = cf->domains.v[i];
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		size_t n = strlen(d);
		if (n > 1 && d[n - 1] == '.')
			d[n - 1] = '\0';
		if (*d == '\0' || *d == '.' || d[strlen(d) - 1] == '.' || strstr(d, "..") != NULL ||
		    strlen(d) > 253 ||
		    strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789-.") != strlen(d)) {
			seterr(why, whylen, "Domains: \"%s\" is not a domain name", d);
			return -1;
		}
	}
	return 0;
}

static int
check_socket(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (strncmp(cf->socket, "unix:", 5) != 0 && strncmp(cf->socket, "local:", 6) != 0 &&
	    strncmp(cf->socket, "inet:", 5) != 0 && strncmp(cf->socket, "inet6:", 6) != 0) {
		seterr(why, whylen, "Socket \"%s\" is neither unix:/path nor inet:PORT@HOST",
		    cf->socket);
		return -1;
	}
	return 0;
}

/*
 * Does the redis:// or rediss:// URI carry credentials ("user:password@"
 * before the host)?  hiredis would take them for the host name, and a URI
 * is shown by -n and in log lines, where a password has no place.
 */
static int
uri_has_credentials(const char *uri)
{
	const char *h = strstr(uri, "://");

	if (h == NULL || strncmp(uri, "unix:", 5) == 0)
		return 0;
	h += 3;
	size_t authority = strcspn(h, "/?#");
	return memchr(h, '@', authority) != NULL;
}

/* SocketMode: an octal mode such as 0660, with no bits beyond 0777. */
static int
check_socket_mode(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	const char *t = cf->socket_mode_text;
	char *end;

	errno = 0;
	long v = strtol(t, &end, 8);
	if (*t == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 0777 ||
	    strspn(t, "01234567") != strlen(t)) {
		seterr(why, whylen, "%s wants an octal mode from 0000 to 0777, not \"%s\"",
		    k->name, t);
		return -1;
	}
	cf->socket_mode = (int)v;
	return 0;
}

/* A file name, when set, must be absolute: a reload runs after chdir("/"). */
static int
check_abs_path(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	const char *v = *(char *const *)((const char *)cf + k->off);

	if (v[0] != '\0' && v[0] != '/') {
		seterr(why, whylen, "%s \"%s\" is a relative path; give the full path", k->name, v);
		return -1;
	}
	return 0;
}

/* LDAPSASLMech: empty (a simple bind) or EXTERNAL, kept in upper case. */
static int
check_sasl_mech(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char *m = cf->ldap_sasl_mech;

	if (m[0] != '\0' && strcasecmp(m, "EXTERNAL") != 0) {
		seterr(why, whylen, "%s \"%s\": only EXTERNAL is supported", k->name, m);
		return -1;
	}
	for (; *m != '\0'; m++)
		*m = (char)toupper((unsigned char)*m);
	return 0;
}

/* The keys that go together: SASL or a bind DN, a certificate with its key. */
static int
check_bind_keys(struct rg_config *cf, char *why, size_t whylen, int *badkey)
{
	if (cf->ldap_sasl_mech[0] != '\0' && (cf->ldap_bind_dn[0] != '\0' ||
	    cf->ldap_bind_password_file[0] != '\0')) {
		seterr(why, whylen, "LDAPSASLMech %s takes the identity from the connection: "
		    "leave LDAPBindDN and LDAPBindPasswordFile out", cf->ldap_sasl_mech);
		BADKEY("LDAPSASLMech");
		return -1;
	}
	if (cf->ldap_sasl_authzid[0] != '\0' && cf->ldap_sasl_mech[0] == '\0') {
		seterr(why, whylen, "LDAPSASLAuthzID is set but LDAPSASLMech is not");
		BADKEY("LDAPSASLAuthzID");
		return -1;
	}
	if ((cf->ldap_tls_cert_file[0] == '\0') != (cf->ldap_tls_key_file[0] == '\0')) {
		seterr(why, whylen, "LDAPTLSCertFile and LDAPTLSKeyFile go together: set both or neither");
		BADKEY(cf->ldap_tls_cert_file[0] != '\0' ? "LDAPTLSCertFile" : "LDAPTLSKeyFile");
		return -1;
	}
	return 0;
}

static int
check_redis_uri(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (uri_has_credentials(cf->redis_uri)) {
		/* the URI is not repeated: it holds a password */
		seterr(why, whylen, "RedisURI must not carry credentials (user:password@); "
		    "put the password, alone on one line, in a file named by "
		    "RedisPasswordFile, and an ACL user in RedisUser");
		return -1;
	}
	if (strncmp(cf->redis_uri, "rediss://", 9) == 0) {
#ifdef HAVE_HIREDIS_SSL
		return 0;
#else
		seterr(why, whylen, "RedisURI: rediss:// (TLS) needs hiredis 1.0 or later with "
		    "hiredis_ssl, and this rcptguard was built without it; reach a TLS Redis "
		    "through a local stunnel or a unix socket (see README)");
		return -1;
#endif
	}
	if (strncmp(cf->redis_uri, "redis://", 8) != 0 && strncmp(cf->redis_uri, "unix:", 5) != 0 &&
	    strcmp(cf->redis_uri, "none") != 0) {
		seterr(why, whylen, "RedisURI \"%s\" is none, redis://HOST:PORT[/DB] "
		    "or unix:/PATH[?db=N]", cf->redis_uri);
		return -1;
	}
	return 0;
}

/*
 * One "HOST:PORT" of RedisSentinels ("[ADDRESS]:PORT" for IPv6) into HP.
 * HOST is a name or an address: letters, digits, ".", "-", "_" (":" too
 * within brackets).  0, or -1 when malformed.
 */
static int
hostport_parse(const char *w, struct rg_hostport *hp)
{
	const char *h = w, *colon;
	size_t hlen;

	if (*w == '[') {
		const char *close = strchr(w, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		h = w + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		if (strspn(h, "0123456789abcdefABCDEF:.") < hlen)
			return -1;
	} else {
		colon = strchr(w, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - w);
		if (strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") <
		    hlen)
			return -1;
	}
	if (hlen == 0 || hlen >= sizeof(hp->host))
		return -1;
	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || *end != '\0' || errno != 0 || port < 1 ||
	    port > 65535)
		return -1;
	memcpy(hp->host, h, hlen);
	hp->host[hlen] = '\0';
	hp->port = (int)port;
	return 0;
}

/*
 * RedisSentinels: HOST:PORT[,HOST:PORT...] (commas or blanks between them),
 * at most RG_SENTINELS_MAX, into cf->redis_sentinels in the order given.
 * Empty: no sentinels, RedisURI names the server.  (That RedisURI is not
 * set beside it is checked in check_loaded(), which knows what was set.)
 */
static int
check_redis_sentinels(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	struct rg_strlist words = { NULL, 0 };
	int rc = 0;

	(void)k;
	if (split_words(cf->redis_sentinels_text, &words) < 0 ||
	    (cf->redis_sentinels = calloc(words.n ? words.n : 1,
	    sizeof(*cf->redis_sentinels))) == NULL) {
		strlist_free(&words);
		seterr(why, whylen, "out of memory");
		return -1;
	}
	if (words.n > RG_SENTINELS_MAX) {
		seterr(why, whylen, "RedisSentinels names %zu servers, more than %d", words.n,
		    RG_SENTINELS_MAX);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < words.n; i++) {
		if (hostport_parse(words.v[i], &cf->redis_sentinels[i]) < 0) {
			seterr(why, whylen, "RedisSentinels: \"%s\" is not HOST:PORT "
			    "([ADDRESS]:PORT for IPv6, PORT from 1 to 65535)", words.v[i]);
			rc = -1;
		}
	}
	cf->nredis_sentinels = rc == 0 ? words.n : 0;
	strlist_free(&words);
	return rc;
}

/* RedisMasterName: needed with RedisSentinels, refused without; 1 to 255
 * printable characters, no blank. */
static int
check_master_name(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	const char *n = cf->redis_master_name;

	(void)k;
	if (cf->nredis_sentinels == 0) {
		if (n[0] == '\0')
			return 0;
		seterr(why, whylen, "RedisMasterName is set but RedisSentinels is not");
		return -1;
	}
	if (n[0] == '\0') {
		seterr(why, whylen, "RedisSentinels needs RedisMasterName: the name the sentinels "
		    "know the master by (their \"sentinel monitor NAME ...\")");
		return -1;
	}
	for (const char *p = n; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f || p - n >= 255) {
			seterr(why, whylen, "RedisMasterName \"%s\": 1 to 255 printable characters, "
			    "no blank", n);
			return -1;
		}
	}
	return 0;
}

/* RedisDB: with RedisSentinels only (RedisURI carries its own). */
static int
check_redis_db(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (cf->redis_db != 0 && cf->nredis_sentinels == 0) {
		seterr(why, whylen, "RedisDB is for RedisSentinels; with RedisURI the database "
		    "number is part of the URI (redis://HOST:PORT/DB)");
		return -1;
	}
	return 0;
}

/* RedisSentinelPasswordFile: with RedisSentinels only; a full path. */
static int
check_sentinel_pw_file(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	if (cf->redis_sentinel_password_file[0] != '\0' && cf->nredis_sentinels == 0) {
		seterr(why, whylen, "RedisSentinelPasswordFile is set but RedisSentinels is not");
		return -1;
	}
	return check_abs_path(cf, k, why, whylen);
}

/* RedisKeyPrefix: printable, no blank, at most 64 characters (it may be ""). */
static int
check_key_prefix(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	const char *p = cf->redis_key_prefix;

	(void)k;
	if (strlen(p) > 64) {
		seterr(why, whylen, "RedisKeyPrefix is longer than 64 characters");
		return -1;
	}
	for (; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '*' || *p == '?' || *p == '[') {
			seterr(why, whylen, "RedisKeyPrefix \"%s\": only printable characters, "
			    "no blank and no glob character (* ? [)", cf->redis_key_prefix);
			return -1;
		}
	}
	return 0;
}

/* HarvestLimit: "0" (off) or N/SECONDS, N from 1 to 100000, SECONDS from 1
 * to 86400. */
static int
check_harvest_limit(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	const char *t = cf->harvest_limit_text;
	char *end;
	long n, secs = 0;

	(void)k;
	errno = 0;
	n = strtol(t, &end, 10);
	if (n == 0 && *end == '\0' && end != t && errno == 0) {
		cf->harvest_limit = 0;
		cf->harvest_window = 0;
		return 0;
	}
	if (end != t && *end == '/' && isdigit((unsigned char)end[1]))
		secs = strtol(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 100000 || secs < 1 || secs > 86400) {
		seterr(why, whylen, "HarvestLimit wants 0 (off) or N/SECONDS (N from 1 to 100000, "
		    "SECONDS from 1 to 86400), not \"%s\"", t);
		return -1;
	}
	cf->harvest_limit = (int)n;
	cf->harvest_window = (int)secs;
	return 0;
}

/* RedisTLSCACertFile: only with rediss://, which needs hiredis_ssl; readable. */
static int
check_redis_tls(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	const char *f = cf->redis_tls_ca_file;

	(void)k;
	if (f[0] == '\0')
		return 0;
#ifndef HAVE_HIREDIS_SSL
	seterr(why, whylen, "RedisTLSCACertFile is for rediss://, which needs hiredis 1.0 or "
	    "later with hiredis_ssl; this rcptguard was built without it");
	return -1;
#else
	if (strncmp(cf->redis_uri, "rediss://", 9) != 0) {
		seterr(why, whylen, "RedisTLSCACertFile is set but RedisURI is not rediss://");
		return -1;
	}
	FILE *fp = fopen(f, "r");
	if (fp == NULL) {
		seterr(why, whylen, "RedisTLSCACertFile: cannot read %s: %s", f, strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
#endif
}

static int
check_metrics_listen(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (cf->metrics_listen[0] == '\0')
		return 0;
	return rg_metrics_listen_check(cf->metrics_listen, why, whylen);
}

static int
check_delimiter(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	for (const char *p = cf->recipient_delimiter; *p; p++) {
		if (isalnum((unsigned char)*p) || *p == '.' || *p == '@' || isspace((unsigned char)*p)) {
			seterr(why, whylen, "RecipientDelimiter \"%s\": '%c' cannot start a subaddress",
			    cf->recipient_delimiter, *p);
			return -1;
		}
	}
	return 0;
}

/* RedisUser needs RedisPasswordFile, which is read here. */
static int
check_redis_auth(struct rg_config *cf, char *why, size_t whylen, int *badkey)
{
	if (cf->redis_password_file[0] == '\0') {
		if (cf->redis_user[0] == '\0')
			return 0;
		seterr(why, whylen, "RedisUser is set but RedisPasswordFile is not");
		BADKEY("RedisUser");
		return -1;
	}
	if (read_secret("RedisPasswordFile", cf->redis_password_file, &cf->redis_password, why,
	    whylen) < 0) {
		BADKEY("RedisPasswordFile");
		return -1;
	}
	return 0;
}

/*
 * Every value's own check, in table order, then what involves two keys (a
 * bind DN needs a password file).  The password file is read only when
 * everything else passed.  *BADKEY names the key at fault.
 */
static int
check_whole(struct rg_config *cf, char *why, size_t whylen, int *badkey)
{
	for (size_t k = 0; k < NKEYS; k++) {
		if (keys[k].check != NULL && keys[k].check(cf, &keys[k], why, whylen) < 0) {
			*badkey = (int)k;
			return -1;
		}
	}
	if (check_redis_auth(cf, why, whylen, badkey) < 0)
		return -1;
	if (cf->redis_sentinel_password_file[0] != '\0' &&
	    read_secret("RedisSentinelPasswordFile", cf->redis_sentinel_password_file,
	    &cf->redis_sentinel_password, why, whylen) < 0) {
		BADKEY("RedisSentinelPasswordFile");
		return -1;
	}
	if (check_bind_keys(cf, why, whylen, badkey) < 0)
		return -1;
	if (cf->ldap_bind_password_file[0] == '\0') {
		/* else bind_pw of LDAPConfig, checked as it was read */
		if (cf->ldap_bind_dn[0] != '\0' && cf->ldap_bind_password == NULL) {
			seterr(why, whylen, "LDAPBindDN is set but LDAPBindPasswordFile is not");
			BADKEY("LDAPBindDN");
			return -1;
		}
		return 0;
	}
	if (read_password(cf, why, whylen) < 0) {
		BADKEY("LDAPBindPasswordFile");
		return -1;
	}
	if (cf->ldap_bind_dn[0] != '\0' && cf->ldap_bind_password[0] == '\0') {
		/* a simple bind with a DN and no password is an unauthenticated
		 * bind (RFC 4513 5.1.2): never what was meant */
		seterr(why, whylen, "LDAPBindPasswordFile %s is empty", cf->ldap_bind_password_file);
		BADKEY("LDAPBindPasswordFile");
		return -1;
	}
	warn_password_mode(cf->ldap_bind_password_file);
	return 0;
}

/* Hash the name and the value of key K of CF into *H. */
static void
fingerprint_key(uint64_t *h, const struct rg_config *cf, const struct key *k)
{
	const char *base = (const char *)cf;
	char num[32];

	fnv1a(h, k->name);
	switch (k->kind) {
	case K_STR:
		fnv1a(h, *(char *const *)(base + k->off));
		break;
	case K_LIST: {
		const struct rg_strlist *l = (const struct rg_strlist *)(base + k->off);
		for (size_t i = 0; i < l->n; i++)
			fnv1a(h, l->v[i]);
		break;
	}
	case K_INT:
	case K_BOOL:
	case K_ENUM:
		snprintf(num, sizeof(num), "%d", *(const int *)(base + k->off));
		fnv1a(h, num);
		break;
	default:
		break;          /* no key of another kind has .answer */
	}
	fnv1a(h, "");           /* the end of the value: no list runs into the next key */
}

/*
 * FNV-1a, in hex, over the keys marked .answer: those whose values can
 * change an answer that the cache keeps (ok, unknown, disabled,
 * alias-broken): which server and entries are asked, as whom, with which
 * filter; what makes an entry an alias and its targets living or dead;
 * which domains are ours; how an address is split.  Keys that only change
 * what is done with an answer (the reply, the TTLs, the suggestions) stay
 * out, so that MTAs that differ only in them share Redis.  Part of every
 * cache key.
 */
static void
make_fingerprint(struct rg_config *cf)
{
	uint64_t h = RG_FNV_START;

	for (size_t k = 0; k < NKEYS; k++)
		if (keys[k].answer)
			fingerprint_key(&h, cf, &keys[k]);
	snprintf(cf->fingerprint, sizeof(cf->fingerprint), "%016llx", (unsigned long long)h);
}

/* Where a key was set: the file (one of the loader's names) and the line. */
struct place {
	const char *file;
	unsigned line;                  /* 0: not set */
};

/*
 * The state of one load: the configuration being filled, where each key
 * was set, the names of every file read (kept until the end, so that a
 * message after the last line can still name one), and the files open now,
 * outermost first, to refuse an Include that comes back to one of them.
 */
struct loader {
	struct rg_config *cf;
	struct place seen[NKEYS];
	struct rg_strlist files;
	struct {
		dev_t dev;
		ino_t ino;
	} open[RG_INCLUDE_DEPTH + 1];
	unsigned depth;                 /* entries of open[] in use */
};

static int read_file(struct loader *, const char *file, const char *from, unsigned fromline,
    char *err, size_t errlen);

/*
 * The path NAME of an Include on a line of FILE stands for: NAME itself
 * when absolute, else NAME in the folder of FILE.  Returns 0, or -1 when
 * it does not fit OUTLEN.
 */
static int
include_path(const char *file, const char *name, char *out, size_t outlen)
{
	const char *slash = strrchr(file, '/');
	int n;

	if (name[0] == '/' || slash == NULL)
		n = snprintf(out, outlen, "%s", name);
	else
		n = snprintf(out, outlen, "%.*s/%s", (int)(slash - file), file, name);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* "Include NAME" on line LINENO of FILE: read that file in place. */
static int
include(struct loader *ld, const char *file, unsigned lineno, const char *name, char *err,
    size_t errlen)
{
	char path[4096];

	if (name[0] == '\0') {
		seterr(err, errlen, "%s:%u: Include wants a file name", file, lineno);
		return -1;
	}
	if (include_path(file, name, path, sizeof(path)) < 0) {
		seterr(err, errlen, "%s:%u: Include: file name too long", file, lineno);
		return -1;
	}
	if (ld->depth > RG_INCLUDE_DEPTH - 1) {
		seterr(err, errlen, "%s:%u: Include %s: more than %d files deep", file, lineno,
		    name, RG_INCLUDE_DEPTH);
		return -1;
	}
	return read_file(ld, path, file, lineno, err, errlen);
}

/*
 * Split LINE (without its newline) into a key name and its value: blanks
 * around both are dropped, and a "#" at the start of the line or after a
 * blank starts a comment; a "#" right after another character is part of
 * the value (ldap://host/#x, a password file named pw#1).  *NAME is NULL
 * for a blank or comment line.
 */
static void
split_line(char *line, char **name, char **value)
{
	char *s = trim(line);

	*name = NULL;
	if (*s == '#' || *s == '\0')
		return;
	*name = s;
	while (*s && !isspace((unsigned char)*s))
		s++;
	if (*s)
		*s++ = '\0';
	*value = trim(s);
	for (char *h = *value; *h; h++) {
		if (*h == '#' && (h == *value || isspace((unsigned char)h[-1]))) {
			*h = '\0';
			*value = trim(*value);
			break;
		}
	}
}

/*
 * One line of FILE, LEN bytes as read (a NUL among them is refused, not
 * taken for the end of the line): a comment, a blank line, an Include, or
 * "Key value", stored into the configuration.  Returns 0, or -1 with
 * "FILE:LINE: problem" in err.
 */
static int
read_line(struct loader *ld, const char *file, unsigned lineno, char *line, size_t len,
    char *err, size_t errlen)
{
	char why[RG_ERRLEN], *name, *value;

	if (memchr(line, '\0', len) != NULL) {
		seterr(err, errlen, "%s:%u: NUL byte in line", file, lineno);
		return -1;
	}
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > LINE_MAX_LEN) {
		seterr(err, errlen, "%s:%u: line longer than %d characters", file, lineno,
		    LINE_MAX_LEN);
		return -1;
	}
	split_line(line, &name, &value);
	if (name == NULL)
		return 0;
	if (strcasecmp(name, "Include") == 0)
		return include(ld, file, lineno, value, err, errlen);
	size_t k;
	for (k = 0; k < NKEYS; k++)
		if (strcasecmp(name, keys[k].name) == 0)
			break;
	if (k == NKEYS) {
		seterr(err, errlen, "%s:%u: unknown key \"%s\"", file, lineno, name);
		return -1;
	}
	if (ld->seen[k].line) {
		seterr(err, errlen, "%s:%u: %s is set twice (first at %s:%u)", file, lineno,
		    keys[k].name, ld->seen[k].file, ld->seen[k].line);
		return -1;
	}
	ld->seen[k].file = file;
	ld->seen[k].line = lineno;
	if (set_value(ld->cf, &keys[k], value, why, sizeof(why)) < 0) {
		seterr(err, errlen, "%s:%u: %s", file, lineno, why);
		return -1;
	}
	return 0;
}

/*
 * Is the file open on FP a regular file, and not one of those being read
 * already (an Include that comes back)?  If so, push it on ld->open.  0,
 * or -1 with err set.
 */
static int
push_open(struct loader *ld, FILE *fp, const char *file, const char *from, unsigned fromline,
    char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fileno(fp), &st) < 0) {
		seterr(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		/* a pipe, a device or a folder: no configuration, maybe no end */
		if (from != NULL)
			seterr(err, errlen, "%s:%u: Include %s: not a regular file", from, fromline,
			    file);
		else
			seterr(err, errlen, "%s: not a regular file", file);
		return -1;
	}
	for (unsigned i = 0; i < ld->depth; i++) {
		if (ld->open[i].dev == st.st_dev && ld->open[i].ino == st.st_ino) {
			seterr(err, errlen, "%s:%u: Include %s: the file includes itself",
			    from, fromline, file);
			return -1;
		}
	}
	ld->open[ld->depth].dev = st.st_dev;
	ld->open[ld->depth].ino = st.st_ino;
	ld->depth++;
	return 0;
}

/*
 * Read every line of PATH into the configuration; FROM:FROMLINE is the
 * Include that named it (FROM NULL for the main file).  Returns 0, or -1
 * with "FILE:LINE: problem" in err.
 */
static int
read_file(struct loader *ld, const char *path, const char *from, unsigned fromline, char *err,
    size_t errlen)
{
	if (strlist_add(&ld->files, path, strlen(path)) < 0) {
		seterr(err, errlen, "%s: out of memory", path);
		return -1;
	}
	const char *file = ld->files.v[ld->files.n - 1];
	FILE *fp = fopen(file, "r");
	if (fp == NULL) {
		if (from != NULL)
			seterr(err, errlen, "%s:%u: Include %s: cannot open: %s", from, fromline,
			    file, strerror(errno));
		else
			seterr(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		return -1;
	}
	if (push_open(ld, fp, file, from, fromline, err, errlen) < 0) {
		fclose(fp);
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0)
		rc = read_line(ld, file, ++lineno, line, (size_t)len, err, errlen);
	free(line);
	if (rc == 0 && ferror(fp)) {
		seterr(err, errlen, "%s: read error: %s", file, strerror(errno));
		rc = -1;
	}
	fclose(fp);
	ld->depth--;
	return rc;
}

/*
 * The bind password of an LDAPConfig file, LC, read from its LINE of PATH:
 * used when rcptguard.conf names no LDAPBindPasswordFile and there is a DN
 * to bind as.  0, or -1 with err set.
 */
static int
apply_bind_pw(struct loader *ld, const char *path, const struct rg_ldapcf *lc, char *err,
    size_t errlen)
{
	struct rg_config *cf = ld->cf;

	if (lc->bind_pw == NULL || ld->seen[key_index("LDAPBindPasswordFile")].line ||
	    cf->ldap_bind_dn[0] == '\0')
		return 0;
	if (lc->bind_pw[0] == '\0') {
		/* an unauthenticated bind (RFC 4513 5.1.2): never what was meant */
		seterr(err, errlen, "%s:%u: bind_pw is empty", path, lc->bind_pw_line);
		return -1;
	}
	if ((cf->ldap_bind_password = strdup(lc->bind_pw)) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		return -1;
	}
	return 0;
}

/*
 * LDAPConfig: the settings of a Postfix ldap_table(5) file (rg_ldapcf.h),
 * each applied unless rcptguard.conf (or a file it includes) sets that key
 * itself; a relative name is taken in the folder of the file that sets
 * LDAPConfig.  A value refused names the ldap_table file, its line and
 * parameter; later checks of the key name that line too.  0, or -1 with err.
 */
static int
apply_ldap_config(struct loader *ld, char *err, size_t errlen)
{
	const struct place *at = &ld->seen[key_index("LDAPConfig")];
	struct rg_ldapcf lc;
	char path[4096], why[RG_ERRLEN];

	if (ld->cf->ldap_config[0] == '\0')
		return 0;
	if (include_path(at->file, ld->cf->ldap_config, path, sizeof(path)) < 0 ||
	    strlist_add(&ld->files, path, strlen(path)) < 0) {
		seterr(err, errlen, "%s:%u: LDAPConfig: file name too long", at->file, at->line);
		return -1;
	}
	const char *name = ld->files.v[ld->files.n - 1];
	if (rg_ldapcf_read(name, &lc, why, sizeof(why)) < 0) {
		/* a problem on a line of the file is named by that line alone */
		size_t n = strlen(name);
		if (strncmp(why, name, n) == 0 && why[n] == ':' && isdigit((unsigned char)why[n + 1]))
			seterr(err, errlen, "%s", why);
		else
			seterr(err, errlen, "%s:%u: LDAPConfig: %s", at->file, at->line, why);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < lc.n; i++) {
		int k = key_index(lc.v[i].key);
		if (ld->seen[k].line)
			continue;               /* rcptguard.conf says otherwise */
		if (set_value(ld->cf, &keys[k], lc.v[i].value, why, sizeof(why)) < 0) {
			seterr(err, errlen, "%s:%u: %s: %s", name, lc.v[i].line, lc.v[i].param, why);
			rc = -1;
		}
		ld->seen[k].file = lc.v[i].line ? name : at->file;
		ld->seen[k].line = lc.v[i].line ? lc.v[i].line : at->line;
	}
	if (rc == 0)
		rc = apply_bind_pw(ld, name, &lc, err, errlen);
	rg_ldapcf_free(&lc);
	return rc;
}

/*
 * DirectorySchema: the preset's value of every key in preset_keys[] that no
 * file and no LDAPConfig set, noted in cf->preset_keys; a later check of
 * such a key names the DirectorySchema line.  0, or -1 with err.
 */
static int
apply_preset(struct loader *ld, char *err, size_t errlen)
{
	const struct place *at = &ld->seen[key_index("DirectorySchema")];
	struct rg_config *cf = ld->cf;
	char why[RG_ERRLEN];

	if (cf->directory_schema == 0)
		return 0;
	const char *const *values = presets[cf->directory_schema - 1];
	for (size_t i = 0; i < NPRESET; i++) {
		int k = key_index(preset_keys[i]);
		if (ld->seen[k].line)
			continue;               /* the file says otherwise */
		int rc = set_value(cf, &keys[k], values[i], why, sizeof(why));
		if (rc == 0 && (rc = strlist_add(&cf->preset_keys, keys[k].name,
		    strlen(keys[k].name))) < 0)
			seterr(why, sizeof(why), "out of memory");
		if (rc < 0) {
			seterr(err, errlen, "%s:%u: DirectorySchema %s: %s", at->file, at->line,
			    schema_names[cf->directory_schema], why);
			return -1;
		}
		ld->seen[k] = *at;
	}
	return 0;
}

/*
 * What is checked once every file is read: the required keys, that
 * RedisURI and RedisSentinels are not both set (even "RedisURI none"), then
 * each value and the keys together.  Messages name the line the key at fault was
 * set on, or the main file when none.  Returns 0, or -1 with err set.
 */
static int
check_loaded(struct loader *ld, const char *file, char *err, size_t errlen)
{
	char why[RG_ERRLEN];
	int badkey = -1;

	for (size_t k = 0; k < NKEYS; k++) {
		if (keys[k].required && !ld->seen[k].line) {
			seterr(err, errlen, "%s: %s is required", file, keys[k].name);
			return -1;
		}
	}
	const struct place *uri = &ld->seen[key_index("RedisURI")];
	/* an empty RedisSentinels (as -v prints it) names none */
	const char *sentinels = ld->cf->redis_sentinels_text;
	if (uri->line && sentinels[strspn(sentinels, " \t,")] != '\0') {
		seterr(err, errlen, "%s:%u: RedisURI and RedisSentinels exclude each other: the "
		    "sentinels name the Redis master; leave RedisURI out", uri->file, uri->line);
		return -1;
	}
	if (check_whole(ld->cf, why, sizeof(why), &badkey) < 0) {
		if (badkey >= 0 && ld->seen[badkey].line > 0)
			seterr(err, errlen, "%s:%u: %s", ld->seen[badkey].file,
			    ld->seen[badkey].line, why);
		else
			seterr(err, errlen, "%s: %s", file, why);
		return -1;
	}
	return 0;
}

struct rg_config *
rg_config_load(const char *file, char *err, size_t errlen)
{
	struct loader ld;
	char why[RG_ERRLEN];

	memset(&ld, 0, sizeof(ld));
	ld.cf = calloc(1, sizeof(*ld.cf));
	if (ld.cf == NULL || (ld.cf->path = strdup(file)) == NULL) {
		seterr(err, errlen, "%s: out of memory", file);
		goto fail;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		if (set_value(ld.cf, &keys[i], keys[i].def, why, sizeof(why)) < 0) {
			seterr(err, errlen, "%s: default of %s: %s", file, keys[i].name, why);
			goto fail;
		}
	}
	if (read_file(&ld, file, NULL, 0, err, errlen) < 0 ||
	    apply_ldap_config(&ld, err, errlen) < 0 ||
	    apply_preset(&ld, err, errlen) < 0 ||
	    check_loaded(&ld, file, err, errlen) < 0)
		goto fail;
	make_fingerprint(ld.cf);
	strlist_free(&ld.files);
	return ld.cf;
fail:
	strlist_free(&ld.files);
	rg_config_free(ld.cf);
	return NULL;
}

/* The networks NETS, N of them, into FP as a list: "10.0.0.0/8 ::1/128". */
static void
print_nets(FILE *fp, const struct rg_net *nets, size_t n)
{
	char text[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < n; i++) {
		if (inet_ntop(nets[i].family, nets[i].addr, text, sizeof(text)) == NULL)
			continue;
		fprintf(fp, "%s%s/%u", i ? " " : "", text, nets[i].prefix);
	}
}

/* The value of key K of CF into FP, as a file would set it. */
static void
print_value(FILE *fp, const struct rg_config *cf, const struct key *k)
{
	const char *base = (const char *)cf;

	switch (k->kind) {
	case K_STR:
		fputs(*(char *const *)(base + k->off), fp);
		break;
	case K_LIST: {
		const struct rg_strlist *l = (const struct rg_strlist *)(base + k->off);
		for (size_t i = 0; i < l->n; i++)
			fprintf(fp, "%s%s", i ? " " : "", l->v[i]);
		break;
	}
	case K_BOOL:
		fputs(*(const int *)(base + k->off) ? "yes" : "no", fp);
		break;
	case K_INT:
		fprintf(fp, "%d", *(const int *)(base + k->off));
		break;
	case K_DOUBLE:
		fprintf(fp, "%g", *(const double *)(base + k->off));
		break;
	case K_ENUM:
		fputs(k->choices[*(const int *)(base + k->off)], fp);
		break;
	case K_NETS:
		if (strcmp(k->name, "TrustedNetworks") == 0)
			print_nets(fp, cf->trusted, cf->ntrusted);
		else if (cf->harvest_exempt_set && cf->nharvest_exempt == 0)
			fputs("none", fp);
		else
			print_nets(fp, cf->harvest_exempt, cf->nharvest_exempt);
		break;
	case K_FACILITY:
		for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
			if (facilities[i].value == *(const int *)(base + k->off)) {
				fputs(facilities[i].name, fp);
				break;
			}
		break;
	}
}

void
rg_config_print(const struct rg_config *cf, FILE *fp)
{
	for (size_t k = 0; k < NKEYS; k++) {
		/* the two ways to name Redis exclude each other, "none" included */
		if (cf->nredis_sentinels > 0 && strcmp(keys[k].name, "RedisURI") == 0)
			continue;
		char *value = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&value, &len);
		if (mem == NULL)
			continue;
		print_value(mem, cf, &keys[k]);
		fclose(mem);
		/* an empty value leaves the key alone on its line */
		fprintf(fp, "%s%s%s", keys[k].name, len > 0 ? " " : "", value);
		free(value);
		for (size_t i = 0; i < cf->preset_keys.n; i++)
			if (strcmp(cf->preset_keys.v[i], keys[k].name) == 0)
				fprintf(fp, "  # from DirectorySchema %s",
				    schema_names[cf->directory_schema]);
		fputc('\n', fp);
	}
}

int
rg_config_domain_ours(const struct rg_config *cf, const char *domain)
{
	for (size_t i = 0; i < cf->domains.n; i++)
		if (strcmp(cf->domains.v[i], domain) == 0)
			return 1;
	return 0;
}
