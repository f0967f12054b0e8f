/*
 * Finds and staged uploads over the protocol: many names answered by
 * records of found with numbered leases, their release, and many uploads
 * from one buffer. Each test one behaviour; each ends with no lease,
 * claim or upload left in the manager.
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "server-harness.h"
#include "test-runner.h"

#define ARGB DRM_FORMAT_ARGB8888

enum { NUMBER, STATUS, LEASE, SLOT, GENERATION, TAG_HI, TAG_LO, POOL,
	OFFSET, WIDTH, HEIGHT, STRIDE, FORMAT };

static struct th_server *server;
static struct th_client *a, *b;
static struct th_realm *ra, *rb;

static void
setup_with(const struct pixcache_config *config)
{
	server = th_server_create(config, NULL);
	a = th_client_connect(server);
	b = th_client_connect(server);
	ra = th_realm_get(a, "default");
	rb = th_realm_get(b, "default");
}

static void
setup(void)
{
	setup_with(NULL);
}

static void
teardown(void)
{
	struct pixcache_stats stats;

	th_realm_destroy(ra);
	th_realm_destroy(rb);
	th_client_disconnect(a);
	th_client_disconnect(b);
	stats = th_server_stats(server);
	assert(stats.clients == 0 && stats.leases == 0 &&
		stats.uploads == 0 && stats.claims == 0 &&
		stats.found_leases == 0);
	th_server_destroy(server);
}

TEST(a_find_answers_every_name_in_one_event)
{
	const char *names[] = { "one", "two", "three" };
	struct pixcache_batch_v1 *batch;
	struct th_upload *u1, *u3;
	const uint32_t *r1, *r2, *r3;

	setup();
	u1 = th_put(b, rb, "one", 8, 8, 1);
	u3 = th_put(b, rb, "three", 16, 4, 3);
	batch = th_batch(a);
	th_find(batch, ra, 100, names, 3);
	th_commit(a, batch);
	assert(th_batch_state(batch)->found_events == 1);
	r1 = th_record(batch, 100);
	r2 = th_record(batch, 101);
	r3 = th_record(batch, 102);
	assert(r1 && r2 && r3);
	assert(r1[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_FOUND &&
		r1[LEASE] != 0 && r1[SLOT] == u1->key[2] &&
		r1[GENERATION] == u1->key[3] && r1[TAG_HI] == u1->key[4] &&
		r1[TAG_LO] == u1->key[5] && r1[WIDTH] == 8 &&
		r1[HEIGHT] == 8 && r1[FORMAT] == ARGB);
	/* The pool was announced first, under the record's number. */
	assert(a->pools != NULL && a->pools->number == r1[POOL]);
	assert(r2[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_CLAIMED &&
		r2[LEASE] != 0 && r2[LEASE] != r1[LEASE]);
	assert(r3[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_FOUND &&
		r3[WIDTH] == 16 && r3[HEIGHT] == 4);
	assert(th_server_stats(server).found_leases == 3 && th_server_stats(server).leases == 2);
	th_release(batch, r1[LEASE]);
	th_release(batch, r2[LEASE]);
	th_release(batch, r3[LEASE]);
	th_commit(a, batch);
	assert(th_server_stats(server).found_leases == 0 && th_server_stats(server).claims == 0);
	th_batch_destroy(batch);
	th_upload_destroy(u1);
	th_upload_destroy(u3);
	teardown();
}

TEST(a_found_pixmap_reads_what_was_stored)
{
	const char *names[] = { "one" };
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	const uint32_t *r;
	const uint8_t *map;

	setup();
	up = th_put(b, rb, "one", 8, 8, 9);
	batch = th_batch(a);
	th_find(batch, ra, 1, names, 1);
	th_commit(a, batch);
	r = th_record(batch, 1);
	assert(r && r[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_FOUND);
	map = mmap(NULL, a->pools->size, PROT_READ, MAP_PRIVATE,
		a->pools->fd, 0);
	assert(map != MAP_FAILED);
	assert(th_pattern_is(map + r[OFFSET], (size_t)r[STRIDE] * 8, 9));
	munmap((void *)map, a->pools->size);
	th_batch_destroy(batch);
	th_upload_destroy(up);
	teardown();
}

TEST(a_pending_find_is_answered_by_a_later_record)
{
	const char *names[] = { "icon" };
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *claim;
	struct th_upload *up;
	const uint32_t *r;
	uint32_t lease;

	setup();
	claim = th_lookup_now(b, rb, "icon");
	assert(claim->claimed);
	batch = th_batch(a);
	th_find(batch, ra, 7, names, 1);
	th_commit(a, batch);
	r = th_record(batch, 7);
	assert(r && r[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_PENDING);
	lease = r[LEASE];
	up = th_put(b, rb, "icon", 8, 8, 2);
	assert(up->stored);
	th_roundtrip(a);
	r = th_record(batch, 7);
	assert(r[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_FOUND &&
		r[LEASE] == lease && r[SLOT] == up->key[2]);
	th_pixmap_destroy(claim);
	th_batch_destroy(batch);
	th_upload_destroy(up);
	teardown();
}

TEST(destroying_the_batch_releases_its_leases)
{
	const char *names[] = { "one", "two" };
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;

	setup();
	up = th_put(b, rb, "one", 8, 8, 1);
	batch = th_batch(a);
	th_find(batch, ra, 1, names, 2);
	th_commit(a, batch);
	assert(th_server_stats(server).found_leases == 2 && th_server_stats(server).claims == 1);
	th_batch_destroy(batch);
	th_roundtrip(a);
	assert(th_server_stats(server).found_leases == 0 && th_server_stats(server).claims == 0 &&
		th_server_stats(server).leases == 0);
	th_upload_destroy(up);
	teardown();
}

TEST(an_eviction_shows_in_the_table_of_a_found_lease)
{
	const char *names[] = { "one" };
	const volatile uint32_t *table;
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	const uint32_t *r;

	setup();
	up = th_put(b, rb, "one", 8, 8, 1);
	batch = th_batch(a);
	th_find(batch, ra, 1, names, 1);
	th_commit(a, batch);
	r = th_record(batch, 1);
	assert(r && r[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_FOUND);
	table = mmap(NULL, ra->capacity * sizeof(*table), PROT_READ,
		MAP_PRIVATE, ra->table_fd, 0);
	assert(table != MAP_FAILED);
	assert(table[r[SLOT] % ra->capacity] == r[GENERATION]);
	assert(th_remove(b, rb, "one") == 1);
	th_server_dispatch(server);
	th_roundtrip(a);
	/* The lease holds the bytes; the table says the key is stale. */
	assert(table[r[SLOT] % ra->capacity] != r[GENERATION]);
	munmap((void *)table, ra->capacity * sizeof(*table));
	assert(th_server_stats(server).leases == 1);
	th_release(batch, r[LEASE]);
	th_commit(a, batch);
	assert(th_server_stats(server).leases == 0);
	th_batch_destroy(batch);
	th_upload_destroy(up);
	teardown();
}

static uint32_t
no_table(void *data, struct wl_client *client, const char *realm)
{
	return PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_WRITE;
}

TEST(without_the_table_a_find_says_lookup)
{
	static const struct pixcache_policy policy = {
		.realm_access = no_table,
	};
	const char *names[] = { "one" };
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	const uint32_t *r;

	server = th_server_create(NULL, &policy);
	a = th_client_connect(server);
	b = th_client_connect(server);
	ra = th_realm_get(a, "default");
	rb = th_realm_get(b, "default");
	up = th_put(b, rb, "one", 8, 8, 1);
	batch = th_batch(a);
	th_find(batch, ra, 1, names, 1);
	th_commit(a, batch);
	r = th_record(batch, 1);
	/* Its client would never learn of the eviction: an object tells. */
	assert(r && r[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_LOOKUP &&
		r[LEASE] == 0);
	assert(th_server_stats(server).leases == 0);
	th_batch_destroy(batch);
	th_upload_destroy(up);
	teardown();
}

TEST(releasing_a_lease_not_held_is_a_protocol_error)
{
	struct pixcache_batch_v1 *batch;

	setup();
	batch = th_batch(a);
	th_release(batch, 42);
	th_expect_protocol_error(a, &pixcache_batch_v1_interface,
		th_id(batch), PIXCACHE_BATCH_V1_ERROR_BAD_LEASE);
	th_batch_destroy(batch);
	teardown();
}

TEST(releasing_a_lease_twice_is_a_protocol_error)
{
	const char *names[] = { "one" };
	struct pixcache_batch_v1 *batch;
	const uint32_t *r;

	setup();
	batch = th_batch(a);
	th_find(batch, ra, 1, names, 1);
	th_commit(a, batch);
	r = th_record(batch, 1);
	assert(r && r[LEASE] != 0);
	th_release(batch, r[LEASE]);
	th_release(batch, r[LEASE]);
	th_expect_protocol_error(a, &pixcache_batch_v1_interface,
		th_id(batch), PIXCACHE_BATCH_V1_ERROR_BAD_LEASE);
	th_batch_destroy(batch);
	teardown();
}

/* Sends a find whose names array is the len bytes of raw: a dies of
 * bad_names on the batch. */
static void
find_raw_is_bad_names(const void *raw, size_t len)
{
	struct pixcache_batch_v1 *batch = th_batch(a);
	struct wl_array array;

	wl_array_init(&array);
	if (len > 0) {
		memcpy(wl_array_add(&array, len), raw, len);
	}
	pixcache_batch_v1_find(batch, ra->proxy, 0, &array);
	wl_array_release(&array);
	th_expect_protocol_error(a, &pixcache_batch_v1_interface,
		th_id(batch), PIXCACHE_BATCH_V1_ERROR_BAD_NAMES);
	th_batch_destroy(batch);
}

TEST(malformed_names_of_a_find_are_a_protocol_error)
{
	static const struct {
		const char *bytes;
		size_t len;
	} cases[] = {
		{ "abc", 3 },		/* no NUL at the end */
		{ "a\0\0b\0", 5 },	/* an empty name */
		{ "", 0 },		/* no name at all */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup();
		find_raw_is_bad_names(cases[i].bytes, cases[i].len);
		teardown();
	}
}

TEST(more_than_64_names_in_a_find_is_a_protocol_error)
{
	char raw[65 * 2];

	for (int i = 0; i < 65; i++) {
		raw[2 * i] = 'a';
		raw[2 * i + 1] = '\0';
	}
	setup();
	find_raw_is_bad_names(raw, sizeof(raw));
	teardown();
}

TEST(a_large_pixmap_is_found_as_lookup)
{
	const char *names[] = { "big" };
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	const uint32_t *r;

	setup();
	up = th_put(b, rb, "big", 300, 300, 1);
	assert(up->stored);
	batch = th_batch(a);
	th_find(batch, ra, 1, names, 1);
	th_commit(a, batch);
	r = th_record(batch, 1);
	assert(r && r[STATUS] == PIXCACHE_BATCH_V1_FOUND_STATUS_LOOKUP &&
		r[LEASE] == 0);
	assert(th_server_stats(server).leases == 0);
	th_batch_destroy(batch);
	th_upload_destroy(up);
	teardown();
}

/* A memfd of size bytes sealed with seals: pixmap k, 8x8 ARGB (stride
 * 64), at k * 512, filled as an upload of seed k is. */
static int
staging_fd(uint32_t size, int pixmaps, int seals)
{
	int fd = memfd_create("test-staging", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint8_t *map;

	assert(fd >= 0 && ftruncate(fd, size) == 0);
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert(map != MAP_FAILED);
	for (int k = 0; k < pixmaps; k++) {
		th_pattern_fill(map + k * 512, 512, (uint32_t)k);
	}
	munmap(map, size);
	assert(fcntl(fd, F_ADD_SEALS, seals) == 0);
	return fd;
}

TEST(staged_uploads_are_stored_from_one_buffer)
{
	const char *names[] = { "s0", "s1", "s2" };
	struct pixcache_batch_v1 *batch = NULL;
	struct pixcache_staging_v1 *staging;
	struct th_upload *ups[3];
	int fd;

	setup();
	batch = th_batch(a);
	fd = staging_fd(3 * 512, 3, F_SEAL_WRITE | F_SEAL_SHRINK |
		F_SEAL_GROW);
	staging = pixcache_batch_v1_stage(batch, fd, 3 * 512);
	close(fd);
	for (int k = 0; k < 3; k++) {
		ups[k] = th_upload_staged(a, staging, ra, names[k], 8, 8,
			ARGB, (uint32_t)k * 512);
	}
	pixcache_staging_v1_destroy(staging);
	th_commit(a, batch);
	for (int k = 0; k < 3; k++) {
		struct th_pixmap *pm;

		assert(ups[k]->stored && ups[k]->fd < 0);
		pm = th_lookup_now(b, rb, names[k]);
		assert(pm->buffer && th_pixmap_has_pattern(pm, (uint32_t)k));
		th_pixmap_destroy(pm);
		th_upload_destroy(ups[k]);
	}
	th_batch_destroy(batch);
	assert(th_server_stats(server).uploads == 0);
	teardown();
}

TEST(a_staging_buffer_without_its_seals_is_a_protocol_error)
{
	struct pixcache_staging_v1 *staging;
	struct pixcache_batch_v1 *batch;
	int fd;

	setup();
	batch = th_batch(a);
	fd = staging_fd(512, 1, F_SEAL_SHRINK | F_SEAL_GROW);
	staging = pixcache_batch_v1_stage(batch, fd, 512);
	close(fd);
	th_expect_protocol_error(a, &pixcache_batch_v1_interface,
		th_id(batch), PIXCACHE_BATCH_V1_ERROR_BAD_STAGE);
	pixcache_staging_v1_destroy(staging);
	th_batch_destroy(batch);
	teardown();
}

TEST(a_staged_pixmap_beyond_the_buffer_is_a_protocol_error)
{
	struct pixcache_staging_v1 *staging;
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	int fd;

	setup();
	batch = th_batch(a);
	fd = staging_fd(512, 1, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);
	staging = pixcache_batch_v1_stage(batch, fd, 512);
	close(fd);
	/* 8 rows of 64 bytes from 64: 64 bytes past the end. */
	up = th_upload_staged(a, staging, ra, "s", 8, 8, ARGB, 64);
	th_expect_protocol_error(a, &pixcache_staging_v1_interface,
		th_id(staging), PIXCACHE_STAGING_V1_ERROR_BAD_OFFSET);
	th_upload_destroy(up);
	pixcache_staging_v1_destroy(staging);
	th_batch_destroy(batch);
	teardown();
}

/* A hostile client's sparse buffer: the manager must not fault its holes
 * in (a reviewer found it did, allocating the whole buffer). */
TEST(staging_a_sparse_buffer_allocates_none_of_its_holes)
{
	struct pixcache_staging_v1 *staging;
	struct pixcache_batch_v1 *batch;
	uint32_t size = 16u << 20;
	struct stat st;
	int fd;

	setup();
	batch = th_batch(a);
	fd = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert(fd >= 0 && ftruncate(fd, size) == 0);
	assert(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
		F_SEAL_GROW) == 0);
	assert(fstat(fd, &st) == 0 && st.st_blocks == 0);
	staging = pixcache_batch_v1_stage(batch, fd, size);
	th_commit(a, batch);
	pixcache_staging_v1_destroy(staging);
	th_commit(a, batch);
	assert(fstat(fd, &st) == 0 && st.st_blocks == 0);
	close(fd);
	th_batch_destroy(batch);
	teardown();
}

/* Bytes the process's allocator has handed out (the manager runs here). */
#ifdef __SANITIZE_ADDRESS__
size_t __sanitizer_get_current_allocated_bytes(void);
#endif
static size_t
allocated_bytes(void)
{
#ifdef __SANITIZE_ADDRESS__
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

/* A batch that only counts its records: thousands come. */
static void
quiet_entry(void *data, struct pixcache_batch_v1 *batch, const char *name,
	uint32_t width, uint32_t height, uint32_t format, uint32_t ih,
	uint32_t il, uint32_t slot, uint32_t gen, uint32_t th, uint32_t tl)
{
}

static void
quiet_stats(void *data, struct pixcache_batch_v1 *batch, uint32_t a0,
	uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5,
	uint32_t a6, uint32_t a7, uint32_t a8, uint32_t a9, uint32_t a10,
	uint32_t a11, uint32_t a12, uint32_t a13, uint32_t a14)
{
}

static void
quiet_done(void *data, struct pixcache_batch_v1 *batch, uint32_t serial,
	uint32_t token_hi, uint32_t token_lo)
{
}

static void
quiet_listed(void *data, struct pixcache_batch_v1 *batch, uint32_t next)
{
}

static void
quiet_found(void *data, struct pixcache_batch_v1 *batch,
	struct wl_array *records)
{
	*(size_t *)data += records->size / (13 * sizeof(uint32_t));
}

static const struct pixcache_batch_v1_listener quiet_listener = {
	.entry = quiet_entry,
	.stats = quiet_stats,
	.done = quiet_done,
	.listed = quiet_listed,
	.found = quiet_found,
};

/* finds of name, numbered from first, in finds of 64. */
static void
find_many_of(struct pixcache_batch_v1 *batch, struct th_realm *realm,
	uint32_t first, const char *name, uint32_t n)
{
	const char *names[64];

	for (int i = 0; i < 64; i++) {
		names[i] = name;
	}
	for (uint32_t j = 0; j < n; j += 64) {
		th_find(batch, realm, first + j, names,
			(int)(n - j < 64 ? n - j : 64));
		if (j % 512 == 448) {
			th_roundtrip(a);
		}
	}
}

static void
release_range(struct pixcache_batch_v1 *batch, uint32_t from, uint32_t to)
{
	while (from <= to) {
		struct wl_array array;

		wl_array_init(&array);
		for (int i = 0; i < 1000 && from <= to; i++, from++) {
			*(uint32_t *)wl_array_add(&array, sizeof(uint32_t)) =
				from;
		}
		pixcache_batch_v1_release(batch, &array);
		wl_array_release(&array);
	}
}

/*
 * Batches that once held many leases keep no room for them: a reviewer
 * made 40 batches each wait on 8,192 leases and release them, and the
 * manager kept 98,630 bytes a batch that no limit counted.
 */
TEST(released_lease_numbers_give_their_room_back)
{
	struct pixcache_batch_v1 *batches[8];
	size_t records[8] = { 0 };
	struct pixcache_config config;
	struct th_pixmap *claim;
	size_t before, after;
	uint32_t per;

	th_config(&config);
	config.max_leases = 4096;
	setup_with(&config);
	per = 2 * config.max_leases;
	claim = th_lookup_now(b, rb, "x");
	assert(claim->claimed);
	before = allocated_bytes();
	for (int k = 0; k < 8; k++) {
		batches[k] = pixcache_manager_v1_create_batch(a->manager);
		pixcache_batch_v1_add_listener(batches[k], &quiet_listener,
			&records[k]);
		find_many_of(batches[k], ra, 1, "x", per);
		pixcache_batch_v1_commit(batches[k], 1);
		assert(th_roundtrip(a));
		assert(th_server_stats(server).found_leases == per && records[k] == per);
		release_range(batches[k], 1, per);
		assert(th_roundtrip(a));
		assert(th_server_stats(server).found_leases == 0);
	}
	after = allocated_bytes();
	/* The batches and the harness's state of each (~17 KiB), not the
	 * manager's ~96 KiB of numbers a batch at its peak. */
	assert(after - before < 8 * 32768);
	for (int k = 0; k < 8; k++) {
		pixcache_batch_v1_destroy(batches[k]);
	}
	th_pixmap_destroy(claim);
	teardown();
}

/* A batch's room for numbers is charged to its connection: batches that
 * each keep one lease of a large peak cannot hold room past the limit. */
TEST(room_for_lease_numbers_is_charged_to_the_connection)
{
	struct pixcache_batch_v1 *batches[3];
	size_t records[3] = { 0 };
	struct pixcache_config config;
	struct th_pixmap *claim;
	uint32_t per;

	th_config(&config);
	config.max_leases = 256;
	setup_with(&config);
	per = 2 * config.max_leases;
	claim = th_lookup_now(b, rb, "x");
	for (int k = 0; k < 2; k++) {
		batches[k] = pixcache_manager_v1_create_batch(a->manager);
		pixcache_batch_v1_add_listener(batches[k], &quiet_listener,
			&records[k]);
		/* The connection's share of leases of finds, over both. */
		find_many_of(batches[k], ra, 1, "x", per - (uint32_t)k);
		pixcache_batch_v1_commit(batches[k], 1);
		assert(th_roundtrip(a));
		/* All but the first released: the room stays with it. */
		release_range(batches[k], 2, per - (uint32_t)k);
		assert(th_roundtrip(a));
	}
	assert(th_server_stats(server).found_leases == 2);
	batches[2] = th_batch(a);
	find_many_of(batches[2], ra, 1, "x", 1);
	th_commit(a, batches[2]);
	assert(th_record(batches[2], 1)[1] ==
		PIXCACHE_BATCH_V1_FOUND_STATUS_FAILED &&
		th_record(batches[2], 1)[2] == PIXCACHE_BATCH_V1_FAILURE_LEASES);
	/* Its last lease gone, a batch gives its room back. */
	release_range(batches[0], 1, 1);
	th_find(batches[2], ra, 2, (const char *[]){ "x" }, 1);
	th_commit(a, batches[2]);
	assert(th_record(batches[2], 2)[1] ==
		PIXCACHE_BATCH_V1_FOUND_STATUS_PENDING);
	for (int k = 0; k < 2; k++) {
		pixcache_batch_v1_destroy(batches[k]);
	}
	th_batch_destroy(batches[2]);
	th_pixmap_destroy(claim);
	teardown();
}
