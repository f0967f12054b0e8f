/*
 * Lookups: by name, many names, by key, asynchronously; their answers on
 * pixmap objects; the library's batch and its usage reports.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client-private.h"
#include "wire.h"

/* Rounds in a row without progress before fd-limit refusals stand. */
#define FD_LIMIT_STALLS 2

int
pxcl_check_name(const char *name)
{
	return name != NULL && pxc_name_check(name, strlen(name)) == 0 ?
		0 : -EINVAL;
}

/* ---- requests ---- */

struct pxcl_request *
pxcl_request_new(struct pixcache_client *client, enum pxcl_kind kind,
	struct pxcl_realm *realm, const char *name)
{
	/* One allocation, the name after the request: one per first need. */
	size_t len = name != NULL ? strlen(name) + 1 : 0;
	struct pxcl_request *req = calloc(1, sizeof(*req) + len);

	if (req == NULL) {
		return NULL;
	}
	if (name != NULL) {
		req->name = memcpy((char *)(req + 1), name, len);
	}
	req->client = client;
	req->kind = kind;
	req->realm = realm;
	req->target_fd = -1;
	req->thread = pthread_self();
	wl_list_init(&req->link);
	wl_list_init(&req->fill_link);
	return req;
}

void
pxcl_request_free(struct pxcl_request *req)
{
	if (req->target_fd >= 0) {
		close(req->target_fd);
	}
	if (req->image != NULL) {
		pixman_image_unref(req->image);
	}
	free(req);
}

void
pxcl_request_sent(struct pxcl_request *req)
{
	struct pixcache_client *client = req->client;

	wl_list_insert(client->outstanding.prev, &req->link);
	client->noutstanding++;
	client->queued++;
	/* A break is noted: the request is tracked, and failed with the
	 * rest when the state is let go of; the caller's wait returns. */
	(void)pxcl_flush_some(client, false);
}

/* The proxy is done with: no event will find the request again. */
static void
drop_proxy(struct pxcl_request *req)
{
	struct wl_proxy *proxy = req->proxy;

	if (proxy == NULL) {
		return;
	}
	req->proxy = NULL;
	if (req->kind == PXCL_UPLOAD) {
		pxcl_proxy_release(req->client, proxy);
	} else {
		pxcl_pixmap_object_end(req->client, proxy);
	}
}

void
pxcl_request_complete(struct pxcl_request *req, int result)
{
	struct pixcache_client *client = req->client;

	if (req->done) {
		return;
	}
	req->done = true;
	req->answered = true;
	req->result = result;
	if (result < 0 || req->kind == PXCL_UPLOAD) {
		drop_proxy(req);
	}
	pxcl_find_abandon(req);
	/* A target not filled yet will not be. */
	wl_list_remove(&req->fill_link);
	wl_list_init(&req->fill_link);
	wl_list_remove(&req->link);
	wl_list_init(&req->link);
	client->noutstanding--;
	if (!req->waited && !req->filling) {
		wl_list_insert(client->completed.prev, &req->link);
	}
	pthread_cond_broadcast(&client->cond);
}

static void
call_back(struct pxcl_request *req)
{
	if (req->kind == PXCL_UPLOAD) {
		req->upload_callback(req->data, req->result,
			req->result == 0 ? &req->key : NULL);
	} else if (req->callback != NULL) {
		req->callback(req->data, req->result, req->pixmap);
	} else {
		pixcache_pixmap_unref(req->pixmap);
	}
	pxcl_request_free(req);
}

/*
 * A call of its own: while callbacks run, the client is not torn down nor
 * destroyed under them (pixcache_client_destroy() waits for it).
 */
void
pxcl_run_completions(struct pixcache_client *client)
{
	pxcl_enter(client);
	while (pxcl_fill_one(client)) {
		/* Each filled target is committed; its answer comes later. */
	}
	while (!wl_list_empty(&client->completed)) {
		struct pxcl_request *req =
			wl_container_of(client->completed.next, req, link);

		wl_list_remove(&req->link);
		pthread_mutex_unlock(&client->lock);
		call_back(req);
		pthread_mutex_lock(&client->lock);
	}
	pxcl_leave(client);
}

