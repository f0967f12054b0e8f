/*
 * pixcache_pool_v1: a client's object for one of a realm's pools, sent on
 * the manager object the first time a lease of that client lies in it.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <stdlib.h>

#include "manager-private.h"

static const struct pixcache_pool_v1_interface pool_impl;

static struct pxc_pool_v1 *
pool_from_resource(struct wl_resource *resource)
{
	assert(wl_resource_instance_of(resource, &pixcache_pool_v1_interface,
		&pool_impl));
	return wl_resource_get_user_data(resource);
}

void
pxc_pool_v1_inert(struct pxc_pool_v1 *cp)
{
	wl_resource_set_user_data(cp->resource, NULL);
	wl_list_remove(&cp->client_link);
	wl_list_remove(&cp->pool_link);
	free(cp);
}

static void
pool_handle_destroy(struct wl_client *wl_client, struct wl_resource *resource)
{
	wl_resource_destroy(resource);
}

static const struct pixcache_pool_v1_interface pool_impl = {
	.destroy = pool_handle_destroy,
};

static void
pool_resource_destroy(struct wl_resource *resource)
{
	struct pxc_pool_v1 *cp = pool_from_resource(resource);

	if (cp != NULL) {
		pxc_pool_v1_inert(cp);
	}
}

void
pxc_pool_v1_retire_all(struct pxc_pool *pool)
{
	struct pxc_pool_v1 *cp, *tmp;

	/* The objects stay until their clients destroy them. */
	wl_list_for_each_safe(cp, tmp, &pool->resources, pool_link) {
		pixcache_pool_v1_send_retired(cp->resource);
		wl_list_remove(&cp->pool_link);
		wl_list_init(&cp->pool_link);
		cp->pool = NULL;
	}
}

uint32_t
pxc_pool_v1_send(struct pxc_pixmap_v1 *lease, struct pxc_pool *pool,
	struct pxc_pool_v1 **out)
{
	struct pxc_manager_v1 *client = lease->client;
	struct wl_resource *resource;
	struct pxc_pool_v1 *cp;

	if (client->resource == NULL) {
		return PIXCACHE_BATCH_V1_FAILURE_MEMORY;
	}
	if (!pxc_connection_may_send_fds(client->conn, 1)) {
		return PIXCACHE_BATCH_V1_FAILURE_FD_LIMIT;
	}
	resource = pxc_resource_create(client->manager, client->client,
		&pixcache_pool_v1_interface,
		wl_resource_get_version(client->resource), 0, &pool_impl,
		pool_resource_destroy, sizeof(*cp));
	if (resource == NULL) {
		return PIXCACHE_BATCH_V1_FAILURE_MEMORY;
	}
	cp = wl_resource_get_user_data(resource);
	cp->resource = resource;
	cp->pool = pool;
	wl_list_insert(&client->pools, &cp->client_link);
	wl_list_insert(&pool->resources, &cp->pool_link);
	/* On the manager object: see pixcache_manager_v1.pool. */
	pixcache_manager_v1_send_pool(client->resource, resource, pool->fd,
		pool->size, pool->id);
	pxc_connection_sent_fds(client->conn, 1);
	*out = cp;
	return 0;
}
