#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>

#include "drm-util.h"
#include "test-runner.h"

int
test_open_card(void)
{
	int fd = open(TEST_CARD, O_RDWR | O_CLOEXEC);
	struct drm_mode_create_dumb dumb = { .width = 1, .height = 1,
		.bpp = 32 };
	struct drm_mode_destroy_dumb destroy = { 0 };

	if (fd < 0) {
		test_skip("no DRM device: %s: %s (run it under vm-run.sh "
			"--modules vgem)", TEST_CARD, strerror(errno));
	}
	/* vgem has no KMS to ask DRM_CAP_DUMB_BUFFER of: a buffer is tried. */
	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &dumb) < 0) {
		close(fd);
		test_skip("%s makes no dumb buffers: %s", TEST_CARD,
			strerror(errno));
	}
	destroy.handle = dumb.handle;
	assert(drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy) == 0);
	return fd;
}

/*
 * vgem's fences (the kernel's include/uapi/drm/vgem_drm.h: Debian 12's
 * libdrm installs no header for them).
 */
struct test_vgem_fence_attach {
	uint32_t handle;
	uint32_t flags;
	uint32_t out_fence;
	uint32_t pad;
};

struct test_vgem_fence_signal {
	uint32_t fence;
	uint32_t flags;
};

#define TEST_VGEM_FENCE_WRITE 0x1
#define TEST_IOCTL_VGEM_FENCE_ATTACH \
	DRM_IOWR(DRM_COMMAND_BASE + 0x1, struct test_vgem_fence_attach)
#define TEST_IOCTL_VGEM_FENCE_SIGNAL \
	DRM_IOW(DRM_COMMAND_BASE + 0x2, struct test_vgem_fence_signal)

struct test_gpu_buffer *
test_gpu_buffer_create(uint32_t width, uint32_t height)
{
	struct test_gpu_buffer *buffer = calloc(1, sizeof(*buffer));
	struct drm_mode_create_dumb dumb = { .width = width,
		.height = height, .bpp = 32 };
	struct drm_mode_map_dumb map = { 0 };

	assert(buffer != NULL);
	buffer->card = test_open_card();
	assert(drmIoctl(buffer->card, DRM_IOCTL_MODE_CREATE_DUMB, &dumb) == 0);
	buffer->handle = dumb.handle;
	buffer->pitch = dumb.pitch;
	buffer->size = dumb.size;
	map.handle = dumb.handle;
	assert(drmIoctl(buffer->card, DRM_IOCTL_MODE_MAP_DUMB, &map) == 0);
	buffer->map = mmap(NULL, buffer->size, PROT_READ | PROT_WRITE,
		MAP_SHARED, buffer->card, (off_t)map.offset);
	assert(buffer->map != MAP_FAILED);
	assert(drmPrimeHandleToFD(buffer->card, buffer->handle, DRM_CLOEXEC,
		&buffer->fd) == 0);
	return buffer;
}

void
test_gpu_buffer_write(struct test_gpu_buffer *buffer, uint32_t offset,
	uint32_t stride, uint32_t row_bytes, uint32_t height,
	const uint8_t *rows)
{
	assert((uint64_t)offset + (uint64_t)stride * (height - 1) +
		row_bytes <= buffer->size);
	for (uint32_t y = 0; y < height; y++) {
		memcpy(buffer->map + offset + (size_t)y * stride,
			rows + (size_t)y * row_bytes, row_bytes);
	}
}

uint32_t
test_gpu_buffer_fence(struct test_gpu_buffer *buffer)
{
	struct test_vgem_fence_attach attach = {
		.handle = buffer->handle,
		.flags = TEST_VGEM_FENCE_WRITE,
	};

	if (drmIoctl(buffer->card, TEST_IOCTL_VGEM_FENCE_ATTACH,
			&attach) < 0) {
		test_skip("%s attaches no fences: %s", TEST_CARD,
			strerror(errno));
	}
	return attach.out_fence;
}

void
test_gpu_buffer_signal(struct test_gpu_buffer *buffer, uint32_t fence)
{
	struct test_vgem_fence_signal signal = { .fence = fence };

	assert(drmIoctl(buffer->card, TEST_IOCTL_VGEM_FENCE_SIGNAL,
		&signal) == 0);
}

void
test_gpu_buffer_destroy(struct test_gpu_buffer *buffer)
{
	struct drm_mode_destroy_dumb destroy = { .handle = buffer->handle };

	munmap(buffer->map, buffer->size);
	close(buffer->fd);
	assert(drmIoctl(buffer->card, DRM_IOCTL_MODE_DESTROY_DUMB,
		&destroy) == 0);
	close(buffer->card);
	free(buffer);
}
