/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_address.c - libFuzzer target for the recipient parser
 * (rg_address_parse, rg_address_domain in directory/rg_address.c).
 *
 * Input: one byte choosing RecipientDelimiter, then the RCPT argument.
 * Properties, for every input:
 *   - no crash, no out-of-bounds access, no undefined behaviour;
 *   - RG_ADDR_BAD comes with a reason, every other status without one;
 *   - OK: local part 1..64 octets, domain 1..255, both without upper-case
 *     ASCII, control bytes, or malformed UTF-8; the domain has no trailing,
 *     leading or doubled dot; full is exactly local "@" domain; base is
 *     either "" or base_local "@" domain where base_local is a proper
 *     prefix of local cut at a delimiter;
 *   - NODOMAIN: a local part as above;
 *   - case does not matter: the input with ASCII letters upper-cased parses
 *     to the same status and the same address;
 *   - parsing the normalised address again (bare and in angle brackets)
 *     gives the same address back, when its local part is one that can be
 *     written without quotes;
 *   - rg_address_domain() gives what a model of its contract gives, and
 *     stays inside the buffer (an exact-size heap buffer, so ASan sees any
 *     overrun).
 */
#include "fuzz.h"
#include "rg_address.h"

static const char *const delim_sets[] = { "", "+", "+-", "-_.+", "=%" };

static void
check_part(const char *s, size_t max, const char *what)
{
	size_t n = strlen(s);

	PROPERTY(n >= 1 && n <= max, "%s length %zu", what, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		PROPERTY(!(c >= 'A' && c <= 'Z'), "%s \"%s\" not lower case", what, s);
		PROPERTY(c >= 0x20 && c != 0x7f, "%s has control byte 0x%02x", what, c);
	}
	PROPERTY(fuzz_utf8(s, n), "%s \"%s\" is not UTF-8", what, s);
}

static void
check_ok(const struct rg_address *a, const char *delims)
{
	char buf[RG_ADDR_MAX + 2];
	size_t ll = strlen(a->local), dl = strlen(a->domain);

	check_part(a->local, RG_LOCAL_MAX, "local");
	check_part(a->domain, RG_DOMAIN_MAX, "domain");
	if (a->domain[0] != '[')
		PROPERTY(a->domain[0] != '.' && a->domain[dl - 1] != '.' &&
		    strstr(a->domain, "..") == NULL, "domain \"%s\" has an empty label", a->domain);
	snprintf(buf, sizeof(buf), "%s@%s", a->local, a->domain);
	PROPERTY(strcmp(buf, a->full) == 0, "full \"%s\" != \"%s\"", a->full, buf);
	if (a->base[0] == '\0') {
		PROPERTY(a->base_local[0] == '\0', "base_local without base");
		return;
	}
	size_t bl = strlen(a->base_local);
	PROPERTY(bl >= 1 && bl < ll && memcmp(a->base_local, a->local, bl) == 0 &&
	    strchr(delims, a->local[bl]) != NULL && a->local[bl] != '\0',
	    "base_local \"%s\" of \"%s\"", a->base_local, a->local);
	snprintf(buf, sizeof(buf), "%s@%s", a->base_local, a->domain);
	PROPERTY(strcmp(buf, a->base) == 0, "base \"%s\" != \"%s\"", a->base, buf);
	(void)ll;
}

/*
 * rg_address_domain() against a model: what follows the last "@", without
 * trailing ">" and blanks and then one trailing dot, lower-cased; -1 when
 * that is empty or does not fit.  (It strips one dot only: "x@a.b.." gives
 * "a.b.", which is then simply not one of Domains.)
 */
static void
check_domain(const char *rcpt, size_t outlen)
{
	char *out = malloc(outlen);
	const char *at = strrchr(rcpt, '@');
	size_t n = 0;

	if (out == NULL)
		abort();
	if (at != NULL) {
		at++;
		n = strlen(at);
		while (n > 0 && (at[n - 1] == '>' || at[n - 1] == ' '))
			n--;
		if (n > 0 && at[n - 1] == '.')
			n--;
	}
	int want = at != NULL && n > 0 && n < outlen ? 0 : -1;
	int rc = rg_address_domain(rcpt, out, outlen);
	PROPERTY(rc == want, "rg_address_domain returned %d, expected %d", rc, want);
	if (rc == 0) {
		PROPERTY(strnlen(out, outlen) == n, "rg_address_domain: length %zu, not %zu",
		    strnlen(out, outlen), n);
		for (size_t i = 0; i < n; i++) {
			char c = at[i] >= 'A' && at[i] <= 'Z' ? (char)(at[i] - 'A' + 'a') : at[i];
			PROPERTY(out[i] == c, "rg_address_domain: \"%s\" at %zu", out, i);
		}
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_address a, b;
	const char *why = NULL, *why2 = NULL;

	if (size < 1)
		return 0;
	const char *delims = delim_sets[data[0] % (sizeof(delim_sets) / sizeof(delim_sets[0]))];
	char *rcpt = fuzz_str(data + 1, size - 1);

	enum rg_addr_status st = rg_address_parse(rcpt, delims, &a, &why);
	PROPERTY((st == RG_ADDR_BAD) == (why != NULL && why[0] != '\0'), "status %d why %s",
	    st, why ? why : "(null)");
	if (st == RG_ADDR_OK)
		check_ok(&a, delims);
	else if (st == RG_ADDR_NODOMAIN)
		check_part(a.local, RG_LOCAL_MAX, "local");

	/* upper-cased input: the same answer */
	char *up = strdup(rcpt);
	for (char *p = up; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	enum rg_addr_status st2 = rg_address_parse(up, delims, &b, &why2);
	PROPERTY(st2 == st, "upper case changes the status %d -> %d", st, st2);
	if (st == RG_ADDR_OK || st == RG_ADDR_NODOMAIN)
		PROPERTY(strcmp(a.local, b.local) == 0 && strcmp(a.domain, b.domain) == 0 &&
		    strcmp(a.full, b.full) == 0 && strcmp(a.base, b.base) == 0 &&
		    strcmp(a.base_local, b.base_local) == 0,
		    "upper case changes \"%s\" -> \"%s\"", a.full, b.full);
	free(up);

	/* the normalised form parses back to itself, unless its local part
	 * needs quotes to be written */
	if (st == RG_ADDR_OK && a.local[strcspn(a.local, " \"\\@<>,;:[]")] == '\0') {
		char br[RG_ADDR_MAX + 3];
		if (rg_address_parse(a.full, delims, &b, NULL) == RG_ADDR_OK)
			PROPERTY(strcmp(a.full, b.full) == 0 && strcmp(a.base, b.base) == 0,
			    "\"%s\" reparses as \"%s\"", a.full, b.full);
		snprintf(br, sizeof(br), "<%s>", a.full);
		if (rg_address_parse(br, delims, &b, NULL) == RG_ADDR_OK)
			PROPERTY(strcmp(a.full, b.full) == 0, "\"%s\" reparses as \"%s\"", br, b.full);
	}

	check_domain(rcpt, 1 + (size % 300));
	check_domain(rcpt, RG_DOMAIN_MAX + 2);
	free(rcpt);
	return 0;
}
