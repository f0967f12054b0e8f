#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "manager-private.h"
#include "shm.h"

static struct pxc_buffer *
buffer_new(struct pxc_realm_shm *realm, const struct pxc_format *format,
	uint32_t width, uint32_t height)
{
	struct pixcache_manager *manager = realm->manager;
	struct pxc_buffer *buffer = pxc_zalloc(manager, sizeof(*buffer));

	if (buffer == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	buffer->manager = manager;
	buffer->realm = realm;
	buffer->width = width;
	buffer->height = height;
	buffer->format = format->fourcc;
	buffer->fd = -1;
	buffer->copy_fd = -1;
	buffer->dmabuf.fd = -1;
	pxc_format_layout(format, width, height, &buffer->stride,
		&buffer->size);
	atomic_init(&buffer->refs, 1);
	pthread_mutex_init(&buffer->map_lock, NULL);
	wl_list_init(&buffer->leases);
	atomic_fetch_add(&manager->pixmaps, 1);
	return buffer;
}

static void
buffer_free(struct pxc_buffer *buffer)
{
	atomic_fetch_sub(&buffer->manager->pixmaps, 1);
	pthread_mutex_destroy(&buffer->map_lock);
	free(buffer);
}

struct pxc_buffer *
pxc_buffer_create(struct pxc_realm_shm *realm, const struct pxc_format *format,
	uint32_t width, uint32_t height)
{
	struct pxc_buffer *buffer = buffer_new(realm, format, width, height);
	int ret;

	if (buffer == NULL) {
		return NULL;
	}
	if (buffer->size <= realm->manager->config.pool_max_pixmap) {
		ret = pxc_realm_shm_alloc(realm, buffer->size, &buffer->pool,
			&buffer->offset);
	} else {
		ret = buffer->fd = pxc_shm_create(&realm->manager->faults,
			"pixcache-pixmap", buffer->size);
		if (ret >= 0) {
			atomic_fetch_add(&realm->manager->pixmap_fds, 1);
			ret = 0;
		} else {
			buffer->fd = -1;
		}
	}
	if (ret < 0) {
		buffer_free(buffer);
		errno = -ret;
		return NULL;
	}
	return buffer;
}

struct pxc_buffer *
pxc_buffer_adopt(struct pxc_realm_shm *realm, const struct pxc_format *format,
	uint32_t width, uint32_t height, int fd)
{
	struct pxc_buffer *buffer = buffer_new(realm, format, width, height);

	if (buffer != NULL) {
		buffer->fd = fd;
		atomic_fetch_add(&realm->manager->pixmap_fds, 1);
	}
	return buffer;
}

/* Gives the buffer's memory back; the struct may live on. */
static void
buffer_release_memory(struct pxc_buffer *buffer)
{
	if (buffer->pool != NULL) {
		pxc_realm_shm_free(buffer->realm, buffer->pool, buffer->offset,
			buffer->size);
		buffer->pool = NULL;
	}
	pxc_shm_unmap(buffer->map, buffer->size);
	buffer->map = NULL;
	if (buffer->fd >= 0) {
		close(buffer->fd);
		buffer->fd = -1;
		atomic_fetch_sub(&buffer->manager->pixmap_fds, 1);
	}
	/* Every lease let go of them before the last hold went. */
	assert(buffer->copy_fd < 0 && buffer->dmabuf.fd < 0);
}

/* What a copy of the buffer costs: whole pages of shared memory. */
static uint64_t
copy_bytes(const struct pxc_buffer *buffer)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	return ((uint64_t)buffer->size + page - 1) / page * page;
}

static bool
add_unheld(const struct pxc_entry_info *info, void *data)
{
	uint64_t *unheld = data;

	if (!info->held) {
		*unheld += info->cost;
	}
	return true;
}

/*
 * Whether evicting what nobody holds can bring the cache within budget:
 * asked first, so that a charge that cannot fit evicts nothing. Entries
 * held or let go meanwhile make it a guess, checked again after.
 */
static bool
could_fit(struct pixcache_manager *manager, uint64_t budget)
{
	struct pxc_cache_stats stats;
	uint64_t unheld = 0;

	pxc_cache_get_stats(manager->cache, &stats);
	if (stats.indexed_bytes + stats.held_only_bytes <= budget) {
		return true;
	}
	pxc_cache_for_each(manager->cache, NULL, add_unheld, &unheld);
	return stats.indexed_bytes + stats.held_only_bytes - unheld <= budget;
}

