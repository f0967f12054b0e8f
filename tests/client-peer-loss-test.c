/*
 * The client library when the manager vanishes in the middle of a call:
 * one test for each way it was once found to touch freed state or to let
 * held bytes change.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client-harness.h"
#include "client-private.h"
#include "test-runner.h"

static void
put_pattern(struct pixcache_client *client, const char *name, uint32_t size,
	uint32_t seed)
{
	pixman_image_t *image = ch_image(size, size, seed);

	assert(pixcache_client_put(client, "default", name, image,
		DRM_FORMAT_ARGB8888, PIXCACHE_PUT_REPLACE, NULL) == 0);
	pixman_image_unref(image);
}

/* Names n0..n(count-1), each stored with its index as the pattern. */
static void
put_names(struct pixcache_client *client, int count, char names[][8])
{
	for (int i = 0; i < count; i++) {
		snprintf(names[i], 8, "n%d", i);
		put_pattern(client, names[i], 8, (uint32_t)i);
	}
}

static uint32_t
usage_entries(struct pixcache_client *client)
{
	struct pixcache_client_usage usage;

	pixcache_client_get_usage(client, &usage);
	return usage.local_entries;
}

/* What a call in flight returns when the connection breaks under it. */
static bool
is_loss(int ret)
{
	return ret == -ECONNRESET;
}

TEST(find_many_past_a_flush_on_a_connection_whose_manager_went)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmaps[20];
	const char *names[20];
	char storage[20][8];
	int results[20];

	put_pattern(client, "bound", 8, 1);
	for (int i = 0; i < 20; i++) {
		snprintf(storage[i], sizeof(storage[i]), "m%d", i);
		names[i] = storage[i];
	}
	ch_server_kill_clients(server);
	/* More names than go out between two flushes: one fails midway. */
	assert(is_loss(pixcache_client_find_many(client, "default", names,
		20, results, pixmaps)));
	for (int i = 0; i < 20; i++) {
		assert(pixmaps[i] == NULL && is_loss(results[i]));
	}
	/* The next call reconnects. */
	assert(pixcache_client_find_many(client, "default", names, 20,
		results, pixmaps) == 0);
	assert(results[0] == -ENOENT);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(destroy_after_the_manager_went_with_entries_in_the_local_map)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct wl_display *display =
		wl_display_connect(ch_server_socket(server));
	struct pixcache_client *client;
	char names[12][8];

	assert(display != NULL);
	client = pixcache_client_create(display, NULL);
	assert(client != NULL);
	put_names(client, 12, names);
	for (int i = 0; i < 12; i++) {
		struct pixcache_pixmap *pixmap;

		assert(pixcache_client_find(client, "default", names[i],
			&pixmap) == 0);
		pixcache_pixmap_unref(pixmap);
	}
	assert(usage_entries(client) == 12);
	ch_server_kill_clients(server);
	/* Twelve leases to release: a flush among them fails. */
	pixcache_client_destroy(client);
	wl_display_disconnect(display);
	ch_server_stop(server);
}

TEST(flush_after_a_local_hit_on_a_connection_whose_manager_went)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap;

	put_pattern(client, "a", 8, 1);
	assert(pixcache_client_find(client, "default", "a", &pixmap) == 0);
	pixcache_pixmap_unref(pixmap);
	/* A local hit: its use waits to be reported with the next flush. */
	assert(pixcache_client_find_local(client, "default", "a",
		&pixmap) == 0);
	ch_server_kill_clients(server);
	assert(is_loss(pixcache_client_flush(client)));
	assert(ch_has_pattern(pixmap, 1));
	pixcache_pixmap_unref(pixmap);
	/* Reconnected: the local map is gone, the name is asked again. */
	assert(pixcache_client_find(client, "default", "a", &pixmap) == 0);
	assert(ch_has_pattern(pixmap, 1));
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* Replaces name, so that its pool space goes to a new pixmap. */
static void
reuse_space_of(struct ch_server *server, const char *name, uint32_t seed)
{
	struct pixcache_client *other = ch_connect(server);
	struct pixcache_pixmap *pixmap;

	assert(ch_server_remove(server, "default", name) == 0);
	put_pattern(other, "b", 32, seed);
	assert(pixcache_client_find(other, "default", "b", &pixmap) == 0);
	assert(ch_has_pattern(pixmap, seed));
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(other);
}

