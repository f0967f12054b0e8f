/*
 * The compositor's own pixmaps: inserted and looked up from any thread,
 * drawn from with pixman.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager-private.h"

struct pixcache_image {
	atomic_int refs;		/* the caller's, plus pixman images' */
	struct pixcache_manager *manager;
	struct pxc_entry *hold;
	struct pxc_buffer *buffer;
	const void *data;
	struct pxc_key key;
};

/* Writes image into the buffer, converted to its format. */
static int
fill_buffer(struct pxc_buffer *buffer, const struct pxc_format *format,
	pixman_image_t *image)
{
	void *data = pxc_buffer_write_begin(buffer);
	pixman_image_t *dst;

	if (data == NULL) {
		return -errno;
	}
	dst = pixman_image_create_bits_no_clear(format->pixman,
		(int)buffer->width, (int)buffer->height, data,
		(int)buffer->stride);
	if (dst == NULL) {
		pxc_buffer_write_end(buffer, data);
		return -ENOMEM;
	}
	/* pixman's formats are premultiplied, as the cache's are. */
	pixman_image_composite32(PIXMAN_OP_SRC, image, NULL, dst, 0, 0, 0, 0,
		0, 0, (int)buffer->width, (int)buffer->height);
	pixman_image_unref(dst);
	return pxc_buffer_write_end(buffer, data);
}

/* After a change off the loop's thread, wake it to tell clients. */
static void
after_change(struct pixcache_manager *manager)
{
	if (pxc_on_loop_thread(manager)) {
		pxc_manager_settle(manager);
	}
}

int
pixcache_manager_insert(struct pixcache_manager *manager, const char *realm,
	const char *name, pixman_image_t *image, uint32_t format_code,
	uint32_t flags, struct pixcache_key *key)
{
	const struct pxc_format *format = pxc_format_find(format_code);
	struct pxc_insert insert = {
		.name = name,
		.name_len = name ? strlen(name) : 0,
		.owner = PIXCACHE_OWNER_COMPOSITOR,
		.flags = (flags & PIXCACHE_INSERT_REPLACE) ?
			PXC_INSERT_REPLACE : 0,
	};
	struct pxc_buffer *buffer;
	struct pxc_realm_shm *mrealm;
	uint32_t width, height, stride, size;
	struct pxc_hit hit;
	int ret;

	if (manager == NULL || realm == NULL || image == NULL ||
			format == NULL || (flags & ~(uint32_t)PIXCACHE_INSERT_REPLACE)) {
		return -EINVAL;
	}
	if (name != NULL && (ret = pxc_name_check(name, strlen(name))) < 0) {
		return ret;
	}
	width = (uint32_t)pixman_image_get_width(image);
	height = (uint32_t)pixman_image_get_height(image);
	if (width == 0 || height == 0 || width > manager->config.max_width ||
			height > manager->config.max_height ||
			!pxc_format_layout(format, width, height, &stride,
				&size) ||
			size > manager->config.max_bytes) {
		return -EFBIG;
	}
	ret = pxc_realm_shm_get(manager, realm, &mrealm);
	if (ret < 0) {
		return ret;
	}
	buffer = pxc_buffer_create(mrealm, format, width, height);
	if (buffer == NULL) {
		return -errno;
	}
	ret = fill_buffer(buffer, format, image);
	if (ret == 0) {
		insert.realm = mrealm->core;
		insert.payload = buffer;
		insert.cost = size;
		ret = pxc_cache_insert(manager->cache, &insert, &hit);
	}
	if (ret < 0) {
		pxc_buffer_discard(buffer);
		return ret;
	}
	if (key != NULL) {
		*key = (struct pixcache_key){
			hit.key.instance, hit.key.slot, hit.key.generation,
			hit.key.tag,
		};
	}
	after_change(manager);
	return 0;
}

static int
image_from_hit(struct pixcache_manager *manager, const struct pxc_hit *hit,
	struct pixcache_image **out)
{
	struct pixcache_image *image = pxc_zalloc(manager, sizeof(*image));

	if (image != NULL) {
		image->data = pxc_buffer_data(hit->payload);
	}
	if (image == NULL || image->data == NULL) {
		free(image);
		pxc_cache_release(manager->cache, hit->hold);
		return -ENOMEM;
	}
	atomic_init(&image->refs, 1);
	image->manager = manager;
	image->hold = hit->hold;
	image->buffer = hit->payload;
	image->key = hit->key;
	*out = image;
	return 0;
}

