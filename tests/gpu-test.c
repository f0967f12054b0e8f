/*
 * Pixmaps as dma-bufs (pixcache_pixmap_v1.get_dmabuf). The tests that need
 * a DRM device use /dev/dri/card0, which must make dumb buffers: vgem does
 * (kvm-run.sh --modules vgem), and the suite runs in such a guest; without
 * one they are skipped, saying why. The rest need no device.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xf86drm.h>

#include "drm-util.h"
#include "fd-util.h"
#include "manager-private.h"
#include "server-harness.h"
#include "test-runner.h"

/* A server given the card; the test's own fd is closed. */
static struct th_server *
server_with_card(void)
{
	struct th_server *server = th_server_create(NULL, NULL);
	int fd = test_open_card();

	assert(pixcache_manager_set_drm_device(server->manager, fd) == 0);
	assert(pixcache_manager_set_drm_device(server->manager, fd) ==
		-EBUSY);
	close(fd);
	return server;
}

/* Looks name up, holding it: the answer's buffer came. */
static struct th_pixmap *
lookup(struct th_client *client, struct th_realm *realm, const char *name)
{
	struct pixcache_batch_v1 *batch = th_batch(client);
	struct th_pixmap *pixmap = th_lookup(client, batch, realm, name);

	assert(th_commit(client, batch));
	th_batch_destroy(batch);
	assert(pixmap->buffer);
	return pixmap;
}

/* Looks name up, whatever the answer. */
static struct th_pixmap *
lookup_any(struct th_client *client, struct th_realm *realm,
	const char *name)
{
	struct pixcache_batch_v1 *batch = th_batch(client);
	struct th_pixmap *pixmap = th_lookup(client, batch, realm, name);

	assert(th_commit(client, batch));
	th_batch_destroy(batch);
	return pixmap;
}

/* Asks for the pixmap's dma-buf: true if dmabuf came, else failed. */
static bool
get_dmabuf(struct th_pixmap *pixmap)
{
	int before = pixmap->dmabufs;

	pixmap->failed = 0;
	pixcache_pixmap_v1_get_dmabuf(pixmap->proxy);
	assert(th_roundtrip(pixmap->client));
	assert(pixmap->dmabufs == before + 1 || pixmap->failed != 0);
	return pixmap->dmabufs == before + 1;
}

/* Uploads name with seed's pattern, stored. */
static void
put(struct th_client *client, struct th_realm *realm, const char *name,
	uint32_t width, uint32_t height, uint32_t seed)
{
	struct th_upload *upload = th_put(client, realm, name, width, height,
		seed);

	assert(upload->stored);
	th_upload_destroy(upload);
}

static uint32_t
dmabufs_of(struct th_server *server)
{
	struct pixcache_stats stats;

	pixcache_manager_get_stats(server->manager, &stats);
	return stats.dmabufs;
}

/*
 * Whether the dma-buf holds the pixmap's pixels, row by row at its own
 * stride: mapped read-only, between the syncs a CPU reader owes.
 */
static bool
dmabuf_has_pattern(const struct th_pixmap *pixmap, uint32_t seed)
{
	size_t size = (size_t)pixmap->stride * pixmap->height;
	uint8_t *want = malloc(size);
	off_t length = lseek(pixmap->dmabuf_fd, 0, SEEK_END);
	struct dma_buf_sync sync = {
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
	};
	const uint8_t *map;
	bool same = true;

	assert(want != NULL);
	th_pattern_fill(want, size, seed);
	assert(length >= (off_t)pixmap->dmabuf_offset +
		(off_t)pixmap->dmabuf_stride * pixmap->height);
	map = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED,
		pixmap->dmabuf_fd, 0);
	assert(map != MAP_FAILED);
	assert(ioctl(pixmap->dmabuf_fd, DMA_BUF_IOCTL_SYNC, &sync) == 0);
	for (uint32_t y = 0; y < pixmap->height && same; y++) {
		same = memcmp(map + pixmap->dmabuf_offset +
			(size_t)y * pixmap->dmabuf_stride,
			want + (size_t)y * pixmap->stride,
			(size_t)pixmap->width * 4) == 0;
	}
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	assert(ioctl(pixmap->dmabuf_fd, DMA_BUF_IOCTL_SYNC, &sync) == 0);
	munmap((void *)map, (size_t)length);
	free(want);
	return same;
}

/* One pixmap of width x height, uploaded by one client, read by another
 * through its dma-buf. */
static void
check_pixels(uint32_t width, uint32_t height)
{
	struct th_server *server = server_with_card();
	struct th_client *writer = th_client_connect(server);
	struct th_client *reader = th_client_connect(server);
	struct th_realm *wr = th_realm_get(writer, "default");
	struct th_realm *rr = th_realm_get(reader, "default");
	struct th_pixmap *pixmap;

	put(writer, wr, "icon", width, height, 41);
	pixmap = lookup(reader, rr, "icon");
	assert(get_dmabuf(pixmap));
	assert(pixmap->dmabuf_format == DRM_FORMAT_ARGB8888);
	assert(pixmap->dmabuf_modifier == DRM_FORMAT_MOD_LINEAR);
	assert(pixmap->dmabuf_stride >= width * 4);
	if (!dmabuf_has_pattern(pixmap, 41)) {
		test_fail("%ux%u: the dma-buf (stride %u) is not the pixmap "
			"(stride %u)", width, height, pixmap->dmabuf_stride,
			pixmap->stride);
	}
	th_pixmap_destroy(pixmap);
	th_realm_destroy(rr);
	th_realm_destroy(wr);
	th_client_disconnect(reader);
	th_client_disconnect(writer);
	th_server_destroy(server);
}

TEST(dmabuf_holds_a_pooled_pixmaps_pixels)
{
	/* 37 pixels: the pixmap's stride is 192, vgem's pitch 148. */
	check_pixels(37, 23);
}

