/*
 * The manager over the protocol, one request or event per test: binding,
 * realms, uploads, lookups by name and by key, pools and buffers of their
 * own, pending uploads, replacement, eviction, done tokens.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "server-harness.h"
#include "test-runner.h"

#define ARGB DRM_FORMAT_ARGB8888

static struct th_server *server;
static struct th_client *a, *b;
static struct th_realm *ra, *rb;

static void
setup(void)
{
	server = th_server_create(NULL, NULL);
	a = th_client_connect(server);
	b = th_client_connect(server);
	ra = th_realm_get(a, "default");
	rb = th_realm_get(b, "default");
}

static void
teardown(void)
{
	struct pixcache_stats stats;

	th_realm_destroy(ra);
	th_realm_destroy(rb);
	th_client_disconnect(a);
	th_client_disconnect(b);
	pixcache_manager_get_stats(server->manager, &stats);
	assert(stats.clients == 0 && stats.leases == 0 && stats.uploads == 0);
	th_server_destroy(server);
}

static struct th_pixmap *
lookup_key(struct th_client *c, const uint32_t key[6])
{
	struct pixcache_batch_v1 *batch = th_batch(c);
	struct th_pixmap *pixmap = th_lookup_key(c, batch, key);

	th_commit(c, batch);
	th_batch_destroy(batch);
	return pixmap;
}

/* Whether fd carries every seal of want (the kernel may add F_SEAL_EXEC). */
static bool
sealed(int fd, int want)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & want) == want;
}

#define MANAGER_SEALS \
	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)

TEST(bind_announces_instance_formats_and_limits)
{
	setup();
	assert(a->instance == pixcache_manager_instance(server->manager));
	assert(a->instance == b->instance);
	assert(a->nformats == 5);
	assert(a->formats[0] == DRM_FORMAT_ARGB8888);
	assert(a->limits[0] == 512 && a->limits[1] == 512);
	assert(a->limits[2] == 512 << 10 && a->limits[3] == 4);
	assert(a->limits[4] == 16 && a->limits[5] == 8);
	assert(a->refused == 0);
	teardown();
}

TEST(default_realm_gives_access_and_a_sealed_table)
{
	struct stat st;

	setup();
	assert(ra->access == (PIXCACHE_REALM_V1_ACCESS_READ |
		PIXCACHE_REALM_V1_ACCESS_WRITE | PIXCACHE_REALM_V1_ACCESS_TABLE));
	assert(ra->denied == 0);
	assert(ra->table_fd >= 0 && ra->capacity == 256);
	assert(fstat(ra->table_fd, &st) == 0 && st.st_size == 256 * 4);
	assert(sealed(ra->table_fd, MANAGER_SEALS));
	teardown();
}

TEST(other_realms_are_denied_by_default)
{
	struct th_realm *other;

	setup();
	other = th_realm_get(a, "elsewhere");
	assert(other->denied == PIXCACHE_BATCH_V1_FAILURE_POLICY);
	assert(other->access == 0 && other->table_fd < 0);
	th_realm_destroy(other);
	other = th_realm_get(a, "");
	assert(other->denied == PIXCACHE_BATCH_V1_FAILURE_NAME);
	th_realm_destroy(other);
	teardown();
}

struct refusals {
	struct wl_listener listener;
	int count;
	char realm[32];
	uint32_t reason;
};

static void
on_refused(struct wl_listener *listener, void *data)
{
	struct refusals *r = wl_container_of(listener, r, listener);
	const struct pixcache_refusal *refusal = data;

	r->count++;
	snprintf(r->realm, sizeof(r->realm), "%s",
		refusal->realm ? refusal->realm : "(manager)");
	r->reason = refusal->reason;
}

TEST(denials_are_signalled_to_the_compositor)
{
	struct refusals r = { .listener.notify = on_refused };
	struct th_realm *other;

	setup();
	pixcache_manager_add_refused_listener(server->manager, &r.listener);
	other = th_realm_get(a, "elsewhere");
	assert(r.count == 1 && strcmp(r.realm, "elsewhere") == 0);
	assert(r.reason == PIXCACHE_BATCH_V1_FAILURE_POLICY);
	th_realm_destroy(other);
	wl_list_remove(&r.listener.link);
	teardown();
}

