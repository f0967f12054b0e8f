#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client-private.h"
#include "shm.h"

/* ---- checking what the manager sends ---- */

/*
 * Before mapping anything: it must be sealed against shrinking (or a
 * reader could take SIGBUS) and against writing (or its bytes could
 * change), and exactly as large as announced (a buffer of its own: at
 * least).
 */
static bool
fd_ok(int fd, uint64_t size, bool exact)
{
	return pxc_shm_check_sealed(fd, F_SEAL_SHRINK,
		F_SEAL_WRITE | F_SEAL_FUTURE_WRITE, size, !exact) == 0;
}

/* Maps read-only and private, then closes fd: received fds never linger. */
static const void *
map_and_close(int fd, uint64_t size)
{
	const void *map = pxc_shm_map_read(NULL, fd, size);

	close(fd);
	return map;
}

bool
pxcl_layout_ok(uint32_t width, uint32_t height, uint32_t stride,
	uint32_t format, uint64_t *bytes)
{
	const struct pxc_format *f = pxc_format_find(format);

	if (f == NULL || width == 0 || height == 0 ||
			(uint64_t)width * f->bytes_per_pixel > stride ||
			stride % 4 != 0) {
		return false;
	}
	*bytes = (uint64_t)stride * height;
	return true;
}

/* ---- realms ---- */

/*
 * Access and denial need no bookkeeping: a lookup the policy does not
 * allow is answered failed(policy) on its own.
 */
static void
realm_access(void *data, struct pixcache_realm_v1 *proxy, uint32_t access)
{
}

static void
realm_denied(void *data, struct pixcache_realm_v1 *proxy, uint32_t reason)
{
}

static void
realm_generation_table(void *data, struct pixcache_realm_v1 *proxy,
	int32_t fd, uint32_t capacity)
{
	struct pxcl_realm *realm = data;
	uint64_t size = (uint64_t)capacity * sizeof(uint32_t);
	const uint32_t *table = NULL;

	/* A capacity the slots can be masked with, sealed, of its size. */
	if (capacity > 0 && (capacity & (capacity - 1)) == 0 &&
			realm->table == NULL && fd_ok(fd, size, true)) {
		table = map_and_close(fd, size);
	} else {
		close(fd);
	}
	if (table != NULL) {
		realm->table = table;
		realm->capacity = capacity;
	}
}

const struct pixcache_realm_v1_listener pxcl_realm_events = {
	.access = realm_access,
	.denied = realm_denied,
	.generation_table = realm_generation_table,
};

struct pxcl_realm *
pxcl_realm_get(struct pixcache_client *client, const char *name)
{
	struct pxcl_realm *realm;

	wl_list_for_each(realm, &client->realms, link) {
		if (strcmp(realm->name, name) == 0) {
			return realm;
		}
	}
	realm = calloc(1, sizeof(*realm));
	if (realm == NULL) {
		return NULL;
	}
	realm->name = strdup(name);
	if (realm->name == NULL) {
		free(realm);
		return NULL;
	}
	realm->client = client;
	realm->proxy = pxcl_proxy_fails() ? NULL :
		pixcache_manager_v1_get_realm(client->manager, name);
	if (realm->proxy == NULL) {
		free(realm->name);
		free(realm);
		return NULL;
	}
	pxcl_proxy_bind((struct wl_proxy *)realm->proxy, PXCL_PROXY_REALM,
		realm);
	wl_list_insert(&client->realms, &realm->link);
	return realm;
}

void
pxcl_realm_destroy(struct pxcl_realm *realm)
{
	if (realm->table != NULL) {
		munmap((void *)realm->table, realm->capacity * sizeof(uint32_t));
	}
	pxcl_proxy_release(realm->client, (struct wl_proxy *)realm->proxy);
	wl_list_remove(&realm->link);
	free(realm->name);
	free(realm);
}

/* ---- pools ---- */

static void
pool_retired(void *data, struct pixcache_pool_v1 *proxy)
{
	/* No new pixmap will lie there: it stays mapped while held. */
	pxcl_pool_forget(data);
}

const struct pixcache_pool_v1_listener pxcl_pool_events = {
	.retired = pool_retired,
};

struct pxcl_pool *
pxcl_pool_create(struct pixcache_client *client,
	struct pixcache_pool_v1 *proxy, int fd, uint32_t size, uint32_t number)
{
	struct pxcl_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL || !fd_ok(fd, size, true)) {
		free(pool);
		close(fd);
		return NULL;
	}
	pool->map = map_and_close(fd, size);
	if (pool->map == NULL) {
		free(pool);
		return NULL;
	}
	pool->size = size;
	pool->number = number;
	pool->proxy = proxy;
	pool->client = client;
	atomic_init(&pool->refs, 1);
	pxcl_proxy_bind((struct wl_proxy *)proxy, PXCL_PROXY_POOL, pool);
	wl_list_insert(&client->pools, &pool->link);
	return pool;
}

