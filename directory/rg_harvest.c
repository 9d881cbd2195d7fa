/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_harvest.c - unknown recipients per client network within a sliding
 * window, across connections and MTAs.
 *
 * A client address is folded into its network (HarvestPrefix4, default
 * /32; HarvestPrefix6, default /64) and every unknown recipient from it is
 * counted:
 *   - with Redis, in the sorted set PREFIX "harvest:" NETWORK, one member
 *     per unknown recipient scored by the time (seconds since the epoch),
 *     shared by every MTA that uses the same Redis and RedisKeyPrefix
 *     (rg_redis_zwindow(): an exact sliding window, one round trip);
 *   - always in this process too, in tenths of the window, so that when
 *     Redis fails (down, hung, refused) the count goes on from here.
 * A network with HarvestLimit's N unknown recipients or more within the
 * window is over the limit; the admin is told once per window:
 *	harvest: client=IP unknown=N window=S network=NET/BITS limit=N
 * (de-duplicated across MTAs by PREFIX "harvest:logged:" NETWORK, SET NX).
 *
 * Reads: HarvestLimit, HarvestPrefix4, HarvestPrefix6,
 * HarvestExemptNetworks (TrustedNetworks when unset), RedisKeyPrefix.
 * The table here is bounded (HARVEST_ENTRIES networks, the least recently
 * seen one gives way) and behind one mutex never held across I/O.
 */
#include "rg_harvest.h"
#include "rg_log.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HARVEST_ENTRIES 4096            /* networks counted in process, at most */
#define HARVEST_PROBES 16               /* places a network may take in the table */
#define HARVEST_SLOTS 10                /* a window is counted in tenths here */
#define HARVEST_NET_MAX 64              /* "xxxx:...:xxxx/128" fits */
#define HARVEST_KEY_MAX (64 + 32 + HARVEST_NET_MAX)

/* One network's count in this process. */
struct hentry {
	char net[HARVEST_NET_MAX];      /* "" when the place is free */
	int window;                     /* the window it was counted with */
	long slot_epoch[HARVEST_SLOTS]; /* which tenth each slot holds */
	int slot_count[HARVEST_SLOTS];
	double last;                    /* when it was last counted */
	double logged_until;            /* "harvest:" said until then */
};

struct rg_harvest {
	pthread_mutex_t mu;
	struct hentry *tab;
	unsigned seed;                  /* makes this process's Redis members unique */
	atomic_uint serial;
};

/* Seconds since the epoch: the scores in Redis, which MTAs share. */
static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct rg_harvest *
rg_harvest_new(void)
{
	struct rg_harvest *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->tab = calloc(HARVEST_ENTRIES, sizeof(*h->tab));
	if (h->tab == NULL) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
	atomic_init(&h->serial, 0);
	return h;
}

void
rg_harvest_free(struct rg_harvest *h)
{
	if (h == NULL)
		return;
	pthread_mutex_destroy(&h->mu);
	free(h->tab);
	free(h);
}

/*
 * CLIENT's network under CF as "ADDRESS/BITS" into NET (an IPv4-mapped
 * IPv6 address counts as the IPv4 one).  0, or -1 when CLIENT is not an
 * IP address.
 */
static int
client_net(const struct rg_config *cf, const char *client, char *net, size_t netlen)
{
	static const unsigned char mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	int family, bits;

	if (inet_pton(AF_INET, client, a) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, client, a) == 1) {
		family = AF_INET6;
		if (memcmp(a, mapped, 12) == 0) {
			memmove(a, a + 12, 4);
			family = AF_INET;
		}
	} else {
		return -1;
	}
	bits = family == AF_INET ? cf->harvest_prefix4 : cf->harvest_prefix6;
	int total = family == AF_INET ? 32 : 128;
	for (int b = bits; b < total; b++)
		a[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
	if (inet_ntop(family, a, text, sizeof(text)) == NULL)
		return -1;
	snprintf(net, netlen, "%s/%d", text, bits);
	return 0;
}

/* ---- in this process ---- */

static unsigned
net_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * The entry of NET, called with mu held; CREATE: make one (in a free place,
 * or in the least recently counted of its places).  NULL when there is none.
 */
static struct hentry *
entry_find(struct rg_harvest *h, const char *net, int create)
{
	unsigned at = net_hash(net) % HARVEST_ENTRIES;
	struct hentry *free_e = NULL, *oldest = NULL;

	for (int i = 0; i < HARVEST_PROBES; i++) {
		struct hentry *e = &h->tab[(at + (unsigned)i) % HARVEST_ENTRIES];
		if (strcmp(e->net, net) == 0 && e->net[0] != '\0')
			return e;
		if (e->net[0] == '\0' && free_e == NULL)
			free_e = e;
		if (oldest == NULL || e->last < oldest->last)
			oldest = e;
	}
	if (!create)
		return NULL;
	struct hentry *e = free_e != NULL ? free_e : oldest;
	memset(e, 0, sizeof(*e));
	snprintf(e->net, sizeof(e->net), "%s", net);
	return e;
}

