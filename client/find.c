/*
 * Finds: many names asked in one find request and answered by records of
 * found events, with leases numbered by the batch instead of a pixmap
 * object each (a Wayland object costs more than the rest of a first hit).
 *
 * A find's names are numbered group->first + i; groups are found by
 * number through a table indexed by first / FIND_GROUP, whose slots
 * outnumber the requests that can be outstanding, so a free one always
 * exists. A request that completes leaves its group; a record for it
 * after that (it was given up) finds nothing and is ignored, its lease
 * released when the request gave up. The manager tells a lease of a find
 * nothing when its entry leaves: finds are only for realms whose
 * generation table the library has, which tells.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client-private.h"
#include "wire.h"

/* Names per find: the manager's limit, and what fits one message. */
#define FIND_GROUP 64
/* Bytes of names per find, within libwayland's 4 KiB messages. */
#define FIND_BYTES 3584
/* Lease numbers released in one release request. */
#define RELEASE_MAX 1000

struct pxcl_find_group {
	uint32_t first;
	uint32_t alive;			/* requests not completed */
	struct pxcl_request *reqs[FIND_GROUP];
};

enum {
	REC_NUMBER, REC_STATUS, REC_LEASE, REC_SLOT, REC_GENERATION,
	REC_TAG_HI, REC_TAG_LO, REC_POOL, REC_OFFSET, REC_WIDTH, REC_HEIGHT,
	REC_STRIDE, REC_FORMAT, REC_WORDS,
};

int
pxcl_finds_init(struct pixcache_client *client)
{
	uint32_t n = 1;

	/* A group per outstanding request at most, and room to spare. */
	while (n < 2 * client->options.max_outstanding) {
		n *= 2;
	}
	client->groups = calloc(n, sizeof(*client->groups));
	if (client->groups == NULL) {
		return -ENOMEM;
	}
	client->group_mask = n - 1;
	return 0;
}

void
pxcl_finds_finish(struct pixcache_client *client)
{
	for (uint32_t i = 0; client->groups != NULL &&
			i <= client->group_mask; i++) {
		free(client->groups[i]);
	}
	free(client->groups);
	free(client->releases);
}

static struct pxcl_find_group **
group_slot(struct pixcache_client *client, uint32_t number)
{
	return &client->groups[(number / FIND_GROUP) & client->group_mask];
}

/* A new group, at a free slot; NULL without memory. */
static struct pxcl_find_group *
group_new(struct pixcache_client *client)
{
	struct pxcl_find_group *group = calloc(1, sizeof(*group));

	if (group == NULL) {
		return NULL;
	}
	do {
		client->next_group += FIND_GROUP;
	} while (client->next_group == 0 ||
		*group_slot(client, client->next_group) != NULL);
	group->first = client->next_group;
	*group_slot(client, group->first) = group;
	return group;
}

static void
group_leave(struct pixcache_client *client, struct pxcl_request *req)
{
	struct pxcl_find_group *group = req->group;

	group->reqs[req->number - group->first] = NULL;
	req->group = NULL;
	if (--group->alive == 0) {
		*group_slot(client, group->first) = NULL;
		free(group);
	}
}

/* ---- releases ---- */

int
pxcl_send_releases(struct pixcache_client *client)
{
	uint32_t sent = 0;
	int ret = 0;

	if (client->batch == NULL) {
		client->nreleases = 0;
		return 0;
	}
	while (sent < client->nreleases) {
		uint32_t n = client->nreleases - sent;

		if (n > RELEASE_MAX) {
			n = RELEASE_MAX;
		}
		ret = pxcl_send_words(client, pixcache_batch_v1_release,
			client->releases + sent, n);
		if (ret < 0) {
			break;
		}
		sent += n;
	}
	/* What could not go yet stays queued: a break forgets it. */
	if (sent > 0) {
		memmove(client->releases, client->releases + sent,
			(client->nreleases - sent) * sizeof(uint32_t));
		client->nreleases -= sent;
	}
	return ret;
}

void
pxcl_lease_release(struct pixcache_client *client, uint32_t number)
{
	/* Bounded by the leases held: each is released once. */
	if (client->nreleases == client->releases_cap) {
		uint32_t cap = client->releases_cap ?
			client->releases_cap * 2 : RELEASE_MAX;
		uint32_t *grown = realloc(client->releases,
			cap * sizeof(*grown));

		if (grown == NULL) {
			/* Kept till the session ends: only memory is lost. */
			return;
		}
		client->releases = grown;
		client->releases_cap = cap;
	}
	client->releases[client->nreleases++] = number;
	if (client->nreleases >= RELEASE_MAX) {
		/* A break is noted: the state goes, leases with it. */
		(void)pxcl_send_releases(client);
	}
}

void
pxcl_finds_forget(struct pixcache_client *client)
{
	/* The session's batch is gone, and its leases with it. */
	client->nreleases = 0;
}

/* ---- sending ---- */

void
pxcl_find_abandon(struct pxcl_request *req)
{
	if (req->group != NULL) {
		group_leave(req->client, req);
	}
	if (req->lease != 0) {
		pxcl_lease_release(req->client, req->lease);
		req->lease = 0;
	}
}

