/*
 * The compositor's own pixmaps: inserted (converted to the cache's format
 * with pixman), looked up by name and key, drawn from through pixman, and
 * inserted from another thread while the event loop serves clients.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drm_fourcc.h>

#include "server-harness.h"
#include "test-runner.h"

static struct th_server *server;
static struct th_client *client;
static struct th_realm *realm;

static void
setup(void)
{
	server = th_server_create(NULL, NULL);
	client = th_client_connect(server);
	realm = th_realm_get(client, "default");
}

static void
teardown(void)
{
	th_realm_destroy(realm);
	th_client_disconnect(client);
	th_server_destroy(server);
}

/* A solid image of one premultiplied pixel value, in a pixman format. */
static pixman_image_t *
solid(pixman_format_code_t format, int width, int height, uint32_t pixel)
{
	pixman_image_t *image = pixman_image_create_bits(format, width, height,
		NULL, 0);
	uint32_t *data = pixman_image_get_data(image);
	int stride = pixman_image_get_stride(image) / 4;

	for (int y = 0; y < height; y++) {
		for (int x = 0; x < width; x++) {
			data[y * stride + x] = pixel;
		}
	}
	return image;
}

static struct th_pixmap *
lookup(const char *name)
{
	return th_lookup_now(client, realm, name);
}

static uint32_t
first_pixel(struct th_pixmap *pm)
{
	size_t size;
	const uint8_t *map = th_pixmap_map(pm, &size);
	uint32_t pixel;

	memcpy(&pixel, map + (pm->pool ? pm->offset : 0), 4);
	th_pixmap_unmap(map, size);
	return pixel;
}

TEST(a_compositor_insert_is_converted_and_shared)
{
	/* a8b8g8r8 0x80 alpha, premultiplied blue 0x40: R=0x10 G=0x20. */
	pixman_image_t *image = solid(PIXMAN_a8b8g8r8, 24, 24, 0x80402010);
	struct pixcache_key key;
	struct th_pixmap *pm;

	setup();
	assert(pixcache_manager_insert(server->manager, "default",
		"cursor/Adwaita/default/24@1/0", image, DRM_FORMAT_ARGB8888, 0,
		&key) == 0);
	assert(key.instance == pixcache_manager_instance(server->manager));
	pm = lookup("cursor/Adwaita/default/24@1/0");
	assert(pm->buffer && pm->format == DRM_FORMAT_ARGB8888);
	assert(pm->width == 24 && pm->height == 24);
	/* ARGB8888: the same colour, channels in A:R:G:B order. */
	assert(first_pixel(pm) == 0x80102040);
	th_pixmap_destroy(pm);
	pixman_image_unref(image);
	teardown();
}

TEST(the_compositor_finds_by_name_and_key_and_draws)
{
	pixman_image_t *image = solid(PIXMAN_a8r8g8b8, 300, 200, 0xff336699);
	struct pixcache_image *by_name, *by_key;
	struct pixcache_key key, again;
	pixman_image_t *src, *dst;
	uint32_t out[4] = { 0 };

	setup();
	assert(pixcache_manager_insert(server->manager, "default", "big",
		image, DRM_FORMAT_XRGB8888, 0, &key) == 0);
	assert(pixcache_manager_find(server->manager, "default", "big",
		&by_name) == 0);
	assert(pixcache_manager_find_key(server->manager, &key, &by_key) == 0);
	assert(pixcache_image_get_width(by_name) == 300);
	assert(pixcache_image_get_height(by_name) == 200);
	assert(pixcache_image_get_stride(by_name) == 1216);
	assert(pixcache_image_get_format(by_key) == DRM_FORMAT_XRGB8888);
	assert(pixcache_image_get_data(by_name) ==
		pixcache_image_get_data(by_key));
	pixcache_image_get_key(by_name, &again);
	assert(memcmp(&key, &again, sizeof(key)) == 0);
	/* Draw it through pixman, as a compositor would. */
	src = pixcache_image_create_pixman(by_name);
	dst = pixman_image_create_bits(PIXMAN_a8r8g8b8, 2, 2, out, 8);
	pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 10, 10, 0, 0,
		0, 0, 2, 2);
	assert((out[0] & 0xffffff) == 0x336699);
	pixman_image_unref(dst);
	/* The pixman image holds the pixmap after the handle goes. */
	pixcache_image_release(by_name);
	assert(pixcache_manager_remove(server->manager, "default", "big") == 0);
	pixman_image_composite32(PIXMAN_OP_SRC, src, NULL,
		dst = pixman_image_create_bits(PIXMAN_a8r8g8b8, 2, 2, out, 8),
		0, 0, 0, 0, 0, 0, 2, 2);
	assert((out[3] & 0xffffff) == 0x336699);
	pixman_image_unref(dst);
	pixman_image_unref(src);
	pixcache_image_release(by_key);
	assert(pixcache_manager_find(server->manager, "default", "big",
		&by_name) == -ENOENT);
	pixman_image_unref(image);
	teardown();
}

