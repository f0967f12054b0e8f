/*
 * Fills: names on their way into the cache. A lookup that misses claims
 * the name for its client, which then decodes and uploads it; every other
 * lookup of the name waits (pending) for that fill instead of decoding it
 * too, so a name is decoded once desktop-wide however many clients miss
 * it at once. A claim that ends without a stored pixmap (its object
 * destroyed, its time up, its upload failed or cancelled) passes to the
 * next waiter that may upload.
 *
 * Loop thread only: fills belong to client objects.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "manager-private.h"
#include "siphash.h"

#define FILL_MIN_BUCKETS 64

struct pxc_fills {
	struct pxc_fill **buckets;
	uint32_t nbuckets;
	uint32_t count;
	uint64_t key[2];
};

static uint64_t
fill_hash(const struct pxc_fills *fills, const struct pxc_realm_shm *realm,
	const char *name)
{
	/* Keyed: clients choose the names, and must not choose collisions. */
	return pxc_siphash13(fills->key, name, strlen(name)) ^
		(uint64_t)(uintptr_t)realm;
}

int
pxc_fills_create(struct pixcache_manager *manager)
{
	struct pxc_fills *fills = pxc_zalloc(manager, sizeof(*fills));

	if (fills == NULL) {
		return -ENOMEM;
	}
	fills->buckets = pxc_zalloc(manager,
		FILL_MIN_BUCKETS * sizeof(*fills->buckets));
	if (fills->buckets == NULL ||
			pxc_getrandom(fills->key, sizeof(fills->key)) < 0) {
		free(fills->buckets);
		free(fills);
		return -ENOMEM;
	}
	fills->nbuckets = FILL_MIN_BUCKETS;
	manager->fills = fills;
	return 0;
}

void
pxc_fills_destroy(struct pixcache_manager *manager)
{
	if (manager->fills == NULL) {
		return;
	}
	/* Every fill belongs to a client object, all gone by now. */
	free(manager->fills->buckets);
	free(manager->fills);
	manager->fills = NULL;
}

static struct pxc_fill **
bucket_of(struct pxc_fills *fills, uint64_t hash)
{
	return &fills->buckets[hash & (fills->nbuckets - 1)];
}

/* Twice the buckets when as many fills as buckets; else chains grow. */
static void
fills_grow(struct pixcache_manager *manager)
{
	struct pxc_fills *fills = manager->fills;
	uint32_t n = fills->nbuckets * 2;
	struct pxc_fill **old = fills->buckets;
	uint32_t nold = fills->nbuckets;

	if (fills->count < fills->nbuckets || n == 0) {
		return;
	}
	fills->buckets = pxc_zalloc(manager, (size_t)n * sizeof(*old));
	if (fills->buckets == NULL) {
		fills->buckets = old;
		return;
	}
	fills->nbuckets = n;
	for (uint32_t i = 0; i < nold; i++) {
		while (old[i] != NULL) {
			struct pxc_fill *fill = old[i];
			struct pxc_fill **b = bucket_of(fills, fill->hash);

			old[i] = fill->next;
			fill->next = *b;
			*b = fill;
		}
	}
	free(old);
}

struct pxc_fill *
pxc_fill_find(struct pxc_realm_shm *realm, const char *name)
{
	struct pxc_fills *fills = realm->manager->fills;
	uint64_t hash = fill_hash(fills, realm, name);
	struct pxc_fill *fill;

	for (fill = *bucket_of(fills, hash); fill != NULL; fill = fill->next) {
		if (fill->hash == hash && fill->realm == realm &&
				strcmp(fill->name, name) == 0) {
			return fill;
		}
	}
	return NULL;
}

/* A fill not in the table yet; NULL when out of memory. */
static struct pxc_fill *
fill_new(struct pxc_realm_shm *realm, const char *name)
{
	struct pixcache_manager *manager = realm->manager;
	struct pxc_fill *fill = pxc_zalloc(manager, sizeof(*fill));

	if (fill == NULL) {
		return NULL;
	}
	fill->name = pxc_strdup(manager, name);
	if (fill->name == NULL) {
		free(fill);
		return NULL;
	}
	fill->realm = realm;
	fill->hash = fill_hash(manager->fills, realm, name);
	wl_list_init(&fill->waiters);
	return fill;
}

