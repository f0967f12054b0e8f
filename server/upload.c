#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager-private.h"
#include "shm.h"

static const struct pixcache_upload_v1_interface upload_impl;

static bool upload_has_ended(const void *data);

/* The upload's state; NULL once answered or inert. */
static struct pxc_upload_v1 *
upload_from_resource(struct wl_resource *resource)
{
	void *data;

	assert(wl_resource_instance_of(resource, &pixcache_upload_v1_interface,
		&upload_impl));
	data = wl_resource_get_user_data(resource);
	return upload_has_ended(data) ? NULL : data;
}

/*
 * The upload leaves flight: its waiters get key if it was stored, else
 * the claim passes to one of them.
 */
static void
upload_end(struct pxc_upload_v1 *upload, const struct pxc_key *key)
{
	if (upload->state != PXC_UPLOAD_TARGET) {
		return;
	}
	upload->state = PXC_UPLOAD_DONE;
	upload->client->conn->uploads_in_flight--;
	upload->client->conn->upload_bytes -= upload->size;
	upload->client->manager->uploads--;
	upload->client->manager->upload_bytes -= upload->size;
	if (upload->timer != NULL) {
		wl_event_source_remove(upload->timer);
		upload->timer = NULL;
	}
	if (upload->fd >= 0) {
		close(upload->fd);
		upload->fd = -1;
	}
	if (upload->job != NULL) {
		/* Not read yet: what the reader would copy is dropped. */
		pxc_dmabuf_read_forget(upload->job);
		upload->job = NULL;
	}
	if (upload->from_dmabuf) {
		upload->client->manager->dmabuf_uploads--;
	}
	pxc_fill_end_upload(upload, key);
}

void
pxc_upload_v1_inert(struct pxc_upload_v1 *upload)
{
	upload_end(upload, NULL);
	wl_resource_set_user_data(upload->resource, NULL);
	wl_list_remove(&upload->client_link);
	free(upload);
}

/*
 * How an answered upload ended: all its object keeps. Its state is freed
 * with the answer, so a client that never destroys its upload objects
 * holds libwayland's resource and nothing of the manager's; these tell
 * the requests that may still come what to say.
 */
static char upload_ended[3];
#define UPLOAD_ENDED_STORED ((void *)&upload_ended[0])	/* committed */
#define UPLOAD_ENDED_FAILED ((void *)&upload_ended[1])	/* never had one */
#define UPLOAD_ENDED_EXPIRED ((void *)&upload_ended[2])	/* timed out */

static bool
upload_has_ended(const void *data)
{
	return data == UPLOAD_ENDED_STORED || data == UPLOAD_ENDED_FAILED ||
		data == UPLOAD_ENDED_EXPIRED;
}

/* The answer went: the state goes, the object keeps how it ended. */
static void
upload_answered(struct pxc_upload_v1 *upload)
{
	struct wl_resource *resource = upload->resource;
	void *ending = upload->expired ? UPLOAD_ENDED_EXPIRED :
		upload->stored ? UPLOAD_ENDED_STORED : UPLOAD_ENDED_FAILED;

	pxc_upload_v1_inert(upload);
	wl_resource_set_user_data(resource, ending);
}

static void
upload_fail(struct pxc_upload_v1 *upload, uint32_t reason)
{
	upload_end(upload, NULL);
	pixcache_upload_v1_send_failed(upload->resource, reason);
	upload_answered(upload);
}

static void
upload_handle_destroy(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	wl_resource_destroy(resource);
}

/* Where an upload not committed reads its pixels. */
struct upload_source {
	const uint8_t *rows;
	uint32_t stride;
	/* The manager's layout, the last row's padding included (a staging
	 * buffer); else only each row's pixels are there (a dma-buf's,
	 * copied by the reader). */
	bool whole;
};

/*
 * A new buffer for the upload, a copy of its rows at src. whole: src
 * holds the manager's layout, the last row's padding included; else only
 * each row's pixels are read, and the padding is zeroed.
 */