TEST(dmabuf_holds_a_large_pixmaps_pixels)
{
	/* Beyond pool_max_pixmap: a buffer of its own. */
	check_pixels(200, 100);
}

TEST(leases_share_one_dmabuf)
{
	struct th_server *server = server_with_card();
	struct th_client *a = th_client_connect(server);
	struct th_client *b = th_client_connect(server);
	struct th_realm *ra = th_realm_get(a, "default");
	struct th_realm *rb = th_realm_get(b, "default");
	struct th_pixmap *pa, *pb;
	struct stat sa, sb;

	put(a, ra, "shared", 16, 16, 3);
	pa = lookup(a, ra, "shared");
	pb = lookup(b, rb, "shared");
	assert(get_dmabuf(pa) && get_dmabuf(pb) && get_dmabuf(pb));
	assert(dmabufs_of(server) == 1);
	/* One dma-buf, whoever asks and however often. */
	assert(fstat(pa->dmabuf_fd, &sa) == 0 &&
		fstat(pb->dmabuf_fd, &sb) == 0);
	assert(sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev);

	/* Evicted, the lease still holds the pixmap, and its dma-buf. */
	assert(th_remove(a, ra, "shared") == 1);
	assert(th_roundtrip(b) && pb->evicted);
	assert(get_dmabuf(pb));
	assert(dmabufs_of(server) == 1);
	/* Freed with the pixmap, when its last lease goes. */
	th_pixmap_destroy(pa);
	assert(th_roundtrip(a) && dmabufs_of(server) == 1);
	th_pixmap_destroy(pb);
	assert(th_roundtrip(b) && dmabufs_of(server) == 0);

	th_realm_destroy(rb);
	th_realm_destroy(ra);
	th_client_disconnect(b);
	th_client_disconnect(a);
	th_server_destroy(server);
}

TEST(alpha_masks_have_no_dmabuf)
{
	struct th_server *server = server_with_card();
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	struct pixcache_batch_v1 *batch = th_batch(client);
	struct th_upload *upload = th_upload(client, batch, realm, "mask", 16,
		16, DRM_FORMAT_R8, 0);
	struct th_pixmap *pixmap;

	assert(th_commit(client, batch) && upload->fd >= 0);
	th_upload_fill(upload, 5);
	pixcache_upload_v1_commit(upload->proxy);
	assert(th_roundtrip(client) && upload->stored);
	th_upload_destroy(upload);
	th_batch_destroy(batch);

	pixmap = lookup(client, realm, "mask");
	assert(!get_dmabuf(pixmap));
	assert(pixmap->failed == PIXCACHE_BATCH_V1_FAILURE_FORMAT);
	assert(dmabufs_of(server) == 0);

	th_pixmap_destroy(pixmap);
	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

TEST(dmabufs_leak_no_fd)
{
	struct th_server *server = server_with_card();
	struct th_client *keep = th_client_connect(server);
	struct th_realm *rk = th_realm_get(keep, "default");
	struct th_fds before;
	struct th_client *reader;
	struct th_realm *rr;
	struct th_pixmap *small, *large;

	put(keep, rk, "small", 16, 16, 1);
	put(keep, rk, "large", 200, 100, 2);
	assert(th_roundtrip(keep));
	before = th_fds_now(server, keep);

	reader = th_client_connect(server);
	rr = th_realm_get(reader, "default");
	small = lookup(reader, rr, "small");
	large = lookup(reader, rr, "large");
	assert(get_dmabuf(small) && get_dmabuf(large));
	assert(dmabufs_of(server) == 2);
	th_pixmap_destroy(small);
	th_pixmap_destroy(large);
	th_realm_destroy(rr);
	th_client_disconnect(reader);
	/* Closed with the last lease using them. */
	assert(th_roundtrip(keep) && dmabufs_of(server) == 0);
	th_assert_fds(&before, server, keep);

	/* The pixmaps go without any. */
	assert(th_remove(keep, rk, "small") == 1);
	assert(th_remove(keep, rk, "large") == 1);
	assert(th_roundtrip(keep) && dmabufs_of(server) == 0);
	th_assert_fds(&before, server, keep);
	th_realm_destroy(rk);
	th_client_disconnect(keep);
	th_server_destroy(server);
}

/*
 * The manager's fd may be the compositor's own: one GEM handle namespace.
 * A compositor that imports a client's dma-buf gets a handle of its own
 * and closes it when done; the manager kept none that it could destroy
 * under the compositor's later buffers.
 */
TEST(the_manager_keeps_no_handle_in_the_compositors_namespace)
{
	struct th_server *server = th_server_create(NULL, NULL);
	int compositor = test_open_card();
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	struct drm_mode_create_dumb dumb = { .width = 64, .height = 64,
		.bpp = 32 };
	struct drm_mode_map_dumb map = { 0 };
	struct drm_gem_close gem_close = { 0 };
	struct th_pixmap *pixmap;
	uint32_t imported;

	assert(pixcache_manager_set_drm_device(server->manager,
		compositor) == 0);
	put(client, realm, "icon", 16, 16, 1);
	pixmap = lookup(client, realm, "icon");
	assert(get_dmabuf(pixmap));
	/* Say, to scan the client's buffer out; then done with it. */
	assert(drmPrimeFDToHandle(compositor, pixmap->dmabuf_fd,
		&imported) == 0);
	gem_close.handle = imported;
	assert(drmIoctl(compositor, DRM_IOCTL_GEM_CLOSE, &gem_close) == 0);
	/* A buffer of the compositor's own, maybe under that number. */
	assert(drmIoctl(compositor, DRM_IOCTL_MODE_CREATE_DUMB, &dumb) == 0);

	th_pixmap_destroy(pixmap);
	assert(th_remove(client, realm, "icon") == 1);
	assert(th_roundtrip(client) && dmabufs_of(server) == 0);
	map.handle = dumb.handle;
	assert(drmIoctl(compositor, DRM_IOCTL_MODE_MAP_DUMB, &map) == 0);

	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
	close(compositor);
}

/*
 * A connection gets its share of dma-bufs, and its leases take them with
 * them: one client making dma-bufs of many pixmaps and leaving leaves
 * none, and another gets its own.
 */
TEST(dmabufs_are_a_connections_share_and_go_with_its_leases)
{
	struct pixcache_config config;
	struct th_server *server;
	struct th_client *a, *b;
	struct th_realm *ra, *rb;
	struct th_pixmap *held[3], *other;
	char name[16];
	int fd = test_open_card();

	th_config(&config);
	config.max_dmabufs = 3;
	config.max_dmabufs_per_connection = 2;
	server = th_server_create(&config, NULL);
	assert(pixcache_manager_set_drm_device(server->manager, fd) == 0);
	close(fd);
	a = th_client_connect(server);
	ra = th_realm_get(a, "default");
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "tiny%d", i);
		put(a, ra, name, 1, 1, (uint32_t)i);
		held[i] = lookup(a, ra, name);
	}
	assert(get_dmabuf(held[0]) && get_dmabuf(held[1]));
	assert(!get_dmabuf(held[2]));
	assert(held[2]->failed == PIXCACHE_BATCH_V1_FAILURE_LEASES);
	assert(dmabufs_of(server) == 2);

	b = th_client_connect(server);
	rb = th_realm_get(b, "default");
	put(b, rb, "mine", 16, 16, 9);
	other = lookup(b, rb, "mine");
	assert(get_dmabuf(other) && dmabufs_of(server) == 3);
	th_pixmap_destroy(other);
	assert(th_roundtrip(b) && dmabufs_of(server) == 2);

	/* a leaves, holding its leases; its pixmaps stay cached: its
	 * dma-bufs go. */
	for (int i = 0; i < 3; i++) {
		th_pixmap_forget(held[i]);
	}
	th_realm_destroy(ra);
	th_client_disconnect(a);
	other = lookup(b, rb, "tiny0");
	assert(get_dmabuf(other) && dmabufs_of(server) == 1);

	th_pixmap_destroy(other);
	th_realm_destroy(rb);
	th_client_disconnect(b);
	th_server_destroy(server);
}