void
pxcl_requests_fail_all(struct pixcache_client *client, int error)
{
	struct pxcl_request *req, *tmp;

	wl_list_for_each_safe(req, tmp, &client->outstanding, link) {
		pxcl_request_complete(req, error);
	}
}

int
pxcl_make_room(struct pixcache_client *client, uint32_t count)
{
	struct timespec deadline =
		pxcl_deadline_after(client->options.timeout_ms);
	int ret = 0;

	if (client->noutstanding + count <= client->options.max_outstanding) {
		return 0;
	}
	if (client->queued > 0) {
		ret = pxcl_commit(client);
	}
	while (ret == 0 && client->noutstanding + count >
			client->options.max_outstanding) {
		if (pxcl_remaining_ms(&deadline) == 0) {
			return -ETIMEDOUT;
		}
		ret = pxcl_wait_once(client, pxcl_remaining_ms(&deadline));
	}
	return ret;
}

int
pxcl_ready(struct pixcache_client *client, bool wait)
{
	int ret = pxcl_connect_manager(client);

	if (ret < 0) {
		return ret;
	}
	if (wait) {
		return pxcl_make_room(client, 1);
	}
	return client->noutstanding < client->options.max_outstanding ?
		0 : -EBUSY;
}

/* ---- claims ---- */

static void
claim_free(struct pixcache_client *client, struct pxcl_claim *claim)
{
	wl_list_remove(&claim->link);
	if (claim->proxy != NULL) {
		pxcl_pixmap_object_end(client, claim->proxy);
	} else {
		pxcl_lease_release(client, claim->lease_number);
	}
	free(claim);
}

/*
 * The lookup claimed its name: its object is kept as the claim, so that
 * other clients wait for this one's upload. Without memory for the
 * record the claim is given up at once: the name is still ours to
 * upload, with a chance of busy.
 */
void
pxcl_claim_keep(struct pxcl_request *req, struct wl_proxy *proxy,
	uint32_t lease_number)
{
	size_t len = strlen(req->name) + 1;
	struct pxcl_claim *claim = malloc(sizeof(*claim) + len);

	if (claim == NULL) {
		if (lease_number != 0) {
			pxcl_lease_release(req->client, lease_number);
		}
		return;
	}
	claim->realm = req->realm;
	claim->proxy = proxy;
	claim->lease_number = lease_number;
	claim->thread = req->thread;
	memcpy(claim->name, req->name, len);
	if (proxy != NULL) {
		struct pxcl_pixmap_object *object =
			wl_proxy_get_user_data(proxy);

		object->req = NULL;
		object->claim = claim;
		req->proxy = NULL;
	}
	wl_list_insert(&req->client->claims, &claim->link);
}

bool
pxcl_claim_drop(struct pixcache_client *client, struct pxcl_realm *realm,
	const char *name)
{
	struct pxcl_claim *claim, *tmp;
	bool dropped = false;

	/* Lookups on several threads may each have been told claimed. */
	wl_list_for_each_safe(claim, tmp, &client->claims, link) {
		if (claim->realm == realm && strcmp(claim->name, name) == 0) {
			claim_free(client, claim);
			dropped = true;
		}
	}
	return dropped;
}

/* Whether the calling thread holds claims. Lock held. */
static bool
claims_held(struct pixcache_client *client)
{
	struct pxcl_claim *claim;
	pthread_t self = pthread_self();

	wl_list_for_each(claim, &client->claims, link) {
		if (pthread_equal(claim->thread, self)) {
			return true;
		}
	}
	return false;
}

void
pxcl_claims_clear(struct pixcache_client *client)
{
	struct pxcl_claim *claim, *tmp;

	wl_list_for_each_safe(claim, tmp, &client->claims, link) {
		claim_free(client, claim);
	}
}

int
pixcache_client_abandon(struct pixcache_client *client, const char *realm,
	const char *name)
{
	struct pxcl_realm *r;
	int ret = -ENOENT;

	if (client == NULL || pxcl_check_name(realm) < 0 ||
			pxcl_check_name(name) < 0) {
		return -EINVAL;
	}
	pxcl_enter(client);
	wl_list_for_each(r, &client->realms, link) {
		if (strcmp(r->name, realm) == 0 &&
				pxcl_claim_drop(client, r, name)) {
			ret = 0;
			break;
		}
	}
	/* Sent now: a client waiting for the name is handed it at once,
	 * not when this one next asks for something. A broken connection
	 * passes the claim on by itself. */
	if (ret == 0) {
		(void)pxcl_commit(client);
	}
	pxcl_leave(client);
	return ret;
}

