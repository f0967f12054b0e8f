#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "manager-private.h"

static const struct pixcache_pixmap_v1_interface pixmap_impl;

static struct pxc_pixmap_v1 *
pixmap_from_resource(struct wl_resource *resource)
{
	assert(wl_resource_instance_of(resource, &pixcache_pixmap_v1_interface,
		&pixmap_impl));
	return wl_resource_get_user_data(resource);
}

void
pxc_pixmap_v1_inert(struct pxc_pixmap_v1 *lease)
{
	struct pixcache_manager *manager = lease->client->manager;

	if (lease->resource != NULL) {
		wl_resource_set_user_data(lease->resource, NULL);
		lease->client->conn->pixmap_objects--;
	}
	pxc_found_unnumber(lease);
	if (lease->hold != NULL) {
		wl_list_remove(&lease->pixmap_link);
		lease->client->conn->holding--;
		if (lease->copy) {
			lease->client->conn->copies--;
			pxc_buffer_copy_unuse(lease->buffer);
		}
		if (lease->dmabuf) {
			lease->client->conn->dmabufs--;
			pxc_buffer_dmabuf_unuse(lease->buffer);
		}
		pxc_cache_release(manager->cache, lease->hold);
	}
	pxc_fill_unwait(lease);
	wl_list_remove(&lease->client_link);
	/* Last: passing the claim on may tell another lease. */
	pxc_fill_unclaim(lease);
	free(lease);
}

static void
pixmap_handle_destroy(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	wl_resource_destroy(resource);
}

/*
 * Only a lease that holds a pixmap has one to give (evicted or not); an
 * inert object (a refused client's, or the manager is gone) is told
 * policy, as its lookup was.
 */
static void
pixmap_handle_get_dmabuf(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	struct pxc_pixmap_v1 *lease = pixmap_from_resource(resource);
	const struct pxc_dmabuf *dmabuf = NULL;
	uint32_t failure;

	if (lease == NULL) {
		pixcache_pixmap_v1_send_failed(resource,
			PIXCACHE_BATCH_V1_FAILURE_POLICY);
		return;
	}
	if (lease->hold == NULL) {
		wl_resource_post_error(resource,
			PIXCACHE_PIXMAP_V1_ERROR_NO_PIXMAP,
			"get_dmabuf: the object holds no pixmap");
		return;
	}
	if (!pxc_connection_may_send_fds(lease->client->conn, 1)) {
		failure = PIXCACHE_BATCH_V1_FAILURE_FD_LIMIT;
	} else if (lease->dmabuf) {
		dmabuf = &lease->buffer->dmabuf;
		failure = 0;
	} else if (lease->client->conn->dmabufs >= lease->client->manager->
			config.max_dmabufs_per_connection) {
		/* Its share: no connection takes every dma-buf. */
		failure = PIXCACHE_BATCH_V1_FAILURE_LEASES;
	} else {
		failure = pxc_buffer_dmabuf(lease->buffer, &dmabuf);
		lease->dmabuf = failure == 0;
		lease->client->conn->dmabufs += lease->dmabuf;
	}
	if (failure != 0) {
		pixcache_pixmap_v1_send_failed(resource, failure);
		return;
	}
	pixcache_pixmap_v1_send_dmabuf(resource, dmabuf->fd, 0,
		dmabuf->stride, lease->buffer->format,
		pxc_wire_hi(DRM_FORMAT_MOD_LINEAR),
		pxc_wire_lo(DRM_FORMAT_MOD_LINEAR));
	pxc_connection_sent_fds(lease->client->conn, 1);
}

static const struct pixcache_pixmap_v1_interface pixmap_impl = {
	.destroy = pixmap_handle_destroy,
	.get_dmabuf = pixmap_handle_get_dmabuf,
};

static void
pixmap_resource_destroy(struct wl_resource *resource)
{
	struct pxc_pixmap_v1 *lease = pixmap_from_resource(resource);
	struct pixcache_manager *manager;

	if (lease == NULL) {
		return;
	}
	manager = lease->client->manager;
	pxc_pixmap_v1_inert(lease);
	/* The lease may have been a pool's last. */
	pxc_manager_settle(manager);
}

