/*
 * rg_ldap.c - talk to the directory.
 *
 * A pool of LDAPPoolSize bound handles is shared by all threads; a thread
 * takes a handle, uses it without holding any lock, and gives it back.  A
 * handle that failed is dropped and re-opened by the next user, with a
 * backoff (0.5 s doubling to 5 s) during which lookups fail at once instead
 * of each waiting for a dead server.  Connect, bind and search of one lookup
 * share one deadline, LDAPTimeout from its start; a timeout or any error is
 * "could not tell" (RG_LOOKUP_FAIL), never "not found".
 *
 * Every value put into a filter is escaped per RFC 4515, so "*", "(", ")",
 * "\" and NUL in an address are data, never filter syntax.
 *
 * rg_ldap_walk() reads a whole subtree with the paged-results control
 * (RFC 2696) on a handle of its own; a walk that is cut short (size limit,
 * time limit, lost connection) is an error, never a silently short list.
 */
#include "rg_ldap.h"
#include "rg_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN 0.5
#define BACKOFF_MAX 5.0

struct slot {
	LDAP *ld;
	int busy;
};

struct rg_ldap_pool {
	const struct rg_config *cf;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *slots;
	int nslots;
	double retry_at;        /* no connect before this time */
	double backoff;         /* the wait after the next failure */
	int down_logged;        /* "LDAP unreachable" said once per outage */
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static struct timeval
tv_of(double seconds)
{
	struct timeval tv;

	if (seconds < 0.001)
		seconds = 0.001;
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	return tv;
}

int
rg_ldap_escape_filter(const char *value, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c == 0x7f) {
			if (o + 3 >= outlen)
				return -1;
			out[o++] = '\\';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)c;
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

int
rg_ldap_expand_filter(const char *tmpl, const char *local, const char *domain,
    char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = tmpl; *p; p++) {
		if (*p != '%') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = *p;
			continue;
		}
		p++;
		if (*p == '%') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '%';
			continue;
		}
		if (*p == 's' || *p == 'u') {
			if (rg_ldap_escape_filter(local, strlen(local), out + o, outlen - o) < 0)
				return -1;
			o += strlen(out + o);
		}
		if (*p == 's') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '@';
		}
		if (*p == 's' || *p == 'd') {
			if (rg_ldap_escape_filter(domain, strlen(domain), out + o, outlen - o) < 0)
				return -1;
			o += strlen(out + o);
		} else if (*p != 'u') {
			return -1;      /* the configuration check makes this unreachable */
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

/*
 * Wait for the answer to MSGID until DEADLINE.  Returns the message type,
 * 0 on timeout, -1 on error.
 */
static int
wait_result(LDAP *ld, int msgid, int all, double deadline, LDAPMessage **res)
{
	struct timeval tv = tv_of(deadline - rg_now());

	*res = NULL;
	if (deadline - rg_now() <= 0)
		return 0;
	return ldap_result(ld, msgid, all, &tv, res);
}

static const char *
ld_error(LDAP *ld, int rc)
{
	int err = rc;

	if (ld != NULL && rc == -1)
		ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
	return ldap_err2string(err);
}

/* Open, StartTLS and bind one URI before DEADLINE. */
static LDAP *
connect_one(const struct rg_config *cf, const char *uri, double deadline, char *err,
    size_t errlen)
{
	LDAP *ld = NULL;
	int rc, msgid, v3 = LDAP_VERSION3;
	struct timeval tv = tv_of(deadline - rg_now());
	LDAPMessage *res = NULL;
	int code = LDAP_OTHER;

	rc = ldap_initialize(&ld, uri);
	if (rc != LDAP_SUCCESS) {
		seterr(err, errlen, "LDAPURI %s: %s", uri, ldap_err2string(rc));
		return NULL;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	/* the TCP connect (and each synchronous step) within what is left */
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	if (cf->ldap_starttls) {
		rc = ldap_start_tls(ld, NULL, NULL, &msgid);
		if (rc != LDAP_SUCCESS) {
			seterr(err, errlen, "StartTLS with %s: %s", uri, ld_error(ld, rc));
			goto fail;
		}
		rc = wait_result(ld, msgid, LDAP_MSG_ALL, deadline, &res);
		if (rc <= 0) {
			seterr(err, errlen, "StartTLS with %s: %s", uri,
			    rc == 0 ? "timed out" : ld_error(ld, rc));
			goto fail;
		}
		ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
		res = NULL;
		if (code != LDAP_SUCCESS) {
			seterr(err, errlen, "StartTLS with %s: %s", uri, ldap_err2string(code));
			goto fail;
		}
		rc = ldap_install_tls(ld);
		if (rc != LDAP_SUCCESS) {
			seterr(err, errlen, "TLS handshake with %s: %s", uri, ld_error(ld, rc));
			goto fail;
		}
	}
	struct berval cred = { 0, NULL };
	if (cf->ldap_bind_password != NULL) {
		cred.bv_val = cf->ldap_bind_password;
		cred.bv_len = strlen(cf->ldap_bind_password);
	}
	rc = ldap_sasl_bind(ld, cf->ldap_bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
	if (rc != LDAP_SUCCESS) {
		seterr(err, errlen, "cannot reach %s: %s", uri, ld_error(ld, rc));
		goto fail;
	}
	rc = wait_result(ld, msgid, LDAP_MSG_ALL, deadline, &res);
	if (rc == 0) {
		seterr(err, errlen, "bind to %s timed out", uri);
		goto fail;
	}
	if (rc < 0) {
		seterr(err, errlen, "bind to %s: %s", uri, ld_error(ld, rc));
		goto fail;
	}
	code = LDAP_OTHER;
	ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
	res = NULL;
	if (code != LDAP_SUCCESS) {
		seterr(err, errlen, "bind as \"%s\" to %s: %s", cf->ldap_bind_dn, uri,
		    ldap_err2string(code));
		goto fail;
	}
	return ld;
fail:
	if (res != NULL)
		ldap_msgfree(res);
	ldap_unbind_ext(ld, NULL, NULL);
	return NULL;
}

LDAP *
rg_ldap_connect(const struct rg_config *cf, double deadline, char *err, size_t errlen)
{
	/* the URIs in order, all within the one deadline (libldap's own list
	 * would give each address of each URI a full network timeout) */
	const char *p = cf->ldap_uri;
	char uri[1024];

	seterr(err, errlen, "LDAPURI is empty");
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		if (n > 0 && n < sizeof(uri)) {
			if (rg_now() >= deadline) {
				seterr(err, errlen, "no LDAP server answered within LDAPTimeout");
				break;
			}
			memcpy(uri, p, n);
			uri[n] = '\0';
			LDAP *ld = connect_one(cf, uri, deadline, err, errlen);
			if (ld != NULL)
				return ld;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return NULL;
}

struct rg_ldap_pool *
rg_ldap_pool_new(const struct rg_config *cf)
{
	struct rg_ldap_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->cf = cf;
	p->nslots = cf->ldap_pool_size;
	p->slots = calloc((size_t)p->nslots, sizeof(*p->slots));
	if (p->slots == NULL) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	rg_cond_init(&p->cv);
	p->backoff = BACKOFF_MIN;
	return p;
}

void
rg_ldap_pool_free(struct rg_ldap_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nslots; i++)
		if (p->slots[i].ld != NULL)
			ldap_unbind_ext(p->slots[i].ld, NULL, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->slots);
	free(p);
}

/* Take a free slot, waiting for one until DEADLINE; NULL on timeout. */
static struct slot *
slot_take(struct rg_ldap_pool *p, double deadline)
{
	struct slot *s = NULL;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		for (int i = 0; i < p->nslots; i++) {
			/* prefer a slot with an open handle */
			if (!p->slots[i].busy && (s == NULL || (s->ld == NULL && p->slots[i].ld != NULL)))
				s = &p->slots[i];
		}
		if (s != NULL)
			break;
		double left = deadline - rg_now();
		if (left <= 0)
			break;
		struct timespec ts = rg_timespec_in(left);
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	if (s != NULL)
		s->busy = 1;
	pthread_mutex_unlock(&p->mu);
	return s;
}

static void
slot_give(struct rg_ldap_pool *p, struct slot *s)
{
	pthread_mutex_lock(&p->mu);
	s->busy = 0;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void
slot_drop(struct slot *s)
{
	if (s->ld != NULL)
		ldap_unbind_ext(s->ld, NULL, NULL);
	s->ld = NULL;
}

/* Open the slot's handle unless the backoff says not yet. */
static int
slot_open(struct rg_ldap_pool *p, struct slot *s, double deadline, char *err, size_t errlen)
{
	double now = rg_now();

	pthread_mutex_lock(&p->mu);
	double retry_at = p->retry_at;
	pthread_mutex_unlock(&p->mu);
	if (now < retry_at) {
		seterr(err, errlen, "LDAP server unreachable, next attempt in %.1f s",
		    retry_at - now);
		return -1;
	}
	char why[RG_ERRLEN];
	s->ld = rg_ldap_connect(p->cf, deadline, why, sizeof(why));
	pthread_mutex_lock(&p->mu);
	if (s->ld == NULL) {
		p->retry_at = rg_now() + p->backoff;
		p->backoff = p->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : p->backoff * 2;
		int say = !p->down_logged;
		p->down_logged = 1;
		pthread_mutex_unlock(&p->mu);
		if (say)
			rg_log(LOG_ERR, "LDAP unreachable: %s", why);
		seterr(err, errlen, "%s", why);
		return -1;
	}
	int was_down = p->down_logged;
	p->backoff = BACKOFF_MIN;
	p->retry_at = 0;
	p->down_logged = 0;
	pthread_mutex_unlock(&p->mu);
	if (was_down)
		rg_log(LOG_INFO, "LDAP reachable again: %s", p->cf->ldap_uri);
	return 0;
}

static void
entry_free(struct rg_ldap_entry *e)
{
	ldap_memfree(e->dn);
	for (size_t j = 0; j < e->nvals; j++) {
		free(e->vals[j].attr);
		free(e->vals[j].value);
	}
	free(e->vals);
	memset(e, 0, sizeof(*e));
}

void
rg_ldap_result_free(struct rg_ldap_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nentries; i++)
		entry_free(&r->entries[i]);
	free(r->entries);
	r->entries = NULL;
	r->nentries = 0;
}

/* Copy one LDAP entry's DN and values into E. */
static int
entry_copy(LDAP *ld, LDAPMessage *m, struct rg_ldap_entry *e)
{
	BerElement *ber = NULL;

	memset(e, 0, sizeof(*e));
	e->dn = ldap_get_dn(ld, m);
	if (e->dn == NULL)
		return -1;
	for (char *a = ldap_first_attribute(ld, m, &ber); a != NULL;
	    a = ldap_next_attribute(ld, m, ber)) {
		struct berval **vals = ldap_get_values_len(ld, m, a);
		size_t nv = vals ? (size_t)ldap_count_values_len(vals) : 0;
		struct rg_ldap_value *nvv = realloc(e->vals, (e->nvals + nv + 1) * sizeof(*nvv));
		if (nvv == NULL) {
			ldap_value_free_len(vals);
			ldap_memfree(a);
			if (ber != NULL)
				ber_free(ber, 0);
			return -1;
		}
		e->vals = nvv;
		for (size_t i = 0; i < nv; i++) {
			struct rg_ldap_value *v = &e->vals[e->nvals++];
			v->attr = strdup(a);
			v->value = strndup(vals[i]->bv_val, vals[i]->bv_len);
			if (v->attr == NULL || v->value == NULL) {
				ldap_value_free_len(vals);
				ldap_memfree(a);
				if (ber != NULL)
					ber_free(ber, 0);
				return -1;
			}
		}
		ldap_value_free_len(vals);
		ldap_memfree(a);
	}
	if (ber != NULL)
		ber_free(ber, 0);
	return 0;
}

static int
collect(LDAP *ld, LDAPMessage *all, struct rg_ldap_result *res)
{
	int n = ldap_count_entries(ld, all);

	if (res == NULL || n <= 0)
		return 0;
	res->entries = calloc((size_t)n, sizeof(*res->entries));
	if (res->entries == NULL)
		return -1;
	for (LDAPMessage *m = ldap_first_entry(ld, all); m != NULL; m = ldap_next_entry(ld, m)) {
		if (entry_copy(ld, m, &res->entries[res->nentries]) < 0) {
			res->nentries++;
			return -1;
		}
		res->nentries++;
	}
	return 0;
}

/*
 * One search on one open handle.  *dead is set when the handle must not be
 * used again.
 */
static enum rg_found
search_once(LDAP *ld, const char *base, int scope, const char *filter, char *const *attrs,
    int maxentries, double deadline, struct rg_ldap_result *res, int *dead,
    char *err, size_t errlen)
{
	static char *no_attrs[] = { LDAP_NO_ATTRS, NULL };
	struct timeval tv = tv_of(deadline - rg_now());
	LDAPMessage *all = NULL;
	int msgid, rc;

	*dead = 0;
	rc = ldap_search_ext(ld, base, scope, filter, attrs ? (char **)attrs : no_attrs, 0,
	    NULL, NULL, &tv, maxentries, &msgid);
	if (rc != LDAP_SUCCESS) {
		*dead = 1;
		seterr(err, errlen, "search: %s", ld_error(ld, rc));
		return RG_LOOKUP_FAIL;
	}
	rc = wait_result(ld, msgid, LDAP_MSG_ALL, deadline, &all);
	if (rc == 0) {
		ldap_abandon_ext(ld, msgid, NULL, NULL);
		*dead = 1;
		seterr(err, errlen, "search timed out");
		return RG_LOOKUP_FAIL;
	}
	if (rc < 0) {
		*dead = 1;
		seterr(err, errlen, "search: %s", ld_error(ld, rc));
		return RG_LOOKUP_FAIL;
	}
	int code = LDAP_OTHER;
	rc = ldap_parse_result(ld, all, &code, NULL, NULL, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(all);
		*dead = 1;
		seterr(err, errlen, "bad reply: %s", ldap_err2string(rc));
		return RG_LOOKUP_FAIL;
	}
	enum rg_found found;
	if (code == LDAP_NO_SUCH_OBJECT && scope == LDAP_SCOPE_BASE) {
		found = RG_NOTFOUND;
	} else if (code == LDAP_SIZELIMIT_EXCEEDED) {
		seterr(err, errlen, "more than %d entries match %s", maxentries, filter);
		found = RG_LOOKUP_FAIL;
	} else if (code != LDAP_SUCCESS) {
		seterr(err, errlen, "search %s: %s", filter, ldap_err2string(code));
		if (code == LDAP_UNAVAILABLE || code == LDAP_BUSY || code == LDAP_UNWILLING_TO_PERFORM)
			*dead = 1;
		found = RG_LOOKUP_FAIL;
	} else if (ldap_count_entries(ld, all) == 0 && ldap_count_references(ld, all) > 0) {
		/* the answer is elsewhere (referrals are not chased): could not tell */
		seterr(err, errlen, "search %s: the server answered with a referral", filter);
		found = RG_LOOKUP_FAIL;
	} else if (ldap_count_entries(ld, all) > 0) {
		found = RG_FOUND;
		if (collect(ld, all, res) < 0) {
			seterr(err, errlen, "out of memory");
			found = RG_LOOKUP_FAIL;
		}
	} else {
		found = RG_NOTFOUND;
	}
	ldap_msgfree(all);
	return found;
}

static enum rg_found
pool_search(struct rg_ldap_pool *p, const char *base, int scope, const char *filter,
    char *const *attrs, int maxentries, double until, struct rg_ldap_result *res,
    char *err, size_t errlen)
{
	double deadline = rg_now() + p->cf->ldap_timeout;

	if (until > 0 && until < deadline)
		deadline = until;
	if (deadline <= rg_now()) {
		seterr(err, errlen, "no time left for this recipient");
		if (res != NULL)
			memset(res, 0, sizeof(*res));
		return RG_LOOKUP_FAIL;
	}
	struct slot *s = slot_take(p, deadline);
	enum rg_found found = RG_LOOKUP_FAIL;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (s == NULL) {
		seterr(err, errlen, "all %d LDAP connections busy", p->nslots);
		return RG_LOOKUP_FAIL;
	}
	/* A handle that sat in the pool may have been closed by the server
	 * meanwhile: such a failure earns one retry on a fresh handle. */
	for (int attempt = 0; attempt < 2; attempt++) {
		int reused = s->ld != NULL;
		if (!reused && slot_open(p, s, deadline, err, errlen) < 0)
			break;
		int dead = 0;
		found = search_once(s->ld, base, scope, filter, attrs, maxentries, deadline, res,
		    &dead, err, errlen);
		if (dead)
			slot_drop(s);
		/* a retry needs time to be fair to a healthy server */
		if (!(dead && reused && found == RG_LOOKUP_FAIL &&
		    deadline - rg_now() > 0.2 * p->cf->ldap_timeout))
			break;
		rg_ldap_result_free(res);
	}
	slot_give(p, s);
	return found;
}

enum rg_found
rg_ldap_search(struct rg_ldap_pool *p, const char *filter, char *const *attrs,
    int maxentries, double until, struct rg_ldap_result *res, char *err, size_t errlen)
{
	return pool_search(p, p->cf->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, maxentries,
	    until, res, err, errlen);
}

enum rg_found
rg_ldap_read_dn(struct rg_ldap_pool *p, const char *dn, const char *filter,
    char *const *attrs, double until, struct rg_ldap_result *res, char *err, size_t errlen)
{
	return pool_search(p, dn, LDAP_SCOPE_BASE, filter ? filter : "(objectClass=*)", attrs,
	    1, until, res, err, errlen);
}

int
rg_ldap_walk(const struct rg_config *cf, const char *filter, char *const *attrs,
    int pagesize, double timeout, rg_ldap_walk_fn fn, void *arg, char *err, size_t errlen)
{
	LDAP *ld = rg_ldap_connect(cf, rg_now() + timeout, err, errlen);
	struct berval cookie = { 0, NULL };
	int ret = -1;
	size_t total = 0;

	if (ld == NULL)
		return -1;
	for (;;) {
		LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
		LDAPControl **rctrls = NULL;
		LDAPMessage *all = NULL;
		int msgid, rc, code = LDAP_OTHER;
		double deadline = rg_now() + timeout;
		struct timeval tv = tv_of(timeout);

		rc = ldap_create_page_control(ld, (ber_int_t)pagesize, cookie.bv_val ? &cookie : NULL,
		    1, &page);
		if (rc != LDAP_SUCCESS) {
			seterr(err, errlen, "paged search: %s", ldap_err2string(rc));
			break;
		}
		ctrls[0] = page;
		rc = ldap_search_ext(ld, cf->ldap_base, LDAP_SCOPE_SUBTREE, filter, (char **)attrs, 0,
		    ctrls, NULL, &tv, 0, &msgid);
		ldap_control_free(page);
		if (rc != LDAP_SUCCESS) {
			seterr(err, errlen, "paged search: %s", ld_error(ld, rc));
			break;
		}
		rc = wait_result(ld, msgid, LDAP_MSG_ALL, deadline, &all);
		if (rc <= 0) {
			seterr(err, errlen, "paged search after %zu entries: %s", total,
			    rc == 0 ? "timed out" : ld_error(ld, rc));
			break;
		}
		rc = ldap_parse_result(ld, all, &code, NULL, NULL, NULL, &rctrls, 0);
		if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
			if (code == LDAP_SIZELIMIT_EXCEEDED || code == LDAP_ADMINLIMIT_EXCEEDED)
				seterr(err, errlen, "the directory stopped the walk after %zu entries "
				    "(size limit); grant the bind DN size.prtotal=unlimited", total +
				    (size_t)ldap_count_entries(ld, all));
			else
				seterr(err, errlen, "paged search after %zu entries: %s", total,
				    ldap_err2string(rc != LDAP_SUCCESS ? rc : code));
			ldap_controls_free(rctrls);
			ldap_msgfree(all);
			break;
		}
		int stop = 0;
		for (LDAPMessage *m = ldap_first_entry(ld, all); m != NULL && !stop;
		    m = ldap_next_entry(ld, m)) {
			struct rg_ldap_entry e;
			if (entry_copy(ld, m, &e) < 0) {
				seterr(err, errlen, "out of memory");
				stop = 1;
			} else if (fn(arg, &e) != 0) {
				seterr(err, errlen, "walk stopped after %zu entries", total);
				stop = 1;
			}
			entry_free(&e);
			total++;
		}
		LDAPControl *pr = rctrls ? ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL) : NULL;
		ber_memfree(cookie.bv_val);
		cookie.bv_val = NULL;
		cookie.bv_len = 0;
		if (!stop && pr == NULL) {
			seterr(err, errlen, "the server ignored the paged-results control");
			stop = 1;
		}
		if (!stop) {
			ber_int_t estimate;
			rc = ldap_parse_pageresponse_control(ld, pr, &estimate, &cookie);
			if (rc != LDAP_SUCCESS) {
				seterr(err, errlen, "paged results: %s", ldap_err2string(rc));
				stop = 1;
			}
		}
		ldap_controls_free(rctrls);
		ldap_msgfree(all);
		if (stop)
			break;
		if (cookie.bv_val == NULL || cookie.bv_len == 0) {
			ret = 0;
			break;
		}
	}
	ber_memfree(cookie.bv_val);
	ldap_unbind_ext(ld, NULL, NULL);
	return ret;
}