/* ---- pixmap objects and their answers ---- */

struct pixcache_key
pxcl_key_from_wire(uint32_t instance_hi, uint32_t instance_lo, uint32_t slot,
	uint32_t generation, uint32_t tag_hi, uint32_t tag_lo)
{
	return (struct pixcache_key){
		.instance = pxc_wire_join(instance_hi, instance_lo),
		.slot = slot,
		.generation = generation,
		.tag = pxc_wire_join(tag_hi, tag_lo),
	};
}

/*
 * Sends req's lookup, by key if key, else by name, with a pixmap object
 * that answers to req; -ENOMEM, and nothing sent, without memory for the
 * object's user data. Lock held.
 */
static int
ask(struct pxcl_request *req, const struct pixcache_key *key)
{
	struct pixcache_client *client = req->client;
	struct pxcl_pixmap_object *object = calloc(1, sizeof(*object));
	struct pixcache_pixmap_v1 *proxy;

	if (object == NULL) {
		return -ENOMEM;
	}
	object->client = client;
	object->req = req;
	wl_list_init(&object->dmabuf_waits);
	if (pxcl_proxy_fails()) {
		proxy = NULL;
	} else if (key != NULL) {
		proxy = pixcache_batch_v1_lookup_key(client->batch,
			pxc_wire_hi(key->instance), pxc_wire_lo(key->instance),
			key->slot, key->generation, pxc_wire_hi(key->tag),
			pxc_wire_lo(key->tag));
	} else {
		proxy = pixcache_batch_v1_lookup(client->batch,
			req->realm->proxy, req->name);
	}
	if (proxy == NULL) {
		free(object);
		return -ENOMEM;
	}
	req->proxy = (struct wl_proxy *)proxy;
	pxcl_proxy_bind(req->proxy, PXCL_PROXY_PIXMAP, object);
	return 0;
}

void
pxcl_pixmap_object_end(struct pixcache_client *client, struct wl_proxy *proxy)
{
	struct pxcl_pixmap_object *object = wl_proxy_get_user_data(proxy);

	/* Inert first: no later event finds what is freed. */
	pxcl_proxy_release(client, proxy);
	pxcl_dmabuf_end(object);
	free(object);
}

/* A buffer came: the pixmap object (if any) is now the pixmap's lease. */
void
pxcl_answered(struct pxcl_request *req, struct pixcache_pixmap *pixmap)
{
	struct pixcache_client *client = req->client;

	pixmap->key = req->key;
	pixmap->realm = req->kind == PXCL_LOOKUP ? req->realm : NULL;
	if (req->proxy != NULL) {
		struct pxcl_pixmap_object *object =
			wl_proxy_get_user_data(req->proxy);

		object->req = NULL;
		object->pixmap = pixmap;
		req->proxy = NULL;
	}
	req->pixmap = pixmap;
	client->stats.remote_lookups++;
	if (req->kind == PXCL_LOOKUP && req->name != NULL) {
		pxcl_names_insert(client, req->realm, req->name, pixmap);
	}
	pxcl_request_complete(req, 0);
}

static void
answered(struct pxcl_request *req, struct pixcache_pixmap *pixmap, int error)
{
	if (pixmap == NULL) {
		pxcl_request_complete(req, error);
	} else {
		pxcl_answered(req, pixmap);
	}
}

void
pxcl_lookup_again(struct pxcl_request *req)
{
	struct pixcache_client *client = req->client;
	int ret;

	req->pending = false;
	req->answered = false;
	if ((ret = ask(req, NULL)) < 0) {
		pxcl_request_complete(req, ret);
		return;
	}
	client->queued++;
	/* Its answer comes before the done of the next commit. */
	(void)pxcl_flush_some(client, false);
}

/*
 * The lookup an event on a pixmap object answers, or NULL: the object is
 * a pixmap's lease, or a claim, which any word ends (the manager ended
 * it: its time was up; nothing to keep). Whoever waits looks again once
 * the lock is dropped.
 */
