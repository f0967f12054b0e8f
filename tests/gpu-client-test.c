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
#include <sys/wait.h>
#include <unistd.h>
#include <xf86drm.h>

#include "client-harness.h"
#include "client-private.h"
#include "drm-util.h"
#include "fd-util.h"
#include "manager-private.h"
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

/* ---- uploads from dma-bufs ---- */

/* A GPU buffer holding ch_image(width, height, seed) at its pitch. */
static struct test_gpu_buffer *
drawn_buffer(uint32_t width, uint32_t height, uint32_t seed)
{
	struct test_gpu_buffer *gpu = test_gpu_buffer_create(width, height);
	pixman_image_t *image = ch_image(width, height, seed);
	const uint8_t *bits = (const uint8_t *)pixman_image_get_data(image);
	uint32_t stride = (uint32_t)pixman_image_get_stride(image);

	for (uint32_t y = 0; y < height; y++) {
		test_gpu_buffer_write(gpu, y * gpu->pitch, gpu->pitch,
			width * 4, 1, bits + (size_t)y * stride);
	}
	pixman_image_unref(image);
	return gpu;
}

static struct pixcache_dmabuf
offered(const struct test_gpu_buffer *gpu)
{
	return (struct pixcache_dmabuf){
		.fd = gpu->fd,
		.stride = gpu->pitch,
		.format = DRM_FORMAT_ARGB8888,
		.modifier = DRM_FORMAT_MOD_LINEAR,
	};
}

/* What another process finds of name: 0 if it holds seed's pattern. */
static int
found_elsewhere(struct ch_server *server, const char *name, uint32_t seed)
{
	pid_t pid = fork();
	int status;

	assert(pid >= 0);
	if (pid == 0) {
		struct pixcache_client *reader = ch_connect(server);
		struct pixcache_pixmap *pixmap;
		bool same = pixcache_client_find(reader, "default", name,
			&pixmap) == 0 && ch_has_pattern(pixmap, seed);

		_exit(same ? 0 : 1);
	}
	assert(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * A client offers a buffer its GPU drew; another process finds every
 * pixel, after the first drew something else into its buffer.
 */
TEST(a_gpu_buffer_put_is_found_by_another_process)
{
	struct test_gpu_buffer *gpu = drawn_buffer(37, 29, 5);
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *writer = ch_connect(server);
	struct pixcache_dmabuf dmabuf = offered(gpu);
	struct pixcache_key key;
	struct test_gpu_buffer *other;

	assert(pixcache_client_put_dmabuf(writer, "default", "drawn", 37, 29,
		&dmabuf, 0, &key) == 0);
	/* The caller's fd is its own still: drawn again. */
	assert(fcntl(gpu->fd, F_GETFD) >= 0);
	other = drawn_buffer(37, 29, 6);
	memcpy(gpu->map, other->map, gpu->size);
	test_gpu_buffer_destroy(other);
	assert(found_elsewhere(server, "drawn", 5) == 0);
	test_gpu_buffer_destroy(gpu);
	pixcache_client_destroy(writer);
	ch_server_stop(server);
}

/* Bad arguments are -EINVAL, and nothing is sent. */
TEST(put_dmabuf_checks_its_arguments)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	int memfd = memfd_create("args", MFD_CLOEXEC);
	struct pixcache_dmabuf good = {
		.fd = memfd, .stride = 64, .format = DRM_FORMAT_ARGB8888,
		.modifier = DRM_FORMAT_MOD_LINEAR,
	};
	struct pixcache_dmabuf bad;

	assert(memfd >= 0);
	bad = good;
	bad.stride = 63;
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		&bad, 0, NULL) == -EINVAL);
	bad = good;
	bad.modifier = DRM_FORMAT_MOD_INVALID;
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		&bad, 0, NULL) == -EINVAL);
	bad = good;
	bad.format = 0x12345678;
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		&bad, 0, NULL) == -EINVAL);
	bad = good;
	bad.fd = -1;
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		&bad, 0, NULL) == -EINVAL);
	/* A closed fd: libwayland would end the connection sending it. */
	bad.fd = 1000;
	assert(fcntl(bad.fd, F_GETFD) < 0);
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		&bad, 0, NULL) == -EBADF);
	assert(pixcache_client_put_dmabuf(client, "default", "a", 0, 16,
		&good, 0, NULL) == -EINVAL);
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		NULL, 0, NULL) == -EINVAL);
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		&good, 2, NULL) == -EINVAL);
	assert(pixcache_client_put_dmabuf(NULL, "default", "a", 16, 16,
		&good, 0, NULL) == -EINVAL);
	/* Nothing was sent, nothing claimed: the name is free to fill. */
	put_pattern(client, "a", 16, 4);
	close(memfd);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* The manager refuses what is no dma-buf: -EBADF, and the client goes on. */
TEST(put_dmabuf_of_no_dmabuf_is_ebadf)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	int memfd = memfd_create("not-a-dmabuf", MFD_CLOEXEC);
	struct pixcache_dmabuf dmabuf = {
		.fd = memfd, .stride = 64, .format = DRM_FORMAT_ARGB8888,
		.modifier = DRM_FORMAT_MOD_LINEAR,
	};
	int fds;

	assert(memfd >= 0 && ftruncate(memfd, 64 * 16) == 0);
	/* The realm's pool made first: the fds of both sides counted. */
	put_pattern(client, "before", 16, 2);
	fds = test_count_fds();
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		&dmabuf, 0, NULL) == -EBADF);
	assert(test_count_fds() == fds);
	/* Its claim on the name went with the upload: it may be filled. */
	put_pattern(client, "a", 16, 3);
	close(memfd);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

static void
announce_version_1(struct pixcache_manager *manager, void *data)
{
	assert(pxc_manager_set_version(manager, 1) == 0);
}

/* A manager of protocol version 1 has no GPU requests: the library says
 * so, and everything else works. */
TEST(an_old_manager_has_no_gpu_pixmaps)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client;
	struct pixcache_pixmap *pixmap;
	struct pixcache_dmabuf dmabuf = {
		.stride = 64, .format = DRM_FORMAT_ARGB8888,
		.modifier = DRM_FORMAT_MOD_LINEAR,
	};

	ch_server_call(server, announce_version_1, NULL);
	client = ch_connect(server);
	dmabuf.fd = memfd_create("old", MFD_CLOEXEC);
	assert(dmabuf.fd >= 0);
	assert(pixcache_client_put_dmabuf(client, "default", "a", 16, 16,
		&dmabuf, 0, NULL) == -EOPNOTSUPP);
	put_pattern(client, "b", 16, 2);
	assert(pixcache_client_find(client, "default", "b", &pixmap) == 0);
	assert(pixcache_pixmap_get_dmabuf(pixmap, &dmabuf) == -ENODEV);
	assert(ch_has_pattern(pixmap, 2));
	pixcache_pixmap_unref(pixmap);
	close(dmabuf.fd);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}
