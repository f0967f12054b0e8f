#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager-private.h"

static const struct pixcache_batch_v1_interface batch_impl;

/* NULL for a refused client's batch, or once the manager is gone. */
static struct pxc_batch_v1 *
batch_from_resource(struct wl_resource *resource)
{
	assert(wl_resource_instance_of(resource, &pixcache_batch_v1_interface,
		&batch_impl));
	return wl_resource_get_user_data(resource);
}

static struct pxc_manager_v1 *
client_from_batch(struct wl_resource *resource)
{
	struct pxc_batch_v1 *batch = batch_from_resource(resource);

	return batch != NULL ? batch->client : NULL;
}

static void
batch_handle_destroy(struct wl_client *wl_client, struct wl_resource *resource)
{
	wl_resource_destroy(resource);
}

/* Whether the client may hold one more pixmap: 0, or the failure. */
static uint32_t
lease_refusal(const struct pxc_pixmap_v1 *lease)
{
	const struct pxc_manager_v1 *client = lease->client;

	return client->conn->holding >= client->manager->config.max_leases ?
		PIXCACHE_BATCH_V1_FAILURE_LEASES : 0;
}

/* Answers a lookup of name in cr, on lease's object or in a record. */
static void
lookup_name(struct pxc_pixmap_v1 *lease, struct pxc_realm_v1 *cr,
	const char *name, size_t len)
{
	struct pxc_manager_v1 *client = lease->client;
	uint32_t failure = pxc_realm_v1_check(cr, PIXCACHE_ACCESS_READ, name,
		len);
	struct pxc_fill *fill;
	struct pxc_hit hit;
	int ret;

	if (failure == 0) {
		failure = lease_refusal(lease);
	}
	if (failure != 0) {
		pxc_pixmap_v1_fail(lease, failure);
		return;
	}
	ret = pxc_cache_find(client->manager->cache, cr->realm->core, name,
		len, PXC_FIND_HOLD, &hit);
	lease->may_fill = cr->access & PIXCACHE_ACCESS_WRITE;
	lease->table = cr->access & PIXCACHE_ACCESS_TABLE;
	if (ret == 0) {
		pxc_pixmap_v1_answer(lease, hit.hold, &hit, false);
	} else if ((fill = pxc_fill_find(cr->realm, name)) != NULL) {
		pxc_fill_wait(fill, lease);
	} else if (!pxc_fill_claim(cr->realm, name, lease)) {
		/* Read only, or out of claims: it may race to upload. */
		pxc_pixmap_v1_missing(lease);
	}
}

static void
batch_handle_lookup(struct wl_client *wl_client, struct wl_resource *resource,
	uint32_t id, struct wl_resource *realm_resource, const char *name)
{
	struct pxc_pixmap_v1 *lease = pxc_pixmap_v1_create(wl_client,
		client_from_batch(resource), wl_resource_get_version(resource),
		id);

	if (lease != NULL) {
		lookup_name(lease,
			pxc_realm_v1_from_resource(realm_resource), name,
			strlen(name));
	}
}

/* How many names the array holds, each followed by NUL; 0 if malformed. */
static uint32_t
count_names(const struct wl_array *names)
{
	const char *p = names->data, *end = p + names->size;
	uint32_t count = 0;

	if (names->size == 0 || end[-1] != '\0') {
		return 0;
	}
	while (p < end) {
		size_t len = strlen(p);

		if (len == 0 || ++count > PXC_FIND_MAX) {
			return 0;
		}
		p += len + 1;
	}
	return count;
}

/* One name of a find: a lease answered, kept only if it was numbered. */
static void
find_one(struct pxc_batch_v1 *batch, struct pxc_realm_v1 *cr,
	uint32_t number, const char *name, size_t len)
{
	struct pxc_pixmap_v1 *lease;
	int ret = pxc_found_reserve(batch);

	lease = ret == 0 ? pxc_found_lease_create(batch, number) : NULL;
	if (lease == NULL) {
		uint32_t record[PXC_RECORD_WORDS] = {
			number, PIXCACHE_BATCH_V1_FOUND_STATUS_FAILED,
			ret == -ENOBUFS ? PIXCACHE_BATCH_V1_FAILURE_LEASES :
				PIXCACHE_BATCH_V1_FAILURE_MEMORY,
		};

		pxc_found_record(batch, record);
		return;
	}
	lookup_name(lease, cr, name, len);
	if (lease->number == 0) {
		/* Answered for good (missing, failed): nothing to keep. */
		pxc_pixmap_v1_inert(lease);
	} else if (lease->hold != NULL) {
		pxc_found_compact(lease);
	}
}