void
pxcl_pool_unref(struct pxcl_pool *pool)
{
	if (atomic_fetch_sub(&pool->refs, 1) == 1) {
		munmap((void *)pool->map, pool->size);
		free(pool);
	}
}

/* The client lets go: no new pixmaps; mapped while pixmaps hold it. */
void
pxcl_pool_forget(struct pxcl_pool *pool)
{
	wl_list_remove(&pool->link);
	pxcl_proxy_release(pool->client, (struct wl_proxy *)pool->proxy);
	pool->proxy = NULL;
	pxcl_pool_unref(pool);
}

/* ---- pixmaps ---- */

static struct pixcache_pixmap *
pixmap_new(struct pixcache_client *client, struct pixcache_pixmap_v1 *lease,
	uint32_t width, uint32_t height, uint32_t stride, uint32_t format)
{
	struct pixcache_pixmap *pixmap = calloc(1, sizeof(*pixmap));

	if (pixmap == NULL) {
		return NULL;
	}
	atomic_init(&pixmap->refs, 1);
	atomic_init(&pixmap->evicted, false);
	atomic_fetch_add(&client->refs, 1);
	pixmap->client = client;
	pixmap->lease = lease;
	pixmap->width = width;
	pixmap->height = height;
	pixmap->stride = stride;
	pixmap->format = format;
	wl_list_insert(&client->pixmaps, &pixmap->link);
	client->leases++;
	return pixmap;
}

struct pixcache_pixmap *
pxcl_pixmap_from_pool(struct pixcache_client *client,
	struct pixcache_pixmap_v1 *lease, struct pxcl_pool *pool,
	uint32_t offset, uint32_t width, uint32_t height, uint32_t stride,
	uint32_t format, int *error)
{
	struct pixcache_pixmap *pixmap;
	uint64_t bytes;

	if (!pxcl_layout_ok(width, height, stride, format, &bytes) ||
			(uint64_t)offset + bytes > pool->size) {
		*error = -EPROTO;
		return NULL;
	}
	pixmap = pixmap_new(client, lease, width, height, stride, format);
	if (pixmap == NULL) {
		*error = -ENOMEM;
		return NULL;
	}
	atomic_fetch_add(&pool->refs, 1);
	pixmap->pool = pool;
	pixmap->data = pool->map + offset;
	return pixmap;
}

struct pixcache_pixmap *
pxcl_pixmap_from_fd(struct pixcache_client *client,
	struct pixcache_pixmap_v1 *lease, int fd, uint32_t width,
	uint32_t height, uint32_t stride, uint32_t format, int *error)
{
	struct pixcache_pixmap *pixmap;
	const void *map;
	uint64_t bytes;

	if (!pxcl_layout_ok(width, height, stride, format, &bytes) ||
			!fd_ok(fd, bytes, false)) {
		close(fd);
		*error = -EPROTO;
		return NULL;
	}
	map = map_and_close(fd, bytes);
	if (map == NULL) {
		*error = -ENOMEM;
		return NULL;
	}
	pixmap = pixmap_new(client, lease, width, height, stride, format);
	if (pixmap == NULL) {
		munmap((void *)map, bytes);
		*error = -ENOMEM;
		return NULL;
	}
	pixmap->map = map;
	pixmap->map_size = bytes;
	pixmap->data = map;
	return pixmap;
}

bool
pxcl_pixmap_current(const struct pixcache_pixmap *pixmap)
{
	const struct pxcl_realm *realm = pixmap->realm;
	uint32_t slot;

	if (atomic_load_explicit(&pixmap->evicted, memory_order_acquire) ||
			(pixmap->lease == NULL && pixmap->lease_number == 0)) {
		return false;
	}
	if (realm == NULL || realm->table == NULL) {
		/* No table: the manager's evicted event is the last word. */
		return true;
	}
	/* Written by the manager before anyone is told the entry left. */
	slot = pixmap->key.slot & (realm->capacity - 1);
	return __atomic_load_n(&realm->table[slot], __ATOMIC_ACQUIRE) ==
		pixmap->key.generation;
}

/* Lets go of the pixmap's lease, if it has one. Lock held. */
static void
release_lease(struct pixcache_client *client, struct pixcache_pixmap *pixmap)
{
	if (pixmap->lease != NULL) {
		pxcl_pixmap_object_end(client, (struct wl_proxy *)pixmap->lease);
		pixmap->lease = NULL;
		client->leases--;
	} else if (pixmap->lease_number != 0) {
		pxcl_lease_release(client, pixmap->lease_number);
		pixmap->lease_number = 0;
		client->leases--;
	}
}