/* Sends one find for reqs[0..n), numbered as group. */
static void
send_group(struct pixcache_client *client, struct pxcl_realm *realm,
	struct pxcl_find_group *group, struct pxcl_request **reqs, unsigned n,
	char *names, size_t size)
{
	struct wl_array array = { .size = size, .alloc = size, .data = names };

	for (unsigned i = 0; i < n; i++) {
		reqs[i]->group = group;
		reqs[i]->number = group->first + i;
		group->reqs[i] = reqs[i];
		wl_list_insert(client->outstanding.prev, &reqs[i]->link);
	}
	group->alive = n;
	client->noutstanding += n;
	client->queued++;
	pixcache_batch_v1_find(client->batch, realm->proxy, group->first,
		&array);
	/* A break is noted: the requests fail with the rest. */
	(void)pxcl_flush_some(client, false);
}

int
pxcl_send_finds(struct pixcache_client *client, struct pxcl_realm *realm,
	struct pxcl_request **reqs, unsigned count)
{
	char names[FIND_BYTES];

	for (unsigned i = 0; i < count;) {
		struct pxcl_find_group *group = group_new(client);
		size_t size = 0;
		unsigned n = 0;

		if (group == NULL) {
			return -ENOMEM;
		}
		while (i + n < count && n < FIND_GROUP) {
			size_t len = strlen(reqs[i + n]->name) + 1;

			if (size + len > sizeof(names)) {
				break;
			}
			memcpy(names + size, reqs[i + n]->name, len);
			size += len;
			n++;
		}
		send_group(client, realm, group, reqs + i, n, names, size);
		i += n;
	}
	return 0;
}

/* ---- records ---- */

static struct pxcl_pool *
pool_by_number(struct pixcache_client *client, uint32_t number)
{
	struct pxcl_pool *pool;

	wl_list_for_each(pool, &client->pools, link) {
		if (pool->number == number) {
			return pool;
		}
	}
	return NULL;
}

static void
record_found(struct pxcl_request *req, const uint32_t *rec)
{
	struct pixcache_client *client = req->client;
	struct pxcl_pool *pool = pool_by_number(client, rec[REC_POOL]);
	struct pixcache_pixmap *pixmap = NULL;
	int error = -EPROTO;

	req->lease = 0;
	if (pool != NULL && rec[REC_LEASE] != 0) {
		pixmap = pxcl_pixmap_from_pool(client, NULL, pool,
			rec[REC_OFFSET], rec[REC_WIDTH], rec[REC_HEIGHT],
			rec[REC_STRIDE], rec[REC_FORMAT], &error);
	}
	if (pixmap == NULL) {
		if (rec[REC_LEASE] != 0) {
			pxcl_lease_release(client, rec[REC_LEASE]);
		}
		pxcl_request_complete(req, error);
		return;
	}
	pixmap->lease_number = rec[REC_LEASE];
	req->key = (struct pixcache_key){
		.instance = client->instance,
		.slot = rec[REC_SLOT],
		.generation = rec[REC_GENERATION],
		.tag = pxc_wire_join(rec[REC_TAG_HI], rec[REC_TAG_LO]),
	};
	pxcl_answered(req, pixmap);
}

/* An answer that ends the request without a lease: none is kept. */
static void
drop_leases(struct pxcl_request *req, const uint32_t *rec)
{
	uint32_t lease = req->lease != 0 ? req->lease :
		rec[REC_STATUS] != PIXCACHE_BATCH_V1_FOUND_STATUS_FAILED ?
		rec[REC_LEASE] : 0;

	req->lease = 0;
	if (lease != 0) {
		pxcl_lease_release(req->client, lease);
	}
}

static void
record_answer(struct pxcl_request *req, const uint32_t *rec)
{
	switch (rec[REC_STATUS]) {
	case PIXCACHE_BATCH_V1_FOUND_STATUS_FOUND:
		record_found(req, rec);
		break;
	case PIXCACHE_BATCH_V1_FOUND_STATUS_CLAIMED:
		req->lease = 0;
		pxcl_claim_keep(req, NULL, rec[REC_LEASE]);
		pxcl_request_complete(req, -ENOENT);
		break;
	case PIXCACHE_BATCH_V1_FOUND_STATUS_PENDING:
		req->lease = rec[REC_LEASE];
		req->pending = true;
		req->answered = true;
		break;
	case PIXCACHE_BATCH_V1_FOUND_STATUS_LOOKUP:
		/* Its answer needs an object: asked again as lookup. */
		drop_leases(req, rec);
		group_leave(req->client, req);
		pxcl_lookup_again(req);
		break;
	case PIXCACHE_BATCH_V1_FOUND_STATUS_FAILED:
		drop_leases(req, rec);
		pxcl_request_complete(req,
			pxc_failure_errno(rec[REC_LEASE]));
		break;
	default:
		drop_leases(req, rec);
		pxcl_request_complete(req, -ENOENT);
		break;
	}
}

void
pxcl_handle_found(struct pixcache_client *client, const struct wl_array *records)
{
	const uint32_t *rec = records->data;
	size_t n = records->size / (REC_WORDS * sizeof(uint32_t));

	for (size_t i = 0; i < n; i++, rec += REC_WORDS) {
		struct pxcl_find_group *group =
			*group_slot(client, rec[REC_NUMBER]);
		struct pxcl_request *req = NULL;

		if (group != NULL && rec[REC_NUMBER] - group->first <
				FIND_GROUP) {
			req = group->reqs[rec[REC_NUMBER] - group->first];
		}
		if (req == NULL) {
			/* Given up, its lease released then: a late word. */
			continue;
		}
		record_answer(req, rec);
	}
}