/*
 * What the manager makes beside the cache's entries for one pixmap's
 * readers (a sealed copy for another realm, a dma-buf) counts in the
 * budget: the cache's share shrinks by as much, evicting what nobody
 * holds. 0, or -ENOSPC where what is held leaves no room (the cache's
 * share is then as it was). Loop thread.
 */
static int
side_charge(struct pixcache_manager *manager, uint64_t bytes)
{
	uint64_t rest = manager->config.budget - manager->side_bytes;
	struct pxc_cache_stats stats;

	if (bytes > rest || !could_fit(manager, rest - bytes)) {
		return -ENOSPC;
	}
	pxc_cache_set_budget(manager->cache, rest - bytes);
	pxc_cache_get_stats(manager->cache, &stats);
	if (stats.indexed_bytes + stats.held_only_bytes > rest - bytes) {
		pxc_cache_set_budget(manager->cache, rest);
		return -ENOSPC;
	}
	manager->side_bytes += bytes;
	return 0;
}

static void
side_uncharge(struct pixcache_manager *manager, uint64_t bytes)
{
	manager->side_bytes -= bytes;
	pxc_cache_set_budget(manager->cache,
		manager->config.budget - manager->side_bytes);
}

void
pxc_buffer_copy_unuse(struct pxc_buffer *buffer)
{
	if (--buffer->copy_users > 0) {
		return;
	}
	close(buffer->copy_fd);
	buffer->copy_fd = -1;
	buffer->manager->copies--;
	atomic_fetch_sub(&buffer->manager->pixmap_fds, 1);
	atomic_fetch_sub(&buffer->manager->copy_bytes, copy_bytes(buffer));
	side_uncharge(buffer->manager, copy_bytes(buffer));
}

void
pxc_buffer_discard(struct pxc_buffer *buffer)
{
	buffer_release_memory(buffer);
	buffer_free(buffer);
}

void
pxc_buffer_unref(struct pxc_buffer *buffer)
{
	if (atomic_fetch_sub_explicit(&buffer->refs, 1,
			memory_order_acq_rel) == 1) {
		buffer_free(buffer);
	}
}

const void *
pxc_buffer_data(struct pxc_buffer *buffer)
{
	const void *data;

	if (buffer->pool != NULL) {
		return buffer->pool->map + buffer->offset;
	}
	pthread_mutex_lock(&buffer->map_lock);
	if (buffer->map == NULL) {
		buffer->map = pxc_shm_map_read(&buffer->manager->faults,
			buffer->fd, buffer->size);
	}
	data = buffer->map;
	pthread_mutex_unlock(&buffer->map_lock);
	return data;
}

void *
pxc_buffer_write_begin(struct pxc_buffer *buffer)
{
	if (buffer->pool != NULL) {
		return buffer->pool->map + buffer->offset;
	}
	return pxc_shm_map_write(&buffer->manager->faults, buffer->fd,
		buffer->size);
}

/*
 * A buffer of its own is sealed against writing once the manager has
 * dropped its writable view: no one else ever had one, so nothing can be
 * pinned and the seal does not wait.
 */
int
pxc_buffer_write_end(struct pxc_buffer *buffer, void *data)
{
	if (buffer->pool != NULL) {
		return 0;
	}
	pxc_shm_unmap(data, buffer->size);
	return pxc_shm_seal(&buffer->manager->faults, buffer->fd,
		PXC_SEALS_FINAL);
}