static void
batch_handle_find(struct wl_client *wl_client, struct wl_resource *resource,
	struct wl_resource *realm_resource, uint32_t first,
	struct wl_array *names)
{
	struct pxc_batch_v1 *batch = batch_from_resource(resource);
	struct pxc_realm_v1 *cr =
		pxc_realm_v1_from_resource(realm_resource);
	uint32_t count = count_names(names);
	const char *name = names->data;

	if (batch != NULL && count == 0) {
		wl_resource_post_error(resource,
			PIXCACHE_BATCH_V1_ERROR_BAD_NAMES,
			"find: %zu bytes are not 1 to %d NUL-terminated names",
			names->size, PXC_FIND_MAX);
		return;
	}
	/* An inert batch raises no error, and answers nothing. */
	if (batch == NULL) {
		return;
	}
	/* Its records in one event: room for every name's. */
	pxc_found_flush(batch);
	for (uint32_t i = 0; i < count; i++) {
		size_t len = strlen(name);

		find_one(batch, cr, first + i, name, len);
		name += len + 1;
	}
	pxc_found_flush(batch);
}

static void
batch_handle_release(struct wl_client *wl_client, struct wl_resource *resource,
	struct wl_array *leases)
{
	struct pxc_batch_v1 *batch = batch_from_resource(resource);
	const uint32_t *number;

	if (batch == NULL) {
		return;
	}
	if (leases->size % sizeof(uint32_t) != 0) {
		wl_resource_post_error(resource,
			PIXCACHE_BATCH_V1_ERROR_BAD_LEASE,
			"release: %zu bytes are not whole lease numbers",
			leases->size);
		return;
	}
	wl_array_for_each(number, leases) {
		if (!pxc_found_release(batch, *number)) {
			wl_resource_post_error(resource,
				PIXCACHE_BATCH_V1_ERROR_BAD_LEASE,
				"release: lease %u is not held", *number);
			break;
		}
	}
	/* The leases may have been a pool's last. */
	pxc_manager_settle(batch->client->manager);
}

static void
batch_handle_lookup_key(struct wl_client *wl_client,
	struct wl_resource *resource, uint32_t id, uint32_t instance_hi,
	uint32_t instance_lo, uint32_t slot, uint32_t generation,
	uint32_t tag_hi, uint32_t tag_lo)
{
	struct pxc_manager_v1 *client = client_from_batch(resource);
	struct pxc_pixmap_v1 *lease = pxc_pixmap_v1_create(wl_client, client,
		wl_resource_get_version(resource), id);
	struct pxc_key key = {
		.instance = pxc_wire_join(instance_hi, instance_lo),
		.slot = slot,
		.generation = generation,
		.tag = pxc_wire_join(tag_hi, tag_lo),
	};
	struct pxc_buffer *buffer;
	struct pxc_hit hit;
	uint32_t access;

	if (lease == NULL) {
		return;
	}
	if (lease_refusal(lease) != 0) {
		pxc_pixmap_v1_fail(lease, lease_refusal(lease));
		return;
	}
	/* Every key that does not resolve is simply missing. */
	if (pxc_cache_find_key(client->manager->cache, &key, PXC_FIND_HOLD,
			&hit) < 0) {
		pxc_pixmap_v1_missing(lease);
		return;
	}
	buffer = hit.payload;
	access = pxc_policy_access(client->manager, wl_client,
		buffer->realm->name);
	/* Handed over from another realm: a copy, never that realm's pool. */
	pxc_pixmap_v1_answer(lease, hit.hold, &hit,
		!(access & PIXCACHE_ACCESS_READ));
}

static void
batch_handle_upload(struct wl_client *wl_client, struct wl_resource *resource,
	uint32_t id, struct wl_resource *realm_resource, const char *name,
	uint32_t width, uint32_t height, uint32_t format, uint32_t flags)
{
	struct pxc_manager_v1 *client = client_from_batch(resource);

	/* An inert batch raises no error (its upload is inert too). */
	if (client != NULL && !pxc_upload_v1_flags_valid(resource,
			PIXCACHE_BATCH_V1_ERROR_BAD_FLAGS, flags)) {
		return;
	}
	pxc_upload_v1_start(wl_client, client,
		wl_resource_get_version(resource), id,
		pxc_realm_v1_from_resource(realm_resource), name, width,
		height, format, flags);
}