/*
 * A held pixmap in a pool is about to lose its lease, after which the
 * manager may put another pixmap in its place, and our private read-only
 * mapping would show the new bytes (the pool's file changes under it).
 * So its pages are copied, and the copy moved over them at the same
 * address with mremap(), which swaps them under the mm lock: a reader on
 * another thread sees the same bytes before and after, and pointers into
 * the pixmap (pixman images) stay valid. The pool's munmap() frees the
 * copy with the rest. Costs the pixmap's bytes, rounded to pages.
 */
static int
keep_bytes(const struct pixcache_pixmap *pixmap)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)pixmap->data & ~(page - 1);
	uintptr_t end = ((uintptr_t)pixmap->data +
		(size_t)pixmap->stride * pixmap->height + page - 1) &
		~(page - 1);
	size_t len = end - start;
	void *copy = mmap(NULL, len, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret = 0;

	if (copy == MAP_FAILED) {
		return -errno;
	}
	/* The pool's last page is mapped whole: the copy stays inside. */
	memcpy(copy, (const void *)start, len);
	if (mprotect(copy, len, PROT_READ) < 0 ||
			mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
			(void *)start) == MAP_FAILED) {
		ret = -errno;
		munmap(copy, len);
	}
	return ret;
}

void
pxcl_pixmaps_detach(struct pixcache_client *client)
{
	struct pixcache_pixmap *pixmap;

	wl_list_for_each(pixmap, &client->pixmaps, link) {
		if ((pixmap->lease != NULL || pixmap->lease_number != 0) &&
				pixmap->pool != NULL) {
			if (keep_bytes(pixmap) == 0) {
				client->stats.held_copies++;
			} else {
				client->stats.held_copy_failures++;
			}
		}
		release_lease(client, pixmap);
		pixmap->realm = NULL;
		atomic_store(&pixmap->evicted, true);
	}
}

/* The last reference: lock held by the caller. */
static void
pixmap_free_locked(struct pixcache_pixmap *pixmap)
{
	struct pixcache_client *client = pixmap->client;

	wl_list_remove(&pixmap->link);
	release_lease(client, pixmap);
}

static void
pixmap_free_memory(struct pixcache_pixmap *pixmap)
{
	if (pixmap->pool != NULL) {
		pxcl_pool_unref(pixmap->pool);
	} else if (pixmap->map != NULL) {
		munmap((void *)pixmap->map, pixmap->map_size);
	}
	free(pixmap);
}

void
pxcl_pixmap_unref_locked(struct pixcache_pixmap *pixmap)
{
	struct pixcache_client *client = pixmap->client;

	if (atomic_fetch_sub(&pixmap->refs, 1) != 1) {
		return;
	}
	pixmap_free_locked(pixmap);
	pixmap_free_memory(pixmap);
	/* The caller holds the client too: this is never its last. */
	atomic_fetch_sub(&client->refs, 1);
}

struct pixcache_pixmap *
pixcache_pixmap_ref(struct pixcache_pixmap *pixmap)
{
	atomic_fetch_add_explicit(&pixmap->refs, 1, memory_order_relaxed);
	return pixmap;
}

void
pixcache_pixmap_unref(struct pixcache_pixmap *pixmap)
{
	struct pixcache_client *client;

	if (pixmap == NULL || atomic_fetch_sub(&pixmap->refs, 1) != 1) {
		return;
	}
	client = pixmap->client;
	pxcl_enter(client);
	pixmap_free_locked(pixmap);
	pxcl_leave(client);
	pixmap_free_memory(pixmap);
	pxcl_client_unref(client);
}

const void *
pixcache_pixmap_get_data(const struct pixcache_pixmap *pixmap)
{
	return pixmap->data;
}

uint32_t
pixcache_pixmap_get_width(const struct pixcache_pixmap *pixmap)
{
	return pixmap->width;
}

uint32_t
pixcache_pixmap_get_height(const struct pixcache_pixmap *pixmap)
{
	return pixmap->height;
}

uint32_t
pixcache_pixmap_get_stride(const struct pixcache_pixmap *pixmap)
{
	return pixmap->stride;
}

uint32_t
pixcache_pixmap_get_format(const struct pixcache_pixmap *pixmap)
{
	return pixmap->format;
}

void
pixcache_pixmap_get_key(const struct pixcache_pixmap *pixmap,
	struct pixcache_key *key)
{
	*key = pixmap->key;
}

static void
pixman_released(pixman_image_t *image, void *data)
{
	pixcache_pixmap_unref(data);
}