int
pxc_buffer_shared_copy(struct pxc_buffer *buffer)
{
	const struct pxc_faults *faults = &buffer->manager->faults;
	const void *data;
	int fd, ret;

	if (buffer->copy_fd >= 0) {
		buffer->copy_users++;
		return buffer->copy_fd;
	}
	if (buffer->manager->copies >= buffer->manager->config.max_copies ||
			!pxc_manager_may_open_fds(buffer->manager, 1)) {
		return -EMFILE;
	}
	data = pxc_buffer_data(buffer);
	if (data == NULL) {
		return -errno;
	}
	ret = side_charge(buffer->manager, copy_bytes(buffer));
	if (ret < 0) {
		return ret;
	}
	fd = pxc_shm_create(faults, "pixcache-copy", buffer->size);
	if (fd < 0) {
		/* The system's memory, not the budget (-ENOSPC): tmpfs. */
		side_uncharge(buffer->manager, copy_bytes(buffer));
		return -ENOMEM;
	}
	/* pwrite, not a mapping: so the write seal cannot find it mapped. */
	if (pxc_fault(faults, "pwrite") ||
			pwrite(fd, data, buffer->size, 0) !=
			(ssize_t)buffer->size) {
		ret = -EIO;
	} else {
		ret = pxc_shm_seal(faults, fd, PXC_SEALS_FINAL);
	}
	if (ret < 0) {
		close(fd);
		side_uncharge(buffer->manager, copy_bytes(buffer));
		return ret;
	}
	buffer->copy_fd = fd;
	buffer->copy_users = 1;
	buffer->manager->copies++;
	atomic_fetch_add(&buffer->manager->pixmap_fds, 1);
	atomic_fetch_add(&buffer->manager->copy_bytes, copy_bytes(buffer));
	return fd;
}

uint32_t
pxc_buffer_dmabuf(struct pxc_buffer *buffer, const struct pxc_dmabuf **out)
{
	struct pixcache_manager *manager = buffer->manager;
	const void *data;

	if (buffer->dmabuf.fd >= 0) {
		buffer->dmabuf_users++;
		*out = &buffer->dmabuf;
		return 0;
	}
	if (manager->drm_fd < 0) {
		return PIXCACHE_BATCH_V1_FAILURE_NO_DEVICE;
	}
	/* Dumb buffers are made in bits a pixel: 32 for every format but
	 * the alpha mask. */
	if (pxc_format_find(buffer->format)->bytes_per_pixel != 4) {
		return PIXCACHE_BATCH_V1_FAILURE_FORMAT;
	}
	if (atomic_load(&manager->dmabufs) >= manager->config.max_dmabufs ||
			!pxc_manager_may_open_fds(manager, 1)) {
		return PIXCACHE_BATCH_V1_FAILURE_MEMORY;
	}
	data = pxc_buffer_data(buffer);
	if (data == NULL || pxc_drm_dmabuf_create(manager, data,
			buffer->width, buffer->height, buffer->stride,
			&buffer->dmabuf) < 0) {
		/* The device's memory, or our mapping of it, ran out. */
		return PIXCACHE_BATCH_V1_FAILURE_MEMORY;
	}
	/* Its size is the device's to choose: charged once made. */
	if (side_charge(manager, buffer->dmabuf.size) < 0) {
		pxc_drm_dmabuf_destroy(manager, &buffer->dmabuf);
		return PIXCACHE_BATCH_V1_FAILURE_BUDGET;
	}
	buffer->dmabuf_users = 1;
	*out = &buffer->dmabuf;
	return 0;
}

void
pxc_buffer_dmabuf_unuse(struct pxc_buffer *buffer)
{
	if (--buffer->dmabuf_users == 0) {
		side_uncharge(buffer->manager, buffer->dmabuf.size);
		pxc_drm_dmabuf_destroy(buffer->manager, &buffer->dmabuf);
	}
}

/* The entry left and its last hold went: the memory is free to reuse. */
void
pxc_buffer_release_cb(void *data, void *payload)
{
	struct pixcache_manager *manager = data;
	struct pxc_buffer *buffer = payload;
	uint64_t one = 1;

	buffer_release_memory(buffer);
	pxc_buffer_unref(buffer);
	/* A pool may be empty now: the loop retires it. */
	if (!pxc_on_loop_thread(manager) &&
			write(manager->notify_fd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: the loop will run anyway. */
	}
}

/*
 * Runs with the core's lock held, on whichever thread changed the cache:
 * queue the buffer for the loop, which tells its leases. The generation
 * table was written before this, as the protocol promises.
 */
void
pxc_buffer_leave_cb(void *data, void *payload, const struct pxc_key *key,
	enum pxc_leave_reason reason)
{
	struct pixcache_manager *manager = data;
	struct pxc_buffer *buffer = payload;
	uint64_t one = 1;

	atomic_fetch_add_explicit(&buffer->refs, 1, memory_order_relaxed);
	pthread_mutex_lock(&manager->notify_lock);
	buffer->notify_next = manager->notify;
	manager->notify = buffer;
	pthread_mutex_unlock(&manager->notify_lock);
	if (!pxc_on_loop_thread(manager) &&
			write(manager->notify_fd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: the loop will run anyway. */
	}
}
