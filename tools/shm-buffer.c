#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>
#include <wayland-client.h>

#include "shm-buffer.h"

struct wl_buffer *
pxt_shm_buffer(struct wl_shm *shm, pixman_image_t *image)
{
	int width = pixman_image_get_width(image);
	int height = pixman_image_get_height(image);
	int stride = pixman_image_get_stride(image);
	size_t size = (size_t)stride * (size_t)height;
	struct wl_shm_pool *pool;
	struct wl_buffer *buffer;
	uint32_t format;
	ssize_t written;
	int fd;

	switch (pixman_image_get_format(image)) {
	case PIXMAN_a8r8g8b8:
		format = WL_SHM_FORMAT_ARGB8888;
		break;
	case PIXMAN_x8r8g8b8:
		format = WL_SHM_FORMAT_XRGB8888;
		break;
	default:
		errno = EINVAL;
		return NULL;
	}
	if (size == 0 || size > INT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	fd = memfd_create("pixcache-shm-buffer", MFD_CLOEXEC);
	if (fd < 0) {
		return NULL;
	}
	written = pwrite(fd, pixman_image_get_data(image), size, 0);
	if (written != (ssize_t)size) {
		/* A short write: the memfd's filesystem is full. */
		int error = written < 0 ? errno : ENOSPC;

		close(fd);
		errno = error;
		return NULL;
	}
	pool = wl_shm_create_pool(shm, fd, (int32_t)size);
	close(fd);
	if (pool == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	buffer = wl_shm_pool_create_buffer(pool, 0, width, height, stride,
		format);
	wl_shm_pool_destroy(pool);
	if (buffer == NULL) {
		errno = ENOMEM;
	}
	return buffer;
}
