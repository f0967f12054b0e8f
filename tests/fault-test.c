/*
 * Failure at every fallible point of the manager: allocations, libwayland
 * objects, memfds, mappings, seals, realm creation, inserts. For a whole
 * client life (bind, realm, uploads small and large, a staged upload,
 * lookups by name and key, a claim, a find and its release, a usage
 * report, releases) each point fails in turn, once and from then on. Every request fails cleanly or the client dies of no_memory;
 * either way all its state is freed, its fds closed, the cache consistent,
 * and what it uploaded is there whole or not at all.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "manager-private.h"
#include "server-harness.h"
#include "test-runner.h"

/* Uploaded with the seeds 11, 12 and 13 (the last one staged). */
#define NAMES 3
static const char *const names[NAMES] = { "f-small", "f-large", "f-staged" };

/* "default" and "fresh" for everyone: the hostile client is the first to
 * use "fresh", so it creates that realm, its table and its pools. */
static uint32_t
two_realms(void *data, struct wl_client *client, const char *realm)
{
	return strcmp(realm, "default") == 0 || strcmp(realm, "fresh") == 0 ?
		PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_WRITE |
		PIXCACHE_ACCESS_TABLE : 0;
}

static const struct pixcache_policy policy = { .realm_access = two_realms };

/* A staged upload of names[2]: 16x16, its pattern at offset 0. */
static struct th_upload *
stage(struct th_client *bad, struct pixcache_batch_v1 *batch,
	struct th_realm *realm)
{
	int fd = memfd_create("fault-staging", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct pixcache_staging_v1 *staging;
	struct th_upload *up;
	uint8_t *map;

	assert(fd >= 0 && ftruncate(fd, 1024) == 0);
	map = mmap(NULL, 1024, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert(map != MAP_FAILED);
	th_pattern_fill(map, 1024, 13);
	munmap(map, 1024);
	assert(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
		F_SEAL_GROW) == 0);
	staging = pixcache_batch_v1_stage(batch, fd, 1024);
	close(fd);
	up = th_upload_staged(bad, staging, realm, names[2], 16, 16,
		0x34325241, 0);
	pixcache_staging_v1_destroy(staging);
	return up;
}

/* A claim (a lookup that misses) and a find of a stored name and a
 * missing one, then the find's leases released. */
static void
claim_and_find(struct th_client *bad, struct pixcache_batch_v1 *batch,
	struct th_realm *realm)
{
	const char *found[] = { names[0], "f-nothing" };
	struct th_pixmap *claim = th_lookup(bad, batch, realm, "f-claimed");

