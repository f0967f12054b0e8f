#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager-private.h"
#include "shm.h"

/* ---- realms: generation tables and pools ---- */

static void
realm_shm_free(struct pxc_realm_shm *realm)
{
	struct pxc_pool *pool, *tmp;

	wl_list_for_each_safe(pool, tmp, &realm->pools, link) {
		wl_list_remove(&pool->link);
		pxc_pool_destroy(pool);
		realm->manager->pools--;
	}
	pxc_shm_unmap(realm->table, realm->table_size);
	if (realm->table_fd >= 0) {
		close(realm->table_fd);
	}
	free(realm->name);
	free(realm);
}

void
pxc_realm_shm_destroy(struct pxc_realm_shm *realm)
{
	wl_list_remove(&realm->link);
	realm_shm_free(realm);
}

/* The table lives in a sealed memfd: the core writes it, readers map it. */
static int
realm_shm_make_table(struct pxc_realm_shm *realm)
{
	const struct pxc_faults *faults = &realm->manager->faults;
	int ret;

	realm->table_size = (uint64_t)realm->manager->config.table_capacity *
		sizeof(uint32_t);
	realm->table_fd = pxc_shm_create(faults, "pixcache-table",
		realm->table_size);
	if (realm->table_fd < 0) {
		return realm->table_fd;
	}
	realm->table = pxc_shm_map_write(faults, realm->table_fd,
		realm->table_size);
	if (realm->table == NULL) {
		return -errno;
	}
	ret = pxc_shm_seal(faults, realm->table_fd, PXC_SEALS_MANAGER);
	return ret;
}

static struct pxc_realm_shm *
realm_shm_find_locked(struct pixcache_manager *manager, const char *name)
{
	struct pxc_realm_shm *realm;

	wl_list_for_each(realm, &manager->realms, link) {
		if (strcmp(realm->name, name) == 0) {
			return realm;
		}
	}
	return NULL;
}

static int
realm_shm_create_locked(struct pixcache_manager *manager, const char *name,
	struct pxc_realm_shm **out)
{
	struct pxc_realm_options options = {
		.quota = manager->config.realm_quota,
	};
	struct pxc_realm_shm *realm = pxc_zalloc(manager, sizeof(*realm));
	int ret;

	if (realm == NULL) {
		return -ENOMEM;
	}
	realm->manager = manager;
	realm->table_fd = -1;
	wl_list_init(&realm->pools);
	realm->name = pxc_strdup(manager, name);
	ret = realm->name == NULL ? -ENOMEM : realm_shm_make_table(realm);
	if (ret == 0) {
		options.generation_table = realm->table;
		ret = pxc_fault(&manager->faults, "realm") ? -ENOMEM :
			pxc_cache_realm_create(manager->cache, name, &options,
				&realm->core);
	}
	if (ret < 0) {
		realm_shm_free(realm);
		return ret;
	}
	wl_list_insert(manager->realms.prev, &realm->link);
	*out = realm;
	return 0;
}

int
pxc_realm_shm_get(struct pixcache_manager *manager, const char *name,
	struct pxc_realm_shm **out)
{
	int ret = pxc_name_check(name, strlen(name));

	if (ret < 0) {
		return ret;
	}
	pthread_mutex_lock(&manager->realms_lock);
	*out = realm_shm_find_locked(manager, name);
	if (*out == NULL) {
		ret = realm_shm_create_locked(manager, name, out);
	}
	pthread_mutex_unlock(&manager->realms_lock);
	return ret;
}

int
pxc_realm_shm_alloc(struct pxc_realm_shm *realm, uint32_t bytes,
	struct pxc_pool **out, uint32_t *offset)
{
	struct pixcache_manager *manager = realm->manager;
	struct pxc_pool *pool;
	int ret = 0;