TEST(getting_a_realm_twice_is_a_protocol_error)
{
	struct pixcache_realm_v1 *again;

	setup();
	again = pixcache_manager_v1_get_realm(a->manager, "default");
	th_expect_protocol_error(a, &pixcache_manager_v1_interface,
		th_id(a->manager), PIXCACHE_MANAGER_V1_ERROR_REALM_BOUND);
	pixcache_realm_v1_destroy(again);
	/* b is served still. */
	assert(th_roundtrip(b));
	teardown();
}

TEST(small_upload_is_shared_from_a_pool)
{
	struct th_upload *up;
	struct th_pixmap *pm;

	setup();
	up = th_put(a, ra, "icon/Adwaita/edit-copy/48@1", 48, 48, 7);
	assert(up->stored && up->failed == 0);
	assert(up->stride == 192 && up->size == 192 * 48);
	pm = th_lookup_now(b, rb, "icon/Adwaita/edit-copy/48@1");
	assert(pm->got_key && pm->buffer && pm->pool != NULL);
	assert(memcmp(pm->key, up->key, sizeof(pm->key)) == 0);
	assert(pm->width == 48 && pm->height == 48 && pm->stride == 192);
	assert(pm->format == ARGB);
	assert(pm->pool_fd >= 0);
	assert(sealed(pm->pool_fd, MANAGER_SEALS));
	assert(th_pixmap_has_pattern(pm, 7));
	th_pixmap_destroy(pm);
	th_upload_destroy(up);
	teardown();
}

TEST(a_pool_is_sent_once_per_client)
{
	struct th_upload *u1, *u2;
	struct th_pixmap *p1, *p2;

	setup();
	u1 = th_put(a, ra, "one", 16, 16, 1);
	u2 = th_put(a, ra, "two", 16, 16, 2);
	p1 = th_lookup_now(b, rb, "one");
	p2 = th_lookup_now(b, rb, "two");
	assert(p1->pool_fd >= 0 && p2->pool_fd < 0);
	assert(p1->pool == p2->pool && p1->offset != p2->offset);
	assert(th_pixmap_has_pattern(p1, 1) && th_pixmap_has_pattern(p2, 2));
	th_pixmap_destroy(p1);
	th_pixmap_destroy(p2);
	th_upload_destroy(u1);
	th_upload_destroy(u2);
	teardown();
}

TEST(large_upload_keeps_a_buffer_of_its_own)
{
	struct th_upload *up;
	struct th_pixmap *pm;

	setup();
	up = th_put(a, ra, "wallpaper", 256, 256, 3);
	assert(up->stored);
	pm = th_lookup_now(b, rb, "wallpaper");
	assert(pm->buffer && pm->pool == NULL && pm->fd >= 0);
	assert(sealed(pm->fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE));
	assert(th_pixmap_has_pattern(pm, 3));
	th_pixmap_destroy(pm);
	th_upload_destroy(up);
	teardown();
}

TEST(lookup_of_an_unknown_name_claims_it)
{
	struct th_pixmap *pm;

	setup();
	pm = th_lookup_now(b, rb, "nothing/here");
	assert(pm->claimed && !pm->missing && !pm->got_key && pm->failed == 0);
	th_pixmap_destroy(pm);
	teardown();
}

TEST(lookup_by_key_finds_the_pixmap)
{
	struct th_upload *up;
	struct th_pixmap *pm;

	setup();
	up = th_put(a, ra, "k", 8, 8, 9);
	pm = lookup_key(b, up->key);
	assert(pm->buffer && memcmp(pm->key, up->key, sizeof(up->key)) == 0);
	assert(th_pixmap_has_pattern(pm, 9));
	th_pixmap_destroy(pm);
	th_upload_destroy(up);
	teardown();
}

TEST(a_wrong_key_is_missing_like_any_other)
{
	struct th_upload *up;
	uint32_t key[6];

	setup();
	up = th_put(a, ra, "k", 8, 8, 9);
	for (int field = 0; field < 6; field++) {
		struct th_pixmap *pm;

		memcpy(key, up->key, sizeof(key));
		key[field] ^= 1;
		pm = lookup_key(b, key);
		assert(pm->missing && !pm->got_key && pm->failed == 0);
		th_pixmap_destroy(pm);
	}
	th_upload_destroy(up);
	teardown();
}