static struct pxc_buffer *
buffer_copy(struct pxc_upload_v1 *upload, const uint8_t *src,
	uint32_t src_stride, bool whole)
{
	struct pxc_buffer *buffer = pxc_buffer_create(upload->realm,
		upload->format, upload->width, upload->height);
	uint32_t row = upload->width * upload->format->bytes_per_pixel;
	uint8_t *dst;

	if (buffer == NULL) {
		return NULL;
	}
	dst = pxc_buffer_write_begin(buffer);
	if (whole) {
		/* Same layout: the whole buffer, padding included, so
		 * nothing a previous pixmap left in the pool shows through. */
		memcpy(dst, src, upload->size);
	} else {
		for (uint64_t y = 0; y < upload->height; y++) {
			memcpy(dst + y * upload->stride, src + y * src_stride,
				row);
			memset(dst + y * upload->stride + row, 0,
				upload->stride - row);
		}
	}
	pxc_buffer_write_end(buffer, dst);
	return buffer;
}

/*
 * The buffer for an upload, or the failure: for a committed one, a pool
 * copy of its target when small, else the target itself; else a copy of
 * its source.
 */
static uint32_t
upload_buffer(struct pxc_upload_v1 *upload, const struct upload_source *src,
	struct pxc_buffer **out)
{
	struct pixcache_manager *manager = upload->client->manager;
	const void *map;

	*out = NULL;
	if (src != NULL) {
		*out = buffer_copy(upload, src->rows, src->stride, src->whole);
	} else if (upload->size > manager->config.pool_max_pixmap) {
		*out = pxc_buffer_adopt(upload->realm, upload->format,
			upload->width, upload->height, upload->fd);
		if (*out != NULL) {
			upload->fd = -1;
		}
	} else {
		/* Reading a client's sealed pages never waits on its pins. */
		map = pxc_shm_map_read(&manager->faults, upload->fd,
			upload->size);
		if (map != NULL) {
			*out = buffer_copy(upload, map, upload->stride, true);
			pxc_shm_unmap(map, upload->size);
		}
	}
	return *out != NULL ? 0 : PIXCACHE_BATCH_V1_FAILURE_MEMORY;
}

/* Insert flags for this upload: replacing only what the policy allows. */
static uint32_t
insert_flags(struct pxc_upload_v1 *upload)
{
	struct pixcache_manager *manager = upload->client->manager;
	struct pxc_hit old;

	if (upload->name == NULL ||
			!(upload->flags & PIXCACHE_BATCH_V1_UPLOAD_FLAGS_REPLACE)) {
		return 0;
	}
	if (pxc_cache_find(manager->cache, upload->realm->core, upload->name,
			strlen(upload->name), PXC_FIND_PEEK, &old) < 0) {
		return 0;
	}
	if (!pxc_policy_may_replace(manager, upload->client,
			upload->realm->name, old.owner)) {
		return 0;
	}
	/* Its own: the core checks the owner again as it replaces. */
	return old.owner == upload->client->conn->owner ?
		PXC_INSERT_REPLACE_OWN : PXC_INSERT_REPLACE;
}

/*
 * Stores the upload's pixels (its target, or src): 0 and the new entry's
 * key in *key, or the failure.
 */
static uint32_t
upload_insert(struct pxc_upload_v1 *upload, const struct upload_source *src,
	struct pxc_key *key)
{
	struct pixcache_manager *manager = upload->client->manager;
	struct pxc_buffer *buffer;
	uint32_t failure = upload_buffer(upload, src, &buffer);
	struct pxc_insert insert = {
		.realm = upload->realm->core,
		.name = upload->name,
		.name_len = upload->name ? strlen(upload->name) : 0,
		.payload = buffer,
		.cost = upload->size,
		.owner = upload->client->conn->owner,
		.flags = insert_flags(upload),
	};
	struct pxc_hit hit;
	int ret;

	if (failure != 0) {
		return failure;
	}
	ret = pxc_fault(&manager->faults, "insert") ? -ENOMEM :
		pxc_cache_insert(manager->cache, &insert, &hit);
	if (ret < 0) {
		pxc_buffer_discard(buffer);
		return pxc_failure_of(ret);
	}
	*key = hit.key;
	return 0;
}

static void
send_stored(struct pxc_upload_v1 *upload, const struct pxc_key *key)
{
	struct pxc_key_wire w = pxc_key_wire(key);

	pixcache_upload_v1_send_stored(upload->resource, w.instance_hi,
		w.instance_lo, w.slot, w.generation, w.tag_hi, w.tag_lo);
}