	pthread_mutex_lock(&manager->shm_lock);
	wl_list_for_each(pool, &realm->pools, link) {
		if (pxc_pool_alloc(pool, bytes, offset)) {
			*out = pool;
			goto out;
		}
	}
	pool = pxc_pool_create(&manager->faults, ++manager->next_pool_id,
		manager->config.pool_size);
	if (pool == NULL) {
		ret = -errno;
		goto out;
	}
	wl_list_insert(realm->pools.prev, &pool->link);
	manager->pools++;
	if (!pxc_pool_alloc(pool, bytes, offset)) {
		/* Cannot happen: pool_max_pixmap <= pool_size. */
		ret = -ENOSPC;
		goto out;
	}
	*out = pool;
out:
	pthread_mutex_unlock(&manager->shm_lock);
	return ret;
}

void
pxc_realm_shm_free(struct pxc_realm_shm *realm, struct pxc_pool *pool,
	uint32_t offset, uint32_t bytes)
{
	pthread_mutex_lock(&realm->manager->shm_lock);
	pxc_pool_free(pool, offset, bytes);
	pthread_mutex_unlock(&realm->manager->shm_lock);
}

/*
 * A pool emptied of pixmaps is given back, unless it is the realm's last:
 * keeping one spares the next insert a new memfd and every client a new
 * mapping.
 */
void
pxc_realm_shm_retire_pools(struct pxc_realm_shm *realm)
{
	struct pixcache_manager *manager = realm->manager;
	struct pxc_pool *pool, *tmp;
	struct wl_list retired;

	wl_list_init(&retired);
	pthread_mutex_lock(&manager->shm_lock);
	wl_list_for_each_safe(pool, tmp, &realm->pools, link) {
		if (pool->pixmaps == 0 && wl_list_length(&realm->pools) > 1) {
			wl_list_remove(&pool->link);
			wl_list_insert(&retired, &pool->link);
			manager->pools--;
		}
	}
	pthread_mutex_unlock(&manager->shm_lock);

	wl_list_for_each_safe(pool, tmp, &retired, link) {
		pxc_pool_v1_retire_all(pool);
		pxc_pool_destroy(pool);
	}
}

/* ---- realm objects ---- */

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
	free(realm);
}

static void
realm_handle_destroy(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	(void)wl_client;
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

/* What the client may do there, or the reason it may do nothing. */
static uint32_t
realm_open(struct pxc_realm_v1 *cr, uint32_t *denied)
{
	struct pxc_manager_v1 *client = cr->client;
	struct pixcache_manager *manager = client->manager;
	int ret;

	*denied = 0;
	if (pxc_name_check(cr->name, strlen(cr->name)) < 0) {
		*denied = PIXCACHE_BATCH_V1_FAILURE_NAME;
		return 0;
	}
	cr->access = pxc_policy_access(manager, client->client, cr->name);
	if (cr->access == 0) {
		*denied = PIXCACHE_BATCH_V1_FAILURE_POLICY;
		return 0;
	}
	ret = pxc_realm_shm_get(manager, cr->name, &cr->realm);
	if (ret < 0) {
		*denied = pxc_failure_of(ret);
		return 0;
	}
	return cr->access;
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
	struct pixcache_manager *manager = client ? client->manager : NULL;
	struct wl_resource *resource = pxc_resource_create(manager, wl_client,
		&pixcache_realm_v1_interface, version, id, &realm_impl,
		realm_resource_destroy,
		sizeof(struct pxc_realm_v1) + strlen(name) + 1);
	struct pxc_realm_v1 *cr;
	uint32_t denied;

	if (resource == NULL) {
		return;
	}
	if (client == NULL) {
		/* A refused client's manager: nothing to open. */
		pixcache_realm_v1_send_denied(resource,
			PIXCACHE_BATCH_V1_FAILURE_POLICY);
		return;
	}
	cr = wl_resource_get_user_data(resource);
	strcpy(cr->name, name);
	cr->resource = resource;
	cr->client = client;
	wl_list_insert(&client->realms, &cr->link);
	if (realm_open(cr, &denied) == 0) {
		cr->denied = denied;
		cr->realm = NULL;
		pixcache_realm_v1_send_denied(resource, denied);
		pxc_manager_refused(manager, wl_client, cr->name, denied);
		return;
	}
	realm_send_access(cr);
}
