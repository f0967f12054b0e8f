/*
 * One client library instance shared by four threads finding, uploading,
 * removing and dropping pixmaps at once, with and without the library's
 * own thread. Run under ThreadSanitizer in CI; the assertions check that
 * every pixmap a thread gets holds the bytes of its name.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-harness.h"
#include "test-runner.h"

enum { THREADS = 4, NAMES = 24, ROUNDS = 300 };

struct shared {
	struct pixcache_client *client;
	atomic_int callbacks;
	atomic_int asked;
};

struct worker {
	struct shared *shared;
	unsigned seed;
	int index;
};

static void
on_answer(void *data, int result, struct pixcache_pixmap *pixmap)
{
	struct shared *shared = data;

	assert(result == 0 || result == -ENOENT || result == -ECONNRESET);
	if (pixmap != NULL) {
		pixcache_pixmap_unref(pixmap);
	}
	atomic_fetch_add(&shared->callbacks, 1);
}

static void
on_stored(void *data, int result, const struct pixcache_key *key)
{
	struct shared *shared = data;

	assert(result == 0 || result == -EEXIST || result == -EBUSY ||
		result == -ECONNRESET);
	assert((result == 0) == (key != NULL));
	atomic_fetch_add(&shared->callbacks, 1);
}

static void
one_round(struct worker *w)
{
	struct pixcache_client *client = w->shared->client;
	int i = (int)(rand_r(&w->seed) % NAMES);
	struct pixcache_pixmap *pixmap = NULL;
	char name[16];
	int ret;

	snprintf(name, sizeof(name), "n%d", i);
	ret = pixcache_client_find(client, "default", name, &pixmap);
	/* Thread 1's asynchronous lookups claim names it never fills:
	 * while it holds them, it is told to fill its own first. */
	if (ret == -EINPROGRESS && w->index == 1) {
		return;
	}
	if (ret == -ENOENT) {
		pixman_image_t *image = ch_image(16, 16, (uint32_t)i);

		ret = pixcache_client_put(client, "default", name, image,
			DRM_FORMAT_ARGB8888, 0, NULL);
		pixman_image_unref(image);
		assert(ret == 0 || ret == -EEXIST || ret == -EBUSY);
		ret = pixcache_client_find(client, "default", name, &pixmap);
	}
	/* Another thread may have removed it in between; then this
	 * thread holds its claim again, and gives it up. */
	if (ret == -ENOENT) {
		pixcache_client_abandon(client, "default", name);
	}
	if (ret != 0 && ret != -ENOENT &&
			!(ret == -EINPROGRESS && w->index == 1)) {
		test_fail("find %s: %s", name, strerror(-ret));
	}
	if (pixmap != NULL) {
		assert(ch_has_pattern(pixmap, (uint32_t)i));
		pixcache_pixmap_unref(pixmap);
	}
	if (w->index == 0 && rand_r(&w->seed) % 8 == 0) {
		ret = pixcache_client_remove(client, "default", name);
		assert(ret == 0 || ret == -ENOENT);
	}
	if (w->index == 1 && pixcache_client_lookup(client, "default", name,
			on_answer, w->shared) == 0) {
		atomic_fetch_add(&w->shared->asked, 1);
	}
	if (w->index == 2 && rand_r(&w->seed) % 4 == 0) {
		pixman_image_t *image = ch_image(16, 16, (uint32_t)i);

		if (pixcache_client_upload(client, "default", name, image,
				DRM_FORMAT_ARGB8888, 0, on_stored,
				w->shared) == 0) {
			atomic_fetch_add(&w->shared->asked, 1);
		}
		pixman_image_unref(image);
	}
}

static void *
run(void *data)
{
	struct worker *w = data;

	for (int r = 0; r < ROUNDS; r++) {
		one_round(w);
	}
	return NULL;
}

static void
threads_test(bool library_thread)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct shared shared = { .client = ch_connect(server) };
	struct worker workers[THREADS];
	pthread_t threads[THREADS];

	if (library_thread) {
		assert(pixcache_client_start_thread(shared.client) == 0);
	}
	for (int t = 0; t < THREADS; t++) {
		workers[t] = (struct worker){ &shared, (unsigned)t * 7919u, t };
		assert(pthread_create(&threads[t], NULL, run,
			&workers[t]) == 0);
	}
	for (int t = 0; t < THREADS; t++) {
		assert(pthread_join(threads[t], NULL) == 0);
	}
	/* What is still unanswered is answered, or failed, by destroy. */
	pixcache_client_destroy(shared.client);
	assert(atomic_load(&shared.callbacks) == atomic_load(&shared.asked));
	ch_server_stop(server);
}

TEST(four_threads_share_a_client)
{
	threads_test(false);
}

TEST(four_threads_share_a_client_with_its_thread)
{
	threads_test(true);
}
