#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool.h"
#include "shm.h"

static uint32_t
units_for(uint32_t bytes)
{
	return (uint32_t)(((uint64_t)bytes + PXC_POOL_UNIT - 1) /
		PXC_POOL_UNIT);
}

static bool
unit_used(const struct pxc_pool *pool, uint32_t unit)
{
	return pool->bitmap[unit / 64] >> (unit % 64) & 1;
}

static void
mark(struct pxc_pool *pool, uint32_t first, uint32_t count, bool used)
{
	for (uint32_t u = first; u < first + count; u++) {
		if (used) {
			pool->bitmap[u / 64] |= UINT64_C(1) << (u % 64);
		} else {
			pool->bitmap[u / 64] &= ~(UINT64_C(1) << (u % 64));
		}
	}
}

struct pxc_pool *
pxc_pool_create(const struct pxc_faults *faults, uint32_t id, uint32_t size)
{
	struct pxc_pool *pool;
	int ret;

	if (size == 0 || size % PXC_POOL_UNIT != 0) {
		errno = EINVAL;
		return NULL;
	}
	pool = pxc_fault(faults, "alloc") ? NULL : calloc(1, sizeof(*pool));
	if (pool == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	pool->id = id;
	pool->size = size;
	pool->units = size / PXC_POOL_UNIT;
	pool->fd = -1;
	wl_list_init(&pool->resources);
	wl_list_init(&pool->link);
	pool->bitmap = pxc_fault(faults, "alloc") ? NULL :
		calloc((pool->units + 63) / 64, sizeof(uint64_t));
	if (pool->bitmap == NULL) {
		pxc_pool_destroy(pool);
		errno = ENOMEM;
		return NULL;
	}
	pool->fd = pxc_shm_create(faults, "pixcache-pool", size);
	if (pool->fd < 0) {
		ret = -pool->fd;
		pool->fd = -1;
		pxc_pool_destroy(pool);
		errno = ret;
		return NULL;
	}
	/* Writable view first: once sealed, none can be made. */
	pool->map = pxc_shm_map_write(faults, pool->fd, size);
	if (pool->map == NULL) {
		ret = errno;
		pxc_pool_destroy(pool);
		errno = ret;
		return NULL;
	}
	ret = pxc_shm_seal(faults, pool->fd, PXC_SEALS_MANAGER);
	if (ret < 0) {
		pxc_pool_destroy(pool);
		errno = -ret;
		return NULL;
	}
	return pool;
}

void
pxc_pool_destroy(struct pxc_pool *pool)
{
	if (pool == NULL) {
		return;
	}
	pxc_shm_unmap(pool->map, pool->size);
	if (pool->fd >= 0) {
		close(pool->fd);
	}
	free(pool->bitmap);
	free(pool);
}

/* Pages faulted in at once, ahead of the pixmaps written into them. */
#define POPULATE_AHEAD (64u << 10)

/*
 * Faults the pool's pages in up to end, a chunk at a time: one system
 * call instead of a page fault per page written (several microseconds
 * each in a virtual machine), for at most one chunk not used yet. A
 * kernel without MADV_POPULATE_WRITE (before 5.14) faults them as usual.
 */
static void
populate_to(struct pxc_pool *pool, uint32_t end)
{
	uint32_t to;

	if (end <= pool->populated) {
		return;
	}
	to = end + POPULATE_AHEAD - 1 < end ? pool->size :
		(end + POPULATE_AHEAD - 1) / POPULATE_AHEAD * POPULATE_AHEAD;
	if (to > pool->size) {
		to = pool->size;
	}
#ifdef MADV_POPULATE_WRITE
	(void)madvise(pool->map + pool->populated, to - pool->populated,
		MADV_POPULATE_WRITE);
#endif
	pool->populated = to;
}

bool
pxc_pool_alloc(struct pxc_pool *pool, uint32_t bytes, uint32_t *offset)
{
	uint32_t want = units_for(bytes);
	uint32_t run = 0;

	if (want == 0 || want > pool->units - pool->used_units) {
		return false;
	}
	for (uint32_t u = pool->hint; u < pool->units; u++) {
		/* Skip whole used words quickly. */
		if (run == 0 && u % 64 == 0 && pool->bitmap[u / 64] == UINT64_MAX) {
			u += 63;
			continue;
		}
		run = unit_used(pool, u) ? 0 : run + 1;
		if (run == want) {
			uint32_t first = u + 1 - want;

			mark(pool, first, want, true);
			if (first == pool->hint) {
				pool->hint = u + 1;
			}
			pool->used_units += want;
			pool->pixmaps++;
			*offset = first * PXC_POOL_UNIT;
			populate_to(pool, *offset + bytes);
			return true;
		}
	}
	return false;
}

void
pxc_pool_free(struct pxc_pool *pool, uint32_t offset, uint32_t bytes)
{
	uint32_t first = offset / PXC_POOL_UNIT;
	uint32_t count = units_for(bytes);

	mark(pool, first, count, false);
	pool->used_units -= count;
	pool->pixmaps--;
	if (first < pool->hint) {
		pool->hint = first;
	}
}