	th_find(batch, realm, 64, found, 2);
	th_commit(bad, batch);
	for (int i = 0; i < 2; i++) {
		const uint32_t *r = th_record(batch, 64 + (uint32_t)i);

		if (r != NULL && r[1] != PIXCACHE_BATCH_V1_FOUND_STATUS_FAILED &&
				r[2] != 0) {
			th_release(batch, r[2]);
		}
	}
	th_pixmap_destroy(claim);
}

/* Bad client's life; stops where it dies. */
static void
client_life(struct th_server *server)
{
	struct th_client *bad = th_client_connect_unchecked(server);
	struct th_upload *small = NULL, *large = NULL, *staged = NULL;
	struct th_realm *realm = NULL;
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *p1, *p2;
	struct wl_array array;
	uint32_t *used;

	if (!th_alive(bad) || bad->manager == NULL) {
		goto out;
	}
	realm = th_realm_get(bad, "fresh");
	small = th_put(bad, realm, names[0], 16, 16, 11);
	large = th_put(bad, realm, names[1], 300, 300, 12);
	batch = th_batch(bad);
	staged = stage(bad, batch, realm);
	claim_and_find(bad, batch, realm);
	p1 = th_lookup(bad, batch, realm, names[0]);
	p2 = th_lookup_key(bad, batch, large->key);
	wl_array_init(&array);
	used = wl_array_add(&array, 2 * sizeof(uint32_t));
	used[0] = small->key[2];
	used[1] = small->key[3];
	pixcache_batch_v1_used(batch, &array);
	wl_array_release(&array);
	th_commit(bad, batch);
	th_pixmap_destroy(p1);
	th_pixmap_destroy(p2);
	th_batch_destroy(batch);
	th_roundtrip(bad);
out:
	/* A failure the client cannot answer kills it: of no_memory. */
	if (!th_alive(bad)) {
		th_expect_protocol_error(bad, &wl_display_interface,
			th_id(bad->display), WL_DISPLAY_ERROR_NO_MEMORY);
	}
	/* On a dead display these only free the proxies. */
	if (small != NULL) {
		th_upload_destroy(small);
		th_upload_destroy(large);
	}
	if (staged != NULL) {
		th_upload_destroy(staged);
	}
	if (realm != NULL) {
		th_realm_destroy(realm);
	}
	th_client_disconnect(bad);
}

/* Another client finds each name whole or not at all. */
static void
assert_whole_or_absent(struct th_server *server, struct th_client *good)
{
	struct th_realm *realm = th_realm_get(good, "fresh");
	struct pixcache_batch_v1 *batch = th_batch(good);
	struct th_pixmap *pm[NAMES];
	char why[256];

	for (int i = 0; i < NAMES; i++) {
		pm[i] = th_lookup(good, batch, realm, names[i]);
	}
	assert(th_commit(good, batch));
	for (int i = 0; i < NAMES; i++) {
		assert(pm[i]->missing || pm[i]->claimed || (pm[i]->buffer &&
			th_pixmap_has_pattern(pm[i], 11 + (uint32_t)i)));
		th_pixmap_destroy(pm[i]);
	}
	th_batch_destroy(batch);
	th_realm_destroy(realm);
	assert(th_roundtrip(good));
	if (!pxc_cache_check(server->manager->cache, why, sizeof(why))) {
		test_fail("inconsistent cache: %s", why);
	}
}

/* One run with point n failing (and all after it, if rest). */
static long
run_once(long n, bool rest)
{
	struct th_server *server = th_server_create(NULL, &policy);
	struct th_client *good = th_client_connect(server);
	struct th_realm *realm = th_realm_get(good, "default");
	struct th_fds before = th_fds_now(server, good);
	struct pixcache_stats stats;
	long failures;

	server->fail_at = n;
	server->fail_rest = rest;
	client_life(server);
	server->fail_at = 0;
	failures = server->failures;

	assert(th_roundtrip(good));
	pixcache_manager_get_stats(server->manager, &stats);
	assert(stats.clients == 1 && stats.uploads == 0 && stats.leases == 0 &&
		stats.claims == 0 && stats.found_leases == 0);
	th_assert_fds(&before, server, good);
	assert_whole_or_absent(server, good);

	th_realm_destroy(realm);
	th_client_disconnect(good);
	th_server_destroy(server);
	return failures;
}

static long
fail_each_point(bool rest)
{
	long n;

	for (n = 1; run_once(n, rest) > 0; n++) {
	}
	return n - 1;
}

TEST(every_fallible_point_fails_cleanly)
{
	long once = fail_each_point(false);
	long from_on = fail_each_point(true);

	assert(once > 20 && from_on == once);
	printf("report: faults: a client's life has %ld fallible points; "
		"each failed once and from then on: %ld runs\n", once,
		once + from_on);
}

/* The compositor's insert: fails with an error and leaves nothing. */
static long
insert_once(long n, bool rest, bool large)
{
	struct th_server *server = th_server_create(NULL, &policy);
	struct th_client *good = th_client_connect(server);
	uint32_t size = large ? 300 : 16;
	uint32_t *pixels = calloc((size_t)size * size, 4);
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		(int)size, (int)size, pixels, (int)size * 4);
	struct pixcache_image *found = NULL;
	struct th_fds before = th_fds_now(server, good);
	struct pixcache_key key;
	char why[256];
	long failures;
	int ret;

	server->fail_at = n;
	server->fail_rest = rest;
	ret = pixcache_manager_insert(server->manager, "fresh", "c", image,
		PIXCACHE_MANAGER_V1_FORMAT_ARGB8888, 0, &key);
	server->fail_at = 0;
	failures = server->failures;
	assert((ret == 0) == (failures == 0));
	if (ret == 0) {
		assert(pixcache_manager_find_key(server->manager, &key,
			&found) == 0);
		pixcache_image_release(found);
	} else {
		assert(pixcache_manager_find(server->manager, "fresh", "c",
			&found) == -ENOENT);
		th_assert_fds(&before, server, good);
	}
	if (!pxc_cache_check(server->manager->cache, why, sizeof(why))) {
		test_fail("inconsistent cache: %s", why);
	}
	pixman_image_unref(image);
	free(pixels);
	th_client_disconnect(good);
	th_server_destroy(server);
	return failures;
}

TEST(every_fallible_point_of_a_compositor_insert_fails_cleanly)
{
	long points = 0;

	for (int large = 0; large <= 1; large++) {
		for (int rest = 0; rest <= 1; rest++) {
			long n;

			for (n = 1; insert_once(n, rest, large) > 0; n++) {
			}
			points += n - 1;
		}
	}
	assert(points > 10);
	printf("report: faults: compositor inserts, %ld failure runs\n",
		points);
}