pixman_image_t *
pixcache_pixmap_create_pixman(struct pixcache_pixmap *pixmap)
{
	const struct pxc_format *format = pxc_format_find(pixmap->format);
	pixman_image_t *image;

	if (format == NULL) {
		errno = EINVAL;
		return NULL;
	}
	image = pixman_image_create_bits_no_clear(format->pixman,
		(int)pixmap->width, (int)pixmap->height,
		(uint32_t *)pixmap->data, (int)pixmap->stride);
	if (image == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	pixman_image_set_destroy_function(image, pixman_released,
		pixcache_pixmap_ref(pixmap));
	return image;
}

/* ---- dma-bufs ---- */

bool
pxcl_dmabuf_answered(struct pxcl_pixmap_object *object, int result,
	const struct pixcache_dmabuf *dmabuf)
{
	uint32_t seq = object->dmabuf_answered++;
	struct pxcl_dmabuf_wait *wait;

	if (wl_list_empty(&object->dmabuf_waits)) {
		return false;
	}
	/* The first waiter is the oldest request still waited for: the
	 * answer is its own, or that of a call that gave up. */
	wait = wl_container_of(object->dmabuf_waits.next, wait, link);
	if (wait->seq != seq) {
		return false;
	}
	wl_list_remove(&wait->link);
	wl_list_init(&wait->link);
	wait->result = result;
	if (dmabuf != NULL) {
		wait->dmabuf = *dmabuf;
	}
	wait->done = true;
	pthread_cond_broadcast(&object->client->cond);
	return true;
}

void
pxcl_dmabuf_end(struct pxcl_pixmap_object *object)
{
	struct pxcl_dmabuf_wait *wait, *tmp;

	wl_list_for_each_safe(wait, tmp, &object->dmabuf_waits, link) {
		wl_list_remove(&wait->link);
		wl_list_init(&wait->link);
		wait->result = -ECONNRESET;
		wait->done = true;
	}
	pthread_cond_broadcast(&object->client->cond);
}

/*
 * Asks on the pixmap's lease and waits for the answer; lock held. The
 * commit's done acknowledges the fd, as a lookup's would.
 */
static int
ask_dmabuf(struct pixcache_client *client, struct pixcache_pixmap *pixmap,
	struct pxcl_dmabuf_wait *wait)
{
	struct timespec deadline =
		pxcl_deadline_after(client->options.timeout_ms);
	struct pxcl_pixmap_object *object;
	int ret = pxcl_lost(client);

	if (ret < 0) {
		return ret;
	}
	if (pixmap->lease == NULL) {
		/* Lost with the connection or the manager. */
		return -EINVAL;
	}
	if (wl_proxy_get_version((struct wl_proxy *)pixmap->lease) <
			PIXCACHE_PIXMAP_V1_GET_DMABUF_SINCE_VERSION) {
		/* A manager of protocol version 1 has no GPU pixmaps. */
		return -ENODEV;
	}
	object = wl_proxy_get_user_data((struct wl_proxy *)pixmap->lease);
	pixcache_pixmap_v1_get_dmabuf(pixmap->lease);
	wait->seq = object->dmabuf_asked++;
	wl_list_insert(object->dmabuf_waits.prev, &wait->link);
	ret = pxcl_commit(client);
	if (ret == 0) {
		ret = pxcl_wait_flag(client, &wait->done, &deadline);
	}
	if (!wait->done) {
		/* Its answer may still come, for no one. The object lives:
		 * it goes only with the pixmap, which the caller holds, or
		 * when no call is in flight. */
		wl_list_remove(&wait->link);
		return ret;
	}
	return wait->result;
}

static int
get_dmabuf(struct pixcache_pixmap *pixmap, struct pixcache_dmabuf *out)
{
	struct pxcl_dmabuf_wait wait = { .result = 0 };
	struct pixcache_client *client = pixmap->client;
	int ret;

	wl_list_init(&wait.link);
	pxcl_enter(client);
	ret = ask_dmabuf(client, pixmap, &wait);
	pxcl_leave(client);
	if (ret == 0) {
		*out = wait.dmabuf;
	}
	return ret;
}

static bool
leased_by_number(struct pixcache_pixmap *pixmap)
{
	bool by_number;

	pxcl_enter(pixmap->client);
	by_number = pixmap->lease == NULL && pixmap->lease_number != 0;
	pxcl_leave(pixmap->client);
	return by_number;
}

/*
 * A lease of a find has no object to ask on: a lookup by key makes one,
 * for as long as the question takes. The key resolves while the entry is
 * cached; once it left, only the find's lease holds the pixmap.
 */
int
pixcache_pixmap_get_dmabuf(struct pixcache_pixmap *pixmap,
	struct pixcache_dmabuf *out)
{
	struct pixcache_pixmap *asker;
	int ret;

	if (pixmap == NULL || out == NULL) {
		return -EINVAL;
	}
	if (!leased_by_number(pixmap)) {
		return get_dmabuf(pixmap, out);
	}
	ret = pixcache_client_find_key(pixmap->client, &pixmap->key, &asker);
	if (ret < 0) {
		return ret;
	}
	ret = get_dmabuf(asker, out);
	pixcache_pixmap_unref(asker);
	return ret;
}