TEST(anonymous_upload_is_reached_by_key_only)
{
	struct th_upload *up;
	struct th_pixmap *pm;

	setup();
	up = th_put(a, ra, NULL, 8, 8, 4);
	assert(up->stored);
	pm = lookup_key(b, up->key);
	assert(pm->buffer && th_pixmap_has_pattern(pm, 4));
	th_pixmap_destroy(pm);
	th_upload_destroy(up);
	teardown();
}

TEST(a_lookup_waits_for_an_upload_in_flight)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	struct th_pixmap *pm;

	setup();
	batch = th_batch(a);
	up = th_upload(a, batch, ra, "slow", 8, 8, ARGB, 0);
	th_commit(a, batch);
	assert(up->fd >= 0);
	pm = th_lookup_now(b, rb, "slow");
	assert(pm->pending && !pm->got_key && !pm->missing);
	th_upload_fill(up, 5);
	pixcache_upload_v1_commit(up->proxy);
	th_roundtrip(a);
	th_roundtrip(b);
	assert(up->stored);
	assert(pm->got_key && pm->buffer && th_pixmap_has_pattern(pm, 5));
	th_pixmap_destroy(pm);
	th_upload_destroy(up);
	th_batch_destroy(batch);
	teardown();
}

TEST(a_cancelled_upload_passes_its_claim_to_a_waiter)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	struct th_pixmap *pm;

	setup();
	batch = th_batch(a);
	up = th_upload(a, batch, ra, "slow", 8, 8, ARGB, 0);
	th_commit(a, batch);
	pm = th_lookup_now(b, rb, "slow");
	assert(pm->pending);
	th_upload_destroy(up);
	th_roundtrip(a);
	th_roundtrip(b);
	assert(pm->claimed && !pm->missing && !pm->got_key);
	th_pixmap_destroy(pm);
	th_batch_destroy(batch);
	teardown();
}

TEST(a_second_upload_of_a_name_in_flight_is_busy)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *up, *again;

	setup();
	batch = th_batch(a);
	up = th_upload(a, batch, ra, "slow", 8, 8, ARGB, 0);
	th_commit(a, batch);
	again = th_put(b, rb, "slow", 8, 8, 1);
	assert(again->failed == PIXCACHE_BATCH_V1_FAILURE_BUSY);
	assert(again->fd < 0 && !again->stored);
	th_upload_destroy(again);
	th_upload_destroy(up);
	th_batch_destroy(batch);
	teardown();
}

TEST(an_existing_name_is_replaced_only_by_its_owner)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *first, *other, *mine;
	struct th_pixmap *held;

	setup();
	first = th_put(a, ra, "logo", 8, 8, 1);
	held = th_lookup_now(a, ra, "logo");
	other = th_put(b, rb, "logo", 8, 8, 2);
	assert(other->failed == PIXCACHE_BATCH_V1_FAILURE_EXISTS);

	batch = th_batch(b);
	th_upload_destroy(other);
	other = th_upload(b, batch, rb, "logo", 8, 8, ARGB,
		PIXCACHE_BATCH_V1_UPLOAD_FLAGS_REPLACE);
	th_commit(b, batch);
	assert(other->failed == PIXCACHE_BATCH_V1_FAILURE_EXISTS);
	th_batch_destroy(batch);

	batch = th_batch(a);
	mine = th_upload(a, batch, ra, "logo", 8, 8, ARGB,
		PIXCACHE_BATCH_V1_UPLOAD_FLAGS_REPLACE);
	th_commit(a, batch);
	th_upload_fill(mine, 3);
	pixcache_upload_v1_commit(mine->proxy);
	th_roundtrip(a);
	assert(mine->stored);
	/* The old entry left: its lease is told, its bytes stay. */
	assert(held->evicted && th_pixmap_has_pattern(held, 1));
	th_pixmap_destroy(held);
	held = th_lookup_now(b, rb, "logo");
	assert(th_pixmap_has_pattern(held, 3));
	th_pixmap_destroy(held);
	th_upload_destroy(mine);
	th_upload_destroy(other);
	th_upload_destroy(first);
	th_batch_destroy(batch);
	teardown();
}