static void
fill_insert(struct pxc_fill *fill)
{
	struct pixcache_manager *manager = fill->realm->manager;
	struct pxc_fill **b;

	fills_grow(manager);
	b = bucket_of(manager->fills, fill->hash);
	fill->next = *b;
	*b = fill;
	fill->listed = true;
	manager->fills->count++;
}

/* Out of the table and freed; its waiters must be gone. */
static void
fill_free(struct pxc_fill *fill)
{
	struct pxc_fills *fills = fill->realm->manager->fills;

	if (fill->listed) {
		struct pxc_fill **p = bucket_of(fills, fill->hash);

		while (*p != fill) {
			p = &(*p)->next;
		}
		*p = fill->next;
		fills->count--;
	}
	free(fill->name);
	free(fill);
}

static void fill_pass(struct pxc_fill *fill, struct pxc_connection *late);
static void claim_end(struct pxc_fill *fill);

/*
 * The claim's time is up: its holder is told, and so are the waiters of
 * its connection (a stalled client's other lookups would only stall the
 * name again, each for as long); the next waiter claims.
 */
static int
claim_timed_out(void *data)
{
	struct pxc_fill *fill = data;
	struct pxc_pixmap_v1 *claimant = fill->claimant;
	struct pxc_connection *conn = claimant->client->conn;

	claim_end(fill);
	pxc_pixmap_v1_fail(claimant, PIXCACHE_BATCH_V1_FAILURE_TIMEOUT);
	fill_pass(fill, conn);
	return 0;
}

/*
 * Gives lease the claim of fill: a timer bounds how long it may hold the
 * name before its upload starts. False (nothing changed) if it may not
 * or cannot claim.
 */
static bool
claim_take(struct pxc_fill *fill, struct pxc_pixmap_v1 *lease)
{
	struct pxc_manager_v1 *client = lease->client;
	struct pixcache_manager *manager = client->manager;

	if (!lease->may_fill ||
			client->conn->claims >= manager->config.max_claims) {
		return false;
	}
	if (!pxc_fault(&manager->faults, "resource")) {
		fill->timer = wl_event_loop_add_timer(manager->loop,
			claim_timed_out, fill);
	}
	if (fill->timer == NULL) {
		return false;
	}
	if (wl_event_source_timer_update(fill->timer,
			(int)manager->config.upload_timeout_ms) < 0) {
		wl_event_source_remove(fill->timer);
		fill->timer = NULL;
		return false;
	}
	fill->claimant = lease;
	lease->claim = fill;
	client->conn->claims++;
	return true;
}

/* The claim ends, without an answer to its holder. */
static void
claim_end(struct pxc_fill *fill)
{
	struct pxc_pixmap_v1 *lease = fill->claimant;

	if (lease == NULL) {
		return;
	}
	wl_event_source_remove(fill->timer);
	fill->timer = NULL;
	fill->claimant = NULL;
	lease->claim = NULL;
	lease->client->conn->claims--;
}

bool
pxc_fill_claim(struct pxc_realm_shm *realm, const char *name,
	struct pxc_pixmap_v1 *lease)
{
	struct pxc_fill *fill = fill_new(realm, name);

	if (fill == NULL) {
		return false;
	}
	if (!claim_take(fill, lease)) {
		fill_free(fill);
		return false;
	}
	fill_insert(fill);
	pxc_pixmap_v1_claimed(lease);
	return true;
}

void
pxc_fill_wait(struct pxc_fill *fill, struct pxc_pixmap_v1 *lease)
{
	/* Its own client's claim: its to fill, not to wait for. */
	if (fill->claimant != NULL &&
			fill->claimant->client->conn == lease->client->conn) {
		pxc_pixmap_v1_claimed(lease);
		return;
	}
	lease->waiting = fill;
	wl_list_insert(fill->waiters.prev, &lease->wait_link);
	pxc_pixmap_v1_pending(lease);
}

static void
unwait(struct pxc_pixmap_v1 *lease)
{
	wl_list_remove(&lease->wait_link);
	wl_list_init(&lease->wait_link);
	lease->waiting = NULL;
}