/* A render node makes no dumb buffers: refused, whatever it says of them. */
TEST(a_render_node_is_refused)
{
	struct th_server *server = th_server_create(NULL, NULL);
	int card = test_open_card();
	int render = open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);

	close(card);
	if (render < 0) {
		th_server_destroy(server);
		test_skip("no render node: %s", strerror(errno));
	}
	assert(pixcache_manager_set_drm_device(server->manager, render) ==
		-ENODEV);
	close(render);
	th_server_destroy(server);
}

/* The compositor's own image of pixels w x h filled with seed's pattern. */
static struct pixcache_image *
insert_and_find(struct th_server *server, uint32_t w, uint32_t h,
	uint32_t seed, uint8_t *pixels)
{
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		(int)w, (int)h, (uint32_t *)pixels, (int)(w * 4));
	struct pixcache_image *found;

	th_pattern_fill(pixels, (size_t)w * 4 * h, seed);
	assert(image != NULL);
	assert(pixcache_manager_insert(server->manager, "default", "own",
		image, DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	pixman_image_unref(image);
	assert(pixcache_manager_find(server->manager, "default", "own",
		&found) == 0);
	return found;
}

/* The compositor's renderer gets a cached pixmap's dma-buf, to import. */
TEST(the_compositor_gets_an_images_dmabuf)
{
	struct th_server *server = server_with_card();
	uint8_t pixels[37 * 4 * 20];
	struct pixcache_image *image = insert_and_find(server, 37, 20, 8,
		pixels);
	struct pixcache_image_dmabuf dmabuf;
	struct dma_buf_sync sync = {
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
	};
	const uint8_t *map;
	off_t length;

	assert(pixcache_image_get_dmabuf(image, &dmabuf) == 0);
	assert(dmabuf.format == DRM_FORMAT_ARGB8888 &&
		dmabuf.modifier == DRM_FORMAT_MOD_LINEAR &&
		dmabuf.offset == 0 && dmabuf.stride >= 37 * 4);
	/* Its fd is the caller's own: the manager keeps none for it. */
	pixcache_image_release(image);
	assert(dmabufs_of(server) == 0);
	length = lseek(dmabuf.fd, 0, SEEK_END);
	assert(length >= (off_t)dmabuf.stride * 20);
	map = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, dmabuf.fd,
		0);
	assert(map != MAP_FAILED);
	assert(ioctl(dmabuf.fd, DMA_BUF_IOCTL_SYNC, &sync) == 0);
	for (uint32_t y = 0; y < 20; y++) {
		if (memcmp(map + (size_t)y * dmabuf.stride,
				pixels + (size_t)y * 37 * 4, 37 * 4) != 0) {
			test_fail("row %u of the image's dma-buf differs", y);
		}
	}
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	assert(ioctl(dmabuf.fd, DMA_BUF_IOCTL_SYNC, &sync) == 0);
	munmap((void *)map, (size_t)length);
	close(dmabuf.fd);
	th_server_destroy(server);
}

/*
 * A dma-buf is GPU memory of the manager's: it counts in the budget, as
 * a pixmap does. Where what is held leaves no room, get_dmabuf fails with
 * budget and nothing changes; entries nobody holds are evicted for it;
 * the room comes back with its last lease.
 */