TEST(done_carries_the_serial_and_a_fresh_token)
{
	struct pixcache_batch_v1 *batch;
	uint64_t first;

	setup();
	batch = th_batch(a);
	th_commit(a, batch);
	first = a->last_token;
	th_commit(a, batch);
	assert(first != 0 && a->last_token != 0 && a->last_token != first);
	/* 64 bits, not 32 zero-extended. */
	assert(first >> 32 != 0 || a->last_token >> 32 != 0);
	th_batch_destroy(batch);
	teardown();
}

/* Reads the generation a client's table shows for a key's slot. */
static uint32_t
table_generation(struct th_realm *r, const uint32_t key[6])
{
	const uint32_t *table = mmap(NULL, r->capacity * 4, PROT_READ,
		MAP_PRIVATE, r->table_fd, 0);
	uint32_t gen;

	assert(table != MAP_FAILED);
	gen = table[key[2] % r->capacity];
	munmap((void *)table, r->capacity * 4);
	return gen;
}

TEST(the_table_shows_a_key_current_then_stale)
{
	struct th_upload *up;

	setup();
	up = th_put(a, ra, "t", 8, 8, 1);
	assert(table_generation(rb, up->key) == up->key[3]);
	assert(pixcache_manager_remove(server->manager, "default", "t") == 0);
	/* Written before anyone is told: no roundtrip needed to see it. */
	assert(table_generation(rb, up->key) == up->key[3] + 1);
	th_upload_destroy(up);
	teardown();
}

TEST(eviction_tells_leases_and_keeps_their_bytes)
{
	struct pixcache_config config;
	struct th_upload *u1, *u2, *u3;
	struct th_pixmap *held;

	th_config(&config);
	config.budget = 2 * 64 * 16;	/* two 16x16 pixmaps */
	server = th_server_create(&config, NULL);
	a = th_client_connect(server);
	b = th_client_connect(server);
	ra = th_realm_get(a, "default");
	rb = th_realm_get(b, "default");
	u1 = th_put(a, ra, "1", 16, 16, 1);
	u2 = th_put(a, ra, "2", 16, 16, 2);
	held = th_lookup_now(b, rb, "2");
	/* Full, and 2 is leased: 3 evicts 1, then 4 evicts 3, never 2. */
	u3 = th_put(a, ra, "3", 16, 16, 3);
	assert(u3->stored && !held->evicted);
	th_upload_destroy(u3);
	u3 = th_put(a, ra, "4", 16, 16, 4);
	assert(u3->stored && !held->evicted);
	/* When 2 does leave, its lease is told and its bytes stay. */
	assert(pixcache_manager_remove(server->manager, "default", "2") == 0);
	th_roundtrip(b);
	assert(held->evicted && th_pixmap_has_pattern(held, 2));
	th_pixmap_destroy(held);
	th_upload_destroy(u1);
	th_upload_destroy(u2);
	th_upload_destroy(u3);
	teardown();
}

TEST(reported_use_keeps_an_entry_from_eviction)
{
	struct pixcache_config config;
	struct pixcache_batch_v1 *batch;
	struct th_upload *u1, *u2, *u3;
	struct th_pixmap *p1, *p2;
	struct wl_array array;
	uint32_t *pair;

	th_config(&config);
	config.budget = 2 * 64 * 16;
	server = th_server_create(&config, NULL);
	a = th_client_connect(server);
	b = th_client_connect(server);
	ra = th_realm_get(a, "default");
	rb = th_realm_get(b, "default");
	u1 = th_put(a, ra, "1", 16, 16, 1);
	u2 = th_put(a, ra, "2", 16, 16, 2);
	/* b used 1 locally and says so; 2 was never used. */
	batch = th_batch(b);
	wl_array_init(&array);
	pair = wl_array_add(&array, 2 * sizeof(uint32_t));
	pair[0] = u1->key[2];
	pair[1] = u1->key[3];
	pixcache_batch_v1_used(batch, &array);
	wl_array_release(&array);
	th_commit(b, batch);
	th_batch_destroy(batch);
	u3 = th_put(a, ra, "3", 16, 16, 3);
	assert(u3->stored);
	p1 = th_lookup_now(b, rb, "1");
	p2 = th_lookup_now(b, rb, "2");
	assert(p1->buffer && p2->claimed);
	th_pixmap_destroy(p1);
	th_pixmap_destroy(p2);
	th_upload_destroy(u1);
	th_upload_destroy(u2);
	th_upload_destroy(u3);
	teardown();
}

