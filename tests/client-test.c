/*
 * The client library against a manager on a socket: finds, uploads, local
 * hits and their staleness, keys handed on, reconnection, timeouts, and
 * several processes sharing one cache.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-harness.h"
#include "client-private.h"
#include "test-runner.h"

static void
put_pattern(struct pixcache_client *client, const char *realm,
	const char *name, uint32_t size, uint32_t seed, struct pixcache_key *key)
{
	pixman_image_t *image = ch_image(size, size, seed);

	assert(pixcache_client_put(client, realm, name, image,
		DRM_FORMAT_ARGB8888, 0, key) == 0);
	pixman_image_unref(image);
}

static struct pixcache_client_usage
usage_of(struct pixcache_client *client)
{
	struct pixcache_client_usage usage;

	pixcache_client_get_usage(client, &usage);
	return usage;
}

/* Each kind of proxy decodes every event its interface has. */
TEST(every_event_of_the_protocol_is_decoded)
{
	for (int kind = 0; kind < PXCL_PROXY_KINDS; kind++) {
		assert(pxcl_kind_decoded(kind));
	}
	/* pxcl_proxy_release() destroys the manager with request 0 too. */
	assert(strcmp(pixcache_manager_v1_interface.methods[0].name,
		"destroy") == 0);
}

/*
 * The local map's buckets are the hash's low bits: names that differ only
 * in their last bytes must spread over them (a reviewer's profile found
 * 1,000 such names in two buckets).
 */
TEST(names_differing_in_their_last_bytes_spread_over_the_buckets)
{
	struct pixcache_client client = { .hash_key = { 1, 2 } };
	static bool used[1024];
	unsigned distinct = 0;
	char name[32];

	for (int i = 0; i < 1024; i++) {
		int len = snprintf(name, sizeof(name), "bench/icon-%04d", i);
		uint32_t b = pxcl_bucket(pxcl_name_hash(&client, NULL, name,
			(size_t)len), 10);

		distinct += !used[b];
		used[b] = true;
	}
	/* Uniform: 1024 (1 - 1/e) = 647 expected; 2 before the fix. */
	assert(distinct > 550);
}

TEST(connect_to_no_socket_fails_with_errno)
{
	struct pixcache_client *client;

	setenv("XDG_RUNTIME_DIR", "/tmp", 1);
	errno = 0;
	client = pixcache_client_connect("pxc-test-no-such-socket", NULL);
	assert(client == NULL);
	assert(errno != 0);
}