TEST(dmabufs_count_in_the_budget)
{
	struct pixcache_config config;
	struct th_server *server;
	struct th_client *client;
	struct th_realm *realm;
	struct th_pixmap *a, *b;
	struct th_upload *c;
	struct pixcache_stats stats;
	int card = test_open_card();

	th_config(&config);
	config.budget = 2 * 4096;
	server = th_server_create(&config, NULL);
	assert(pixcache_manager_set_drm_device(server->manager, card) == 0);
	close(card);
	client = th_client_connect(server);
	realm = th_realm_get(client, "default");
	/* 32 x 32: 4,096 bytes each, and as much GPU memory on vgem. */
	put(client, realm, "a", 32, 32, 1);
	put(client, realm, "b", 32, 32, 2);
	a = lookup(client, realm, "a");
	b = lookup(client, realm, "b");
	assert(!get_dmabuf(a));
	assert(a->failed == PIXCACHE_BATCH_V1_FAILURE_BUDGET);
	stats = th_server_stats(server);
	assert(stats.entries == 2 && stats.dmabufs == 0 &&
		stats.dmabuf_bytes == 0 && stats.evictions == 0);

	/* "b" let go: evicted to make room for a's dma-buf. */
	th_pixmap_destroy(b);
	assert(th_roundtrip(client));
	assert(get_dmabuf(a) && dmabuf_has_pattern(a, 1));
	stats = th_server_stats(server);
	assert(stats.entries == 1 && stats.dmabufs == 1 &&
		stats.dmabuf_bytes >= 4096 && stats.evictions == 1);
	/* "a" held and its dma-buf fill the budget. */
	c = th_put(client, realm, "c", 32, 32, 3);
	assert(c->failed == PIXCACHE_BATCH_V1_FAILURE_BUDGET);
	th_upload_destroy(c);
	th_pixmap_destroy(a);
	assert(th_roundtrip(client));
	assert(th_server_stats(server).dmabuf_bytes == 0);
	put(client, realm, "c", 32, 32, 3);

	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

/* ---- dma-bufs offered as uploads ---- */

/* seed's pattern packed in rows of row_bytes: what a client drew. */
static uint8_t *
drawn_rows(uint32_t row_bytes, uint32_t height, uint32_t seed)
{
	uint8_t *rows = malloc((size_t)row_bytes * height);

	assert(rows != NULL);
	th_pattern_fill(rows, (size_t)row_bytes * height, seed);
	return rows;
}

/*
 * Whether the pixmap holds drawn_rows(seed) row by row, at the manager's
 * stride, each row's padding zero: nothing of what the pool held before.
 */
static bool
pixmap_holds_rows(struct th_pixmap *pixmap, uint32_t seed)
{
	uint32_t row = pixmap->width * 4;
	uint8_t *want = drawn_rows(row, pixmap->height, seed);
	size_t size;
	const uint8_t *map = th_pixmap_map(pixmap, &size);
	const uint8_t *p = map + (pixmap->pool ? pixmap->offset : 0);
	bool same = true;

	for (uint32_t y = 0; y < pixmap->height && same; y++) {
		const uint8_t *line = p + (size_t)y * pixmap->stride;

		same = memcmp(line, want + (size_t)y * row, row) == 0;
		for (uint32_t x = row; x < pixmap->stride && same; x++) {
			same = line[x] == 0;
		}
	}
	th_pixmap_unmap(map, size);
	free(want);
	return same;
}

/* Offers the dma-buf as name; the upload answered. */
static struct th_upload *
offer(struct th_client *client, struct th_realm *realm, const char *name,
	uint32_t width, uint32_t height, int fd, uint32_t offset,
	uint32_t stride, uint64_t modifier)
{
	struct pixcache_batch_v1 *batch = th_batch(client);
	struct th_upload *upload = th_upload_dmabuf(client, batch, realm,
		name, width, height, DRM_FORMAT_ARGB8888, fd, offset, stride,
		modifier);

	assert(th_commit(client, batch) && th_upload_wait(client, upload));
	th_batch_destroy(batch);
	return upload;
}

/*
 * A GPU buffer's pixels, copied: at the exporter's pitch and at a stride
 * and offset of the client's choosing, with and without row padding in
 * the manager's layout. The copy is the manager's own: the client drawing
 * again into its buffer changes nothing another client reads.
 */
TEST(a_gpu_buffer_is_copied_into_the_cache)
{
	static const struct {
		uint32_t width, height, offset_rows, offset_bytes;
	} cases[] = {
		{ 48, 31, 0, 0 },	/* rows of 192 bytes: no padding */
		{ 20, 17, 2, 16 },	/* rows of 80 in strides of 128 */
		{ 64, 40, 0, 0 },	/* the whole buffer */
	};
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *writer = th_client_connect(server);
	struct th_client *reader = th_client_connect(server);
	struct th_realm *wr = th_realm_get(writer, "default");
	struct th_realm *rr = th_realm_get(reader, "default");
	struct th_fds before = th_fds_now(server, reader);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct test_gpu_buffer *gpu = test_gpu_buffer_create(64, 40);
		uint32_t row = cases[i].width * 4;
		uint32_t offset = cases[i].offset_rows * gpu->pitch +
			cases[i].offset_bytes;
		uint8_t *rows = drawn_rows(row, cases[i].height, 50 + i);
		uint8_t *again = drawn_rows(row, cases[i].height, 90);
		char name[16];
		struct th_upload *upload;
		struct th_pixmap *pixmap;

		snprintf(name, sizeof(name), "drawn-%zu", i);
		test_gpu_buffer_write(gpu, offset, gpu->pitch, row,
			cases[i].height, rows);
		upload = offer(writer, wr, name, cases[i].width,
			cases[i].height, gpu->fd, offset, gpu->pitch,
			DRM_FORMAT_MOD_LINEAR);
		if (!upload->stored) {
			test_fail("case %zu failed with %u", i, upload->failed);
		}
		th_upload_destroy(upload);
		test_gpu_buffer_write(gpu, offset, gpu->pitch, row,
			cases[i].height, again);
		pixmap = lookup(reader, rr, name);
		if (!pixmap_holds_rows(pixmap, 50 + (uint32_t)i)) {
			test_fail("case %zu: the pixmap is not what was drawn",
				i);
		}
		th_pixmap_destroy(pixmap);
		assert(th_remove(writer, wr, name) == 1);
		test_gpu_buffer_destroy(gpu);
		free(rows);
		free(again);
	}
	/* The manager kept none of the offered fds. */
	assert(th_roundtrip(reader));
	th_assert_fds(&before, server, reader);
	th_realm_destroy(rr);
	th_client_disconnect(reader);
	th_realm_destroy(wr);
	th_client_disconnect(writer);
	th_server_destroy(server);
}