TEST(a_usage_report_of_odd_length_is_a_protocol_error)
{
	struct pixcache_batch_v1 *batch;
	struct wl_array array;

	setup();
	batch = th_batch(a);
	wl_array_init(&array);
	wl_array_add(&array, 12);
	pixcache_batch_v1_used(batch, &array);
	wl_array_release(&array);
	th_expect_protocol_error(a, &pixcache_batch_v1_interface,
		th_id(batch), PIXCACHE_BATCH_V1_ERROR_BAD_USAGE);
	th_batch_destroy(batch);
	assert(th_roundtrip(b));
	teardown();
}

TEST(unknown_upload_flags_are_a_protocol_error)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;

	setup();
	batch = th_batch(a);
	up = th_upload(a, batch, ra, "x", 8, 8, ARGB, 0x80);
	th_expect_protocol_error(a, &pixcache_batch_v1_interface,
		th_id(batch), PIXCACHE_BATCH_V1_ERROR_BAD_FLAGS);
	th_upload_destroy(up);
	th_batch_destroy(batch);
	teardown();
}

TEST(a_destroyed_pool_is_sent_again_when_needed)
{
	struct th_upload *u1, *u2;
	struct th_pixmap *p1, *p2;
	struct th_pool *pool;

	setup();
	u1 = th_put(a, ra, "one", 16, 16, 1);
	u2 = th_put(a, ra, "two", 16, 16, 2);
	p1 = th_lookup_now(b, rb, "one");
	assert(p1->pool_fd >= 0);
	th_pixmap_destroy(p1);
	/* b forgets the pool. */
	pool = b->pools;
	b->pools = pool->next;
	close(pool->fd);
	pixcache_pool_v1_destroy(pool->proxy);
	free(pool);
	p2 = th_lookup_now(b, rb, "two");
	assert(p2->pool_fd >= 0 && th_pixmap_has_pattern(p2, 2));
	th_pixmap_destroy(p2);
	th_upload_destroy(u1);
	th_upload_destroy(u2);
	teardown();
}

TEST(an_emptied_pool_is_retired)
{
	struct th_upload *fill, *first;
	struct th_pixmap *pm;
	char name[16];
	int i;

	setup();
	/* Fill the first pool (64 KiB) with 4 KiB pixmaps, then one more. */
	for (i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		fill = th_put(a, ra, name, 32, 32, (uint32_t)i);
		assert(fill->stored);
		th_upload_destroy(fill);
	}
	first = th_put(a, ra, "second-pool", 32, 32, 99);
	pm = th_lookup_now(b, rb, "second-pool");
	assert(pm->pool_fd >= 0 && b->pools != NULL);
	th_pixmap_destroy(pm);
	/* Empty the second pool: b is told its pool is retired. */
	assert(pixcache_manager_remove(server->manager, "default",
		"second-pool") == 0);
	th_roundtrip(b);
	assert(b->pools->retired);
	th_upload_destroy(first);
	teardown();
}

TEST(a_destroyed_manager_leaves_clients_with_inert_objects)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *up, *pending;
	struct th_pixmap *pm;

	setup();
	up = th_put(a, ra, "x", 16, 16, 1);
	pm = th_lookup_now(b, rb, "x");
	batch = th_batch(a);
	pending = th_upload(a, batch, ra, "y", 8, 8, ARGB, 0);
	th_commit(a, batch);
	pixcache_manager_destroy(server->manager);
	server->manager = NULL;
	/* Every request on the old objects is ignored; nobody dies. */
	pixcache_upload_v1_commit(pending->proxy);
	pixcache_batch_v1_commit(batch, 5);
	th_ack(a, 1);
	assert(th_roundtrip(a) && th_roundtrip(b));
	/* The lease's bytes stay readable: the client maps its own fd. */
	assert(th_pixmap_has_pattern(pm, 1));
	th_pixmap_destroy(pm);
	th_upload_destroy(up);
	th_upload_destroy(pending);
	th_batch_destroy(batch);
	th_realm_destroy(ra);
	th_realm_destroy(rb);
	th_client_disconnect(a);
	th_client_disconnect(b);
	th_server_destroy(server);
}