static struct pxcl_request *
asking(struct pxcl_pixmap_object *object)
{
	struct pixcache_client *client = object->client;

	pthread_cond_broadcast(&client->cond);
	if (object->claim != NULL) {
		claim_free(client, object->claim);
		return NULL;
	}
	return object->req;
}

static void
pixmap_key(void *data, struct pixcache_pixmap_v1 *proxy, uint32_t instance_hi,
	uint32_t instance_lo, uint32_t slot, uint32_t generation,
	uint32_t tag_hi, uint32_t tag_lo)
{
	struct pxcl_request *req = asking(data);

	if (req != NULL) {
		req->got_key = true;
		req->key = pxcl_key_from_wire(instance_hi, instance_lo, slot,
			generation, tag_hi, tag_lo);
	}
}

static void
pixmap_buffer_pool(void *data, struct pixcache_pixmap_v1 *proxy,
	struct pixcache_pool_v1 *pool_proxy, uint32_t offset, uint32_t width,
	uint32_t height, uint32_t stride, uint32_t format)
{
	struct pxcl_request *req = asking(data);
	struct pxcl_pool *pool = pool_proxy != NULL ?
		wl_proxy_get_user_data((struct wl_proxy *)pool_proxy) : NULL;
	struct pixcache_pixmap *pixmap = NULL;
	int error = -EPROTO;

	if (req == NULL) {
		return;
	}
	if (pool != NULL && req->got_key) {
		pixmap = pxcl_pixmap_from_pool(req->client, proxy, pool, offset,
			width, height, stride, format, &error);
	}
	answered(req, pixmap, error);
}

static void
pixmap_buffer_fd(void *data, struct pixcache_pixmap_v1 *proxy, int32_t fd,
	uint32_t width, uint32_t height, uint32_t stride, uint32_t format)
{
	struct pxcl_request *req = asking(data);
	struct pixcache_pixmap *pixmap = NULL;
	int error = -EPROTO;

	if (req == NULL) {
		/* A lease told what only an answer is told (a broken
		 * manager): its fd is closed, nothing else. */
		close(fd);
		return;
	}
	if (req->got_key) {
		pixmap = pxcl_pixmap_from_fd(req->client, proxy, fd, width,
			height, stride, format, &error);
	} else {
		close(fd);
	}
	answered(req, pixmap, error);
}

static void
pixmap_missing(void *data, struct pixcache_pixmap_v1 *proxy)
{
	struct pxcl_request *req = asking(data);

	if (req != NULL) {
		pxcl_request_complete(req, -ENOENT);
	}
}

static void
pixmap_pending(void *data, struct pixcache_pixmap_v1 *proxy)
{
	struct pxcl_request *req = asking(data);

	if (req != NULL) {
		req->pending = true;
		req->answered = true;
	}
}

static void
pixmap_failed(void *data, struct pixcache_pixmap_v1 *proxy, uint32_t reason)
{
	struct pxcl_pixmap_object *object = data;
	struct pxcl_request *req;

	if (object->pixmap != NULL) {
		/* A lease fails only what it asked: get_dmabuf. */
		pxcl_dmabuf_answered(object, pxc_failure_errno(reason), NULL);
		return;
	}
	req = asking(object);
	if (req != NULL) {
		pxcl_request_complete(req, pxc_failure_errno(reason));
	}
}

static void
pixmap_evicted(void *data, struct pixcache_pixmap_v1 *proxy)
{
	struct pxcl_pixmap_object *object = data;

	if (object->pixmap != NULL) {
		/* Served no more as a hit; the bytes stay for who holds
		 * them. */
		atomic_store_explicit(&object->pixmap->evicted, true,
			memory_order_release);
	}
	/* A lookup is told nothing by it; a claim is ended. */
	asking(object);
}

static void
pixmap_claimed(void *data, struct pixcache_pixmap_v1 *proxy)
{
	struct pxcl_request *req = asking(data);

	if (req == NULL) {
		return;
	}
	if (req->kind == PXCL_LOOKUP && req->name != NULL) {
		pxcl_claim_keep(req, req->proxy, 0);
	}
	pxcl_request_complete(req, -ENOENT);
}