/* E's count within WINDOW seconds of NOW, in tenths; called with mu held. */
static int
entry_count(const struct hentry *e, int window, double now)
{
	if (e->window != window)
		return 0;
	long epoch = (long)(now * HARVEST_SLOTS / window);
	int n = 0;

	for (int i = 0; i < HARVEST_SLOTS; i++)
		if (e->slot_epoch[i] > epoch - HARVEST_SLOTS && e->slot_epoch[i] <= epoch)
			n += e->slot_count[i];
	return n;
}

/* One more for NET in this process; its count within the window. */
static int
local_add(struct rg_harvest *h, const char *net, int window, double now)
{
	long epoch = (long)(now * HARVEST_SLOTS / window);
	int n;

	pthread_mutex_lock(&h->mu);
	struct hentry *e = entry_find(h, net, 1);
	if (e->window != window) {
		memset(e->slot_epoch, 0, sizeof(e->slot_epoch));
		memset(e->slot_count, 0, sizeof(e->slot_count));
		e->window = window;
	}
	int s = (int)(epoch % HARVEST_SLOTS);
	if (e->slot_epoch[s] != epoch) {
		e->slot_epoch[s] = epoch;
		e->slot_count[s] = 0;
	}
	e->slot_count[s]++;
	e->last = now;
	n = entry_count(e, window, now);
	pthread_mutex_unlock(&h->mu);
	return n;
}

static int
local_count(struct rg_harvest *h, const char *net, int window, double now)
{
	int n = 0;

	pthread_mutex_lock(&h->mu);
	const struct hentry *e = entry_find(h, net, 0);
	if (e != NULL)
		n = entry_count(e, window, now);
	pthread_mutex_unlock(&h->mu);
	return n;
}

/* ---- the decision ---- */

/*
 * Should "harvest:" be said now for NET?  Once per window: through Redis
 * (SET NX EX) when it answers, so that one MTA of many says it, else by
 * this process's own note.
 */
static int
say_once(struct rg_harvest *h, const struct rg_config *cf, struct rg_redis *redis,
    const char *net, double now)
{
	char key[HARVEST_KEY_MAX];
	int say;

	pthread_mutex_lock(&h->mu);
	struct hentry *e = entry_find(h, net, 1);
	say = now >= e->logged_until;
	if (say)
		e->logged_until = now + cf->harvest_window;
	pthread_mutex_unlock(&h->mu);
	if (redis == NULL)
		return say;
	snprintf(key, sizeof(key), "%sharvest:logged:%s", cf->redis_key_prefix, net);
	switch (rg_redis_set_nx(redis, key, "1", cf->harvest_window, NULL, 0)) {
	case RG_REDIS_OK:
		return 1;
	case RG_REDIS_MISS:
		return 0;
	default:
		return say;
	}
}

enum rg_harvest_state
rg_harvest_check(struct rg_harvest *h, const struct rg_config *cf, struct rg_redis *redis,
    const char *client, int authenticated, int *count)
{
	char net[HARVEST_NET_MAX], key[HARVEST_KEY_MAX];
	long n = -1;

	if (count != NULL)
		*count = 0;
	if (h == NULL || cf->harvest_limit == 0 || authenticated || client == NULL ||
	    client[0] == '\0' || rg_config_harvest_exempt(cf, client) ||
	    client_net(cf, client, net, sizeof(net)) < 0)
		return RG_HARVEST_EXEMPT;
	double now = wall_now();
	snprintf(key, sizeof(key), "%sharvest:%s", cf->redis_key_prefix, net);
	if (redis == NULL || rg_redis_zwindow(redis, key, now, cf->harvest_window, NULL, &n,
	    NULL, 0) != RG_REDIS_OK)
		n = local_count(h, net, cf->harvest_window, now);
	if (count != NULL)
		*count = n > 1000000 ? 1000000 : (int)n;
	if (n < cf->harvest_limit)
		return RG_HARVEST_UNDER;
	if (say_once(h, cf, redis, net, now))
		rg_log(LOG_WARNING, "harvest: client=%s unknown=%ld window=%d network=%s limit=%d",
		    client, n, cf->harvest_window, net, cf->harvest_limit);
	return RG_HARVEST_OVER;
}

void
rg_harvest_unknown(struct rg_harvest *h, const struct rg_config *cf, struct rg_redis *redis,
    const char *client)
{
	char net[HARVEST_NET_MAX], key[HARVEST_KEY_MAX], member[48];
	double now = wall_now();
	long n;

	if (h == NULL || cf->harvest_limit == 0 || client == NULL ||
	    client_net(cf, client, net, sizeof(net)) < 0)
		return;
	(void)local_add(h, net, cf->harvest_window, now);
	if (redis == NULL)
		return;
	snprintf(key, sizeof(key), "%sharvest:%s", cf->redis_key_prefix, net);
	snprintf(member, sizeof(member), "%.6f:%08x:%u", now, h->seed,
	    (unsigned)atomic_fetch_add(&h->serial, 1));
	(void)rg_redis_zwindow(redis, key, now, cf->harvest_window, member, &n, NULL, 0);
}