/* Stores what was committed (src NULL: the target) and answers. */
static void
upload_store(struct pxc_upload_v1 *upload, const struct upload_source *src)
{
	struct pixcache_manager *manager = upload->client->manager;
	struct pxc_key key;
	uint32_t failure = upload_insert(upload, src, &key);

	if (failure != 0) {
		upload_fail(upload, failure);
		return;
	}
	send_stored(upload, &key);
	upload_end(upload, &key);
	upload_answered(upload);
	pxc_manager_settle(manager);
}

/* A commit of an upload that was answered: a client bug, or none. */
static void
commit_ended(struct wl_resource *resource)
{
	void *ending = wl_resource_get_user_data(resource);

	if (ending == UPLOAD_ENDED_STORED) {
		wl_resource_post_error(resource,
			PIXCACHE_UPLOAD_V1_ERROR_ALREADY_COMMITTED,
			"upload already committed");
	} else if (ending == UPLOAD_ENDED_FAILED) {
		wl_resource_post_error(resource,
			PIXCACHE_UPLOAD_V1_ERROR_NO_TARGET,
			"upload has no target: it failed");
	}
	/* Expired: the commit crossed the failed event of its timeout.
	 * Inert (its session ended): nothing to say. */
}

static void
upload_handle_commit(struct wl_client *wl_client, struct wl_resource *resource)
{
	struct pxc_upload_v1 *upload = upload_from_resource(resource);
	int ret;

	if (upload == NULL) {
		commit_ended(resource);
		return;
	}
	/* Every upload is answered in the request that made it, by target
	 * or at once, or reads a dma-buf: one with state is in flight. */
	assert(upload->state == PXC_UPLOAD_TARGET);
	if (upload->job != NULL) {
		wl_resource_post_error(resource,
			PIXCACHE_UPLOAD_V1_ERROR_NO_TARGET,
			"a dma-buf's upload has no target to commit");
		return;
	}
	/* Only checks: sealing what the client wrote could wait on pins. */
	ret = pxc_shm_check(upload->fd, PXC_SEALS_COMMITTED, upload->size);
	if (ret == -EPERM) {
		wl_resource_post_error(resource,
			PIXCACHE_UPLOAD_V1_ERROR_NOT_SEALED,
			"target of %u bytes committed without F_SEAL_WRITE",
			upload->size);
		return;
	}
	if (ret == -EINVAL) {
		wl_resource_post_error(resource,
			PIXCACHE_UPLOAD_V1_ERROR_BAD_SIZE,
			"target is no longer %u bytes", upload->size);
		return;
	}
	/* F_SEAL_WRITE is on: adding F_SEAL_SEAL cannot wait on pins. A
	 * client may have sealed the seals itself: final either way. */
	if (ret == 0 && pxc_shm_check(upload->fd, F_SEAL_SEAL,
			upload->size) != 0) {
		ret = pxc_shm_seal(&upload->client->manager->faults, upload->fd,
			F_SEAL_SEAL);
	}
	if (ret < 0) {
		upload_fail(upload, PIXCACHE_BATCH_V1_FAILURE_MEMORY);
		return;
	}
	upload->stored = true;
	upload_store(upload, NULL);
}

static const struct pixcache_upload_v1_interface upload_impl = {
	.destroy = upload_handle_destroy,
	.commit = upload_handle_commit,
};

static void
upload_resource_destroy(struct wl_resource *resource)
{
	struct pxc_upload_v1 *upload = upload_from_resource(resource);

	if (upload != NULL) {
		pxc_upload_v1_inert(upload);
	}
}

/* How an upload gets its pixels. */
enum upload_kind {
	UPLOAD_TARGET,		/* a target the manager sends, committed */
	UPLOAD_STAGED,		/* from a staging buffer, at once */
	UPLOAD_DMABUF,		/* from a dma-buf, read by the reader */
};

/*
 * Why the client may not upload this, or 0. A named upload gets the fill
 * it will take in *fill.
 */
static uint32_t
upload_refusal(struct pxc_upload_v1 *upload, struct pxc_realm_v1 *cr,
	const char *name, uint32_t format, enum upload_kind kind,
	struct pxc_fill **fill)
{
	struct pxc_manager_v1 *client = upload->client;
	const struct pixcache_config *config = &client->manager->config;
	struct pxc_hit old;
	uint32_t refusal = pxc_realm_v1_check(cr, PIXCACHE_ACCESS_WRITE, name,
		name != NULL ? strlen(name) : 0);

