/*
 * Pools: one sealed memfd holding many small pixmaps of one realm, so a
 * client maps one file for hundreds of icons. Space is handed out in
 * 64-byte units (strides are multiples of 64) from a bitmap, so freeing
 * never allocates and cannot fail.
 */

#ifndef PIXCACHE_POOL_H
#define PIXCACHE_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <wayland-util.h>

#include "faults.h"

#define PXC_POOL_UNIT 64

struct pxc_pool {
	struct wl_list link;		/* the realm's pools */
	uint32_t id;			/* unique within the manager */
	int fd;
	uint8_t *map;			/* the manager's writable view */
	uint32_t size;
	uint32_t units;
	uint32_t used_units;
	uint32_t pixmaps;		/* live allocations */
	uint32_t hint;			/* a unit at or before the first free one */
	uint32_t populated;		/* bytes from 0 faulted in ahead */
	uint64_t *bitmap;		/* a set bit is a used unit */
	struct wl_list resources;	/* clients' pool objects */
};

/**
 * Creates a pool of size bytes (a multiple of PXC_POOL_UNIT): a memfd the
 * manager maps writable, then seals against any other writer. Returns NULL
 * with errno set.
 */
struct pxc_pool *pxc_pool_create(const struct pxc_faults *faults,
	uint32_t id, uint32_t size);

/** Unmaps and closes the pool and frees it. Accepts NULL. */
void pxc_pool_destroy(struct pxc_pool *pool);

/** Takes bytes of space (first fit); false if no run is free. */
bool pxc_pool_alloc(struct pxc_pool *pool, uint32_t bytes, uint32_t *offset);

/** Gives space back. */
void pxc_pool_free(struct pxc_pool *pool, uint32_t offset, uint32_t bytes);

#endif