static void
pixmap_dmabuf(void *data, struct pixcache_pixmap_v1 *proxy, int32_t fd,
	uint32_t offset, uint32_t stride, uint32_t format,
	uint32_t modifier_hi, uint32_t modifier_lo)
{
	struct pxcl_pixmap_object *object = data;
	struct pixcache_dmabuf dmabuf = {
		.fd = fd,
		.offset = offset,
		.stride = stride,
		.format = format,
		.modifier = pxc_wire_join(modifier_hi, modifier_lo),
	};

	/* Only a lease asks: anything else is a broken manager's. */
	if (object->pixmap == NULL ||
			!pxcl_dmabuf_answered(object, 0, &dmabuf)) {
		close(fd);
	}
}

const struct pixcache_pixmap_v1_listener pxcl_pixmap_events = {
	.key = pixmap_key,
	.buffer_pool = pixmap_buffer_pool,
	.buffer_fd = pixmap_buffer_fd,
	.missing = pixmap_missing,
	.pending = pixmap_pending,
	.failed = pixmap_failed,
	.evicted = pixmap_evicted,
	.claimed = pixmap_claimed,
	.dmabuf = pixmap_dmabuf,
};

/* ---- the batch ---- */

bool
pxcl_ack(struct pixcache_client *client, uint32_t token_hi, uint32_t token_lo)
{
	if (client->manager == NULL || (token_hi == 0 && token_lo == 0)) {
		return false;
	}
	pixcache_manager_v1_ack(client->manager, token_hi, token_lo);
	return true;
}

static void
batch_entry(void *data, struct pixcache_batch_v1 *batch, const char *name,
	uint32_t width, uint32_t height, uint32_t format, uint32_t ih,
	uint32_t il, uint32_t slot, uint32_t gen, uint32_t th, uint32_t tl)
{
	/* The library's own batch never lists. */
}

static void
batch_stats(void *data, struct pixcache_batch_v1 *batch, uint32_t a0,
	uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5,
	uint32_t a6, uint32_t a7, uint32_t a8, uint32_t a9, uint32_t a10,
	uint32_t a11, uint32_t a12, uint32_t a13, uint32_t a14)
{
	/* Nor asks for statistics: see admin.c. */
}

static void
batch_done(void *data, struct pixcache_batch_v1 *batch, uint32_t serial,
	uint32_t token_hi, uint32_t token_lo)
{
	struct pixcache_client *client = data;

	client->done_serial = serial;
	if (pxcl_ack(client, token_hi, token_lo)) {
		/* A break is noted, for whoever waits. */
		(void)pxcl_flush_some(client, false);
	}
	pthread_cond_broadcast(&client->cond);
}

static void
batch_listed(void *data, struct pixcache_batch_v1 *batch, uint32_t next)
{
	/* Nor lists: see admin.c. */
}

static void
batch_found(void *data, struct pixcache_batch_v1 *batch,
	struct wl_array *records)
{
	struct pixcache_client *client = data;

	pxcl_handle_found(client, records);
	pthread_cond_broadcast(&client->cond);
}

/* The batch's user data is the client, which outlives it: a listener. */
const struct pixcache_batch_v1_listener pxcl_batch_listener = {
	.entry = batch_entry,
	.stats = batch_stats,
	.done = batch_done,
	.found = batch_found,
	.listed = batch_listed,
};

/* ---- sending lookups ---- */

/* Sends req's lookup with a pixmap object, and tracks it. */
static int
send_asked(struct pxcl_request *req, const struct pixcache_key *key)
{
	int ret = ask(req, key);

	if (ret == 0) {
		pxcl_request_sent(req);
	}
	return ret;
}

/* A lookup sent with a pixmap object, by key if key, else by name. */
static struct pxcl_request *
send_lookup(struct pixcache_client *client, struct pxcl_realm *realm,
	const char *name, const struct pixcache_key *key)
{
	struct pxcl_request *req = pxcl_request_new(client,
		key != NULL ? PXCL_LOOKUP_KEY : PXCL_LOOKUP, realm, name);

	if (req == NULL) {
		return NULL;
	}
	/* By key: pixcache_client_find_key() waits; by name: called back. */
	req->waited = key != NULL;
	if (send_asked(req, key) < 0) {
		pxcl_request_free(req);
		return NULL;
	}
	return req;
}

