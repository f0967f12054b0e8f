/*
 * pixcache_pixmap_get_dmabuf(), through the client library. The device's
 * test uses /dev/dri/card0 (vgem under kvm-run.sh --modules vgem) and is
 * skipped without it, saying why; the rest need no device.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>

#include "client-harness.h"
#include "client-private.h"
#include "drm-util.h"
#include "test-runner.h"

static void
put_pattern(struct pixcache_client *client, const char *name, uint32_t size,
	uint32_t seed)
{
	pixman_image_t *image = ch_image(size, size, seed);

	assert(pixcache_client_put(client, "default", name, image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	pixman_image_unref(image);
}

/* Whether the dma-buf's rows are the pixmap's. */
static bool
same_pixels(const struct pixcache_pixmap *pixmap,
	const struct pixcache_dmabuf *dmabuf)
{
	uint32_t height = pixcache_pixmap_get_height(pixmap);
	size_t row = (size_t)pixcache_pixmap_get_width(pixmap) * 4;
	const uint8_t *data = pixcache_pixmap_get_data(pixmap);
	uint32_t stride = pixcache_pixmap_get_stride(pixmap);
	off_t length = lseek(dmabuf->fd, 0, SEEK_END);
	struct dma_buf_sync sync = {
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
	};
	const uint8_t *map;
	bool same = true;

	assert(length >= (off_t)dmabuf->offset +
		(off_t)dmabuf->stride * height);
	map = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, dmabuf->fd,
		0);
	assert(map != MAP_FAILED);
	assert(ioctl(dmabuf->fd, DMA_BUF_IOCTL_SYNC, &sync) == 0);
	for (uint32_t y = 0; y < height && same; y++) {
		same = memcmp(map + dmabuf->offset + (size_t)y * dmabuf->stride,
			data + (size_t)y * stride, row) == 0;
	}
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	assert(ioctl(dmabuf->fd, DMA_BUF_IOCTL_SYNC, &sync) == 0);
	munmap((void *)map, (size_t)length);
	return same;
}

TEST(a_found_pixmap_comes_as_its_dmabuf)
{
	int card = test_open_card();
	struct ch_server *server;
	struct pixcache_client *writer, *reader;
	struct pixcache_pixmap *pixmap;
	struct pixcache_dmabuf dmabuf;

	server = ch_server_start(NULL, NULL, NULL);
	assert(ch_server_set_drm_device(server, card) == 0);
	close(card);
	writer = ch_connect(server);
	reader = ch_connect(server);
	put_pattern(writer, "icon", 37, 11);
	assert(pixcache_client_find(reader, "default", "icon", &pixmap) == 0);
	assert(pixcache_pixmap_get_dmabuf(pixmap, &dmabuf) == 0);
	assert(dmabuf.format == DRM_FORMAT_ARGB8888);
	assert(dmabuf.modifier == DRM_FORMAT_MOD_LINEAR);
	assert(same_pixels(pixmap, &dmabuf));
	close(dmabuf.fd);
	/* Again: the same dma-buf, another fd. */
	assert(pixcache_pixmap_get_dmabuf(pixmap, &dmabuf) == 0);
	close(dmabuf.fd);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(reader);
	pixcache_client_destroy(writer);
	ch_server_stop(server);
}

TEST(without_a_device_it_is_enodev)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap;
	struct pixcache_dmabuf dmabuf = { .fd = -1 };

	put_pattern(client, "icon", 16, 1);
	assert(pixcache_client_find(client, "default", "icon", &pixmap) == 0);
	assert(pixcache_pixmap_get_dmabuf(pixmap, &dmabuf) == -ENODEV);
	assert(dmabuf.fd == -1);
	/* The lease is as it was. */
	assert(ch_has_pattern(pixmap, 1));
	assert(pixcache_pixmap_get_dmabuf(pixmap, NULL) == -EINVAL);
	assert(pixcache_pixmap_get_dmabuf(NULL, &dmabuf) == -EINVAL);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/*
 * A lease of a find has no object to ask on: the library asks through a
 * lookup by key, while the key resolves.
 */
TEST(a_pixmap_of_find_many_asks_by_key)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *writer = ch_connect(server);
	struct pixcache_client *reader = ch_connect(server);
	const char *names[] = { "icon" };
	struct pixcache_pixmap *pixmap, *by_key;
	struct pixcache_dmabuf dmabuf;
	struct pixcache_key key;
	int result;

	put_pattern(writer, "icon", 16, 1);
	/* The realm's first lookup binds it; finds come after. */
	assert(pixcache_client_find(reader, "default", "other", &pixmap) ==
		-ENOENT);
	assert(pixcache_client_abandon(reader, "default", "other") == 0);
	assert(pixcache_client_find_many(reader, "default", names, 1, &result,
		&pixmap) == 0 && result == 0);
	/* Held by number, not by an object. */
	assert(pixmap->lease == NULL && pixmap->lease_number != 0);
	assert(pixcache_pixmap_get_dmabuf(pixmap, &dmabuf) == -ENODEV);
	pixcache_pixmap_get_key(pixmap, &key);
	assert(pixcache_client_find_key(reader, &key, &by_key) == 0);
	assert(pixcache_pixmap_get_dmabuf(by_key, &dmabuf) == -ENODEV);
	pixcache_pixmap_unref(by_key);
	/* Gone from the cache, the key resolves no more. */
	assert(ch_server_remove(server, "default", "icon") == 0);
	result = pixcache_pixmap_get_dmabuf(pixmap, &dmabuf);
	if (result != -ENOENT) {
		test_fail("evicted: %d", result);
	}
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(reader);
	pixcache_client_destroy(writer);
	ch_server_stop(server);
}