/* The realm of a key's slot, if the client may read it. */
static struct pxc_realm_shm *
readable_realm_of_slot(struct pxc_manager_v1 *client, uint32_t slot)
{
	struct pixcache_manager *manager = client->manager;
	uint32_t index = slot / manager->config.table_capacity;
	struct pxc_realm_shm *realm, *found = NULL;

	pthread_mutex_lock(&manager->realms_lock);
	wl_list_for_each(realm, &manager->realms, link) {
		if (pxc_realm_index(realm->core) == index) {
			found = realm;
			break;
		}
	}
	pthread_mutex_unlock(&manager->realms_lock);
	if (found != NULL && !(pxc_policy_access(manager, client->client,
			found->name) & PIXCACHE_ACCESS_READ)) {
		found = NULL;
	}
	return found;
}

static void
batch_handle_used(struct wl_client *wl_client, struct wl_resource *resource,
	struct wl_array *keys)
{
	struct pxc_manager_v1 *client = client_from_batch(resource);
	const uint32_t *pair;

	/* An inert batch raises no error. */
	if (client == NULL) {
		return;
	}
	if (keys->size % (2 * sizeof(uint32_t)) != 0) {
		wl_resource_post_error(resource,
			PIXCACHE_BATCH_V1_ERROR_BAD_USAGE,
			"used: %zu bytes is not a whole number of "
			"(slot, generation) pairs", keys->size);
		return;
	}
	for (pair = keys->data;
			(const char *)pair < (const char *)keys->data + keys->size;
			pair += 2) {
		struct pxc_realm_shm *realm =
			readable_realm_of_slot(client, pair[0]);

		if (realm != NULL) {
			pxc_cache_touch(client->manager->cache, realm->core,
				pair[0] % client->manager->config.table_capacity,
				pair[1]);
		}
	}
}

/* Entries a list request sends at most: 128 of at most ~300 bytes. */
#define LIST_PAGE 128

struct list_context {
	struct wl_resource *batch;
	uint32_t capacity;		/* slots per realm */
	uint32_t sent;
	uint32_t next;			/* the slot after the last sent */
};

static bool
send_entry(const struct pxc_entry_info *info, void *data)
{
	struct list_context *ctx = data;
	const struct pxc_buffer *buffer = info->payload;
	struct pxc_key_wire w = pxc_key_wire(&info->key);

	if (ctx->sent == LIST_PAGE) {
		/* More after this page: it starts here. */
		ctx->next = info->key.slot % ctx->capacity;
		return false;
	}
	ctx->sent++;

	pixcache_batch_v1_send_entry(ctx->batch,
		info->name_len > 0 ? info->name : NULL, buffer->width,
		buffer->height, buffer->format, w.instance_hi, w.instance_lo,
		w.slot, w.generation, w.tag_hi, w.tag_lo);
	return true;
}

static void
batch_handle_list(struct wl_client *wl_client, struct wl_resource *resource,
	struct wl_resource *realm_resource, uint32_t from)
{
	struct pxc_manager_v1 *client = client_from_batch(resource);
	struct pxc_realm_v1 *cr =
		pxc_realm_v1_from_resource(realm_resource);
	struct list_context ctx = { resource };

	/* A listing has no failure: one the client may not read is empty. */
	if (client != NULL && pxc_realm_v1_check(cr, PIXCACHE_ACCESS_READ,
			NULL, 0) == 0) {
		ctx.capacity = client->manager->config.table_capacity;
		pxc_cache_for_each_from(client->manager->cache,
			cr->realm->core, from, send_entry, &ctx);
	}
	pixcache_batch_v1_send_listed(resource, ctx.next);
}

static void
batch_handle_get_stats(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	struct pxc_manager_v1 *client = client_from_batch(resource);
	struct pixcache_stats stats;

	if (client == NULL) {
		return;
	}
	pixcache_manager_get_stats(client->manager, &stats);
	pixcache_batch_v1_send_stats(resource, (uint32_t)stats.entries,
		stats.realms, stats.clients,
		pxc_wire_hi(stats.indexed_bytes),
		pxc_wire_lo(stats.indexed_bytes),
		pxc_wire_hi(stats.held_only_bytes),
		pxc_wire_lo(stats.held_only_bytes),
		pxc_wire_hi(stats.budget), pxc_wire_lo(stats.budget),
		pxc_wire_hi(stats.hits), pxc_wire_lo(stats.hits),
		pxc_wire_hi(stats.misses), pxc_wire_lo(stats.misses),
		pxc_wire_hi(stats.evictions), pxc_wire_lo(stats.evictions));
}