TEST(display_without_manager_is_not_connected)
{
	struct ch_server *server = ch_server_start_bare(NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap = NULL;

	assert(pixcache_client_find(client, "default", "x", &pixmap) ==
		-ENOTCONN);
	assert(pixmap == NULL);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/*
 * With the library's thread polling a display whose globals it has read,
 * the roundtrip that looks for the manager must go out by itself: it
 * timed out (-ETIMEDOUT after timeout_ms, at every call) before.
 */
TEST(display_without_manager_is_not_connected_with_thread)
{
	struct ch_server *server = ch_server_start_bare(NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap = NULL;

	assert(pixcache_client_start_thread(client) == 0);
	for (int i = 0; i < 2; i++) {
		assert(pixcache_client_find(client, "default", "x", &pixmap) ==
			-ENOTCONN);
	}
	assert(pixmap == NULL);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(missing_then_put_then_found)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap = NULL;
	struct pixcache_key key, found_key;

	assert(pixcache_client_find(client, "default", "icon", &pixmap) ==
		-ENOENT);
	assert(pixmap == NULL);
	put_pattern(client, "default", "icon", 24, 7, &key);
	assert(key.instance == pixcache_client_instance(client));
	assert(pixcache_client_find(client, "default", "icon", &pixmap) == 0);
	assert(pixcache_pixmap_get_width(pixmap) == 24);
	assert(pixcache_pixmap_get_height(pixmap) == 24);
	assert(pixcache_pixmap_get_format(pixmap) == DRM_FORMAT_ARGB8888);
	assert(ch_has_pattern(pixmap, 7));
	pixcache_pixmap_get_key(pixmap, &found_key);
	assert(memcmp(&key, &found_key, sizeof(key)) == 0);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(repeated_hit_is_local_and_the_same_handle)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *first, *again;
	struct pixcache_client_usage before;

	put_pattern(client, "default", "icon", 16, 1, NULL);
	assert(pixcache_client_find(client, "default", "icon", &first) == 0);
	before = usage_of(client);
	assert(pixcache_client_find_local(client, "default", "icon",
		&again) == 0);
	assert(again == first);
	assert(usage_of(client).local_hits == before.local_hits + 1);
	assert(usage_of(client).remote_lookups == before.remote_lookups);
	pixcache_pixmap_unref(again);
	assert(pixcache_client_find(client, "default", "icon", &again) == 0);
	assert(again == first);
	assert(usage_of(client).remote_lookups == before.remote_lookups);
	pixcache_pixmap_unref(again);
	pixcache_pixmap_unref(first);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(unknown_name_is_not_a_local_hit)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap = NULL;

	assert(pixcache_client_find_local(client, "default", "icon",
		&pixmap) == -EAGAIN);
	assert(pixmap == NULL);
	assert(pixcache_client_find_local(client, "default", "", &pixmap) ==
		-EINVAL);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* The generation table says so, without the library asking. */
TEST(removed_entry_is_no_local_hit)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap, *again = NULL;
	struct pixcache_client_usage before;

	put_pattern(client, "default", "icon", 16, 3, NULL);
	assert(pixcache_client_find(client, "default", "icon", &pixmap) == 0);
	assert(ch_server_remove(server, "default", "icon") == 0);
	before = usage_of(client);
	assert(pixcache_client_find_local(client, "default", "icon",
		&again) == -EAGAIN);
	assert(again == NULL);
	assert(usage_of(client).remote_lookups == before.remote_lookups);
	/* What was held stays readable, unchanged. */
	assert(ch_has_pattern(pixmap, 3));
	assert(pixcache_client_find(client, "default", "icon", &again) ==
		-ENOENT);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

static bool
anyone_replaces(void *data, struct wl_client *client, const char *realm,
	uint64_t owner)
{
	return true;
}

/*
 * Another client replaces a name this one has mapped and serves locally:
 * once the manager has answered anything sent after the change, the old
 * pixmap is never a hit again (the table shows the new generation before
 * the replacing upload is even acknowledged).
 */
TEST(replaced_by_another_client_is_no_local_hit_after_any_answer)
{
	struct pixcache_policy policy = { .may_replace = anyone_replaces };
	struct ch_server *server = ch_server_start(NULL, &policy, NULL);
	struct pixcache_client *a = ch_connect(server);
	struct pixcache_client *b = ch_connect(server);
	struct pixcache_pixmap *old, *again = NULL;
	pixman_image_t *image = ch_image(16, 16, 22);
	struct pixcache_client_stats stats;

	put_pattern(a, "default", "shared", 16, 21, NULL);
	assert(pixcache_client_find(a, "default", "shared", &old) == 0);
	assert(pixcache_client_find_local(a, "default", "shared",
		&again) == 0);
	pixcache_pixmap_unref(again);
	assert(pixcache_client_put(b, "default", "shared", image,
		DRM_FORMAT_ARGB8888, PIXCACHE_PUT_REPLACE, NULL) == 0);
	/* Anything a answers after the change. */
	assert(pixcache_client_get_stats(a, &stats) == 0);
	again = NULL;
	assert(pixcache_client_find_local(a, "default", "shared",
		&again) == -EAGAIN);
	assert(again == NULL);
	assert(pixcache_client_find(a, "default", "shared", &again) == 0);
	assert(again != old && ch_has_pattern(again, 22));
	/* The old bytes are still the holder's, unchanged. */
	assert(ch_has_pattern(old, 21));
	pixcache_pixmap_unref(again);
	pixcache_pixmap_unref(old);
	pixman_image_unref(image);
	pixcache_client_destroy(a);
	pixcache_client_destroy(b);
	ch_server_stop(server);
}

TEST(replaced_entry_is_found_anew)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *old, *fresh;
	pixman_image_t *image = ch_image(16, 16, 9);
	struct pixcache_key k1, k2;

	put_pattern(client, "default", "icon", 16, 8, &k1);
	assert(pixcache_client_find(client, "default", "icon", &old) == 0);
	assert(pixcache_client_put(client, "default", "icon", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == -EEXIST);
	assert(pixcache_client_put(client, "default", "icon", image,
		DRM_FORMAT_ARGB8888, PIXCACHE_PUT_REPLACE, &k2) == 0);
	assert(k1.slot != k2.slot || k1.generation != k2.generation);
	assert(pixcache_client_find(client, "default", "icon", &fresh) == 0);
	assert(fresh != old);
	assert(ch_has_pattern(fresh, 9));
	assert(ch_has_pattern(old, 8));
	pixcache_pixmap_unref(old);
	pixcache_pixmap_unref(fresh);
	pixman_image_unref(image);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(bad_put_arguments_send_nothing)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	pixman_image_t *image = ch_image(8, 8, 1);
	struct pixcache_stats stats;

	assert(pixcache_client_put(client, "default", "", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == -EINVAL);
	assert(pixcache_client_put(client, "default", "\xff", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == -EINVAL);
	assert(pixcache_client_put(client, "default", "x", image,
		DRM_FORMAT_NV12, 0, NULL) == -EINVAL);
	assert(pixcache_client_put(client, "default", "x", NULL,
		DRM_FORMAT_ARGB8888, 0, NULL) == -EINVAL);
	assert(pixcache_client_put(client, "default", "x", image,
		DRM_FORMAT_ARGB8888, 0x80, NULL) == -EINVAL);
	assert(pixcache_client_put(client, NULL, "x", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == -EINVAL);
	ch_server_stats(server, &stats);
	assert(stats.clients == 0 && stats.entries == 0);
	pixman_image_unref(image);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(converted_on_upload_by_pixman)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	pixman_image_t *image = ch_image(5, 3, 4);
	struct pixcache_pixmap *pixmap;
	const uint8_t *p;
	const uint32_t *src = pixman_image_get_data(image);

	assert(pixcache_client_put(client, "default", "x", image,
		DRM_FORMAT_ABGR8888, 0, NULL) == 0);
	assert(pixcache_client_find(client, "default", "x", &pixmap) == 0);
	assert(pixcache_pixmap_get_format(pixmap) == DRM_FORMAT_ABGR8888);
	p = pixcache_pixmap_get_data(pixmap);
	/* ABGR8888 is R, G, B, A in memory order on little-endian. */
	assert(p[0] == ((src[0] >> 16) & 0xff));
	assert(p[1] == ((src[0] >> 8) & 0xff));
	assert(p[2] == (src[0] & 0xff));
	assert(p[3] == 0xff);
	pixcache_pixmap_unref(pixmap);
	pixman_image_unref(image);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(pixman_image_over_the_pixmap_composites)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	pixman_image_t *source = ch_image(12, 12, 5), *dst, *src;
	struct pixcache_pixmap *pixmap;

	assert(pixcache_client_put(client, "default", "x", source,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	assert(pixcache_client_find(client, "default", "x", &pixmap) == 0);
	src = pixcache_pixmap_create_pixman(pixmap);
	assert(src != NULL);
	/* The image holds the pixmap past the caller's reference. */
	pixcache_pixmap_unref(pixmap);
	dst = pixman_image_create_bits(PIXMAN_a8r8g8b8, 12, 12, NULL, 0);
	pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 0, 0, 0, 0,
		0, 0, 12, 12);
	assert(memcmp(pixman_image_get_data(dst),
		pixman_image_get_data(source), 12 * 12 * 4) == 0);
	pixman_image_unref(src);
	pixman_image_unref(dst);
	pixman_image_unref(source);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(find_many_answers_each_name)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	const char *names[6] = { "a", "b", "nope", "c", "", "d" };
	struct pixcache_pixmap *pixmaps[6];
	int results[6];

	put_pattern(client, "default", "a", 8, 1, NULL);
	put_pattern(client, "default", "b", 8, 2, NULL);
	put_pattern(client, "default", "c", 8, 3, NULL);
	put_pattern(client, "default", "d", 200, 4, NULL);
	assert(pixcache_client_find_many(client, "default", names, 6, results,
		pixmaps) == 0);
	assert(results[0] == 0 && ch_has_pattern(pixmaps[0], 1));
	assert(results[1] == 0 && ch_has_pattern(pixmaps[1], 2));
	assert(results[2] == -ENOENT && pixmaps[2] == NULL);
	assert(results[3] == 0 && ch_has_pattern(pixmaps[3], 3));
	assert(results[4] == -EINVAL && pixmaps[4] == NULL);
	/* Large enough for a buffer of its own. */
	assert(results[5] == 0 && ch_has_pattern(pixmaps[5], 4));
	for (int i = 0; i < 6; i++) {
		pixcache_pixmap_unref(pixmaps[i]);
	}
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* More names than lookups may be in flight, and more fds than allowed. */
TEST(find_many_past_the_limits)
{
	struct pixcache_config config;
	struct ch_server *server;
	struct pixcache_client *client;
	struct pixcache_client_options options;
	enum { N = 40 };
	const char *names[N];
	char buf[N][8];
	struct pixcache_pixmap *pixmaps[N];
	int results[N];

	ch_config(&config);
	config.max_fds_in_flight = 4;
	config.pool_max_pixmap = 1024;	/* 32x32 and up: an fd each */
	server = ch_server_start(&config, NULL, NULL);
	pixcache_client_options_init(&options);
	options.max_outstanding = 16;
	client = pixcache_client_connect(ch_server_socket(server), &options);
	for (int i = 0; i < N; i++) {
		snprintf(buf[i], sizeof(buf[i]), "n%d", i);
		names[i] = buf[i];
		put_pattern(client, "default", names[i], 32, (uint32_t)i, NULL);
	}
	assert(pixcache_client_find_many(client, "default", names, N, results,
		pixmaps) == 0);
	for (int i = 0; i < N; i++) {
		assert(results[i] == 0);
		assert(ch_has_pattern(pixmaps[i], (uint32_t)i));
		pixcache_pixmap_unref(pixmaps[i]);
	}
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* calls is written by whichever thread calls back (the library's, with
 * its thread started) and read by the test's: published last. */
struct answer {
	atomic_int calls;
	int result;
	struct pixcache_pixmap *pixmap;
};

static void
on_answer(void *data, int result, struct pixcache_pixmap *pixmap)
{
	struct answer *answer = data;

	answer->result = result;
	answer->pixmap = pixmap;
	atomic_fetch_add(&answer->calls, 1);
}

static void
dispatch_until(struct pixcache_client *client, atomic_int *calls)
{
	for (int i = 0; i < 500 && atomic_load(calls) == 0; i++) {
		struct pixcache_pixmap *unused = NULL;

		/* A blocking call reads for the library's queue too. */
		pixcache_client_find_local(client, "default", "-", &unused);
		assert(pixcache_client_flush(client) == 0);
		usleep(2000);
		pixcache_client_dispatch(client);
	}
}

TEST(async_lookup_calls_back_once)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct answer found = { 0 }, missing = { 0 }, local = { 0 };

	put_pattern(client, "default", "a", 8, 1, NULL);
	assert(pixcache_client_start_thread(client) == 0);
	assert(pixcache_client_start_thread(client) == -EALREADY);
	assert(pixcache_client_lookup(client, "default", "a", on_answer,
		&found) == 0);
	assert(pixcache_client_lookup(client, "default", "zz", on_answer,
		&missing) == 0);
	assert(pixcache_client_flush(client) == 0);
	dispatch_until(client, &found.calls);
	dispatch_until(client, &missing.calls);
	assert(found.calls == 1 && found.result == 0);
	assert(ch_has_pattern(found.pixmap, 1));
	assert(missing.calls == 1 && missing.result == -ENOENT &&
		missing.pixmap == NULL);
	/* A local hit is called back too, never from inside the call. */
	assert(pixcache_client_lookup(client, "default", "a", on_answer,
		&local) == 0);
	dispatch_until(client, &local.calls);
	assert(local.calls == 1 && local.pixmap == found.pixmap);
	pixcache_pixmap_unref(local.pixmap);
	pixcache_pixmap_unref(found.pixmap);
	pixcache_client_destroy(client);
	assert(found.calls == 1 && missing.calls == 1 && local.calls == 1);
	ch_server_stop(server);
}

struct stored {
	atomic_int calls;
	int result;
	struct pixcache_key key;
};

static void
on_stored(void *data, int result, const struct pixcache_key *key)
{
	struct stored *stored = data;

	stored->result = result;
	assert((result == 0) == (key != NULL));
	if (key != NULL) {
		stored->key = *key;
	}
	atomic_fetch_add(&stored->calls, 1);
}

TEST(async_upload_is_filled_and_called_back)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	pixman_image_t *image = ch_image(20, 10, 12);
	struct stored first = { 0 }, again = { 0 };
	struct pixcache_pixmap *pixmap;
	struct pixcache_key key;

	assert(pixcache_client_upload(client, "default", "up", image,
		DRM_FORMAT_ARGB8888, 0, on_stored, &first) == 0);
	assert(pixcache_client_upload(client, "default", "up", image,
		DRM_FORMAT_ARGB8888, 0, NULL, NULL) == -EINVAL);
	/* The library holds the image: the caller may let go at once. */
	pixman_image_unref(image);
	assert(pixcache_client_flush(client) == 0);
	dispatch_until(client, &first.calls);
	assert(first.calls == 1 && first.result == 0);
	assert(pixcache_client_find(client, "default", "up", &pixmap) == 0);
	assert(ch_has_pattern(pixmap, 12));
	pixcache_pixmap_get_key(pixmap, &key);
	assert(memcmp(&key, &first.key, sizeof(key)) == 0);
	pixcache_pixmap_unref(pixmap);
	/* A failure is called back too, without a key. */
	image = ch_image(20, 10, 13);
	assert(pixcache_client_upload(client, "default", "up", image,
		DRM_FORMAT_ARGB8888, 0, on_stored, &again) == 0);
	pixman_image_unref(image);
	assert(pixcache_client_flush(client) == 0);
	dispatch_until(client, &again.calls);
	assert(again.calls == 1 && again.result == -EEXIST);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* Realm "a" belongs to the first client that asks; "default" to all. */
struct owner_policy {
	struct wl_client *owner;
};

static uint32_t
owner_access(void *data, struct wl_client *client, const char *realm)
{
	struct owner_policy *policy = data;
	uint32_t all = PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_WRITE |
		PIXCACHE_ACCESS_TABLE;

	if (strcmp(realm, "default") == 0) {
		return all;
	}
	if (strcmp(realm, "a") != 0) {
		return 0;
	}
	if (policy->owner == NULL) {
		policy->owner = client;
	}
	return policy->owner == client ? all : 0;
}

TEST(key_handed_to_a_client_outside_the_realm)
{
	struct owner_policy data = { NULL };
	struct pixcache_policy policy = { .realm_access = owner_access,
		.data = &data };
	struct ch_server *server = ch_server_start(NULL, &policy, NULL);
	struct pixcache_client *a = ch_connect(server);
	struct pixcache_client *b = ch_connect(server);
	struct pixcache_pixmap *pixmap = NULL;
	struct pixcache_key key, parsed;
	char text[64];

	put_pattern(a, "a", "secret", 16, 11, &key);
	pixcache_key_format(&key, text, sizeof(text));
	assert(pixcache_client_find(b, "a", "secret", &pixmap) == -EACCES);
	assert(pixmap == NULL);
	/* As text, the way a key travels between processes. */
	assert(pixcache_key_parse(text, &parsed) == 0);
	assert(pixcache_client_find_key(b, &parsed, &pixmap) == 0);
	assert(ch_has_pattern(pixmap, 11));
	pixcache_pixmap_unref(pixmap);
	/* A forged tag is no capability. */
	parsed.tag ^= 1;
	assert(pixcache_client_find_key(b, &parsed, &pixmap) == -ENOENT);
	pixcache_client_destroy(a);
	pixcache_client_destroy(b);
	ch_server_stop(server);
}

TEST(key_text_is_canonical)
{
	struct pixcache_key key = { 0x0123456789abcdefu, 42, 7,
		0xfedcba9876543210u }, out;
	char text[64];

	pixcache_key_format(&key, text, sizeof(text));
	assert(strcmp(text,
		"pxc1-0123456789abcdef-42-7-fedcba9876543210") == 0);
	assert(pixcache_key_parse(text, &out) == 0);
	assert(memcmp(&key, &out, sizeof(key)) == 0);
	assert(pixcache_key_parse("pxc1-0123456789abcdef-42-7-fedcba9876543210x",
		&out) == -EINVAL);
	assert(pixcache_key_parse("pxc1-0123456789abcdef-+42-7-fedcba9876543210",
		&out) == -EINVAL);
	assert(pixcache_key_parse("pxc1-123456789abcdef-42-7-fedcba9876543210",
		&out) == -EINVAL);
	assert(pixcache_key_parse("pxc1-0123456789abcdef-042-7-fedcba9876543210",
		&out) == -EINVAL);
	assert(pixcache_key_parse("", &out) == -EINVAL);
	assert(pixcache_key_parse(NULL, &out) == -EINVAL);
}

TEST(list_and_stats_and_remove)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_client_stats stats;

	put_pattern(client, "default", "a", 8, 1, NULL);
	put_pattern(client, "default", "b", 8, 2, NULL);
	assert(pixcache_client_get_stats(client, &stats) == 0);
	assert(stats.entries == 2 && stats.clients == 1);
	assert(pixcache_client_remove(client, "default", "a") == 0);
	assert(pixcache_client_remove(client, "default", "a") == -ENOENT);
	assert(pixcache_client_get_stats(client, &stats) == 0);
	assert(stats.entries == 1);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

struct listed {
	int count;
	char names[4][16];
	uint32_t width;
};

static void
on_entry(void *data, const struct pixcache_entry_info *info)
{
	struct listed *listed = data;

	assert(info->name != NULL);
	snprintf(listed->names[listed->count++ & 3], 16, "%s", info->name);
	listed->width = info->width;
}

TEST(list_hands_entries_to_the_caller)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct listed listed = { 0 };

	put_pattern(client, "default", "only", 9, 1, NULL);
	assert(pixcache_client_list(client, "default", on_entry,
		&listed) == 0);
	assert(listed.count == 1);
	assert(strcmp(listed.names[0], "only") == 0 && listed.width == 9);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

enum { LONG_LIST = 65536 };

/* Inserted by the compositor: fast, and no client's limits. */
static void
insert_many(struct pixcache_manager *manager, void *data)
{
	pixman_image_t *image = ch_image(1, 1, 1);
	char name[16];

	for (int i = 0; i < LONG_LIST; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		assert(pixcache_manager_insert(manager, "default", name, image,
			DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	}
	pixman_image_unref(image);
}

static void
count_and_check(void *data, const struct pixcache_entry_info *info)
{
	uint8_t *seen = data;
	int i;

	assert(info->name != NULL && sscanf(info->name, "e%d", &i) == 1);
	assert(i >= 0 && i < LONG_LIST && !seen[i] && info->width == 1);
	seen[i] = 1;
}

/* Sent at once, ~20 MB of entries would make libwayland kill the client. */
TEST(list_of_65536_entries_comes_whole)
{
	struct pixcache_config config;
	struct ch_server *server;
	struct pixcache_client *client;
	uint8_t *seen = calloc(LONG_LIST, 1);
	int total = 0;

	ch_config(&config);
	config.table_capacity = 2 * LONG_LIST;
	config.budget = 256 << 20;
	server = ch_server_start(&config, NULL, NULL);
	ch_server_call(server, insert_many, NULL);
	client = ch_connect(server);
	assert(seen != NULL);
	assert(pixcache_client_list(client, "default", count_and_check,
		seen) == 0);
	for (int i = 0; i < LONG_LIST; i++) {
		total += seen[i];
	}
	assert(total == LONG_LIST);
	free(seen);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* A toolkit's way: the application's display, shared by two libraries. */
TEST(two_libraries_share_one_connection)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct wl_display *display =
		wl_display_connect(ch_server_socket(server));
	struct pixcache_client *a, *b;
	struct pixcache_pixmap *pa, *pb;
	struct pixcache_stats stats;

	assert(display != NULL);
	a = pixcache_client_create(display, NULL);
	b = pixcache_client_create(display, NULL);
	assert(a != NULL && b != NULL);
	put_pattern(a, "default", "x", 16, 5, NULL);
	/* Each has a session of its own: realm, pools, leases. */
	assert(pixcache_client_find(b, "default", "x", &pb) == 0);
	assert(pixcache_client_find(a, "default", "x", &pa) == 0);
	assert(pa != pb);
	assert(ch_has_pattern(pa, 5) && ch_has_pattern(pb, 5));
	assert(usage_of(a).pools == 1 && usage_of(b).pools == 1);
	ch_server_stats(server, &stats);
	assert(stats.leases == 2);
	pixcache_pixmap_unref(pa);
	pixcache_client_destroy(a);
	/* b is untouched by a's end. */
	assert(ch_has_pattern(pb, 5));
	pixcache_pixmap_unref(pb);
	assert(pixcache_client_find(b, "default", "x", &pb) == 0);
	pixcache_pixmap_unref(pb);
	pixcache_client_destroy(b);
	wl_display_disconnect(display);
	ch_server_stop(server);
}

TEST(pixmaps_outlive_the_client)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *pixmap;
	struct pixcache_stats stats;

	put_pattern(client, "default", "a", 200, 6, NULL);
	assert(pixcache_client_find(client, "default", "a", &pixmap) == 0);
	pixcache_client_destroy(client);
	assert(ch_has_pattern(pixmap, 6));
	/* The lease went with the client; the bytes stay until unref. */
	ch_server_stats(server, &stats);
	assert(stats.leases == 0);
	pixcache_pixmap_unref(pixmap);
	ch_server_stop(server);
}

TEST(unref_releases_the_lease)
{
	struct pixcache_client_options options;
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client;
	struct pixcache_pixmap *pixmap;
	struct pixcache_stats stats;

	pixcache_client_options_init(&options);
	options.local_entries = 0;	/* nothing kept past the caller */
	client = pixcache_client_connect(ch_server_socket(server), &options);
	put_pattern(client, "default", "a", 8, 6, NULL);
	assert(pixcache_client_find(client, "default", "a", &pixmap) == 0);
	assert(usage_of(client).leases == 1);
	pixcache_pixmap_unref(pixmap);
	assert(usage_of(client).leases == 0);
	assert(pixcache_client_flush(client) == 0);
	assert(pixcache_client_get_stats(client, &(struct
		pixcache_client_stats){ 0 }) == 0);
	ch_server_stats(server, &stats);
	assert(stats.leases == 0);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(local_map_keeps_to_its_limit)
{
	struct pixcache_client_options options;
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client;
	char name[16];

	pixcache_client_options_init(&options);
	options.local_entries = 4;
	client = pixcache_client_connect(ch_server_socket(server), &options);
	for (int i = 0; i < 20; i++) {
		struct pixcache_pixmap *pixmap;

		snprintf(name, sizeof(name), "n%d", i);
		put_pattern(client, "default", name, 8, (uint32_t)i, NULL);
		assert(pixcache_client_find(client, "default", name,
			&pixmap) == 0);
		pixcache_pixmap_unref(pixmap);
		assert(usage_of(client).local_entries <= 4);
		assert(usage_of(client).leases <= 4);
	}
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(unanswered_lookup_times_out_and_is_dropped)
{
	struct pixcache_client_options options;
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client;
	struct pixcache_pixmap *pixmap = NULL;
	struct timespec t0, t1;

	pixcache_client_options_init(&options);
	options.timeout_ms = 300;
	client = pixcache_client_connect(ch_server_socket(server), &options);
	put_pattern(client, "default", "a", 8, 1, NULL);
	pixcache_client_destroy(client);
	client = pixcache_client_connect(ch_server_socket(server), &options);
	assert(pixcache_client_flush(client) == 0);
	ch_server_pause(server);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert(pixcache_client_find(client, "default", "a", &pixmap) ==
		-ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert(pixmap == NULL);
	assert(t1.tv_sec - t0.tv_sec < 3);
	ch_server_resume(server);
	/* The late answer finds nothing; the next call is answered. */
	assert(pixcache_client_find(client, "default", "a", &pixmap) == 0);
	assert(ch_has_pattern(pixmap, 1));
	pixcache_pixmap_unref(pixmap);
	assert(usage_of(client).leases == 1);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

static void
restart_test(bool with_thread)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	char socket[64];
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_pixmap *old, *pixmap = NULL;
	uint64_t first;

	snprintf(socket, sizeof(socket), "%s", ch_server_socket(server));
	if (with_thread) {
		assert(pixcache_client_start_thread(client) == 0);
	}
	put_pattern(client, "default", "a", 8, 1, NULL);
	assert(pixcache_client_find(client, "default", "a", &old) == 0);
	first = pixcache_client_instance(client);
	ch_server_stop(server);
	if (with_thread) {
		/* The library's thread sees the hang-up by itself. */
		for (int i = 0; i < 500 && pixcache_client_instance(client);
				i++) {
			usleep(10000);
		}
	} else {
		/* Without a reader, the next write finds out. */
		assert(pixcache_client_flush(client) < 0);
	}
	assert(pixcache_client_instance(client) == 0);
	assert(pixcache_client_find_local(client, "default", "a",
		&pixmap) == -EAGAIN);
	server = ch_server_start(NULL, NULL, socket);
	assert(pixcache_client_find(client, "default", "a", &pixmap) ==
		-ENOENT);
	assert(pixcache_client_instance(client) != first);
	assert(usage_of(client).reconnects >= 1);
	put_pattern(client, "default", "a", 8, 2, NULL);
	assert(pixcache_client_find(client, "default", "a", &pixmap) == 0);
	assert(ch_has_pattern(pixmap, 2));
	/* The old manager's pixmap is still the caller's to read. */
	assert(ch_has_pattern(old, 1));
	pixcache_pixmap_unref(old);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(reconnects_to_a_restarted_manager)
{
	restart_test(false);
}

TEST(reconnects_to_a_restarted_manager_with_thread)
{
	restart_test(true);
}

/* ---- several processes ---- */

enum { PROCS = 8, NAMES = 24 };

/* Each process finds every name, uploading what is missing. */
static void
worker(const char *socket, int fd)
{
	struct pixcache_client *client =
		pixcache_client_connect(socket, NULL);
	uint64_t sums[NAMES];
	int uploads = 0;

	assert(client != NULL);
	for (int i = 0; i < NAMES; i++) {
		struct pixcache_pixmap *pixmap = NULL;
		char name[16];
		int ret;

		snprintf(name, sizeof(name), "icon-%d", i);
		ret = pixcache_client_find(client, "default", name, &pixmap);
		if (ret == -ENOENT) {
			pixman_image_t *image = ch_image(20, 20, (uint32_t)i);

			ret = pixcache_client_put(client, "default", name,
				image, DRM_FORMAT_ARGB8888, 0, NULL);
			pixman_image_unref(image);
			uploads += ret == 0;
			/* Lost the race: the winner's upload is found. */
			assert(ret == 0 || ret == -EBUSY || ret == -EEXIST);
			ret = pixcache_client_find(client, "default", name,
				&pixmap);
		}
		assert(ret == 0);
		sums[i] = ch_checksum(pixmap);
		pixcache_pixmap_unref(pixmap);
	}
	assert(write(fd, &uploads, sizeof(uploads)) == sizeof(uploads));
	assert(write(fd, sums, sizeof(sums)) == sizeof(sums));
	pixcache_client_destroy(client);
}

/*
 * A worker process, forked while the test runs no thread yet (the server
 * starts after): it waits for the socket's path on a pipe, then runs fn.
 */
struct worker {
	pid_t pid;
	int go;				/* the socket's path goes here */
	int result;			/* fn's output comes from here */
};

static void
spawn(struct worker *w, void (*fn)(const char *socket, int fd))
{
	int go[2], out[2];

	assert(pipe(go) == 0 && pipe(out) == 0);
	w->pid = test_fork();
	if (w->pid == 0) {
		char socket[256] = { 0 };

		close(go[1]);
		close(out[0]);
		assert(read(go[0], socket, sizeof(socket) - 1) > 0);
		close(go[0]);
		fn(socket, out[1]);
		close(out[1]);
		_exit(0);
	}
	close(go[0]);
	close(out[1]);
	w->go = go[1];
	w->result = out[0];
}

/* Tells the worker where the server is: the runtime dir is ours alone. */
static void
start(struct worker *w, struct ch_server *server)
{
	char path[256];
	int n = snprintf(path, sizeof(path), "%s/%s",
		getenv("XDG_RUNTIME_DIR"), ch_server_socket(server));

	assert(write(w->go, path, (size_t)n) == n);
	close(w->go);
}

static void
reap(struct worker *w)
{
	int status;

	close(w->result);
	assert(waitpid(w->pid, &status, 0) == w->pid);
	assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(processes_missing_the_same_names_upload_each_once)
{
	struct ch_server *server;
	struct worker workers[PROCS];
	uint64_t sums[PROCS][NAMES];
	struct pixcache_stats stats;
	int total = 0;

	for (int p = 0; p < PROCS; p++) {
		spawn(&workers[p], worker);
	}
	server = ch_server_start(NULL, NULL, NULL);
	for (int p = 0; p < PROCS; p++) {
		start(&workers[p], server);
	}
	for (int p = 0; p < PROCS; p++) {
		int uploads;

		assert(read(workers[p].result, &uploads, sizeof(uploads)) ==
			sizeof(uploads));
		assert(read(workers[p].result, sums[p], sizeof(sums[p])) ==
			sizeof(sums[p]));
		reap(&workers[p]);
		total += uploads;
	}
	assert(total == NAMES);
	for (int p = 1; p < PROCS; p++) {
		assert(memcmp(sums[p], sums[0], sizeof(sums[0])) == 0);
	}
	ch_server_stats(server, &stats);
	assert(stats.inserts == NAMES && stats.entries == NAMES);
	ch_server_stop(server);
}

static void
uploader(const char *socket, int fd)
{
	struct pixcache_client *client =
		pixcache_client_connect(socket, NULL);
	pixman_image_t *image = ch_image(64, 64, 77);
	uint64_t sum = 0;

	assert(pixcache_client_put(client, "default", "shared", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	pixman_image_unref(image);
	assert(write(fd, &sum, sizeof(sum)) == sizeof(sum));
	/* Gone without a goodbye. */
	_exit(0);
}

TEST(upload_outlives_the_uploader)
{
	struct ch_server *server;
	struct pixcache_client *client;
	struct pixcache_pixmap *pixmap;
	struct worker w;
	uint64_t unused;

	spawn(&w, uploader);
	server = ch_server_start(NULL, NULL, NULL);
	start(&w, server);
	assert(read(w.result, &unused, sizeof(unused)) == sizeof(unused));
	reap(&w);
	client = ch_connect(server);
	assert(pixcache_client_find(client, "default", "shared", &pixmap) ==
		0);
	assert(ch_has_pattern(pixmap, 77));
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

struct waiter {
	struct pixcache_client *client;
	int result;
};

static void *
find_x(void *data)
{
	struct waiter *w = data;
	struct pixcache_pixmap *pixmap = NULL;

	w->result = pixcache_client_find(w->client, "default", "x", &pixmap);
	if (pixmap != NULL) {
		pixcache_pixmap_unref(pixmap);
	}
	return NULL;
}

/*
 * An abandoned claim passes on at once: a client waiting for the name is
 * handed the claim, not left waiting until its own timeout (the release
 * waited for the abandoning client's next request; the GTK adapter's
 * broken-file test found it).
 */
TEST(an_abandoned_claim_passes_on_at_once)
{
	struct pixcache_config config;
	struct ch_server *server;
	struct pixcache_client *a;
	struct pixcache_pixmap *pixmap = NULL;
	struct waiter b;
	pthread_t thread;

	ch_config(&config);
	config.upload_timeout_ms = 60000;
	server = ch_server_start(&config, NULL, NULL);
	a = ch_connect(server);
	b.client = ch_connect(server);
	assert(pixcache_client_find(a, "default", "x", &pixmap) == -ENOENT);
	assert(pthread_create(&thread, NULL, find_x, &b) == 0);
	/* b's lookup very likely sent and waiting on a's claim by then;
	 * if not, b claims the name itself: the same answer. */
	usleep(200000);
	assert(pixcache_client_abandon(a, "default", "x") == 0);
	pthread_join(thread, NULL);
	/* Handed the claim, well within b's 5 s: not -ETIMEDOUT. */
	assert(b.result == -ENOENT);
	assert(pixcache_client_abandon(b.client, "default", "x") == 0);
	pixcache_client_destroy(b.client);
	pixcache_client_destroy(a);
	ch_server_stop(server);
}
