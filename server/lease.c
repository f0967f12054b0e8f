#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "manager-private.h"

/* ---- clients' pool objects ---- */

static const struct pixcache_pool_v1_interface pool_impl;

static struct pxc_client_pool *
client_pool_from_resource(struct wl_resource *resource)
{
	assert(wl_resource_instance_of(resource, &pixcache_pool_v1_interface,
		&pool_impl));
	return wl_resource_get_user_data(resource);
}

void
pxc_client_pool_inert(struct pxc_client_pool *cp)
{
	wl_resource_set_user_data(cp->resource, NULL);
	wl_list_remove(&cp->client_link);
	wl_list_remove(&cp->pool_link);
	free(cp);
}

static void
pool_handle_destroy(struct wl_client *wl_client, struct wl_resource *resource)
{
	(void)wl_client;
	wl_resource_destroy(resource);
}

static const struct pixcache_pool_v1_interface pool_impl = {
	.destroy = pool_handle_destroy,
};

static void
pool_resource_destroy(struct wl_resource *resource)
{
	struct pxc_client_pool *cp = client_pool_from_resource(resource);

	if (cp != NULL) {
		pxc_client_pool_inert(cp);
	}
}

void
pxc_client_pools_retire(struct pxc_pool *pool)
{
	struct pxc_client_pool *cp, *tmp;

	/* The objects stay until their clients destroy them. */
	wl_list_for_each_safe(cp, tmp, &pool->resources, pool_link) {
		pixcache_pool_v1_send_retired(cp->resource);
		wl_list_remove(&cp->pool_link);
		wl_list_init(&cp->pool_link);
		cp->pool = NULL;
	}
}

static struct pxc_client_pool *
client_pool_find(struct pxc_client *client, const struct pxc_pool *pool)
{
	struct pxc_client_pool *cp;

	wl_list_for_each(cp, &client->pools, client_link) {
		if (cp->pool == pool) {
			return cp;
		}
	}
	return NULL;
}

/* The client's object of pool: sent now, through lease, if it has none. */
static struct pxc_client_pool *
client_pool_get(struct pxc_lease *lease, struct pxc_pool *pool,
	uint32_t *failure)
{
	struct pxc_client *client = lease->client;
	struct pixcache_manager *manager = client->manager;
	struct pxc_client_pool *cp = client_pool_find(client, pool);
	struct wl_resource *resource = NULL;

	if (cp != NULL) {
		return cp;
	}
	if (client->resource == NULL) {
		*failure = PIXCACHE_BATCH_V1_FAILURE_MEMORY;
		return NULL;
	}
	if (!pxc_client_may_send_fds(client, 1)) {
		*failure = PIXCACHE_BATCH_V1_FAILURE_FD_LIMIT;
		return NULL;
	}
	cp = pxc_zalloc(manager, sizeof(*cp));
	if (cp != NULL && !pxc_fault(&manager->faults, "resource")) {
		resource = wl_resource_create(client->client,
			&pixcache_pool_v1_interface,
			wl_resource_get_version(lease->resource), 0);
	}
	if (resource == NULL) {
		free(cp);
		*failure = PIXCACHE_BATCH_V1_FAILURE_MEMORY;
		return NULL;
	}
	cp->resource = resource;
	cp->pool = pool;
	wl_resource_set_implementation(resource, &pool_impl, cp,
		pool_resource_destroy);
	wl_list_insert(&client->pools, &cp->client_link);
	wl_list_insert(&pool->resources, &cp->pool_link);
	/* On the manager object: see pixcache_manager_v1.pool. */
	pixcache_manager_v1_send_pool(client->resource, resource, pool->fd,
		pool->size);
	pxc_client_sent_fds(client, 1);
	return cp;
}

/* ---- pixmap objects ---- */

static const struct pixcache_pixmap_v1_interface pixmap_impl;

static struct pxc_lease *
lease_from_resource(struct wl_resource *resource)
{
	assert(wl_resource_instance_of(resource, &pixcache_pixmap_v1_interface,
		&pixmap_impl));
	return wl_resource_get_user_data(resource);
}