static void
batch_handle_remove(struct wl_client *wl_client, struct wl_resource *resource,
	uint32_t id, struct wl_resource *realm_resource, const char *name)
{
	pxc_removal_v1_create(wl_client, client_from_batch(resource),
		wl_resource_get_version(resource), id,
		pxc_realm_v1_from_resource(realm_resource), name);
}

static void
batch_handle_commit(struct wl_client *wl_client, struct wl_resource *resource,
	uint32_t serial)
{
	struct pxc_batch_v1 *batch = batch_from_resource(resource);
	uint64_t token = batch != NULL ?
		pxc_connection_done_token(batch->client->conn) : 0;

	/* done follows every answer sent before it. */
	if (batch != NULL) {
		pxc_found_flush(batch);
	}
	pixcache_batch_v1_send_done(resource, serial, pxc_wire_hi(token),
		pxc_wire_lo(token));
}

static void
batch_handle_stage(struct wl_client *wl_client, struct wl_resource *resource,
	uint32_t id, int32_t fd, uint32_t size)
{
	pxc_staging_v1_create(wl_client, client_from_batch(resource), resource,
		id, fd, size);
}

static void
batch_handle_upload_dmabuf(struct wl_client *wl_client,
	struct wl_resource *resource, uint32_t id,
	struct wl_resource *realm_resource, const char *name, uint32_t width,
	uint32_t height, uint32_t format, uint32_t flags, int32_t fd,
	uint32_t offset, uint32_t stride, uint32_t modifier_hi,
	uint32_t modifier_lo)
{
	struct pxc_manager_v1 *client = client_from_batch(resource);
	struct pxc_dmabuf_layout layout = {
		.offset = offset,
		.stride = stride,
		.modifier = pxc_wire_join(modifier_hi, modifier_lo),
	};

	if (client != NULL && !pxc_upload_v1_flags_valid(resource,
			PIXCACHE_BATCH_V1_ERROR_BAD_FLAGS, flags)) {
		close(fd);
		return;
	}
	pxc_upload_v1_from_dmabuf(wl_client, client,
		wl_resource_get_version(resource), id,
		pxc_realm_v1_from_resource(realm_resource), name, width,
		height, format, flags, fd, &layout);
}

static const struct pixcache_batch_v1_interface batch_impl = {
	.destroy = batch_handle_destroy,
	.lookup = batch_handle_lookup,
	.lookup_key = batch_handle_lookup_key,
	.find = batch_handle_find,
	.release = batch_handle_release,
	.upload = batch_handle_upload,
	.used = batch_handle_used,
	.list = batch_handle_list,
	.get_stats = batch_handle_get_stats,
	.remove = batch_handle_remove,
	.commit = batch_handle_commit,
	.stage = batch_handle_stage,
	.upload_dmabuf = batch_handle_upload_dmabuf,
};

void
pxc_batch_v1_inert(struct pxc_batch_v1 *batch)
{
	wl_resource_set_user_data(batch->resource, NULL);
	for (uint32_t i = 0; i < batch->top; i++) {
		(void)pxc_found_release(batch, i + 1);
	}
	wl_list_remove(&batch->link);
	batch->client->conn->objects--;
	/* Records for leases now gone: nobody to tell. */
	wl_list_remove(&batch->deferred_link);
	free(batch->out);
	pxc_found_free_numbers(batch);
	free(batch);
}

static void
batch_resource_destroy(struct wl_resource *resource)
{
	struct pxc_batch_v1 *batch = batch_from_resource(resource);
	struct pixcache_manager *manager;

	if (batch == NULL) {
		return;
	}
	manager = batch->client->manager;
	pxc_batch_v1_inert(batch);
	/* Its leases may have been a pool's last. */
	pxc_manager_settle(manager);
}

void
pxc_batch_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id)
{
	bool room = client != NULL && pxc_connection_may_hold(client->conn);
	struct wl_resource *resource = pxc_resource_create(
		room ? client->manager : NULL, wl_client,
		&pixcache_batch_v1_interface, version, id, &batch_impl,
		batch_resource_destroy, sizeof(struct pxc_batch_v1));
	struct pxc_batch_v1 *batch;

	/* A refused client's batch, or one past max_objects, is inert:
	 * its resource alone. */
	if (resource == NULL || !room) {
		return;
	}
	client->conn->objects++;
	batch = wl_resource_get_user_data(resource);
	batch->resource = resource;
	batch->client = client;
	wl_list_init(&batch->deferred_link);
	wl_list_insert(&client->batches, &batch->link);
}