struct pxc_pixmap_v1 *
pxc_pixmap_v1_create(struct wl_client *wl_client, struct pxc_manager_v1 *client,
	uint32_t version, uint32_t id)
{
	/* Held or not, an object keeps its lease until its client destroys
	 * it: past its share, a connection's objects get no state. */
	bool full = client != NULL && client->conn->pixmap_objects >=
		2 * client->manager->config.max_leases;
	struct wl_resource *resource = pxc_resource_create(
		client ? client->manager : NULL, wl_client,
		&pixcache_pixmap_v1_interface, version, id, &pixmap_impl,
		pixmap_resource_destroy,
		full ? 0 : sizeof(struct pxc_pixmap_v1));
	struct pxc_pixmap_v1 *lease;

	if (resource == NULL) {
		return NULL;
	}
	if (client == NULL || full) {
		/* A refused client, or the manager is gone, or past the
		 * share: inert. */
		pixcache_pixmap_v1_send_failed(resource, full ?
			PIXCACHE_BATCH_V1_FAILURE_LEASES :
			PIXCACHE_BATCH_V1_FAILURE_POLICY);
		return NULL;
	}
	lease = wl_resource_get_user_data(resource);
	lease->resource = resource;
	pxc_pixmap_v1_init(lease, client);
	client->conn->pixmap_objects++;
	return lease;
}

void
pxc_pixmap_v1_fail(struct pxc_pixmap_v1 *lease, uint32_t reason)
{
	if (lease->resource != NULL) {
		pixcache_pixmap_v1_send_failed(lease->resource, reason);
	} else {
		pxc_found_lease_record(lease,
			PIXCACHE_BATCH_V1_FOUND_STATUS_FAILED, reason);
	}
}

void
pxc_pixmap_v1_missing(struct pxc_pixmap_v1 *lease)
{
	if (lease->resource != NULL) {
		pixcache_pixmap_v1_send_missing(lease->resource);
	} else {
		pxc_found_lease_record(lease,
			PIXCACHE_BATCH_V1_FOUND_STATUS_MISSING, lease->number);
	}
}

void
pxc_pixmap_v1_claimed(struct pxc_pixmap_v1 *lease)
{
	if (lease->resource != NULL) {
		pixcache_pixmap_v1_send_claimed(lease->resource);
	} else {
		pxc_found_lease_record(lease,
			PIXCACHE_BATCH_V1_FOUND_STATUS_CLAIMED,
			pxc_found_number(lease));
	}
}

void
pxc_pixmap_v1_pending(struct pxc_pixmap_v1 *lease)
{
	if (lease->resource != NULL) {
		pixcache_pixmap_v1_send_pending(lease->resource);
	} else {
		pxc_found_lease_record(lease,
			PIXCACHE_BATCH_V1_FOUND_STATUS_PENDING,
			pxc_found_number(lease));
	}
}

/* The record of a lease that now holds a buffer in a pool. */
static void
record_found(struct pxc_pixmap_v1 *lease, const struct pxc_hit *hit,
	const struct pxc_pool_v1 *cp)
{
	const struct pxc_buffer *buffer = hit->payload;
	struct pxc_key_wire key = pxc_key_wire(&hit->key);
	uint32_t record[PXC_RECORD_WORDS] = {
		lease->name_number, PIXCACHE_BATCH_V1_FOUND_STATUS_FOUND,
		pxc_found_number(lease), key.slot, key.generation, key.tag_hi,
		key.tag_lo,
		cp->pool->id, buffer->offset, buffer->width, buffer->height,
		buffer->stride, buffer->format,
	};

	pxc_found_record(lease->batch, record);
}