TEST(held_pixmap_keeps_its_bytes_after_destroy)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *held;

	put_pattern(client, "a", 32, 1);
	assert(pixcache_client_find(client, "default", "a", &held) == 0);
	pixcache_client_destroy(client);
	reuse_space_of(server, "a", 2);
	assert(ch_has_pattern(held, 1));
	pixcache_pixmap_unref(held);
	ch_server_stop(server);
}

TEST(held_pixmap_keeps_its_bytes_after_a_reconnect)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_client_stats stats;
	struct pixcache_pixmap *held;
	int ret = -1;

	put_pattern(client, "a", 32, 1);
	assert(pixcache_client_find(client, "default", "a", &held) == 0);
	/* The manager closes the connection and runs on. */
	ch_server_kill_clients(server);
	/* A round trip finds the break; the next call reconnects. */
	for (int i = 0; i < 3 && (ret = pixcache_client_get_stats(client,
			&stats)) != 0; i++) {
		assert(is_loss(ret));
	}
	assert(ret == 0);
	reuse_space_of(server, "a", 2);
	assert(ch_has_pattern(held, 1));
	pixcache_pixmap_unref(held);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(reconnect_fails_while_no_manager_listens_then_succeeds)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap;
	char socket[64];
	int ret;

	snprintf(socket, sizeof(socket), "%s", ch_server_socket(server));
	put_pattern(client, "a", 8, 1);
	ch_server_stop(server);
	/* Finds the break; then no socket to reconnect to, twice. */
	assert(is_loss(pixcache_client_find(client, "default", "b",
		&pixmap)));
	for (int i = 0; i < 2; i++) {
		ret = pixcache_client_find(client, "default", "a", &pixmap);
		assert(ret == -ENOENT || ret == -ECONNREFUSED);
		assert(pixmap == NULL);
	}
	server = ch_server_start(NULL, NULL, socket);
	assert(pixcache_client_find(client, "default", "a", &pixmap) ==
		-ENOENT);
	put_pattern(client, "a", 8, 2);
	assert(pixcache_client_find(client, "default", "a", &pixmap) == 0);
	assert(ch_has_pattern(pixmap, 2));
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* ---- a waiting side request while another thread reconnects ---- */

struct side_caller {
	struct pixcache_client *client;
	int rounds;
};

static void
count_entry(void *data, const struct pixcache_entry_info *info)
{
	++*(int *)data;
}

static void *
side_calls(void *data)
{
	struct side_caller *caller = data;
	struct pixcache_client_stats stats;

	for (int i = 0; i < caller->rounds; i++) {
		int n = 0, ret;

		ret = pixcache_client_list(caller->client, "default",
			count_entry, &n);
		assert(ret == 0 ? n == 1 : is_loss(ret));
		ret = pixcache_client_get_stats(caller->client, &stats);
		assert(ret == 0 ? stats.entries == 1 : is_loss(ret));
		ret = pixcache_client_remove(caller->client, "default",
			"none");
		assert(ret == -ENOENT || is_loss(ret));
	}
	return NULL;
}