/* Collects a waited request: its result and pixmap; frees it. */
static int
collect(struct pxcl_request *req, int wait_ret, struct pixcache_pixmap **out)
{
	int result;

	if (!req->done) {
		/* Given up: the proxy goes, so a late answer finds nothing. */
		pxcl_request_complete(req, wait_ret < 0 ? wait_ret : -ETIMEDOUT);
	}
	result = req->result;
	*out = req->pixmap;
	req->pixmap = NULL;
	pxcl_request_free(req);
	return result;
}

/* ---- local hits ---- */

static struct pxcl_realm *
realm_find(struct pixcache_client *client, const char *name)
{
	struct pxcl_realm *realm = client->last_realm;

	/* Hits come in runs from one realm. */
	if (realm != NULL && strcmp(realm->name, name) == 0) {
		return realm;
	}
	wl_list_for_each(realm, &client->realms, link) {
		if (strcmp(realm->name, name) == 0) {
			client->last_realm = realm;
			return realm;
		}
	}
	return NULL;
}

/*
 * Tells the manager a key was used, for its eviction order: once per
 * entry between two usage reports, which is all the manager's reference
 * bit can tell apart.
 */
static void
note_use(struct pixcache_client *client, struct pxcl_entry *entry)
{
	const struct pixcache_key *key = &entry->pixmap->key;

	if (entry->noted == client->commits || client->batch == NULL) {
		return;
	}
	entry->noted = client->commits;
	/* Out at once; a break is noted and settled after the call. */
	if (client->nusage == PXCL_USAGE_PAIRS &&
			(pxcl_send_usage(client) < 0 ||
			pxcl_flush_some(client, true) < 0)) {
		return;
	}
	client->usage[2 * client->nusage] = key->slot;
	client->usage[2 * client->nusage + 1] = key->generation;
	client->nusage++;
}

/*
 * A local hit, lock held: the pixmap with a reference added, or NULL. The
 * name is not validated: only valid names are in the map, and a name
 * found is byte for byte one of them.
 */
static struct pixcache_pixmap *
find_local_locked(struct pixcache_client *client, const char *realm_name,
	const char *name)
{
	struct pxcl_realm *realm = realm_find(client, realm_name);
	size_t len = strnlen(name, PXC_NAME_MAX + 1);
	struct pxcl_entry *entry;

	/* Nothing of a manager being let go is served. */
	if (realm == NULL || len > PXC_NAME_MAX || client->stale) {
		return NULL;
	}
	entry = pxcl_names_find(client, realm, name, len,
		pxcl_name_hash(client, realm, name, len));
	if (entry == NULL) {
		return NULL;
	}
	if (!pxcl_pixmap_current(entry->pixmap)) {
		pxcl_names_remove(client, entry);
		return NULL;
	}
	entry->referenced = true;
	note_use(client, entry);
	client->stats.local_hits++;
	return pixcache_pixmap_ref(entry->pixmap);
}

int
pixcache_client_find_local(struct pixcache_client *client,
	const char *realm, const char *name, struct pixcache_pixmap **pixmap)
{
	if (client == NULL || realm == NULL || name == NULL ||
			pixmap == NULL) {
		return -EINVAL;
	}
	pxcl_enter(client);
	*pixmap = find_local_locked(client, realm, name);
	pxcl_leave(client);
	if (*pixmap != NULL) {
		return 0;
	}
	/* Not a hit: a bad name is said so (checked off the fast path). */
	return pxcl_check_name(realm) < 0 || pxcl_check_name(name) < 0 ?
		-EINVAL : -EAGAIN;
}

/* ---- blocking lookups ---- */

/*
 * Sends lookups for reqs: in finds, whose leases are told nothing of
 * evictions, when the realm's generation table tells; else with a pixmap
 * object each, which is told.
 */
static int
send_lookups(struct pixcache_client *client, struct pxcl_realm *realm,
	struct pxcl_request **reqs, unsigned n)
{
	if (realm->table != NULL) {
		return pxcl_send_finds(client, realm, reqs, n);
	}
	for (unsigned i = 0; i < n; i++) {
		int ret = send_asked(reqs[i], NULL);

		if (ret < 0) {
			/* Those not sent fail with it. */
			return ret;
		}
	}
	return 0;
}