/*
 * Rows at the manager's own stride, the last one ending at the buffer's
 * last byte: the manager reads each row's pixels and nothing else, not
 * the client's padding between them, not past the end it checked (an
 * adversarial reviewer's case: the whole-buffer copy read 48 bytes past
 * its mapping, and copied the padding).
 */
TEST(a_gpu_buffer_is_read_no_further_than_its_pixels)
{
	struct test_gpu_buffer *gpu = test_gpu_buffer_create(32, 32);
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	uint32_t row = 20 * 4;
	uint32_t offset = (uint32_t)gpu->size - gpu->pitch - row;
	uint8_t *rows = drawn_rows(row, 2, 61);
	struct th_upload *upload;
	struct th_pixmap *pixmap;

	/* 128 bytes a row on vgem: the manager's stride for 20 pixels. */
	assert(gpu->pitch == 128 && gpu->size == 4096);
	memset(gpu->map, 0x11, gpu->size);
	test_gpu_buffer_write(gpu, offset, gpu->pitch, row, 2, rows);
	upload = offer(client, realm, "edge", 20, 2, gpu->fd, offset,
		gpu->pitch, DRM_FORMAT_MOD_LINEAR);
	assert(upload->stored);
	th_upload_destroy(upload);
	pixmap = lookup(client, realm, "edge");
	assert(pixmap_holds_rows(pixmap, 61));
	th_pixmap_destroy(pixmap);
	free(rows);
	test_gpu_buffer_destroy(gpu);
	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

/*
 * What the manager cannot copy safely fails with dmabuf: nothing stored,
 * no fd kept, the client still connected and able to upload.
 */
TEST(a_gpu_buffer_that_cannot_be_copied_fails)
{
	struct test_gpu_buffer *gpu = test_gpu_buffer_create(32, 32);
	const uint32_t pitch = gpu->pitch;
	const struct {
		const char *what;
		uint32_t width, height, offset, stride;
		uint64_t modifier;
	} cases[] = {
		{ "a stride shorter than a row", 32, 32, 0, 31 * 4,
			DRM_FORMAT_MOD_LINEAR },
		{ "a stride of 0", 32, 2, 0, 0, DRM_FORMAT_MOD_LINEAR },
		{ "one row too many", 32, 33, 0, pitch,
			DRM_FORMAT_MOD_LINEAR },
		{ "an offset past the end", 8, 1, 32 * pitch, pitch,
			DRM_FORMAT_MOD_LINEAR },
		{ "a last row one byte short", 32, 32, 1, pitch,
			DRM_FORMAT_MOD_LINEAR },
		{ "rows past 4 GiB", 32, 2, UINT32_MAX, UINT32_MAX,
			DRM_FORMAT_MOD_LINEAR },
		{ "a tiled modifier", 32, 32, 0, pitch,
			I915_FORMAT_MOD_X_TILED },
		{ "the implicit modifier", 32, 32, 0, pitch,
			DRM_FORMAT_MOD_INVALID },
	};
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	struct th_fds before = th_fds_now(server, client);
	struct th_upload *upload;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		upload = offer(client, realm, "hostile", cases[i].width,
			cases[i].height, gpu->fd, cases[i].offset,
			cases[i].stride, cases[i].modifier);
		if (upload->failed != PIXCACHE_BATCH_V1_FAILURE_DMABUF) {
			test_fail("%s: stored %d, failed %u", cases[i].what,
				upload->stored, upload->failed);
		}
		th_upload_destroy(upload);
	}
	assert(th_alive(client) && th_server_stats(server).entries == 0);
	th_assert_fds(&before, server, client);
	/* The same buffer, offered right, is stored. */
	upload = offer(client, realm, "hostile", 32, 32, gpu->fd, 0, pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(upload->stored);
	th_upload_destroy(upload);
	test_gpu_buffer_destroy(gpu);
	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

/*
 * A buffer the GPU is still drawing (a write fence not signalled) is read
 * once the fence signals, by the manager's reader: the loop goes on
 * meanwhile, serving other clients. A fence that outlasts the upload
 * timeout fails the upload with timeout, and frees its name.
 */
TEST(a_gpu_buffer_still_being_drawn_is_read_when_done)
{
	struct test_gpu_buffer *gpu = test_gpu_buffer_create(16, 16);
	struct pixcache_config config;
	struct th_server *server;
	struct th_client *client, *other;
	struct th_realm *realm, *ro;
	struct pixcache_batch_v1 *batch;
	struct th_upload *upload;
	uint32_t fence;

	th_config(&config);
	config.upload_timeout_ms = 500;
	server = th_server_create(&config, NULL);
	client = th_client_connect(server);
	other = th_client_connect(server);
	realm = th_realm_get(client, "default");
	ro = th_realm_get(other, "default");
	fence = test_gpu_buffer_fence(gpu);
	batch = th_batch(client);
	upload = th_upload_dmabuf(client, batch, realm, "drawing", 16, 16,
		DRM_FORMAT_ARGB8888, gpu->fd, 0, gpu->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(th_commit(client, batch));
	/* Waiting on the fence, the manager serves others. */
	put(other, ro, "meanwhile", 16, 16, 3);
	assert(!upload->stored && upload->failed == 0);
	test_gpu_buffer_signal(gpu, fence);
	assert(th_upload_wait(client, upload) && upload->stored);
	th_upload_destroy(upload);

	/* A fence past the timeout: failed with timeout. */
	fence = test_gpu_buffer_fence(gpu);
	upload = th_upload_dmabuf(client, batch, realm, "late", 16, 16,
		DRM_FORMAT_ARGB8888, gpu->fd, 0, gpu->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(th_commit(client, batch) && th_upload_wait(client, upload));
	assert(upload->failed == PIXCACHE_BATCH_V1_FAILURE_TIMEOUT);
	th_upload_destroy(upload);
	test_gpu_buffer_signal(gpu, fence);
	/* The reader's late copy is dropped; the name is free. */
	upload = offer(client, realm, "late", 16, 16, gpu->fd, 0, gpu->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(upload->stored);
	th_upload_destroy(upload);

	th_batch_destroy(batch);
	test_gpu_buffer_destroy(gpu);
	th_realm_destroy(ro);
	th_client_disconnect(other);
	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

/*
 * A buffer still being drawn waits on the loop, not in the reader: another
 * client's finished buffer is read and stored meanwhile, and offers given
 * up while they wait leave nothing (an adversarial reviewer's case: each
 * kept an fd and a bounce buffer in the reader's queue, uncounted, 200 of
 * them with max_uploads 2).
 */
TEST(a_buffer_still_drawn_holds_up_no_one)
{
	struct test_gpu_buffer *drawing = test_gpu_buffer_create(16, 16);
	struct test_gpu_buffer *done = test_gpu_buffer_create(16, 16);
	struct pixcache_config config;
	struct th_server *server;
	struct th_client *a, *b;
	struct th_realm *ra, *rb;
	struct pixcache_batch_v1 *batch;
	struct th_upload *waiting, *up;
	struct th_fds before;
	uint32_t fence;

	th_config(&config);
	config.max_uploads = 2;
	config.upload_timeout_ms = 60000;
	server = th_server_create(&config, NULL);
	a = th_client_connect(server);
	b = th_client_connect(server);
	ra = th_realm_get(a, "default");
	rb = th_realm_get(b, "default");
	/* The reader started, its fds there. */
	up = offer(b, rb, "warm", 16, 16, done->fd, 0, done->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(up->stored);
	th_upload_destroy(up);
	before = th_fds_now(server, b);
	fence = test_gpu_buffer_fence(drawing);
	batch = th_batch(a);
	waiting = th_upload_dmabuf(a, batch, ra, "drawing", 16, 16,
		DRM_FORMAT_ARGB8888, drawing->fd, 0, drawing->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(th_commit(a, batch));
	/* b's finished buffer is not held up by a's. */
	up = offer(b, rb, "done", 16, 16, done->fd, 0, done->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(up->stored && !waiting->stored && waiting->failed == 0);
	th_upload_destroy(up);
	/* Offers given up while they wait leave no fd behind. */
	for (int i = 0; i < 50; i++) {
		char name[16];
		struct th_upload *gone;

		snprintf(name, sizeof(name), "gone-%d", i);
		gone = th_upload_dmabuf(a, batch, ra, name, 16, 16,
			DRM_FORMAT_ARGB8888, drawing->fd, 0, drawing->pitch,
			DRM_FORMAT_MOD_LINEAR);
		th_upload_destroy(gone);
	}
	th_upload_destroy(waiting);
	assert(th_commit(a, batch));
	th_assert_fds(&before, server, b);
	test_gpu_buffer_signal(drawing, fence);
	th_batch_destroy(batch);
	th_realm_destroy(ra);
	th_client_disconnect(a);
	th_realm_destroy(rb);
	th_client_disconnect(b);
	th_server_destroy(server);
	test_gpu_buffer_destroy(done);
	test_gpu_buffer_destroy(drawing);
}

/*
 * The reader is one thread for every client. A client offers a large
 * finished buffer (the reader copies it for a while), then a small
 * finished one, polled readable on the loop and queued behind the first;
 * then it attaches a write fence to the small one, as a GPU it submits
 * work to would. Another client's finished buffer is still read and
 * stored: the reader polls again before its sync and sends the small one
 * back to the loop to wait (an adversarial reviewer's reproducer: the
 * reader synced on it and the other client's upload timed out after 6 s).
 */
static void
offer_behind_a_late_fence(bool attach)
{
	struct test_gpu_buffer *large = test_gpu_buffer_create(2048, 2048);
	struct test_gpu_buffer *small = test_gpu_buffer_create(16, 16);
	struct test_gpu_buffer *theirs = test_gpu_buffer_create(16, 16);
	struct pixcache_config config;
	struct th_server *server;
	struct th_client *bad, *good;
	struct th_realm *rbad, *rgood;
	struct pixcache_batch_v1 *b1, *b2, *b3;
	struct th_upload *up1, *up2, *up3;
	uint32_t fence = 0;

	pixcache_config_init(&config);
	config.upload_timeout_ms = 6000;
	server = th_server_create(&config, NULL);
	bad = th_client_connect(server);
	good = th_client_connect(server);
	rbad = th_realm_get(bad, "default");
	rgood = th_realm_get(good, "default");
	b1 = th_batch(bad);
	up1 = th_upload_dmabuf(bad, b1, rbad, "large", 2048, 2048,
		DRM_FORMAT_ARGB8888, large->fd, 0, large->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(th_commit(bad, b1));
	/* Polled readable, queued: the reader starts on 16 MiB. */
	th_server_dispatch(server);
	b2 = th_batch(bad);
	up2 = th_upload_dmabuf(bad, b2, rbad, "small", 16, 16,
		DRM_FORMAT_ARGB8888, small->fd, 0, small->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(th_commit(bad, b2));
	th_server_dispatch(server);
	if (attach) {
		fence = test_gpu_buffer_fence(small);
	}
	b3 = th_batch(good);
	up3 = th_upload_dmabuf(good, b3, rgood, "theirs", 16, 16,
		DRM_FORMAT_ARGB8888, theirs->fd, 0, theirs->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(th_commit(good, b3) && th_upload_wait(good, up3));
	if (attach) {
		/* The small one waits on the loop, not in the reader. */
		assert(!up2->stored && up2->failed == 0);
		test_gpu_buffer_signal(small, fence);
	}
	if (!up3->stored) {
		test_fail("another client's finished buffer failed with %u: "
			"held up by a fence on one it did not offer",
			up3->failed);
	}
	assert(th_upload_wait(bad, up1) && up1->stored);
	assert(th_upload_wait(bad, up2) && up2->stored);
	th_upload_destroy(up1);
	th_upload_destroy(up2);
	th_upload_destroy(up3);
	th_batch_destroy(b1);
	th_batch_destroy(b2);
	th_batch_destroy(b3);
	th_realm_destroy(rbad);
	th_realm_destroy(rgood);
	th_client_disconnect(bad);
	th_client_disconnect(good);
	th_server_destroy(server);
	test_gpu_buffer_destroy(large);
	test_gpu_buffer_destroy(small);
	test_gpu_buffer_destroy(theirs);
}

TEST(a_fence_attached_after_the_poll_holds_up_no_one)
{
	offer_behind_a_late_fence(true);
}

/* The control: the same offers, no fence; every client is served. */
TEST(without_the_late_fence_every_client_is_served)
{
	offer_behind_a_late_fence(false);
}

/*
 * A manager destroyed while its reader waits on a fence: the compositor
 * is not held up, and the reader ends, freeing what it has, once the
 * fence signals.
 */
TEST(a_manager_goes_while_its_reader_waits)
{
	struct test_gpu_buffer *gpu = test_gpu_buffer_create(16, 16);
	int fds = test_count_fds();
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	struct pixcache_batch_v1 *batch = th_batch(client);
	uint32_t fence = test_gpu_buffer_fence(gpu);
	struct th_upload *upload;

	upload = th_upload_dmabuf(client, batch, realm, "stuck", 16, 16,
		DRM_FORMAT_ARGB8888, gpu->fd, 0, gpu->pitch,
		DRM_FORMAT_MOD_LINEAR);
	assert(th_commit(client, batch));
	assert(!upload->stored && upload->failed == 0);
	th_upload_destroy(upload);
	th_batch_destroy(batch);
	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
	test_gpu_buffer_signal(gpu, fence);
	/* The reader closes its dup of the dma-buf and its eventfd as it
	 * ends: every fd of the manager's is gone. */
	for (int i = 0; i < 5000 && test_count_fds() != fds; i++) {
		usleep(1000);
	}
	assert(test_count_fds() == fds);
	test_gpu_buffer_destroy(gpu);
}

/* ---- every fallible point ---- */

/*
 * A GPU client's life while the manager's points fail: dma-bufs of a
 * pooled pixmap and of one with a buffer of its own, and a GPU buffer
 * offered as "drawn". Stops where the client dies (of no_memory).
 */
static void
gpu_life(struct th_server *server, struct test_gpu_buffer *gpu)
{
	struct th_client *c = th_client_connect_unchecked(server);
	struct th_realm *realm = NULL;
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *pm[2];
	struct th_upload *up;

	if (!th_alive(c) || c->manager == NULL) {
		goto out;
	}
	realm = th_realm_get(c, "default");
	batch = th_batch(c);
	pm[0] = th_lookup(c, batch, realm, "pooled");
	pm[1] = th_lookup(c, batch, realm, "own");
	up = th_upload_dmabuf(c, batch, realm, "drawn", 16, 16,
		DRM_FORMAT_ARGB8888, gpu->fd, 0, gpu->pitch,
		DRM_FORMAT_MOD_LINEAR);
	th_commit(c, batch);
	(void)th_upload_wait(c, up);
	for (int i = 0; i < 2; i++) {
		if (pm[i]->buffer) {
			pixcache_pixmap_v1_get_dmabuf(pm[i]->proxy);
		}
	}
	th_roundtrip(c);
	for (int i = 0; i < 2; i++) {
		th_pixmap_destroy(pm[i]);
	}
	th_upload_destroy(up);
	th_batch_destroy(batch);
	th_roundtrip(c);
out:
	if (!th_alive(c)) {
		th_expect_protocol_error(c, &wl_display_interface,
			th_id(c->display), WL_DISPLAY_ERROR_NO_MEMORY);
	}
	if (realm != NULL) {
		th_realm_destroy(realm);
	}
	th_client_disconnect(c);
}

/* One life with point n failing (and all after it, if rest). */
static long
gpu_run_once(long n, bool rest, struct test_gpu_buffer *gpu)
{
	struct th_server *server = server_with_card();
	struct th_client *good = th_client_connect(server);
	struct th_realm *realm = th_realm_get(good, "default");
	struct th_fds before;
	struct pixcache_stats stats;
	struct th_pixmap *drawn;
	char why[256];
	long failures;

	put(good, realm, "pooled", 16, 16, 1);
	put(good, realm, "own", 300, 100, 2);
	assert(th_roundtrip(good));
	before = th_fds_now(server, good);
	server->fail_at = n;
	server->fail_rest = rest;
	gpu_life(server, gpu);
	server->fail_at = 0;
	failures = server->failures;

	stats = th_server_stats(server);
	assert(stats.dmabufs == 0 && stats.dmabuf_bytes == 0 &&
		stats.uploads == 0 && stats.leases == 0 && stats.claims == 0);
	if (!pxc_cache_check(server->manager->cache, why, sizeof(why))) {
		test_fail("point %ld: inconsistent cache: %s", n, why);
	}
	/* Stored whole, or not at all. */
	drawn = lookup_any(good, realm, "drawn");
	assert(drawn->claimed || drawn->missing ||
		(drawn->buffer && pixmap_holds_rows(drawn, 7)));
	th_pixmap_destroy(drawn);
	(void)th_remove(good, realm, "drawn");
	assert(th_roundtrip(good));
	th_assert_fds(&before, server, good);
	th_realm_destroy(realm);
	th_client_disconnect(good);
	th_server_destroy(server);
	return failures;
}

/*
 * Each fallible point of a GPU client's life (the dma-buf's dumb buffer,
 * its mapping and export, the offered buffer's mapping and sync, objects
 * and allocations) fails in turn, once and from then on: the request
 * fails cleanly or the client dies of no_memory, and nothing is left:
 * no dma-buf, no GPU bytes charged, no fd, the cache consistent.
 */
TEST(every_gpu_point_fails_cleanly)
{
	struct test_gpu_buffer *gpu = test_gpu_buffer_create(16, 16);
	uint8_t *rows = drawn_rows(64, 16, 7);
	long once, from_on;

	test_gpu_buffer_write(gpu, 0, gpu->pitch, 64, 16, rows);
	for (once = 1; gpu_run_once(once, false, gpu) > 0; once++) {
	}
	for (from_on = 1; gpu_run_once(from_on, true, gpu) > 0; from_on++) {
	}
	assert(once > 10 && from_on == once);
	printf("report: gpu faults: %ld fallible points, each failed once "
		"and from then on\n", once - 1);
	free(rows);
	test_gpu_buffer_destroy(gpu);
}

/* ---- without a device ---- */

/* A memfd, a pipe, /dev/null: no dma-buf, failed with dmabuf. */
TEST(an_fd_that_is_no_dmabuf_fails)
{
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	struct th_fds before = th_fds_now(server, client);
	int memfd = memfd_create("not-a-dmabuf", MFD_CLOEXEC);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int pipes[2];
	struct th_upload *upload;

	assert(memfd >= 0 && null >= 0 && pipe2(pipes, O_CLOEXEC) == 0);
	assert(ftruncate(memfd, 64 * 64) == 0);
	const int fds[] = { memfd, null, pipes[0] };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		upload = offer(client, realm, "fake", 16, 16, fds[i], 0, 64,
			DRM_FORMAT_MOD_LINEAR);
		if (upload->failed != PIXCACHE_BATCH_V1_FAILURE_DMABUF) {
			test_fail("fd %zu: stored %d, failed %u", i,
				upload->stored, upload->failed);
		}
		th_upload_destroy(upload);
	}
	close(memfd);
	close(null);
	close(pipes[0]);
	close(pipes[1]);
	assert(th_alive(client) && th_server_stats(server).entries == 0);
	th_assert_fds(&before, server, client);
	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

/* Unknown flags are a client bug, and the fd is not kept. */
TEST(upload_dmabuf_with_unknown_flags_is_a_protocol_error)
{
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *keep = th_client_connect(server);
	struct th_fds before = th_fds_now(server, keep);
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	struct pixcache_batch_v1 *batch = th_batch(client);
	int memfd = memfd_create("flags", MFD_CLOEXEC);
	struct pixcache_upload_v1 *upload;

	assert(memfd >= 0);
	upload = pixcache_batch_v1_upload_dmabuf(batch, realm->proxy, "x", 8,
		8, DRM_FORMAT_ARGB8888, 0x80, memfd, 0, 32, 0, 0);
	close(memfd);
	th_expect_protocol_error(client, &pixcache_batch_v1_interface,
		th_id(batch), PIXCACHE_BATCH_V1_ERROR_BAD_FLAGS);
	pixcache_upload_v1_destroy(upload);
	th_batch_destroy(batch);
	th_realm_destroy(realm);
	th_client_disconnect(client);
	assert(th_roundtrip(keep));
	th_assert_fds(&before, server, keep);
	th_client_disconnect(keep);
	th_server_destroy(server);
}


TEST(no_device_fails_no_device)
{
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	struct th_fds before = th_fds_now(server, client);
	struct th_pixmap *pixmap;

	put(client, realm, "icon", 16, 16, 1);
	pixmap = lookup(client, realm, "icon");
	assert(!get_dmabuf(pixmap));
	assert(pixmap->failed == PIXCACHE_BATCH_V1_FAILURE_NO_DEVICE);
	assert(pixmap->dmabuf_fd < 0 && th_alive(client));
	th_pixmap_destroy(pixmap);
	assert(th_remove(client, realm, "icon") == 1);
	assert(th_roundtrip(client));
	th_assert_fds(&before, server, client);

	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

TEST(a_device_that_is_no_drm_device_is_refused)
{
	struct th_server *server = th_server_create(NULL, NULL);
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	assert(fd >= 0);
	assert(pixcache_manager_set_drm_device(server->manager, -1) ==
		-EINVAL);
	assert(pixcache_manager_set_drm_device(server->manager, fd) ==
		-EINVAL);
	close(fd);
	th_server_destroy(server);
}

/* A lookup that missed holds nothing: asking is a client bug. */
TEST(get_dmabuf_without_a_pixmap_is_a_protocol_error)
{
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *client = th_client_connect(server);
	struct th_realm *realm = th_realm_get(client, "default");
	struct pixcache_batch_v1 *batch = th_batch(client);
	struct th_pixmap *pixmap = th_lookup(client, batch, realm, "none");

	assert(th_commit(client, batch));
	assert(pixmap->claimed && !pixmap->buffer);
	pixcache_pixmap_v1_get_dmabuf(pixmap->proxy);
	th_expect_protocol_error(client, &pixcache_pixmap_v1_interface,
		th_id(pixmap->proxy), PIXCACHE_PIXMAP_V1_ERROR_NO_PIXMAP);
	th_pixmap_forget(pixmap);
	th_batch_destroy(batch);
	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

TEST(the_compositor_gets_no_dmabuf_without_a_device)
{
	struct th_server *server = th_server_create(NULL, NULL);
	uint8_t pixels[8 * 4 * 8];
	struct pixcache_image *image = insert_and_find(server, 8, 8, 2,
		pixels);
	struct pixcache_image_dmabuf dmabuf;

	assert(pixcache_image_get_dmabuf(image, &dmabuf) == -ENODEV);
	assert(pixcache_image_get_dmabuf(NULL, &dmabuf) == -EINVAL);
	pixcache_image_release(image);
	th_server_destroy(server);
}
