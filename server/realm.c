/*
 * pixcache_realm_v1: a client's realm object, opened by get_realm under
 * the policy, and the rule every request on a realm applies.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager-private.h"
#include "name.h"
#include "shm.h"

static const struct pixcache_realm_v1_interface realm_impl;

struct pxc_realm_v1 *
pxc_realm_v1_from_resource(struct wl_resource *resource)
{
	assert(wl_resource_instance_of(resource, &pixcache_realm_v1_interface,
		&realm_impl));
	return wl_resource_get_user_data(resource);
}

void
pxc_realm_v1_inert(struct pxc_realm_v1 *realm)
{
	wl_resource_set_user_data(realm->resource, NULL);
	wl_list_remove(&realm->link);
	realm->client->conn->objects--;
	free(realm);
}

static void
realm_handle_destroy(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	wl_resource_destroy(resource);
}

static const struct pixcache_realm_v1_interface realm_impl = {
	.destroy = realm_handle_destroy,
};

static void
realm_resource_destroy(struct wl_resource *resource)
{
	struct pxc_realm_v1 *realm = pxc_realm_v1_from_resource(resource);

	if (realm != NULL) {
		pxc_realm_v1_inert(realm);
	}
}

/* Opens the realm for the client: 0, or the reason it may do nothing. */
static uint32_t
realm_open(struct pxc_realm_v1 *cr)
{
	struct pxc_manager_v1 *client = cr->client;
	struct pixcache_manager *manager = client->manager;
	int ret;

	if (pxc_name_check(cr->name, strlen(cr->name)) < 0) {
		return PIXCACHE_BATCH_V1_FAILURE_NAME;
	}
	cr->access = pxc_policy_access(manager, client->client, cr->name);
	if (cr->access == 0) {
		return PIXCACHE_BATCH_V1_FAILURE_POLICY;
	}
	ret = pxc_realm_shm_get(manager, cr->name, &cr->realm);
	return ret < 0 ? pxc_failure_of(ret) : 0;
}

/* access first, then the table if it is granted and an fd may go out. */
static void
realm_send_access(struct pxc_realm_v1 *cr)
{
	struct pxc_manager_v1 *client = cr->client;

	if (!pxc_connection_may_send_fds(client->conn, 1)) {
		cr->access &= ~(uint32_t)PIXCACHE_ACCESS_TABLE;
	}
	pixcache_realm_v1_send_access(cr->resource, cr->access);
	if (cr->access & PIXCACHE_ACCESS_TABLE) {
		pixcache_realm_v1_send_generation_table(cr->resource,
			cr->realm->table_fd,
			client->manager->config.table_capacity);
		pxc_connection_sent_fds(client->conn, 1);
	}
}

void
pxc_realm_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id,
	const char *name)
{
	bool room = client != NULL && pxc_connection_may_hold(client->conn);
	struct wl_resource *resource = pxc_resource_create(
		room ? client->manager : NULL, wl_client,
		&pixcache_realm_v1_interface, version, id, &realm_impl,
		realm_resource_destroy,
		sizeof(struct pxc_realm_v1) + strlen(name) + 1);
	struct pixcache_manager *manager;
	struct pxc_realm_v1 *cr;

	if (resource == NULL) {
		return;
	}
	if (!room) {
		/* A refused client's manager, or past max_objects: the
		 * object alone, nothing to open. */
		pixcache_realm_v1_send_denied(resource, client == NULL ?
			PIXCACHE_BATCH_V1_FAILURE_POLICY :
			PIXCACHE_BATCH_V1_FAILURE_MEMORY);
		return;
	}
	manager = client->manager;
	client->conn->objects++;
	cr = wl_resource_get_user_data(resource);
	strcpy(cr->name, name);
	cr->resource = resource;
	cr->client = client;
	wl_list_insert(&client->realms, &cr->link);
	cr->denied = realm_open(cr);
	if (cr->denied != 0) {
		cr->realm = NULL;
		pixcache_realm_v1_send_denied(resource, cr->denied);
		pxc_manager_refused(manager, wl_client, cr->name, cr->denied);
		return;
	}
	realm_send_access(cr);
}
