#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "manager-private.h"
#include "shm.h"

static struct pxc_pixmap *
pixmap_new(struct pxc_mrealm *realm, const struct pxc_format *format,
	uint32_t width, uint32_t height)
{
	struct pixcache_manager *manager = realm->manager;
	struct pxc_pixmap *pixmap = pxc_zalloc(manager, sizeof(*pixmap));

	if (pixmap == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	pixmap->manager = manager;
	pixmap->realm = realm;
	pixmap->width = width;
	pixmap->height = height;
	pixmap->format = format->fourcc;
	pixmap->fd = -1;
	pixmap->copy_fd = -1;
	pxc_format_layout(format, width, height, &pixmap->stride,
		&pixmap->size);
	atomic_init(&pixmap->refs, 1);
	pthread_mutex_init(&pixmap->map_lock, NULL);
	wl_list_init(&pixmap->leases);
	atomic_fetch_add(&manager->pixmaps, 1);
	return pixmap;
}

static void
pixmap_free(struct pxc_pixmap *pixmap)
{
	atomic_fetch_sub(&pixmap->manager->pixmaps, 1);
	pthread_mutex_destroy(&pixmap->map_lock);
	free(pixmap);
}

struct pxc_pixmap *
pxc_pixmap_create(struct pxc_mrealm *realm, const struct pxc_format *format,
	uint32_t width, uint32_t height)
{
	struct pxc_pixmap *pixmap = pixmap_new(realm, format, width, height);
	int ret;

	if (pixmap == NULL) {
		return NULL;
	}
	if (pixmap->size <= realm->manager->config.pool_max_pixmap) {
		ret = pxc_mrealm_alloc(realm, pixmap->size, &pixmap->pool,
			&pixmap->offset);
	} else {
		ret = pixmap->fd = pxc_shm_create(&realm->manager->faults,
			"pixcache-pixmap", pixmap->size);
		if (ret >= 0) {
			atomic_fetch_add(&realm->manager->pixmap_fds, 1);
			ret = 0;
		} else {
			pixmap->fd = -1;
		}
	}
	if (ret < 0) {
		pixmap_free(pixmap);
		errno = -ret;
		return NULL;
	}
	return pixmap;
}

struct pxc_pixmap *
pxc_pixmap_adopt(struct pxc_mrealm *realm, const struct pxc_format *format,
	uint32_t width, uint32_t height, int fd)
{
	struct pxc_pixmap *pixmap = pixmap_new(realm, format, width, height);

	if (pixmap != NULL) {
		pixmap->fd = fd;
		atomic_fetch_add(&realm->manager->pixmap_fds, 1);
	}
	return pixmap;
}

/* Gives the pixmap's memory back; the struct may live on. */
static void
pixmap_release_memory(struct pxc_pixmap *pixmap)
{
	if (pixmap->pool != NULL) {
		pxc_mrealm_free(pixmap->realm, pixmap->pool, pixmap->offset,
			pixmap->size);
		pixmap->pool = NULL;
	}
	pxc_shm_unmap(pixmap->map, pixmap->size);
	pixmap->map = NULL;
	if (pixmap->fd >= 0) {
		close(pixmap->fd);
		pixmap->fd = -1;
		atomic_fetch_sub(&pixmap->manager->pixmap_fds, 1);
	}
	/* Every lease let go of it before the last hold went. */
	assert(pixmap->copy_fd < 0);
}

/* What a copy of the pixmap costs: whole pages of shared memory. */
static uint64_t
copy_bytes(const struct pxc_pixmap *pixmap)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	return ((uint64_t)pixmap->size + page - 1) / page * page;
}

void
pxc_pixmap_copy_unuse(struct pxc_pixmap *pixmap)
{
	if (--pixmap->copy_users > 0) {
		return;
	}
	close(pixmap->copy_fd);
	pixmap->copy_fd = -1;
	pixmap->manager->copies--;
	atomic_fetch_sub(&pixmap->manager->pixmap_fds, 1);
	atomic_fetch_sub(&pixmap->manager->copy_bytes, copy_bytes(pixmap));
}

void
pxc_pixmap_discard(struct pxc_pixmap *pixmap)
{
	pixmap_release_memory(pixmap);
	pixmap_free(pixmap);
}

