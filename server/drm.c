/*
 * The compositor's DRM device, and pixmaps copied into its memory as
 * dma-bufs: dumb buffers, which every KMS driver (and vgem) can make and
 * map, linear, so any GPU that imports dma-bufs can read them.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>
#include <drm_mode.h>

#include "manager-private.h"

static void destroy_dumb(int drm_fd, uint32_t handle);

/*
 * Whether the device makes dumb buffers: one pixel's is made and
 * destroyed. Asking DRM_CAP_DUMB_BUFFER is not enough: a KMS driver's
 * render node answers 1 and refuses to make one, and a driver without KMS
 * (vgem) cannot answer at all (EOPNOTSUPP) and makes them.
 */
static bool
makes_dumb_buffers(int fd)
{
	struct drm_mode_create_dumb dumb = { .width = 1, .height = 1,
		.bpp = 32 };

	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &dumb) < 0) {
		return false;
	}
	destroy_dumb(fd, dumb.handle);
	return true;
}

int
pixcache_manager_set_drm_device(struct pixcache_manager *manager, int fd)
{
	uint64_t prime = 0;
	int dup_fd;

	if (fd < 0) {
		return -EINVAL;
	}
	if (manager->drm_fd >= 0) {
		return -EBUSY;
	}
	/* DRM's core answers DRM_CAP_PRIME for every driver, on a DRM
	 * device only. */
	if (drmGetCap(fd, DRM_CAP_PRIME, &prime) < 0) {
		return errno == ENOTTY || errno == EBADF ? -EINVAL : -errno;
	}
	if (!(prime & DRM_PRIME_CAP_EXPORT) || !makes_dumb_buffers(fd)) {
		return -ENODEV;
	}
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		return -errno;
	}
	manager->drm_fd = dup_fd;
	return 0;
}

static void
destroy_dumb(int drm_fd, uint32_t handle)
{
	struct drm_mode_destroy_dumb destroy = { .handle = handle };

	/* Fails only for a handle that is not ours: nothing to undo. The
	 * manager closes each handle at once, in the call that made it. */
	(void)drmIoctl(drm_fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
}

/* Copies the rows into the dumb buffer through a mapping of the device. */
static int
fill_dumb(const struct pxc_faults *faults, int drm_fd,
	const struct drm_mode_create_dumb *dumb, const uint8_t *data,
	uint32_t row_bytes, uint32_t stride)
{
	struct drm_mode_map_dumb map = { .handle = dumb->handle };
	uint8_t *dst;

	if (pxc_fault(faults, "map_dumb")) {
		return -ENOMEM;
	}
	if (drmIoctl(drm_fd, DRM_IOCTL_MODE_MAP_DUMB, &map) < 0) {
		return -errno;
	}
	dst = pxc_fault(faults, "mmap") ? MAP_FAILED : mmap(NULL, dumb->size,
		PROT_WRITE, MAP_SHARED, drm_fd, (off_t)map.offset);
	if (dst == MAP_FAILED) {
		return -ENOMEM;
	}
	/* The device's pitch is its own: row by row. */
	pxc_copy_rows(dst, dumb->pitch, data, stride, row_bytes, dumb->height);
	munmap(dst, dumb->size);
	return 0;
}

int
pxc_drm_dmabuf_create(struct pixcache_manager *manager, const void *data,
	uint32_t width, uint32_t height, uint32_t stride,
	struct pxc_dmabuf *out)
{
	struct drm_mode_create_dumb dumb = {
		.width = width, .height = height, .bpp = 32,
	};
	int ret, fd;

	if (manager->drm_fd < 0) {
		return -ENODEV;
	}
	if (pxc_fault(&manager->faults, "create_dumb")) {
		return -ENOMEM;
	}
	if (drmIoctl(manager->drm_fd, DRM_IOCTL_MODE_CREATE_DUMB, &dumb) < 0) {
		return -errno;
	}
	/* What the rows need, whatever the driver rounded up. */
	if (dumb.pitch < (uint64_t)width * 4 ||
			dumb.size < (uint64_t)dumb.pitch * height) {
		destroy_dumb(manager->drm_fd, dumb.handle);
		return -EIO;
	}
	ret = fill_dumb(&manager->faults, manager->drm_fd, &dumb, data,
		width * 4, stride);
	if (ret == 0 && (pxc_fault(&manager->faults, "prime_export") ||
			drmPrimeHandleToFD(manager->drm_fd, dumb.handle,
			DRM_CLOEXEC, &fd) < 0)) {
		ret = -ENOMEM;
	}
	/* Exported or not, no handle is kept (see struct pxc_dmabuf). */
	destroy_dumb(manager->drm_fd, dumb.handle);
	if (ret < 0) {
		return ret;
	}
	*out = (struct pxc_dmabuf){ .fd = fd, .stride = dumb.pitch,
		.size = dumb.size };
	atomic_fetch_add(&manager->dmabufs, 1);
	atomic_fetch_add(&manager->pixmap_fds, 1);
	return 0;
}

void
pxc_drm_dmabuf_destroy(struct pixcache_manager *manager,
	struct pxc_dmabuf *dmabuf)
{
	if (dmabuf->fd < 0) {
		return;
	}
	close(dmabuf->fd);
	dmabuf->fd = -1;
	atomic_fetch_sub(&manager->dmabufs, 1);
	atomic_fetch_sub(&manager->pixmap_fds, 1);
}