void
pxc_lease_inert(struct pxc_lease *lease)
{
	struct pixcache_manager *manager = lease->client->manager;

	wl_resource_set_user_data(lease->resource, NULL);
	if (lease->hold != NULL) {
		wl_list_remove(&lease->pixmap_link);
		lease->client->conn->holding--;
		if (lease->copy) {
			lease->client->conn->copies--;
			pxc_pixmap_copy_unuse(lease->pixmap);
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
	(void)wl_client;
	wl_resource_destroy(resource);
}

static const struct pixcache_pixmap_v1_interface pixmap_impl = {
	.destroy = pixmap_handle_destroy,
};

static void
pixmap_resource_destroy(struct wl_resource *resource)
{
	struct pxc_lease *lease = lease_from_resource(resource);
	struct pixcache_manager *manager;

	if (lease == NULL) {
		return;
	}
	manager = lease->client->manager;
	pxc_lease_inert(lease);
	/* The lease may have been a pool's last. */
	pxc_manager_settle(manager);
}

struct pxc_lease *
pxc_lease_create(struct wl_client *wl_client, struct pxc_client *client,
	uint32_t version, uint32_t id)
{
	struct pixcache_manager *manager = client ? client->manager : NULL;
	struct wl_resource *resource = NULL;
	struct pxc_lease *lease = NULL;

	if (manager == NULL || !pxc_fault(&manager->faults, "resource")) {
		resource = wl_resource_create(wl_client,
			&pixcache_pixmap_v1_interface, (int)version, id);
	}
	if (resource == NULL) {
		wl_client_post_no_memory(wl_client);
		return NULL;
	}
	if (client == NULL) {
		/* A refused client, or the manager is gone: inert. */
		wl_resource_set_implementation(resource, &pixmap_impl, NULL,
			pixmap_resource_destroy);
		pixcache_pixmap_v1_send_failed(resource,
			PIXCACHE_BATCH_V1_FAILURE_POLICY);
		return NULL;
	}
	lease = pxc_zalloc(manager, sizeof(*lease));
	if (lease == NULL) {
		wl_resource_destroy(resource);
		wl_client_post_no_memory(wl_client);
		return NULL;
	}
	lease->resource = resource;
	lease->client = client;
	wl_list_init(&lease->pixmap_link);
	wl_list_init(&lease->wait_link);
	wl_list_insert(&client->leases, &lease->client_link);
	wl_resource_set_implementation(resource, &pixmap_impl, lease,
		pixmap_resource_destroy);
	return lease;
}

void
pxc_lease_fail(struct pxc_lease *lease, uint32_t reason)
{
	pixcache_pixmap_v1_send_failed(lease->resource, reason);
}

void
pxc_lease_missing(struct pxc_lease *lease)
{
	pixcache_pixmap_v1_send_missing(lease->resource);
}

static void
send_key(struct pxc_lease *lease, const struct pxc_key *key)
{
	pixcache_pixmap_v1_send_key(lease->resource,
		(uint32_t)(key->instance >> 32), (uint32_t)key->instance,
		key->slot, key->generation, (uint32_t)(key->tag >> 32),
		(uint32_t)key->tag);
}

/*
 * Answers with key, then buffer_pool (after pool if the client lacks it)
 * or buffer_fd (the pixmap's own buffer, or its one sealed copy for
 * readers of other realms). Everything that can fail comes before the
 * first event.
 */
void
pxc_lease_answer(struct pxc_lease *lease, struct pxc_entry *hold,
	const struct pxc_hit *hit, bool own_buffer)
{
	struct pxc_client *client = lease->client;
	struct pxc_pixmap *pixmap = hit->payload;
	struct pxc_client_pool *cp = NULL;
	uint32_t failure = 0;
	int fd = -1;

	if (!own_buffer && pixmap->pool != NULL) {
		cp = client_pool_get(lease, pixmap->pool, &failure);
	} else if (!pxc_client_may_send_fds(client, 1)) {
		failure = PIXCACHE_BATCH_V1_FAILURE_FD_LIMIT;
	} else if (own_buffer && pixmap->pool != NULL &&
			client->conn->copies >=
			client->manager->config.max_copies_per_connection) {
		/* Its share of the copies: no connection takes them all. */
		failure = PIXCACHE_BATCH_V1_FAILURE_LEASES;
	} else if (own_buffer && pixmap->pool != NULL) {
		/* Never the pool: a copy of just this pixmap. A buffer of
		 * its own, sealed for good, goes as it is. */
		fd = pxc_pixmap_shared_copy(pixmap);
		failure = fd < 0 ? PIXCACHE_BATCH_V1_FAILURE_MEMORY : 0;
	} else {
		fd = pixmap->fd;
	}
	if (failure != 0) {
		pxc_cache_release(client->manager->cache, hold);
		pxc_lease_fail(lease, failure);
		return;
	}

	send_key(lease, &hit->key);
	if (cp != NULL) {
		pixcache_pixmap_v1_send_buffer_pool(lease->resource,
			cp->resource, pixmap->offset, pixmap->width,
			pixmap->height, pixmap->stride, pixmap->format);
	} else {
		pixcache_pixmap_v1_send_buffer_fd(lease->resource, fd,
			pixmap->width, pixmap->height, pixmap->stride,
			pixmap->format);
		pxc_client_sent_fds(client, 1);
	}
	lease->hold = hold;
	lease->pixmap = pixmap;
	/* The copy's use taken above is this lease's. */
	lease->copy = own_buffer && pixmap->pool != NULL;
	client->conn->copies += lease->copy;
	wl_list_insert(&pixmap->leases, &lease->pixmap_link);
	client->conn->holding++;
}

void
pxc_leases_evicted(struct pxc_pixmap *pixmap)
{
	struct pxc_lease *lease;

	wl_list_for_each(lease, &pixmap->leases, pixmap_link) {
		pixcache_pixmap_v1_send_evicted(lease->resource);
	}
}