	if (refusal != 0) {
		return refusal;
	}
	upload->format = pxc_format_find(format);
	if (upload->format == NULL) {
		return PIXCACHE_BATCH_V1_FAILURE_FORMAT;
	}
	if (upload->width == 0 || upload->height == 0 ||
			upload->width > config->max_width ||
			upload->height > config->max_height ||
			!pxc_format_layout(upload->format, upload->width,
				upload->height, &upload->stride,
				&upload->size) ||
			upload->size > config->max_bytes ||
			upload->size > config->budget ||
			(config->realm_quota != 0 &&
			upload->size > config->realm_quota)) {
		/* Could never be stored: no target for it at all. */
		return PIXCACHE_BATCH_V1_FAILURE_SIZE;
	}
	/* Counts and bytes in flight (targets, dma-bufs' bounce buffers),
	 * the connection's and everyone's: a staged upload has none. */
	if (kind != UPLOAD_STAGED &&
			(client->conn->uploads_in_flight >= config->max_uploads ||
			client->manager->uploads >= config->max_uploads_total ||
			client->conn->upload_bytes + upload->size >
				config->max_upload_bytes ||
			client->manager->upload_bytes + upload->size >
				config->budget)) {
		return PIXCACHE_BATCH_V1_FAILURE_UPLOADS;
	}
	if (name != NULL && pxc_cache_find(client->manager->cache,
			cr->realm->core, name, strlen(name), PXC_FIND_PEEK,
			&old) == 0 &&
			(!(upload->flags & PIXCACHE_BATCH_V1_UPLOAD_FLAGS_REPLACE) ||
			!pxc_policy_may_replace(client->manager, client,
				cr->realm->name, old.owner))) {
		return PIXCACHE_BATCH_V1_FAILURE_EXISTS;
	}
	if (kind == UPLOAD_TARGET &&
			!pxc_connection_may_send_fds(client->conn, 1)) {
		return PIXCACHE_BATCH_V1_FAILURE_FD_LIMIT;
	}
	/* Last: the only check that allocates. */
	if (name != NULL) {
		return pxc_fill_for_upload(cr->realm, name, client, fill);
	}
	return 0;
}

/* Held its name too long: the claim passes to the next waiter. */
static int
upload_timed_out(void *data)
{
	struct pxc_upload_v1 *upload = data;

	upload->expired = true;
	upload_fail(upload, PIXCACHE_BATCH_V1_FAILURE_TIMEOUT);
	return 0;
}