TEST(listing_a_realm_names_every_entry)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *u1, *u2, *u3;
	struct th_batch_state *state;
	struct th_realm *other;

	setup();
	u1 = th_put(a, ra, "one", 8, 8, 1);
	u2 = th_put(a, ra, "two", 8, 8, 2);
	u3 = th_put(a, ra, NULL, 8, 8, 3);
	batch = th_batch(b);
	pixcache_batch_v1_list(batch, rb->proxy, 0);
	th_commit(b, batch);
	state = th_batch_state(batch);
	assert(state->entries == 3);
	assert(state->listed == 1 && state->next == 0);
	/* An unreadable realm lists nothing. */
	other = th_realm_get(b, "elsewhere");
	pixcache_batch_v1_list(batch, other->proxy, 0);
	state->entries = 0;
	th_commit(b, batch);
	assert(state->entries == 0);
	assert(state->listed == 2 && state->next == 0);
	th_realm_destroy(other);
	th_batch_destroy(batch);
	th_upload_destroy(u1);
	th_upload_destroy(u2);
	th_upload_destroy(u3);
	teardown();
}

/* 128 entries a request at most: a long listing comes a page at a time. */
TEST(a_long_listing_comes_in_pages)
{
	struct th_upload *up[200];
	struct pixcache_batch_v1 *batch;
	struct th_batch_state *state;
	uint32_t from = 0;
	int pages = 0;
	char name[16];

	setup();
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		up[i] = th_put(a, ra, name, 1, 1, (uint32_t)i);
		assert(up[i]->stored);
	}
	batch = th_batch(b);
	state = th_batch_state(batch);
	do {
		int before = state->entries;

		pixcache_batch_v1_list(batch, rb->proxy, from);
		th_commit(b, batch);
		assert(state->listed == ++pages);
		assert(state->entries - before ==
			(state->next != 0 ? 128 : 200 - 128));
		assert(state->next == 0 || state->next > from);
		from = state->next;
	} while (from != 0);
	assert(pages == 2 && state->entries == 200);
	/* Past the last slot: nothing, and the end. */
	pixcache_batch_v1_list(batch, rb->proxy, 1u << 30);
	th_commit(b, batch);
	assert(state->entries == 200 && state->next == 0);
	th_batch_destroy(batch);
	for (int i = 0; i < 200; i++) {
		th_upload_destroy(up[i]);
	}
	teardown();
}

TEST(statistics_come_before_done)
{
	struct pixcache_batch_v1 *batch;
	struct th_batch_state *state;
	struct th_upload *up;

	setup();
	up = th_put(a, ra, "one", 8, 8, 1);
	batch = th_batch(b);
	pixcache_batch_v1_get_stats(batch);
	th_commit(b, batch);
	state = th_batch_state(batch);
	assert(state->got_stats);
	assert(state->stats[0] == 1 && state->stats[1] == 1);
	assert(state->stats[2] == 2);
	assert(state->stats[4] == 64 * 8);
	assert(((uint64_t)state->stats[7] << 32 | state->stats[8]) == 1 << 20);
	th_batch_destroy(batch);
	th_upload_destroy(up);
	teardown();
}

TEST(only_the_owner_removes_a_name)
{
	struct th_upload *up;
	struct th_pixmap *held;

	setup();
	up = th_put(a, ra, "mine", 8, 8, 1);
	held = th_lookup_now(b, rb, "mine");
	assert(th_remove(b, rb, "mine") == -PIXCACHE_BATCH_V1_FAILURE_POLICY);
	assert(th_remove(a, ra, "mine") == 1);
	assert(th_remove(a, ra, "mine") == 0);
	assert(th_remove(a, ra, "\xff") == -PIXCACHE_BATCH_V1_FAILURE_NAME);
	th_roundtrip(b);
	assert(held->evicted && th_pixmap_has_pattern(held, 1));
	th_pixmap_destroy(held);
	th_upload_destroy(up);
	teardown();
}