TEST(side_requests_survive_a_reconnect_by_another_thread)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct side_caller caller = { client, 200 };
	struct pixcache_pixmap *pixmap;
	pthread_t thread;

	assert(pixcache_client_start_thread(client) == 0);
	put_pattern(client, "a", 8, 1);
	assert(pthread_create(&thread, NULL, side_calls, &caller) == 0);
	for (int i = 0; i < 100; i++) {
		/* The connection dies under the waiting list or stats; this
		 * thread's next call reconnects. */
		pthread_mutex_lock(&client->lock);
		if (client->display != NULL) {
			shutdown(wl_display_get_fd(client->display), SHUT_RDWR);
		}
		pthread_mutex_unlock(&client->lock);
		if (pixcache_client_find(client, "default", "a",
				&pixmap) == 0) {
			pixcache_pixmap_unref(pixmap);
		}
	}
	assert(pthread_join(thread, NULL) == 0);
	assert(pixcache_client_find(client, "default", "a", &pixmap) == 0);
	assert(ch_has_pattern(pixmap, 1));
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* ---- destroy while other threads call ---- */

struct call_result {
	struct pixcache_client *client;
	atomic_int ret;
	atomic_bool done;
	int ms;				/* how long it took */
};

static int
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int)((t1.tv_sec - t0->tv_sec) * 1000 +
		(t1.tv_nsec - t0->tv_nsec) / 1000000);
}

static void *
find_missing(void *data)
{
	struct call_result *r = data;
	struct pixcache_pixmap *pixmap = NULL;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_store(&r->ret, pixcache_client_find(r->client, "default", "zz",
		&pixmap));
	r->ms = ms_since(&t0);
	assert(pixmap == NULL);
	atomic_store(&r->done, true);
	return NULL;
}

static void *
destroy_client(void *data)
{
	struct call_result *r = data;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pixcache_client_destroy(r->client);
	r->ms = ms_since(&t0);
	atomic_store(&r->done, true);
	return NULL;
}

static atomic_int naps;

static void
nap(void *data, int result, struct pixcache_pixmap *pixmap)
{
	assert(result == -ENOENT || result == -ECONNRESET);
	pixcache_pixmap_unref(pixmap);
	usleep(200000);
	atomic_fetch_add(&naps, 1);
}

/*
 * A blocking find waits on a paused manager; destroy, from another thread,
 * waits for it; the manager answers. with_callback: the find's last wait
 * also runs a (slow) callback, without the lock, before it leaves.
 */
static void
destroy_during_a_find(bool with_thread, bool with_callback)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct call_result find = { .client = client };
	struct call_result destroy = { .client = client };
	pthread_t finder, destroyer;

	put_pattern(client, "a", 8, 1);
	if (with_thread) {
		assert(pixcache_client_start_thread(client) == 0);
	}
	if (with_callback) {
		assert(pixcache_client_lookup(client, "default", "nap", nap,
			NULL) == 0);
	}
	ch_server_pause(server);
	assert(pthread_create(&finder, NULL, find_missing, &find) == 0);
	usleep(100000);
	assert(pthread_create(&destroyer, NULL, destroy_client,
		&destroy) == 0);
	usleep(100000);
	/* Destroy waits for the call in flight. */
	assert(!atomic_load(&destroy.done));
	ch_server_resume(server);
	assert(pthread_join(finder, NULL) == 0);
	assert(pthread_join(destroyer, NULL) == 0);
	/* Answered as soon as the manager was: no timeout, no hang. */
	assert(atomic_load(&find.ret) == -ENOENT);
	assert(find.ms < 2000 && destroy.ms < 2000);
	assert(!with_callback || atomic_load(&naps) == 1);
	ch_server_stop(server);
}

TEST(destroy_waits_for_a_call_in_flight_on_another_thread)
{
	destroy_during_a_find(false, false);
}

TEST(destroy_waits_for_a_call_that_ran_callbacks_last)
{
	destroy_during_a_find(false, true);
}

TEST(destroy_with_the_library_thread_lets_a_call_in_flight_finish)
{
	destroy_during_a_find(true, false);
}

static atomic_bool in_callback, callback_done;

static void
slow(void *data, int result, struct pixcache_pixmap *pixmap)
{
	assert(result == -ENOENT);
	pixcache_pixmap_unref(pixmap);
	atomic_store(&in_callback, true);
	usleep(300000);
	atomic_store(&callback_done, true);
}