static void
send_key(struct pxc_pixmap_v1 *lease, const struct pxc_key *key)
{
	struct pxc_key_wire w = pxc_key_wire(key);

	pixcache_pixmap_v1_send_key(lease->resource, w.instance_hi,
		w.instance_lo, w.slot, w.generation, w.tag_hi, w.tag_lo);
}

/* The events of an answer on a pixmap object: key, then the buffer. */
static void
send_answer(struct pxc_pixmap_v1 *lease, const struct pxc_key *key,
	const struct pxc_buffer *buffer, const struct pxc_pool_v1 *cp,
	int fd)
{
	send_key(lease, key);
	if (cp != NULL) {
		pixcache_pixmap_v1_send_buffer_pool(lease->resource,
			cp->resource, buffer->offset, buffer->width,
			buffer->height, buffer->stride, buffer->format);
	} else {
		pixcache_pixmap_v1_send_buffer_fd(lease->resource, fd,
			buffer->width, buffer->height, buffer->stride,
			buffer->format);
		pxc_connection_sent_fds(lease->client->conn, 1);
	}
}

/*
 * Answers with key, then buffer_pool (after pool if the client lacks it)
 * or buffer_fd (the pixmap's own buffer, or its one sealed copy for
 * readers of other realms). Everything that can fail comes before the
 * first event.
 */
void
pxc_pixmap_v1_answer(struct pxc_pixmap_v1 *lease, struct pxc_entry *hold,
	const struct pxc_hit *hit, bool own_buffer)
{
	struct pxc_manager_v1 *client = lease->client;
	struct pxc_buffer *buffer = hit->payload;
	struct pxc_pool_v1 *cp = NULL;
	uint32_t failure = 0;
	int fd = -1;

	if (lease->resource == NULL && (own_buffer || buffer->pool == NULL ||
			!lease->table)) {
		/* An fd cannot ride in a record, and a lease of a find is
		 * told of no eviction: the client asks by lookup. */
		pxc_cache_release(client->manager->cache, hold);
		pxc_found_lease_record(lease,
			PIXCACHE_BATCH_V1_FOUND_STATUS_LOOKUP, lease->number);
		return;
	}
	if (!own_buffer && buffer->pool != NULL) {
		failure = pxc_pool_v1_get(lease, buffer->pool, &cp);
	} else if (!pxc_connection_may_send_fds(client->conn, 1)) {
		failure = PIXCACHE_BATCH_V1_FAILURE_FD_LIMIT;
	} else if (own_buffer && buffer->pool != NULL &&
			client->conn->copies >=
			client->manager->config.max_copies_per_connection) {
		/* Its share of the copies: no connection takes them all. */
		failure = PIXCACHE_BATCH_V1_FAILURE_LEASES;
	} else if (own_buffer && buffer->pool != NULL) {
		/* Never the pool: a copy of just this pixmap. A buffer of
		 * its own, sealed for good, goes as it is. */
		fd = pxc_buffer_shared_copy(buffer);
		failure = fd < 0 ? pxc_failure_of(fd) : 0;
	} else {
		fd = buffer->fd;
	}
	if (failure != 0) {
		pxc_cache_release(client->manager->cache, hold);
		pxc_pixmap_v1_fail(lease, failure);
		return;
	}

	if (lease->resource == NULL) {
		record_found(lease, hit, cp);
	} else {
		send_answer(lease, &hit->key, buffer, cp, fd);
	}
	lease->hold = hold;
	lease->buffer = buffer;
	/* The copy's use taken above is this lease's. */
	lease->copy = own_buffer && buffer->pool != NULL;
	client->conn->copies += lease->copy;
	wl_list_insert(&buffer->leases, &lease->pixmap_link);
	client->conn->holding++;
}

void
pxc_pixmap_v1_evict_all(struct pxc_buffer *buffer)
{
	struct pxc_pixmap_v1 *lease;

	/* Only buffer objects: leases of finds are compact, and their
	 * clients have the realm's table. */
	wl_list_for_each(lease, &buffer->leases, pixmap_link) {
		pixcache_pixmap_v1_send_evicted(lease->resource);
	}
}
