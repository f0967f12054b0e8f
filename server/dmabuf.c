/*
 * A client's dma-buf, offered as an upload: checked, mapped read-only and
 * read once under DMA_BUF_IOCTL_SYNC. No device is needed: the exporter
 * maps it. A dma-buf cannot be sealed, so the manager copies what it
 * reads into memory of its own before anyone sees it, and never waits on
 * the client: a buffer still being written is refused, not waited for.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <drm_fourcc.h>
#include <linux/dma-buf.h>

#include "manager-private.h"

/* The file system of every dma-buf fd (include/uapi/linux/magic.h). */
#define PXC_DMA_BUF_MAGIC 0x444d4142

static int
sync_read(int fd, uint64_t flags)
{
	struct dma_buf_sync sync = { .flags = flags | DMA_BUF_SYNC_READ };

	while (ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) < 0) {
		if (errno != EINTR && errno != EAGAIN) {
			return -errno;
		}
	}
	return 0;
}

/*
 * Whether every write to the buffer is done: its write fences signalled,
 * asked without waiting. DMA_BUF_IOCTL_SYNC would wait for them, as long
 * as the client's GPU (or a fence it attached) takes.
 */
static bool
writes_done(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/*
 * The bytes the rows need from the start of the buffer, or 0 when the
 * layout does not hold them: a stride shorter than a row.
 */
static uint64_t
layout_end(const struct pxc_dmabuf_layout *layout, uint32_t row_bytes,
	uint32_t height)
{
	if (layout->stride < row_bytes || height == 0) {
		return 0;
	}
	/* At most 2^32 + 2^32 * 2^32: within 64 bits. */
	return (uint64_t)layout->offset +
		(uint64_t)layout->stride * (height - 1) + row_bytes;
}

int
pxc_dmabuf_map_read(const struct pxc_faults *faults, int fd,
	const struct pxc_dmabuf_layout *layout, uint32_t row_bytes,
	uint32_t height, struct pxc_dmabuf_view *out)
{
	uint64_t end = layout_end(layout, row_bytes, height);
	struct statfs fs;
	off_t size;
	void *map;
	int ret;

	if (fstatfs(fd, &fs) < 0 || fs.f_type != PXC_DMA_BUF_MAGIC) {
		return -EBADF;
	}
	/* Every exporter lays the pixels out as it likes but linear. */
	if (layout->modifier != DRM_FORMAT_MOD_LINEAR || end == 0) {
		return -EINVAL;
	}
	/* A dma-buf's size is fixed at export: checked once is enough. */
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || (uint64_t)size < end) {
		return -EINVAL;
	}
	if (!writes_done(fd)) {
		return -EBUSY;
	}
	if (pxc_fault(faults, "mmap")) {
		return -ENOMEM;
	}
	map = mmap(NULL, (size_t)end, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		return -errno;
	}
	ret = pxc_fault(faults, "dmabuf_sync") ? -EIO :
		sync_read(fd, DMA_BUF_SYNC_START);
	if (ret < 0) {
		munmap(map, (size_t)end);
		return ret;
	}
	*out = (struct pxc_dmabuf_view){
		.fd = fd,
		.map = map,
		.len = (size_t)end,
		.rows = (const uint8_t *)map + layout->offset,
		.stride = layout->stride,
	};
	return 0;
}

void
pxc_dmabuf_unmap(struct pxc_dmabuf_view *view)
{
	/* The end of CPU access: nothing to undo if the exporter refuses. */
	(void)sync_read(view->fd, DMA_BUF_SYNC_END);
	munmap(view->map, view->len);
	view->map = NULL;
}