void
pxc_pixmap_unref(struct pxc_pixmap *pixmap)
{
	if (atomic_fetch_sub_explicit(&pixmap->refs, 1,
			memory_order_acq_rel) == 1) {
		pixmap_free(pixmap);
	}
}

const void *
pxc_pixmap_data(struct pxc_pixmap *pixmap)
{
	const void *data;

	if (pixmap->pool != NULL) {
		return pixmap->pool->map + pixmap->offset;
	}
	pthread_mutex_lock(&pixmap->map_lock);
	if (pixmap->map == NULL) {
		pixmap->map = pxc_shm_map_read(&pixmap->manager->faults,
			pixmap->fd, pixmap->size);
	}
	data = pixmap->map;
	pthread_mutex_unlock(&pixmap->map_lock);
	return data;
}

void *
pxc_pixmap_write_begin(struct pxc_pixmap *pixmap)
{
	if (pixmap->pool != NULL) {
		return pixmap->pool->map + pixmap->offset;
	}
	return pxc_shm_map_write(&pixmap->manager->faults, pixmap->fd,
		pixmap->size);
}

/*
 * A buffer of its own is sealed against writing once the manager has
 * dropped its writable view: no one else ever had one, so nothing can be
 * pinned and the seal does not wait.
 */
int
pxc_pixmap_write_end(struct pxc_pixmap *pixmap, void *data)
{
	if (pixmap->pool != NULL) {
		return 0;
	}
	pxc_shm_unmap(data, pixmap->size);
	return pxc_shm_seal(&pixmap->manager->faults, pixmap->fd,
		PXC_SEALS_FINAL);
}

int
pxc_pixmap_shared_copy(struct pxc_pixmap *pixmap)
{
	const struct pxc_faults *faults = &pixmap->manager->faults;
	const void *data;
	int fd, ret;

	if (pixmap->copy_fd >= 0) {
		pixmap->copy_users++;
		return pixmap->copy_fd;
	}
	if (pixmap->manager->copies >= pixmap->manager->config.max_copies) {
		return -EMFILE;
	}
	data = pxc_pixmap_data(pixmap);
	if (data == NULL) {
		return -errno;
	}
	fd = pxc_shm_create(faults, "pixcache-copy", pixmap->size);
	if (fd < 0) {
		return fd;
	}
	/* pwrite, not a mapping: so the write seal cannot find it mapped. */
	if (pxc_fault(faults, "pwrite") ||
			pwrite(fd, data, pixmap->size, 0) !=
			(ssize_t)pixmap->size) {
		ret = -EIO;
	} else {
		ret = pxc_shm_seal(faults, fd, PXC_SEALS_FINAL);
	}
	if (ret < 0) {
		close(fd);
		return ret;
	}
	pixmap->copy_fd = fd;
	pixmap->copy_users = 1;
	pixmap->manager->copies++;
	atomic_fetch_add(&pixmap->manager->pixmap_fds, 1);
	atomic_fetch_add(&pixmap->manager->copy_bytes, copy_bytes(pixmap));
	return fd;
}

/* The entry left and its last hold went: the memory is free to reuse. */
void
pxc_pixmap_release_cb(void *data, void *payload)
{
	struct pixcache_manager *manager = data;
	struct pxc_pixmap *pixmap = payload;
	uint64_t one = 1;

	pixmap_release_memory(pixmap);
	pxc_pixmap_unref(pixmap);
	/* A pool may be empty now: the loop retires it. */
	if (!pxc_on_loop_thread(manager) &&
			write(manager->notify_fd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: the loop will run anyway. */
	}
}

/*
 * Runs with the core's lock held, on whichever thread changed the cache:
 * queue the pixmap for the loop, which tells its leases. The generation
 * table was written before this, as the protocol promises.
 */
void
pxc_pixmap_leave_cb(void *data, void *payload, const struct pxc_key *key,
	enum pxc_leave_reason reason)
{
	struct pixcache_manager *manager = data;
	struct pxc_pixmap *pixmap = payload;
	uint64_t one = 1;

	(void)key;
	(void)reason;
	atomic_fetch_add_explicit(&pixmap->refs, 1, memory_order_relaxed);
	pthread_mutex_lock(&manager->notify_lock);
	pixmap->notify_next = manager->notify;
	manager->notify = pixmap;
	pthread_mutex_unlock(&manager->notify_lock);
	if (!pxc_on_loop_thread(manager) &&
			write(manager->notify_fd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: the loop will run anyway. */
	}
}