void
pxc_fill_unwait(struct pxc_pixmap_v1 *lease)
{
	if (lease->waiting != NULL) {
		unwait(lease);
	}
}

/*
 * Nobody fills the name now: the first waiter that may upload claims it,
 * waiters before it that may not are answered missing, and those of the
 * connection late (whose claim timed out) failed with timeout. With no
 * waiter left the name is free.
 */
static void
fill_pass(struct pxc_fill *fill, struct pxc_connection *late)
{
	struct pxc_pixmap_v1 *lease, *tmp;

	wl_list_for_each_safe(lease, tmp, &fill->waiters, wait_link) {
		unwait(lease);
		if (lease->client->conn == late) {
			pxc_pixmap_v1_fail(lease,
				PIXCACHE_BATCH_V1_FAILURE_TIMEOUT);
			continue;
		}
		if (claim_take(fill, lease)) {
			pxc_pixmap_v1_claimed(lease);
			return;
		}
		pxc_pixmap_v1_missing(lease);
	}
	fill_free(fill);
}

void
pxc_fill_unclaim(struct pxc_pixmap_v1 *lease)
{
	struct pxc_fill *fill = lease->claim;

	if (fill == NULL) {
		return;
	}
	claim_end(fill);
	fill_pass(fill, NULL);
}

uint32_t
pxc_fill_for_upload(struct pxc_realm_shm *realm, const char *name,
	struct pxc_manager_v1 *client, struct pxc_fill **out)
{
	struct pxc_fill *fill = pxc_fill_find(realm, name);

	if (fill == NULL) {
		*out = fill_new(realm, name);
		return *out == NULL ? PIXCACHE_BATCH_V1_FAILURE_MEMORY : 0;
	}
	/* Its own claim is what this upload is for; any other, busy. */
	if (fill->upload != NULL || fill->claimant == NULL ||
			fill->claimant->client->conn != client->conn) {
		return PIXCACHE_BATCH_V1_FAILURE_BUSY;
	}
	*out = fill;
	return 0;
}

void
pxc_fill_drop(struct pxc_fill *fill)
{
	if (fill != NULL && !fill->listed) {
		fill_free(fill);
	}
}

void
pxc_fill_start_upload(struct pxc_fill *fill, struct pxc_upload_v1 *upload)
{
	claim_end(fill);
	fill->upload = upload;
	upload->fill = fill;
	if (!fill->listed) {
		fill_insert(fill);
	}
}

/*
 * Waiters are answered as a lookup by the new key would be, within their
 * own client's limits.
 */
static void
answer_waiters(struct pxc_fill *fill, const struct pxc_key *key)
{
	struct pixcache_manager *manager = fill->realm->manager;
	struct pxc_pixmap_v1 *lease, *tmp;

	wl_list_for_each_safe(lease, tmp, &fill->waiters, wait_link) {
		struct pxc_manager_v1 *client = lease->client;
		struct pxc_hit hit;

		unwait(lease);
		if (client->conn->holding >= manager->config.max_leases) {
			pxc_pixmap_v1_fail(lease,
				PIXCACHE_BATCH_V1_FAILURE_LEASES);
		} else if (pxc_cache_find_key(manager->cache, key,
				PXC_FIND_HOLD, &hit) == 0) {
			pxc_pixmap_v1_answer(lease, hit.hold, &hit, false);
			if (lease->batch != NULL && lease->hold != NULL) {
				pxc_found_compact(lease);
			}
		} else {
			/* Evicted already, by a later insert. */
			pxc_pixmap_v1_missing(lease);
		}
	}
}

void
pxc_fill_end_upload(struct pxc_upload_v1 *upload, const struct pxc_key *key)
{
	struct pxc_fill *fill = upload->fill;

	if (fill == NULL) {
		return;
	}
	upload->fill = NULL;
	fill->upload = NULL;
	if (key != NULL) {
		answer_waiters(fill, key);
		fill_free(fill);
	} else {
		/* Timed out: its client's other waiters are as late. */
		fill_pass(fill, upload->expired ? upload->client->conn : NULL);
	}
}