/* The timer that bounds how long an upload in flight holds its name. */
static int
upload_start_timer(struct pxc_upload_v1 *upload)
{
	struct pixcache_manager *manager = upload->client->manager;

	/* libwayland's timers share one timerfd: no fd per upload. */
	if (!pxc_fault(&manager->faults, "resource")) {
		upload->timer = wl_event_loop_add_timer(manager->loop,
			upload_timed_out, upload);
	}
	if (upload->timer == NULL) {
		return -ENOMEM;
	}
	/* An upload that could never time out would hold its name. */
	if (wl_event_source_timer_update(upload->timer,
			(int)manager->config.upload_timeout_ms) < 0) {
		wl_event_source_remove(upload->timer);
		upload->timer = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* The target: a memfd the client may write but never resize, and the
 * timer. */
static int
upload_make_target(struct pxc_upload_v1 *upload)
{
	const struct pxc_faults *faults = &upload->client->manager->faults;
	int ret;

	if (!pxc_manager_may_open_fds(upload->client->manager, 1)) {
		return -EMFILE;
	}
	upload->fd = pxc_shm_create(faults, "pixcache-upload", upload->size);
	if (upload->fd < 0) {
		ret = upload->fd;
		upload->fd = -1;
		return ret;
	}
	ret = pxc_shm_seal(faults, upload->fd, PXC_SEALS_TARGET);
	if (ret == 0) {
		ret = upload_start_timer(upload);
	}
	if (ret < 0) {
		close(upload->fd);
		upload->fd = -1;
		return ret;
	}
	return 0;
}

/*
 * An upload object, its state made; NULL if the client is refused (the
 * object inert and told) or out of memory (told).
 */
static struct pxc_upload_v1 *
upload_create(struct wl_client *wl_client, struct pxc_manager_v1 *client,
	uint32_t version, uint32_t id, const char *name, uint32_t width,
	uint32_t height, uint32_t flags)
{
	struct wl_resource *resource = pxc_resource_create(
		client ? client->manager : NULL, wl_client,
		&pixcache_upload_v1_interface, version, id, &upload_impl,
		upload_resource_destroy, sizeof(struct pxc_upload_v1) +
		(name != NULL ? strlen(name) + 1 : 0));
	struct pxc_upload_v1 *upload;

	if (resource == NULL) {
		return NULL;
	}
	if (client == NULL) {
		pixcache_upload_v1_send_failed(resource,
			PIXCACHE_BATCH_V1_FAILURE_POLICY);
		return NULL;
	}
	upload = wl_resource_get_user_data(resource);
	if (name != NULL) {
		upload->name = strcpy(upload->name_buf, name);
	}
	upload->resource = resource;
	upload->client = client;
	upload->fd = -1;
	upload->width = width;
	upload->height = height;
	upload->flags = flags;
	upload->state = PXC_UPLOAD_DONE;
	wl_list_insert(&client->uploads, &upload->client_link);
	return upload;
}

bool
pxc_upload_v1_flags_valid(struct wl_resource *resource, uint32_t error,
	uint32_t flags)
{
	if (flags & ~(uint32_t)PIXCACHE_BATCH_V1_UPLOAD_FLAGS_REPLACE) {
		wl_resource_post_error(resource, error,
			"unknown upload flags 0x%x", flags);
		return false;
	}
	return true;
}

/* In flight: counted until upload_end(), holding the name's fill. */
static void
upload_fly(struct pxc_upload_v1 *upload, struct pxc_realm_v1 *cr,
	struct pxc_fill *fill)
{
	struct pxc_manager_v1 *client = upload->client;

	upload->realm = cr->realm;
	upload->state = PXC_UPLOAD_TARGET;
	client->conn->uploads_in_flight++;
	client->conn->upload_bytes += upload->size;
	client->manager->uploads++;
	client->manager->upload_bytes += upload->size;
	if (fill != NULL) {
		pxc_fill_start_upload(fill, upload);
	}
}

void
pxc_upload_v1_start(struct wl_client *wl_client,
	struct pxc_manager_v1 *client,
	uint32_t version, uint32_t id, struct pxc_realm_v1 *cr,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	uint32_t flags)
{
	struct pxc_upload_v1 *upload = upload_create(wl_client, client, version,
		id, name, width, height, flags);
	struct wl_resource *resource = upload ? upload->resource : NULL;
	struct pxc_fill *fill = NULL;
	uint32_t refusal;

	if (upload == NULL) {
		return;
	}
	refusal = upload_refusal(upload, cr, name, format, UPLOAD_TARGET,
		&fill);
	if (refusal == 0 && upload_make_target(upload) < 0) {
		refusal = PIXCACHE_BATCH_V1_FAILURE_MEMORY;
	}
	if (refusal != 0) {
		pxc_fill_drop(fill);
		pixcache_upload_v1_send_failed(resource, refusal);
		upload_answered(upload);
		return;
	}
	upload_fly(upload, cr, fill);
	pixcache_upload_v1_send_target(resource, upload->fd, upload->stride,
		upload->size);
	pxc_connection_sent_fds(client->conn, 1);
}

/*
 * An upload answered at once, from src: stored, or failed with failure
 * or what its checks or its copy say.
 */
static void
upload_now(struct pxc_upload_v1 *upload, struct pxc_realm_v1 *cr,
	uint32_t format, uint32_t failure, const struct upload_source *src)
{
	struct pixcache_manager *manager = upload->client->manager;
	struct pxc_fill *fill = NULL;
	struct pxc_key key;

	if (failure == 0) {
		failure = upload_refusal(upload, cr, upload->name, format,
			UPLOAD_STAGED, &fill);
	}
	if (failure == 0) {
		upload->realm = cr->realm;
		if (fill != NULL) {
			pxc_fill_start_upload(fill, upload);
		}
		upload->stored = true;
		failure = upload_insert(upload, src, &key);
	}
	if (failure != 0) {
		pxc_fill_drop(fill);
		pixcache_upload_v1_send_failed(upload->resource, failure);
		pxc_fill_end_upload(upload, NULL);
		upload_answered(upload);
		return;
	}
	send_stored(upload, &key);
	pxc_fill_end_upload(upload, &key);
	upload_answered(upload);
	pxc_manager_settle(manager);
}

void
pxc_upload_v1_staged(struct wl_client *wl_client,
	struct pxc_staging_v1 *staging,
	uint32_t version, uint32_t id, struct pxc_realm_v1 *cr,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	uint32_t flags, uint32_t offset)
{
	struct pxc_manager_v1 *client = staging ? staging->client : NULL;
	struct pxc_upload_v1 *upload = upload_create(wl_client, client, version,
		id, name, width, height, flags);
	const struct pxc_format *f = pxc_format_find(format);
	uint32_t stride = 0, size = 0;
	struct upload_source src = { 0 };

	if (upload == NULL) {
		return;
	}
	/* A client bug whatever else fails: checked first. */
	if (f != NULL && pxc_format_layout(f, width, height, &stride, &size) &&
			(uint64_t)offset + size > staging->size) {
		wl_resource_post_error(staging->resource,
			PIXCACHE_STAGING_V1_ERROR_BAD_OFFSET,
			"a pixmap of %u bytes at %u is not within %u bytes",
			size, offset, staging->size);
		return;
	}
	if (staging->failure == 0) {
		src.rows = (const uint8_t *)staging->map + offset;
		src.stride = stride;
		src.whole = true;
	}
	upload_now(upload, cr, format, staging->failure, &src);
}

/*
 * Why the dma-buf cannot be read, or 0 with the reader started on it and
 * the upload in flight.
 */
static uint32_t
dmabuf_start(struct pxc_upload_v1 *upload, struct pxc_realm_v1 *cr,
	uint32_t format, int fd, const struct pxc_dmabuf_layout *layout)
{
	struct pixcache_manager *manager = upload->client->manager;
	struct pxc_fill *fill = NULL;
	uint32_t row, failure = upload_refusal(upload, cr, upload->name,
		format, UPLOAD_DMABUF, &fill);

	if (failure != 0) {
		return failure;
	}
	row = upload->width * upload->format->bytes_per_pixel;
	/* Its fds: a dup to read, and the loop's dup to wait on. */
	if (pxc_dmabuf_check(fd, layout, row, upload->height) < 0) {
		failure = PIXCACHE_BATCH_V1_FAILURE_DMABUF;
	} else if (!pxc_manager_may_open_fds(manager, 2) ||
			upload_start_timer(upload) < 0) {
		failure = PIXCACHE_BATCH_V1_FAILURE_MEMORY;
	} else {
		upload->job = pxc_dmabuf_read_start(manager, fd, layout, row,
			upload->height, upload);
		if (upload->job == NULL) {
			wl_event_source_remove(upload->timer);
			upload->timer = NULL;
			failure = PIXCACHE_BATCH_V1_FAILURE_MEMORY;
		}
	}
	if (failure != 0) {
		pxc_fill_drop(fill);
		return failure;
	}
	upload_fly(upload, cr, fill);
	upload->from_dmabuf = true;
	manager->dmabuf_uploads++;
	return 0;
}

void
pxc_upload_v1_from_dmabuf(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id,
	struct pxc_realm_v1 *cr, const char *name, uint32_t width,
	uint32_t height, uint32_t format, uint32_t flags, int fd,
	const struct pxc_dmabuf_layout *layout)
{
	struct pxc_upload_v1 *upload = upload_create(wl_client, client, version,
		id, name, width, height, flags);
	uint32_t failure;

	if (upload != NULL) {
		failure = dmabuf_start(upload, cr, format, fd, layout);
		if (failure != 0) {
			pixcache_upload_v1_send_failed(upload->resource,
				failure);
			upload_answered(upload);
		}
	}
	/* The reader has a dup of its own, if it reads it. */
	close(fd);
}

void
pxc_upload_v1_dmabuf_read(void *data, const uint8_t *rows,
	uint32_t row_bytes, int result)
{
	struct pxc_upload_v1 *upload = data;
	struct upload_source src = { .rows = rows, .stride = row_bytes };

	upload->job = NULL;
	if (result < 0) {
		upload_fail(upload, result == -ENOMEM ?
			PIXCACHE_BATCH_V1_FAILURE_MEMORY :
			PIXCACHE_BATCH_V1_FAILURE_DMABUF);
		return;
	}
	upload->stored = true;
	upload_store(upload, &src);
}