/* Sends lookups for the unanswered names among count, waits for them. */
static int
find_chunk(struct pixcache_client *client, struct pxcl_realm *realm,
	const char *const *names, unsigned count, int *results,
	struct pixcache_pixmap **pixmaps)
{
	struct timespec deadline =
		pxcl_deadline_after(client->options.timeout_ms);
	struct pxcl_request **reqs = calloc(2 * (size_t)count, sizeof(*reqs));
	struct pxcl_request **asked = reqs + count;
	int ret = reqs == NULL ? -ENOMEM : pxcl_make_room(client, count);
	unsigned nasked = 0;
	bool holds;

	for (unsigned i = 0; ret == 0 && i < count; i++) {
		if (pixmaps[i] == NULL && results[i] == -EAGAIN) {
			reqs[i] = pxcl_request_new(client, PXCL_LOOKUP, realm,
				names[i]);
			results[i] = reqs[i] != NULL ? 0 : -ENOMEM;
		}
		if (reqs[i] != NULL) {
			reqs[i]->waited = true;
			asked[nasked++] = reqs[i];
		}
	}
	/* A break is noted: nothing goes, the requests fail with the rest. */
	if (ret == 0 && (ret = pxcl_lost(client)) == 0) {
		ret = send_lookups(client, realm, asked, nasked);
	}
	if (ret == 0) {
		ret = pxcl_commit(client);
	}
	for (unsigned i = 0; ret == 0 && reqs != NULL && i < count; i++) {
		if (reqs[i] != NULL) {
			ret = pxcl_wait_flag(client, &reqs[i]->answered,
				&deadline);
		}
	}
	holds = claims_held(client);
	for (unsigned i = 0; reqs != NULL && i < count; i++) {
		if (reqs[i] == NULL) {
			continue;
		}
		if (!reqs[i]->done && reqs[i]->group == NULL &&
				reqs[i]->proxy == NULL) {
			/* Never sent (a break, no memory): it fails, and was
			 * never counted outstanding. */
			reqs[i]->done = reqs[i]->answered = true;
			reqs[i]->result = ret < 0 ? ret : -ENOMEM;
		}
		/*
		 * A thread holding claims never waits for another client's
		 * fill, which could wait for one of ours: so every claim's
		 * holder is free to fill it. The caller fills its claims,
		 * then asks again.
		 */
		if (ret == 0 && !reqs[i]->done && holds) {
			pxcl_request_complete(reqs[i], -EINPROGRESS);
		}
		if (ret == 0) {
			ret = pxcl_wait_flag(client, &reqs[i]->done, &deadline);
		}
		results[i] = collect(reqs[i], ret, &pixmaps[i]);
	}
	free(reqs);
	return ret;
}

/*
 * Asks for every name whose result is -EAGAIN, in chunks the manager's
 * limits take. A lookup refused for fds in flight is asked again once the
 * batch's done has been acknowledged (the chunk's wait saw it).
 */
static int
find_remote(struct pixcache_client *client, struct pxcl_realm *realm,
	const char *const *names, unsigned count, int *results,
	struct pixcache_pixmap **pixmaps)
{
	unsigned left = count + 1;
	int ret = 0;

	/* Again while each round answers some: the cap only slows us. */
	for (int stalls = 0; ret == 0 && stalls < FD_LIMIT_STALLS;) {
		unsigned again = 0;

		for (unsigned i = 0; ret == 0 && i < count;) {
			unsigned n = count - i;

			if (n > client->options.max_outstanding) {
				n = client->options.max_outstanding;
			}
			/* A break stops it: it sends nothing then. */
			ret = find_chunk(client, realm, names + i, n,
				results + i, pixmaps + i);
			i += n;
		}
		if (ret == 0) {
			ret = pxcl_wait_done(client);
		}
		for (unsigned i = 0; i < count; i++) {
			again += results[i] == -EAGAIN;
		}
		if (again == 0) {
			break;
		}
		stalls = again < left ? 0 : stalls + 1;
		left = again;
	}
	return ret;
}

