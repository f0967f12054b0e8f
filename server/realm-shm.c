/*
 * A realm's shared memory, as the manager keeps it: its generation table
 * (a sealed memfd every reader with table access maps) and its pools.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager-private.h"
#include "shm.h"

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