int
pixcache_manager_find(struct pixcache_manager *manager, const char *realm,
	const char *name, struct pixcache_image **out)
{
	struct pxc_realm_shm *mrealm = NULL, *r;
	struct pxc_hit hit;
	int ret;

	if (manager == NULL || realm == NULL || name == NULL || out == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&manager->realms_lock);
	wl_list_for_each(r, &manager->realms, link) {
		if (strcmp(r->name, realm) == 0) {
			mrealm = r;
			break;
		}
	}
	pthread_mutex_unlock(&manager->realms_lock);
	if (mrealm == NULL) {
		return -ENOENT;
	}
	ret = pxc_cache_find(manager->cache, mrealm->core, name, strlen(name),
		PXC_FIND_HOLD, &hit);
	return ret < 0 ? ret : image_from_hit(manager, &hit, out);
}

int
pixcache_manager_find_key(struct pixcache_manager *manager,
	const struct pixcache_key *key, struct pixcache_image **out)
{
	struct pxc_key core_key;
	struct pxc_hit hit;
	int ret;

	if (manager == NULL || key == NULL || out == NULL) {
		return -EINVAL;
	}
	core_key = pxc_key_from_public(key);
	ret = pxc_cache_find_key(manager->cache, &core_key, PXC_FIND_HOLD,
		&hit);
	return ret < 0 ? ret : image_from_hit(manager, &hit, out);
}

int
pixcache_manager_remove(struct pixcache_manager *manager, const char *realm,
	const char *name)
{
	struct pxc_realm_shm *mrealm;
	int ret;

	if (manager == NULL || realm == NULL || name == NULL) {
		return -EINVAL;
	}
	ret = pxc_realm_shm_get(manager, realm, &mrealm);
	if (ret < 0) {
		return ret == -ENOMEM ? ret : -ENOENT;
	}
	ret = pxc_cache_remove(manager->cache, mrealm->core, name,
		strlen(name));
	after_change(manager);
	return ret;
}

const void *
pixcache_image_get_data(const struct pixcache_image *image)
{
	return image->data;
}

uint32_t
pixcache_image_get_width(const struct pixcache_image *image)
{
	return image->buffer->width;
}

uint32_t
pixcache_image_get_height(const struct pixcache_image *image)
{
	return image->buffer->height;
}

uint32_t
pixcache_image_get_stride(const struct pixcache_image *image)
{
	return image->buffer->stride;
}

uint32_t
pixcache_image_get_format(const struct pixcache_image *image)
{
	return image->buffer->format;
}

void
pixcache_image_get_key(const struct pixcache_image *image,
	struct pixcache_key *key)
{
	*key = (struct pixcache_key){
		image->key.instance, image->key.slot, image->key.generation,
		image->key.tag,
	};
}

static void
pixman_released(pixman_image_t *pixman, void *data)
{
	pixcache_image_release(data);
}

pixman_image_t *
pixcache_image_create_pixman(struct pixcache_image *image)
{
	const struct pxc_format *format =
		pxc_format_find(image->buffer->format);
	pixman_image_t *pixman = pixman_image_create_bits_no_clear(
		format->pixman, (int)image->buffer->width,
		(int)image->buffer->height, (uint32_t *)image->data,
		(int)image->buffer->stride);

	if (pixman == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	atomic_fetch_add(&image->refs, 1);
	pixman_image_set_destroy_function(pixman, pixman_released, image);
	return pixman;
}

int
pixcache_image_get_dmabuf(struct pixcache_image *image,
	struct pixcache_image_dmabuf *out)
{
	const struct pxc_dmabuf *dmabuf;
	uint32_t failure;
	int fd, err;

	if (image == NULL || out == NULL) {
		return -EINVAL;
	}
	/* The buffer's dma-buf and the budget are the loop's. */
	assert(pxc_on_loop_thread(image->manager));
	failure = pxc_buffer_dmabuf(image->buffer, &dmabuf);
	if (failure != 0) {
		return pxc_failure_errno(failure);
	}
	fd = fcntl(dmabuf->fd, F_DUPFD_CLOEXEC, 0);
	err = errno;
	*out = (struct pixcache_image_dmabuf){
		.fd = fd, .stride = dmabuf->stride,
		.format = image->buffer->format,
		.modifier = DRM_FORMAT_MOD_LINEAR,
	};
	/* The caller's fd keeps the buffer: the manager's goes with the
	 * last lease that uses it, as if the image had never asked. */
	pxc_buffer_dmabuf_unuse(image->buffer);
	return fd < 0 ? -err : 0;
}

void
pixcache_image_release(struct pixcache_image *image)
{
	if (image == NULL ||
			atomic_fetch_sub(&image->refs, 1) != 1) {
		return;
	}
	pxc_cache_release(image->manager->cache, image->hold);
	free(image);
}