int
pixcache_client_find_many(struct pixcache_client *client,
	const char *realm_name, const char *const *names, unsigned count,
	int *results, struct pixcache_pixmap **pixmaps)
{
	struct pxcl_realm *realm = NULL;
	unsigned missing = 0;
	int ret = 0;

	if (client == NULL || pxcl_check_name(realm_name) < 0 ||
			names == NULL || results == NULL || pixmaps == NULL) {
		return -EINVAL;
	}
	pxcl_enter(client);
	/* -EAGAIN marks a name only the manager can answer. */
	for (unsigned i = 0; i < count; i++) {
		results[i] = pxcl_check_name(names[i]);
		pixmaps[i] = results[i] == 0 ?
			find_local_locked(client, realm_name, names[i]) : NULL;
		if (results[i] == 0 && pixmaps[i] == NULL) {
			results[i] = -EAGAIN;
			missing++;
		}
	}
	if (missing > 0) {
		ret = pxcl_connect_manager(client);
	}
	if (missing > 0 && ret == 0) {
		realm = pxcl_realm_get(client, realm_name);
		ret = realm != NULL ? find_remote(client, realm, names, count,
			results, pixmaps) : -ENOMEM;
	}
	for (unsigned i = 0; ret < 0 && i < count; i++) {
		if (pixmaps[i] == NULL && results[i] == -EAGAIN) {
			results[i] = ret;
		}
	}
	pxcl_leave(client);
	return ret;
}

int
pixcache_client_find(struct pixcache_client *client, const char *realm_name,
	const char *name, struct pixcache_pixmap **pixmap)
{
	int result;
	int ret;

	if (pixmap == NULL) {
		return -EINVAL;
	}
	ret = pixcache_client_find_many(client, realm_name, &name, 1, &result,
		pixmap);
	return ret == -EINVAL ? ret : result;
}

int
pixcache_client_find_key(struct pixcache_client *client,
	const struct pixcache_key *key, struct pixcache_pixmap **pixmap)
{
	struct timespec deadline;
	struct pxcl_request *req;
	int ret;

	if (client == NULL || key == NULL || pixmap == NULL) {
		return -EINVAL;
	}
	*pixmap = NULL;
	pxcl_enter(client);
	deadline = pxcl_deadline_after(client->options.timeout_ms);
	ret = pxcl_ready(client, true);
	if (ret == 0) {
		req = send_lookup(client, NULL, NULL, key);
		ret = req == NULL ? -ENOMEM : pxcl_commit(client);
		if (req != NULL) {
			if (ret == 0) {
				ret = pxcl_wait_flag(client, &req->done,
					&deadline);
			}
			ret = collect(req, ret, pixmap);
		}
	}
	pxcl_leave(client);
	return ret;
}

/* ---- asynchronous lookups ---- */

/* A local hit, called back like any other answer. */
static int
queue_local_answer(struct pixcache_client *client,
	struct pixcache_pixmap *local, pixcache_lookup_fn callback, void *data)
{
	struct pxcl_request *req = pxcl_request_new(client, PXCL_LOOKUP, NULL,
		NULL);

	if (req == NULL) {
		return -ENOMEM;
	}
	req->pixmap = local;
	req->callback = callback;
	req->data = data;
	req->done = true;
	wl_list_insert(client->completed.prev, &req->link);
	return 0;
}

static int
send_async(struct pixcache_client *client, const char *realm_name,
	const char *name, pixcache_lookup_fn callback, void *data)
{
	struct pxcl_request *req;
	struct pxcl_realm *realm;
	int ret = pxcl_ready(client, false);

	if (ret < 0) {
		return ret;
	}
	realm = pxcl_realm_get(client, realm_name);
	req = realm != NULL ? send_lookup(client, realm, name, NULL) : NULL;
	if (req == NULL) {
		return -ENOMEM;
	}
	req->callback = callback;
	req->data = data;
	return 0;
}

int
pixcache_client_lookup(struct pixcache_client *client, const char *realm_name,
	const char *name, pixcache_lookup_fn callback, void *data)
{
	struct pixcache_pixmap *local;
	int ret;

	if (client == NULL || pxcl_check_name(realm_name) < 0 ||
			pxcl_check_name(name) < 0 || callback == NULL) {
		return -EINVAL;
	}
	pxcl_enter(client);
	local = find_local_locked(client, realm_name, name);
	if (local != NULL) {
		ret = queue_local_answer(client, local, callback, data);
	} else {
		ret = send_async(client, realm_name, name, callback, data);
	}
	pxcl_leave(client);
	if (ret < 0) {
		pixcache_pixmap_unref(local);
	}
	return ret;
}