static void *
dispatch_until_called(void *data)
{
	for (int i = 0; i < 2000 && !atomic_load(&in_callback); i++) {
		pixcache_client_flush(data);
		pixcache_client_dispatch(data);
		usleep(1000);
	}
	return NULL;
}

TEST(destroy_waits_for_callbacks_another_thread_runs)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	pthread_t dispatcher;

	assert(pixcache_client_lookup(client, "default", "missing", slow,
		NULL) == 0);
	assert(pthread_create(&dispatcher, NULL, dispatch_until_called,
		client) == 0);
	while (!atomic_load(&in_callback)) {
		usleep(1000);
	}
	pixcache_client_destroy(client);
	assert(atomic_load(&callback_done));
	assert(pthread_join(dispatcher, NULL) == 0);
	ch_server_stop(server);
}

static atomic_int failed_callbacks;

static void
count_failure(void *data, int result, struct pixcache_pixmap *pixmap)
{
	assert(result == -ECONNRESET && pixmap == NULL);
	atomic_fetch_add(&failed_callbacks, 1);
}

TEST(library_thread_calls_back_what_a_break_failed)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct call_result find = { .client = client };
	pthread_t finder;

	put_pattern(client, "a", 8, 1);
	assert(pixcache_client_start_thread(client) == 0);
	ch_server_pause(server);
	assert(pixcache_client_lookup(client, "default", "q", count_failure,
		NULL) == 0);
	assert(pixcache_client_flush(client) == 0);
	assert(pthread_create(&finder, NULL, find_missing, &find) == 0);
	usleep(100000);
	/* Breaks while the find waits: the find's leave tears down. */
	pthread_mutex_lock(&client->lock);
	shutdown(wl_display_get_fd(client->display), SHUT_RDWR);
	pthread_mutex_unlock(&client->lock);
	assert(pthread_join(finder, NULL) == 0);
	assert(is_loss(atomic_load(&find.ret)));
	for (int i = 0; i < 1000 && atomic_load(&failed_callbacks) == 0;
			i++) {
		usleep(1000);
	}
	assert(atomic_load(&failed_callbacks) == 1);
	ch_server_resume(server);
	pixcache_client_destroy(client);
	assert(atomic_load(&failed_callbacks) == 1);
	ch_server_stop(server);
}

/*
 * More leases of finds held than one release request takes, when the
 * manager drops the connection: the teardown queues a release for each
 * while no release can be sent (found by a reviewer: the queue overran).
 */
TEST(a_break_with_over_a_thousand_found_leases_held)
{
	enum { N = 1100 };
	struct pixcache_config config;
	struct ch_server *server;
	struct pixcache_client *writer, *reader;
	static char storage[N][12];
	static const char *names[N];
	static struct pixcache_pixmap *pixmaps[N];
	static int results[N];
	pixman_image_t *image = ch_image(4, 4, 1);
	struct pixcache_pixmap *one;

	ch_config(&config);
	config.table_capacity = 4096;
	server = ch_server_start(&config, NULL, NULL);
	writer = ch_connect(server);
	reader = ch_connect(server);
	for (int i = 0; i < N; i++) {
		snprintf(storage[i], sizeof(storage[i]), "r%d", i);
		names[i] = storage[i];
		assert(pixcache_client_put(writer, "default", names[i], image,
			DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	}
	assert(pixcache_client_find_many(reader, "default", names, N,
		results, pixmaps) == 0);
	for (int i = 0; i < N; i++) {
		assert(results[i] == 0 && pixmaps[i] != NULL);
	}
	ch_server_kill_clients(server);
	/* The next call notes the break and lets the state go. */
	(void)pixcache_client_find(reader, "default", names[0], &one);
	for (int i = 0; i < N; i++) {
		/* Held through it all, with their bytes. */
		assert(ch_has_pattern(pixmaps[i], 1));
		pixcache_pixmap_unref(pixmaps[i]);
	}
	pixman_image_unref(image);
	pixcache_client_destroy(reader);
	pixcache_client_destroy(writer);
	ch_server_stop(server);
}