TEST(the_compositor_insert_checks_its_arguments)
{
	pixman_image_t *image = solid(PIXMAN_a8r8g8b8, 8, 8, 0);
	pixman_image_t *huge = pixman_image_create_bits(PIXMAN_a8, 513, 1,
		NULL, 0);
	struct pixcache_image *found;

	setup();
	assert(pixcache_manager_insert(server->manager, "default", "x", image,
		DRM_FORMAT_NV12, 0, NULL) == -EINVAL);
	assert(pixcache_manager_insert(server->manager, "default", "\xff",
		image, DRM_FORMAT_ARGB8888, 0, NULL) == -EILSEQ);
	assert(pixcache_manager_insert(server->manager, "default", "x", huge,
		DRM_FORMAT_R8, 0, NULL) == -EFBIG);
	assert(pixcache_manager_insert(server->manager, "default", "x", image,
		DRM_FORMAT_ARGB8888, 0x40, NULL) == -EINVAL);
	assert(pixcache_manager_insert(server->manager, "default", "x", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	assert(pixcache_manager_insert(server->manager, "default", "x", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == -EEXIST);
	assert(pixcache_manager_insert(server->manager, "default", "x", image,
		DRM_FORMAT_ARGB8888, PIXCACHE_INSERT_REPLACE, NULL) == 0);
	assert(pixcache_manager_find(server->manager, "nowhere", "x",
		&found) == -ENOENT);
	pixman_image_unref(image);
	pixman_image_unref(huge);
	teardown();
}

TEST(clients_cannot_replace_what_the_compositor_inserted)
{
	pixman_image_t *image = solid(PIXMAN_a8r8g8b8, 8, 8, 0xffffffff);
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;

	setup();
	assert(pixcache_manager_insert(server->manager, "default", "theme",
		image, DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	batch = th_batch(client);
	up = th_upload(client, batch, realm, "theme", 8, 8,
		DRM_FORMAT_ARGB8888, PIXCACHE_BATCH_V1_UPLOAD_FLAGS_REPLACE);
	th_commit(client, batch);
	assert(up->failed == PIXCACHE_BATCH_V1_FAILURE_EXISTS);
	th_upload_destroy(up);
	th_batch_destroy(batch);
	pixman_image_unref(image);
	teardown();
}

struct inserter {
	struct pixcache_manager *manager;
	int count;
	int done;
};

static void *
insert_from_thread(void *data)
{
	struct inserter *ins = data;
	pixman_image_t *image = solid(PIXMAN_a8r8g8b8, 64, 64, 0xff00ff00);
	char name[32];

	for (int i = 0; i < ins->count; i++) {
		snprintf(name, sizeof(name), "thread/%d", i);
		assert(pixcache_manager_insert(ins->manager, "default", name,
			image, DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	}
	pixman_image_unref(image);
	__atomic_store_n(&ins->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Inserts from another thread evict what a client leases; the event loop
 * learns of it through its eventfd and tells the lease, in order.
 */
TEST(inserts_from_another_thread_reach_the_clients)
{
	pixman_image_t *image = solid(PIXMAN_a8r8g8b8, 64, 64, 0xff0000ff);
	struct inserter ins = { .count = 300 };
	struct th_pixmap *held;
	struct pixcache_stats stats;
	pthread_t thread;

	setup();
	ins.manager = server->manager;
	assert(pixcache_manager_insert(server->manager, "default", "victim",
		image, DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	held = lookup("victim");
	assert(held->buffer);
	assert(pthread_create(&thread, NULL, insert_from_thread, &ins) == 0);
	while (!__atomic_load_n(&ins.done, __ATOMIC_ACQUIRE)) {
		assert(th_roundtrip(client));
	}
	assert(pthread_join(thread, NULL) == 0);
	/* The victim is leased, so it stays; replace it to make it leave. */
	assert(pixcache_manager_insert(server->manager, "default", "victim",
		image, DRM_FORMAT_ARGB8888, PIXCACHE_INSERT_REPLACE, NULL) == 0);
	assert(th_roundtrip(client));
	assert(held->evicted);
	th_pixmap_destroy(held);
	assert(th_roundtrip(client));
	pixcache_manager_get_stats(server->manager, &stats);
	assert(stats.evictions > 0 && stats.indexed_bytes <= stats.budget);
	pixman_image_unref(image);
	teardown();
}
