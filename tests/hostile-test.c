/*
 * Hostile clients. Each test asserts the exact protocol error or failure
 * event, that another client is served meanwhile, and that the manager's
 * file descriptors and objects return to where they were.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "manager-private.h"
#include "server-harness.h"
#include "test-runner.h"

#define ARGB DRM_FORMAT_ARGB8888

/*
 * The seal that probes whether an fd's seals are sealed: one every kernel
 * knows (F_SEAL_EXEC, 6.3, is EINVAL on Debian 12's 6.1 whatever the fd),
 * so adding it fails EPERM only because of F_SEAL_SEAL.
 */
#define PROBE_SEAL F_SEAL_GROW

static struct th_server *server;
static struct th_client *bad, *good;
static struct th_realm *rbad, *rgood;
static struct th_fds fds_at_start;

static void
setup_with(const struct pixcache_config *config,
	const struct pixcache_policy *policy)
{
	server = th_server_create(config, policy);
	good = th_client_connect(server);
	rgood = th_realm_get(good, "default");
	fds_at_start = th_fds_now(server, good);
	bad = th_client_connect(server);
	rbad = th_realm_get(bad, "default");
}

static void
setup(void)
{
	setup_with(NULL, NULL);
}

/* The good client still gets a pixmap through, fds and all. */
static void
assert_good_client_served(void)
{
	static uint32_t seed = 100;
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	struct th_pixmap *pm;
	char name[32];

	snprintf(name, sizeof(name), "good-%u", ++seed);
	up = th_put(good, rgood, name, 300, 300, seed);
	assert(up->stored);
	batch = th_batch(good);
	pm = th_lookup(good, batch, rgood, name);
	th_commit(good, batch);
	assert(pm->buffer && pm->fd >= 0 && th_pixmap_has_pattern(pm, seed));
	th_pixmap_destroy(pm);
	th_upload_destroy(up);
	th_batch_destroy(batch);
	assert(th_roundtrip(good));
}

/*
 * Disconnects the bad client: its objects and fds are all gone. What stays
 * is exactly what the manager reports holding for the cache (pools, own
 * buffers) and the pools the good client keeps mapped.
 */
/*
 * Memory back to its start: nothing the manager made on a client's behalf
 * is left but the good client's connection and session (targets, their
 * bytes, copies for other realms, held-only bytes, connections).
 */
static void
assert_nothing_held_for_clients(void)
{
	struct pixcache_manager *m = server->manager;
	struct pixcache_stats stats;

	pixcache_manager_get_stats(m, &stats);
	assert(stats.sessions == 1 && stats.copy_bytes == 0);
	assert(stats.held_only_bytes == 0);
	assert(m->uploads == 0 && m->upload_bytes == 0 && m->copies == 0);
	assert(wl_list_length(&m->connections) == 1);
}

static void
assert_bad_client_cleaned(void)
{
	struct pixcache_stats stats;

	assert(th_roundtrip(good));
	if (rbad != NULL) {
		th_realm_destroy(rbad);
		rbad = NULL;
	}
	th_client_disconnect(bad);
	bad = NULL;
	pixcache_manager_get_stats(server->manager, &stats);
	assert(stats.clients == 1);
	assert(stats.uploads == 0 && stats.leases == 0);
	th_assert_fds(&fds_at_start, server, good);
	assert_nothing_held_for_clients();
}

static void
teardown(void)
{
	if (bad != NULL) {
		assert_bad_client_cleaned();
	}
	th_realm_destroy(rgood);
	th_client_disconnect(good);
	th_server_destroy(server);
}

static struct th_upload *
start_upload(struct th_client *c, struct th_realm *r, const char *name,
	uint32_t width, uint32_t height, uint32_t format)
{
	struct pixcache_batch_v1 *batch = th_batch(c);
	struct th_upload *up = th_upload(c, batch, r, name, width, height,
		format, 0);

	th_commit(c, batch);
	th_batch_destroy(batch);
	return up;
}

static void
expect_failure(uint32_t width, uint32_t height, uint32_t format,
	const char *name, uint32_t reason)
{
	struct th_upload *up = start_upload(bad, rbad, name, width, height,
		format);

	if (up->failed != reason) {
		test_fail("%ux%u format %#x name %.20s: failed %u, want %u",
			width, height, format, name ? name : "(null)",
			up->failed, reason);
	}
	assert(up->fd < 0 && !up->stored);
	th_upload_destroy(up);
}

/* Commits: the bad client dies of the upload's error code, on it. */
static void
commit_dies_of(struct th_upload *up, uint32_t code)
{
	pixcache_upload_v1_commit(up->proxy);
	th_expect_protocol_error(bad, &pixcache_upload_v1_interface,
		th_id(up->proxy), code);
}

TEST(bad_sizes_fail_with_size)
{
	setup();
	expect_failure(0, 16, ARGB, "a", PIXCACHE_BATCH_V1_FAILURE_SIZE);
	expect_failure(16, 0, ARGB, "a", PIXCACHE_BATCH_V1_FAILURE_SIZE);
	expect_failure(513, 16, ARGB, "a", PIXCACHE_BATCH_V1_FAILURE_SIZE);
	expect_failure(16, 513, ARGB, "a", PIXCACHE_BATCH_V1_FAILURE_SIZE);
	expect_failure(UINT32_MAX, UINT32_MAX, ARGB, "a",
		PIXCACHE_BATCH_V1_FAILURE_SIZE);
	/* Within width and height, beyond max_bytes. */
	expect_failure(512, 512, ARGB, "a", PIXCACHE_BATCH_V1_FAILURE_SIZE);
	assert_good_client_served();
	teardown();
}

TEST(overflowing_products_fail_with_size)
{
	struct pixcache_config config;

	th_config(&config);
	config.max_width = UINT32_MAX;
	config.max_height = UINT32_MAX;
	config.max_bytes = UINT32_MAX;
	setup_with(&config, NULL);
	/* 2^30 pixels of 4 bytes: the stride alone overflows 32 bits. */
	expect_failure(1u << 30, 1, ARGB, "a", PIXCACHE_BATCH_V1_FAILURE_SIZE);
	/* stride * height overflows. */
	expect_failure(65536, 65536, ARGB, "a",
		PIXCACHE_BATCH_V1_FAILURE_SIZE);
	expect_failure(UINT32_MAX, 2, DRM_FORMAT_R8, "a",
		PIXCACHE_BATCH_V1_FAILURE_SIZE);
	assert_good_client_served();
	teardown();
}

TEST(an_unknown_format_fails_with_format)
{
	setup();
	expect_failure(16, 16, DRM_FORMAT_NV12, "a",
		PIXCACHE_BATCH_V1_FAILURE_FORMAT);
	expect_failure(16, 16, 0, "a", PIXCACHE_BATCH_V1_FAILURE_FORMAT);
	assert_good_client_served();
	teardown();
}

TEST(bad_names_fail_with_name_not_disconnection)
{
	char too_long[257];

	memset(too_long, 'n', 256);
	too_long[256] = '\0';
	setup();
	expect_failure(16, 16, ARGB, too_long, PIXCACHE_BATCH_V1_FAILURE_NAME);
	expect_failure(16, 16, ARGB, "\xc0\xaf", PIXCACHE_BATCH_V1_FAILURE_NAME);
	expect_failure(16, 16, ARGB, "\xed\xa0\x80",
		PIXCACHE_BATCH_V1_FAILURE_NAME);
	expect_failure(16, 16, ARGB, "", PIXCACHE_BATCH_V1_FAILURE_NAME);
	assert(th_roundtrip(bad));
	assert_good_client_served();
	teardown();
}

TEST(commit_without_a_write_seal_is_not_sealed)
{
	struct th_upload *up;

	setup();
	up = start_upload(bad, rbad, "x", 16, 16, ARGB);
	assert(up->fd >= 0);
	commit_dies_of(up, PIXCACHE_UPLOAD_V1_ERROR_NOT_SEALED);
	th_upload_destroy(up);
	assert_bad_client_cleaned();
	assert_good_client_served();
	teardown();
}

TEST(commit_with_future_write_only_is_not_sealed)
{
	struct th_upload *up;

	setup();
	up = start_upload(bad, rbad, "x", 16, 16, ARGB);
	assert(fcntl(up->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0);
	commit_dies_of(up, PIXCACHE_UPLOAD_V1_ERROR_NOT_SEALED);
	th_upload_destroy(up);
	assert_bad_client_cleaned();
	assert_good_client_served();
	teardown();
}

TEST(the_target_cannot_be_truncated_or_grown)
{
	struct th_upload *up;
	struct stat st;

	setup();
	up = start_upload(bad, rbad, "x", 16, 16, ARGB);
	assert(ftruncate(up->fd, 0) < 0 && errno == EPERM);
	assert(ftruncate(up->fd, up->size * 2) < 0 && errno == EPERM);
	assert(fallocate(up->fd, 0, 0, up->size * 2) < 0);
	assert(fstat(up->fd, &st) == 0 && st.st_size == up->size);
	th_upload_fill(up, 1);
	pixcache_upload_v1_commit(up->proxy);
	assert(th_roundtrip(bad) && up->stored);
	th_upload_destroy(up);
	assert_good_client_served();
	teardown();
}

TEST(sealing_the_seals_first_leaves_it_not_sealed)
{
	struct th_upload *up;

	setup();
	up = start_upload(bad, rbad, "x", 16, 16, ARGB);
	assert(fcntl(up->fd, F_ADD_SEALS, F_SEAL_SEAL) == 0);
	assert(fcntl(up->fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EPERM);
	commit_dies_of(up, PIXCACHE_UPLOAD_V1_ERROR_NOT_SEALED);
	th_upload_destroy(up);
	assert_bad_client_cleaned();
	assert_good_client_served();
	teardown();
}

TEST(a_target_the_client_sealed_for_good_is_stored)
{
	struct th_upload *up;

	setup();
	up = start_upload(bad, rbad, "x", 16, 16, ARGB);
	th_upload_fill(up, 1);
	/* Its own F_SEAL_SEAL after the write seal: valid, and final. */
	assert(fcntl(up->fd, F_ADD_SEALS, F_SEAL_SEAL) == 0);
	pixcache_upload_v1_commit(up->proxy);
	assert(th_roundtrip(bad) && up->stored && up->failed == 0);
	th_upload_destroy(up);
	assert_good_client_served();
	teardown();
}

/* A batch of an ended session is inert: nothing it is sent is an error. */
TEST(an_inert_batch_raises_no_error)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *up;
	struct wl_array odd;
	uint32_t word = 1;

	setup();
	batch = th_batch(bad);
	assert(th_roundtrip(bad));
	pixcache_manager_v1_destroy(bad->manager);
	bad->manager = NULL;
	assert(th_roundtrip(bad));
	wl_array_init(&odd);
	odd.data = &word;
	odd.size = odd.alloc = sizeof(word);
	pixcache_batch_v1_used(batch, &odd);
	up = th_upload(bad, batch, rbad, "x", 16, 16, ARGB, 0x80);
	pixcache_batch_v1_commit(batch, 1);
	assert(th_roundtrip(bad) && th_alive(bad));
	th_upload_destroy(up);
	th_batch_destroy(batch);
	assert_good_client_served();
	teardown();
}

/*
 * An upload that never commits holds its name only for upload_timeout_ms:
 * then it fails, the waiting lookup gets missing, another client stores
 * the name, and the late commit is ignored.
 */
TEST(an_upload_never_committed_times_out)
{
	struct pixcache_batch_v1 *batch;
	struct pixcache_config config;
	struct th_upload *slow, *up;
	struct th_pixmap *pm;

	th_config(&config);
	config.upload_timeout_ms = 100;
	setup_with(&config, NULL);
	slow = start_upload(bad, rbad, "slow", 16, 16, ARGB);
	assert(slow->fd >= 0 && slow->failed == 0);
	batch = th_batch(good);
	pm = th_lookup(good, batch, rgood, "slow");
	th_commit(good, batch);
	assert(pm->pending && !pm->claimed);
	for (int i = 0; i < 100 && !pm->claimed; i++) {
		usleep(10000);
		th_server_dispatch(server);
		th_roundtrip(good);
	}
	/* The claim passed to the waiter: its upload takes it over. */
	assert(pm->claimed && !pm->missing);
	assert(th_roundtrip(bad));
	assert(slow->failed == PIXCACHE_BATCH_V1_FAILURE_TIMEOUT);
	up = th_put(good, rgood, "slow", 16, 16, 5);
	assert(up->stored);
	/* Its commit crossed the failed event: ignored, no error. */
	th_upload_fill(slow, 1);
	pixcache_upload_v1_commit(slow->proxy);
	assert(th_roundtrip(bad) && th_alive(bad) && !slow->stored);
	th_upload_destroy(slow);
	th_upload_destroy(up);
	th_pixmap_destroy(pm);
	th_batch_destroy(batch);
	assert_good_client_served();
	teardown();
}

TEST(commit_while_mapped_writable_is_not_sealed)
{
	struct th_upload *up;
	void *map;

	setup();
	up = start_upload(bad, rbad, "x", 16, 16, ARGB);
	map = mmap(NULL, up->size, PROT_READ | PROT_WRITE, MAP_SHARED, up->fd,
		0);
	assert(map != MAP_FAILED);
	assert(fcntl(up->fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY);
	commit_dies_of(up, PIXCACHE_UPLOAD_V1_ERROR_NOT_SEALED);
	munmap(map, up->size);
	th_upload_destroy(up);
	assert_bad_client_cleaned();
	assert_good_client_served();
	teardown();
}

TEST(commit_twice_is_already_committed)
{
	struct th_upload *up;

	setup();
	up = start_upload(bad, rbad, "x", 16, 16, ARGB);
	th_upload_fill(up, 1);
	pixcache_upload_v1_commit(up->proxy);
	assert(th_roundtrip(bad) && up->stored);
	commit_dies_of(up, PIXCACHE_UPLOAD_V1_ERROR_ALREADY_COMMITTED);
	th_upload_destroy(up);
	assert_bad_client_cleaned();
	assert_good_client_served();
	teardown();
}

TEST(commit_after_a_failure_has_no_target)
{
	struct th_upload *up;

	setup();
	up = start_upload(bad, rbad, "x", 0, 16, ARGB);
	assert(up->failed == PIXCACHE_BATCH_V1_FAILURE_SIZE);
	commit_dies_of(up, PIXCACHE_UPLOAD_V1_ERROR_NO_TARGET);
	th_upload_destroy(up);
	assert_bad_client_cleaned();
	assert_good_client_served();
	teardown();
}

TEST(the_target_cannot_be_changed_after_commit)
{
	struct th_upload *up;
	struct th_pixmap *pm;
	struct pixcache_batch_v1 *batch;

	setup();
	up = start_upload(bad, rbad, "big", 300, 300, ARGB);
	th_upload_fill(up, 6);
	pixcache_upload_v1_commit(up->proxy);
	assert(th_roundtrip(bad) && up->stored);
	/* Large: the target itself is now the pixmap others read. */
	assert(write(up->fd, "x", 1) < 0 && errno == EPERM);
	assert(ftruncate(up->fd, 1) < 0 && errno == EPERM);
	assert(mmap(NULL, up->size, PROT_WRITE, MAP_SHARED, up->fd, 0) ==
		MAP_FAILED);
	assert(fcntl(up->fd, F_ADD_SEALS, PROBE_SEAL) < 0 && errno == EPERM);
	batch = th_batch(good);
	pm = th_lookup(good, batch, rgood, "big");
	th_commit(good, batch);
	assert(pm->fd >= 0 && th_pixmap_has_pattern(pm, 6));
	th_pixmap_destroy(pm);
	th_batch_destroy(batch);
	th_upload_destroy(up);
	assert_good_client_served();
	teardown();
}

/* ftruncate, write, writable mmap, F_ADD_SEALS: on fd, and reopened. */
static void
assert_immutable(int fd, const char *what)
{
	char path[64];
	int rw;

	for (int pass = 0; pass < 2; pass++) {
		int f = fd;

		if (pass == 1) {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			rw = open(path, O_RDWR);
			if (rw < 0) {
				/* Refused outright: as good as it gets. */
				continue;
			}
			f = rw;
		}
		if (ftruncate(f, 0) == 0 || write(f, "x", 1) == 1 ||
				pwrite(f, "x", 1, 0) == 1 ||
				mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					MAP_SHARED, f, 0) != MAP_FAILED ||
				fcntl(f, F_ADD_SEALS, PROBE_SEAL) == 0) {
			test_fail("%s could be changed%s", what,
				pass ? " through /proc" : "");
		}
		if (pass == 1) {
			close(rw);
		}
	}
}

TEST(no_fd_a_client_holds_can_change_a_pixmap)
{
	struct th_upload *small, *large;
	struct th_pixmap *pooled, *own;
	struct pixcache_batch_v1 *batch;

	setup();
	small = start_upload(bad, rbad, "small", 16, 16, ARGB);
	th_upload_fill(small, 1);
	pixcache_upload_v1_commit(small->proxy);
	large = start_upload(bad, rbad, "large", 300, 300, ARGB);
	th_upload_fill(large, 2);
	pixcache_upload_v1_commit(large->proxy);
	assert(th_roundtrip(bad) && small->stored && large->stored);
	batch = th_batch(bad);
	pooled = th_lookup(bad, batch, rbad, "small");
	own = th_lookup(bad, batch, rbad, "large");
	th_commit(bad, batch);
	assert(pooled->pool_fd >= 0 && own->fd >= 0);

	assert_immutable(small->fd, "the small upload's target");
	assert_immutable(large->fd, "the large upload's target");
	assert_immutable(pooled->pool_fd, "a pool");
	assert_immutable(rbad->table_fd, "the generation table");
	assert_immutable(own->fd, "a buffer of its own");

	/* Another reader sees the bytes as uploaded. */
	th_pixmap_destroy(pooled);
	th_pixmap_destroy(own);
	th_batch_destroy(batch);
	batch = th_batch(good);
	pooled = th_lookup(good, batch, rgood, "small");
	own = th_lookup(good, batch, rgood, "large");
	th_commit(good, batch);
	assert(th_pixmap_has_pattern(pooled, 1));
	assert(th_pixmap_has_pattern(own, 2));
	th_pixmap_destroy(pooled);
	th_pixmap_destroy(own);
	th_batch_destroy(batch);
	th_upload_destroy(small);
	th_upload_destroy(large);
	teardown();
}

static bool
traced(const char *point)
{
	for (int i = 0; i < server->ntrace; i++) {
		if (strcmp(server->trace[i], point) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * Pages pinned with vmsplice make F_SEAL_WRITE wait, then fail: the client
 * cannot seal, and the manager, which only checks seals, does not wait.
 */
TEST(pinned_pages_do_not_stall_the_manager)
{
	struct th_upload *up;
	struct iovec iov;
	int pipefd[2];
	void *map;

	setup();
	up = start_upload(bad, rbad, "x", 64, 64, ARGB);
	map = mmap(NULL, up->size, PROT_READ | PROT_WRITE, MAP_SHARED, up->fd,
		0);
	assert(map != MAP_FAILED);
	memset(map, 0x5a, up->size);
	assert(pipe(pipefd) == 0);
	iov.iov_base = map;
	iov.iov_len = 4096;
	assert(vmsplice(pipefd[1], &iov, 1, 0) == 4096);
	assert(munmap(map, up->size) == 0);
	assert(fcntl(up->fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY);

	server->tracing = true;
	commit_dies_of(up, PIXCACHE_UPLOAD_V1_ERROR_NOT_SEALED);
	server->tracing = false;
	assert(!traced("add_seals_write"));
	close(pipefd[0]);
	close(pipefd[1]);
	th_upload_destroy(up);
	assert_bad_client_cleaned();
	assert_good_client_served();
	teardown();
}

/* Sealed, then pinned: the manager reads the pinned pages, seals nothing
 * that could wait, and stores the pixmap. */
TEST(pages_pinned_after_sealing_are_read_without_waiting)
{
	struct th_upload *up;
	struct iovec iov;
	int pipefd[2];
	const void *map;

	setup();
	up = start_upload(bad, rbad, "x", 64, 64, ARGB);
	th_upload_fill(up, 8);
	map = mmap(NULL, up->size, PROT_READ, MAP_SHARED, up->fd, 0);
	assert(map != MAP_FAILED);
	assert(pipe(pipefd) == 0);
	iov.iov_base = (void *)map;
	iov.iov_len = 4096;
	assert(vmsplice(pipefd[1], &iov, 1, 0) == 4096);
	server->tracing = true;
	pixcache_upload_v1_commit(up->proxy);
	assert(th_roundtrip(bad) && up->stored);
	server->tracing = false;
	assert(!traced("add_seals_write"));
	munmap((void *)map, up->size);
	close(pipefd[0]);
	close(pipefd[1]);
	th_upload_destroy(up);
	assert_good_client_served();
	teardown();
}

/* ---- keys ---- */

TEST(a_stale_key_never_returns_the_next_occupant_of_its_slot)
{
	struct th_upload *first, *second;
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *old, *now;

	setup();
	first = th_put(bad, rbad, "a", 16, 16, 1);
	assert(first->stored);
	/* The compositor removes it; the next insert reuses the slot. */
	assert(pixcache_manager_remove(server->manager, "default", "a") == 0);
	second = th_put(good, rgood, "b", 16, 16, 2);
	assert(second->stored);
	assert(second->key[2] == first->key[2]);
	assert(second->key[3] == first->key[3] + 1);
	batch = th_batch(bad);
	old = th_lookup_key(bad, batch, first->key);
	now = th_lookup_key(bad, batch, second->key);
	th_commit(bad, batch);
	assert(old->missing && !old->got_key);
	assert(now->buffer && th_pixmap_has_pattern(now, 2));
	th_pixmap_destroy(old);
	th_pixmap_destroy(now);
	th_batch_destroy(batch);
	th_upload_destroy(first);
	th_upload_destroy(second);
	teardown();
}

/* ---- realms ---- */

struct isolation {
	struct wl_client *sandboxed;
};

/* The sandboxed client has "app" and nothing else; others have default. */
static uint32_t
isolating_access(void *data, struct wl_client *client, const char *realm)
{
	struct isolation *iso = data;
	uint32_t all = PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_WRITE |
		PIXCACHE_ACCESS_TABLE;

	if (client == iso->sandboxed) {
		return strcmp(realm, "app") == 0 ? all : 0;
	}
	if (strcmp(realm, "default") == 0) {
		return all;
	}
	/* "shelf": readable, not writable, no table. */
	return strcmp(realm, "shelf") == 0 ? PIXCACHE_ACCESS_READ : 0;
}

static struct isolation iso;
static const struct pixcache_policy isolating_policy = {
	.realm_access = isolating_access,
	.data = &iso,
};

TEST(a_client_of_one_realm_cannot_see_another)
{
	struct th_realm *other, *app;
	struct th_upload *secret;
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *exists, *absent;

	setup_with(NULL, &isolating_policy);
	iso.sandboxed = bad->server_client;
	th_realm_destroy(rbad);
	rbad = th_realm_get(bad, "default");
	secret = th_put(good, rgood, "secret", 16, 16, 1);
	assert(secret->stored);
	/* bad's "default" is denied. */
	assert(rbad->denied == PIXCACHE_BATCH_V1_FAILURE_POLICY);
	assert(rbad->table_fd < 0);
	app = th_realm_get(bad, "app");
	assert(app->access != 0 && app->table_fd >= 0);
	/* Lookups in default fail alike, whether the name exists or not. */
	batch = th_batch(bad);
	exists = th_lookup(bad, batch, rbad, "secret");
	absent = th_lookup(bad, batch, rbad, "nothing");
	th_commit(bad, batch);
	assert(exists->failed == PIXCACHE_BATCH_V1_FAILURE_POLICY);
	assert(absent->failed == PIXCACHE_BATCH_V1_FAILURE_POLICY);
	assert(!exists->got_key && !absent->got_key);
	assert(bad->pools == NULL);
	th_pixmap_destroy(exists);
	th_pixmap_destroy(absent);
	th_batch_destroy(batch);
	other = th_realm_get(bad, "shelf");
	assert(other->denied == PIXCACHE_BATCH_V1_FAILURE_POLICY);
	th_realm_destroy(other);
	th_realm_destroy(app);
	th_upload_destroy(secret);
	teardown();
}

TEST(a_key_handed_over_works_through_a_buffer_of_its_own)
{
	struct th_upload *shared;
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *pm;
	int seals;

	setup_with(NULL, &isolating_policy);
	iso.sandboxed = bad->server_client;
	shared = th_put(good, rgood, "shared", 16, 16, 4);
	batch = th_batch(bad);
	pm = th_lookup_key(bad, batch, shared->key);
	th_commit(bad, batch);
	/* Small, so pooled for its own realm, but never that pool here. */
	assert(pm->buffer && pm->pool == NULL && pm->fd >= 0);
	assert(bad->pools == NULL);
	seals = fcntl(pm->fd, F_GET_SEALS);
	assert((seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
		F_SEAL_SEAL)) == (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
		F_SEAL_SEAL));
	assert(th_pixmap_has_pattern(pm, 4));
	assert_immutable(pm->fd, "a copy for another realm");
	th_pixmap_destroy(pm);
	th_batch_destroy(batch);
	th_upload_destroy(shared);
	teardown();
}

/*
 * Six lookups by key from another realm, held at once (the fd cap is 8):
 * one copy of the pooled pixmap, made once and shared, never one per
 * lookup, and gone with the last lease on it; a pixmap with a buffer of
 * its own goes as it is, no copy.
 */
TEST(readers_of_another_realm_share_one_copy)
{
	struct th_upload *small, *large;
	struct pixcache_batch_v1 *batch;
	struct pixcache_stats before, after;
	struct th_pixmap *pm[7];

	setup_with(NULL, &isolating_policy);
	iso.sandboxed = bad->server_client;
	small = th_put(good, rgood, "small", 16, 16, 4);
	large = th_put(good, rgood, "large", 300, 300, 5);
	pixcache_manager_get_stats(server->manager, &before);
	batch = th_batch(bad);
	for (int i = 0; i < 6; i++) {
		pm[i] = th_lookup_key(bad, batch, small->key);
	}
	pm[6] = th_lookup_key(bad, batch, large->key);
	th_commit(bad, batch);
	for (int i = 0; i < 7; i++) {
		assert(pm[i]->buffer && pm[i]->fd >= 0);
		assert(th_pixmap_has_pattern(pm[i], i < 6 ? 4 : 5));
	}
	/* One file, sent six times. */
	for (int i = 1; i < 6; i++) {
		struct stat a, b;

		assert(fstat(pm[0]->fd, &a) == 0 && fstat(pm[i]->fd, &b) == 0);
		assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	}
	/* Whole pages of shared memory, and one fd. */
	pixcache_manager_get_stats(server->manager, &after);
	assert(after.copy_bytes - before.copy_bytes ==
		(uint64_t)sysconf(_SC_PAGESIZE));
	assert(after.fds - before.fds == 1);
	assert_immutable(pm[0]->fd, "the shared copy");
	/* The copy lives while a lease uses it: with the last, it goes. */
	for (int i = 0; i < 6; i++) {
		th_pixmap_destroy(pm[i]);
		assert(th_roundtrip(bad));
		pixcache_manager_get_stats(server->manager, &after);
		assert(after.fds - before.fds == (i < 5 ? 1u : 0u));
	}
	assert(after.copy_bytes == before.copy_bytes);
	th_pixmap_destroy(pm[6]);
	th_batch_destroy(batch);
	th_upload_destroy(small);
	th_upload_destroy(large);
	assert_good_client_served();
	teardown();
}

/*
 * A copy for another realm's reader is memory of the manager's too: it
 * counts in the budget. Where what is held leaves no room, the lookup
 * fails with budget and nothing changes; entries nobody holds are evicted
 * for it; the room comes back with the copy's last lease.
 */
TEST(copies_for_other_realms_count_in_the_budget)
{
	struct pixcache_config config;
	struct pixcache_batch_v1 *gb, *batch;
	struct th_upload *one, *two, *three;
	struct th_pixmap *hold_one, *hold_two, *copy;
	struct pixcache_stats stats;

	th_config(&config);
	config.budget = 2 * 4096;
	setup_with(&config, &isolating_policy);
	iso.sandboxed = bad->server_client;
	/* 32 x 32: 4,096 bytes each, a page of copy. */
	one = th_put(good, rgood, "one", 32, 32, 1);
	two = th_put(good, rgood, "two", 32, 32, 2);
	assert(one->stored && two->stored);
	gb = th_batch(good);
	hold_one = th_lookup(good, gb, rgood, "one");
	hold_two = th_lookup(good, gb, rgood, "two");
	assert(th_commit(good, gb) && hold_one->buffer && hold_two->buffer);

	batch = th_batch(bad);
	copy = th_lookup_key(bad, batch, one->key);
	assert(th_commit(bad, batch));
	assert(copy->failed == PIXCACHE_BATCH_V1_FAILURE_BUDGET);
	stats = th_server_stats(server);
	assert(stats.entries == 2 && stats.copy_bytes == 0 &&
		stats.evictions == 0 && stats.budget == config.budget);
	th_pixmap_destroy(copy);

	/* "two" let go: evicted to make room for the copy. */
	th_pixmap_destroy(hold_two);
	assert(th_roundtrip(good));
	copy = th_lookup_key(bad, batch, one->key);
	assert(th_commit(bad, batch));
	assert(copy->buffer && th_pixmap_has_pattern(copy, 1));
	stats = th_server_stats(server);
	assert(stats.entries == 1 && stats.copy_bytes == 4096 &&
		stats.evictions == 1);
	/* "one" held and its copy fill the budget. */
	three = th_put(good, rgood, "three", 32, 32, 3);
	assert(three->failed == PIXCACHE_BATCH_V1_FAILURE_BUDGET);
	th_upload_destroy(three);
	th_pixmap_destroy(copy);
	assert(th_roundtrip(bad));
	three = th_put(good, rgood, "three", 32, 32, 3);
	assert(three->stored);

	th_upload_destroy(three);
	th_pixmap_destroy(hold_one);
	th_batch_destroy(gb);
	th_batch_destroy(batch);
	th_upload_destroy(one);
	th_upload_destroy(two);
	teardown();
}

/* The manager's upload states alive, over every session. */
static int
upload_states(void)
{
	struct pxc_connection *conn;
	struct pxc_manager_v1 *session;
	int n = 0;

	wl_list_for_each(conn, &server->manager->connections, link) {
		wl_list_for_each(session, &conn->sessions, connection_link) {
			n += wl_list_length(&session->uploads);
		}
	}
	return n;
}

/*
 * A client that never destroys its upload objects holds libwayland's
 * resources and nothing of the manager's: an upload's state goes with its
 * answer (refused, stored, failed, staged), and what the object may still
 * be asked is answered as before.
 */
TEST(answered_uploads_keep_no_state)
{
	struct th_upload *refused[50], *stored, *failed;
	struct pixcache_batch_v1 *batch;

	setup();
	batch = th_batch(bad);
	for (int i = 0; i < 50; i++) {
		refused[i] = th_upload(bad, batch, rbad, "icon", 16, 16,
			0x12345678, 0);
	}
	assert(th_commit(bad, batch));
	stored = th_put(bad, rbad, "icon", 16, 16, 1);
	failed = th_put(bad, rbad, "icon", 16, 16, 2);
	assert(stored->stored &&
		failed->failed == PIXCACHE_BATCH_V1_FAILURE_EXISTS);
	for (int i = 0; i < 50; i++) {
		assert(refused[i]->failed == PIXCACHE_BATCH_V1_FAILURE_FORMAT);
	}
	assert(upload_states() == 0);
	/* A refused upload has no target; a stored one was committed. */
	pixcache_upload_v1_commit(failed->proxy);
	th_expect_protocol_error(bad, &pixcache_upload_v1_interface,
		th_id(failed->proxy), PIXCACHE_UPLOAD_V1_ERROR_NO_TARGET);
	for (int i = 0; i < 50; i++) {
		th_upload_destroy(refused[i]);
	}
	th_upload_destroy(stored);
	th_upload_destroy(failed);
	th_batch_destroy(batch);
	teardown();
}

/* A commit after stored is a client bug, its state gone or not. */
TEST(a_stored_upload_committed_again_is_a_protocol_error)
{
	struct th_upload *stored;

	setup();
	stored = th_put(bad, rbad, "icon", 16, 16, 1);
	assert(stored->stored && upload_states() == 0);
	pixcache_upload_v1_commit(stored->proxy);
	th_expect_protocol_error(bad, &pixcache_upload_v1_interface,
		th_id(stored->proxy),
		PIXCACHE_UPLOAD_V1_ERROR_ALREADY_COMMITTED);
	th_upload_destroy(stored);
	teardown();
}

/*
 * A copy the budget has no room for, whatever is evicted, evicts nothing:
 * the entries nobody holds stay (a reviewer's case: they were evicted
 * before the charge was found not to fit).
 */
TEST(a_copy_that_cannot_fit_evicts_nothing)
{
	struct pixcache_config config;
	struct pixcache_batch_v1 *gb, *batch;
	struct th_upload *one, *three;
	struct th_pixmap *hold, *copy;
	struct pixcache_stats stats;

	th_config(&config);
	config.budget = 3 * 4096;
	setup_with(&config, &isolating_policy);
	iso.sandboxed = bad->server_client;
	one = th_put(good, rgood, "one", 64, 32, 1);	/* two pages */
	three = th_put(good, rgood, "three", 32, 32, 3);	/* one page */
	assert(one->stored && three->stored);
	gb = th_batch(good);
	hold = th_lookup(good, gb, rgood, "one");
	assert(th_commit(good, gb) && hold->buffer);
	batch = th_batch(bad);
	copy = th_lookup_key(bad, batch, one->key);
	assert(th_commit(bad, batch));
	assert(copy->failed == PIXCACHE_BATCH_V1_FAILURE_BUDGET);
	stats = th_server_stats(server);
	assert(stats.entries == 2 && stats.evictions == 0);
	th_pixmap_destroy(copy);
	th_pixmap_destroy(hold);
	th_batch_destroy(gb);
	th_batch_destroy(batch);
	th_upload_destroy(one);
	th_upload_destroy(three);
	teardown();
}

static struct pixcache_staging_v1 *
stage_1k(struct pixcache_batch_v1 *batch)
{
	int fd = memfd_create("tiny", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct pixcache_staging_v1 *staging;

	assert(fd >= 0 && ftruncate(fd, 1024) == 0);
	assert(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
		F_SEAL_GROW) == 0);
	staging = pixcache_batch_v1_stage(batch, fd, 1024);
	close(fd);
	return staging;
}

/*
 * Staging buffers are mappings of the manager's: a connection's are
 * bounded in number (max_uploads), not only in bytes, so tiny ones cannot
 * use up the process's mappings. Destroying one gives its room back.
 */

TEST(staging_buffers_are_bounded_in_number)
{
	struct pixcache_config config;
	struct pixcache_batch_v1 *batch;
	struct pixcache_staging_v1 *staging[5];
	struct th_upload *up;

	th_config(&config);
	config.max_uploads = 4;
	config.max_uploads_total = 6;
	setup_with(&config, NULL);
	batch = th_batch(bad);
	for (int i = 0; i < 5; i++) {
		staging[i] = stage_1k(batch);
	}
	/* The fifth is refused: its upload fails with uploads. */
	up = th_upload_staged(bad, staging[4], rbad, "fifth", 16, 16,
		0x34325241, 0);
	assert(th_commit(bad, batch));
	assert(up->failed == PIXCACHE_BATCH_V1_FAILURE_UPLOADS);
	th_upload_destroy(up);
	pixcache_staging_v1_destroy(staging[4]);
	pixcache_staging_v1_destroy(staging[0]);
	assert(th_roundtrip(bad));
	staging[0] = stage_1k(batch);
	up = th_upload_staged(bad, staging[0], rbad, "first", 16, 16,
		0x34325241, 0);
	assert(th_commit(bad, batch));
	assert(up->stored);
	th_upload_destroy(up);
	/* Everyone's: two more of good's, and the next is refused. */
	{
		struct pixcache_batch_v1 *gb = th_batch(good);
		struct pixcache_staging_v1 *g1 = stage_1k(gb);
		struct pixcache_staging_v1 *g2 = stage_1k(gb);
		struct pixcache_staging_v1 *g3 = stage_1k(gb);
		struct th_upload *gu = th_upload_staged(good, g3, rgood,
			"third", 16, 16, 0x34325241, 0);

		assert(th_commit(good, gb));
		assert(gu->failed == PIXCACHE_BATCH_V1_FAILURE_UPLOADS);
		th_upload_destroy(gu);
		pixcache_staging_v1_destroy(g1);
		pixcache_staging_v1_destroy(g2);
		pixcache_staging_v1_destroy(g3);
		th_batch_destroy(gb);
	}
	for (int i = 0; i < 4; i++) {
		pixcache_staging_v1_destroy(staging[i]);
	}
	th_batch_destroy(batch);
	teardown();
}

/*
 * Realm and batch objects keep state: a connection's are bounded
 * (max_objects), over all its sessions. Past the bound a realm object is
 * denied with memory, a batch is inert (its lookups fail with policy),
 * and the manager keeps nothing for either; destroying one gives its room
 * back. Others are served throughout.
 */
TEST(realm_and_batch_objects_are_bounded_per_connection)
{
	struct pixcache_config config;
	struct th_client *session;
	struct th_realm *second, *other, *over;
	struct pixcache_batch_v1 *batch, *inert;
	struct th_pixmap *pm;

	th_config(&config);
	config.max_objects = 4;
	setup_with(&config, NULL);
	/* rbad, a second realm, a batch, and a realm of another session:
	 * four. */
	second = th_realm_get(bad, "second");
	batch = th_batch(bad);
	session = th_session(bad);
	other = th_realm_get(session, "default");
	/* A realm the policy denies keeps its state too: it counts. */
	assert(second->denied == PIXCACHE_BATCH_V1_FAILURE_POLICY &&
		other->denied == 0);
	over = th_realm_get(bad, "over");
	assert(over->denied == PIXCACHE_BATCH_V1_FAILURE_MEMORY);
	th_realm_destroy(over);
	/* A staging buffer too: failed with memory, its uploads too. */
	{
		struct pixcache_staging_v1 *staging = stage_1k(batch);
		struct th_upload *up = th_upload_staged(bad, staging, rbad,
			"staged", 16, 16, 0x34325241, 0);

		assert(th_commit(bad, batch));
		assert(up->failed != 0 && !up->stored);
		th_upload_destroy(up);
		pixcache_staging_v1_destroy(staging);
	}
	/* A fifth batch is inert: its lookup fails, nothing kept. */
	inert = th_batch(bad);
	pm = th_lookup(bad, inert, rbad, "x");
	assert(th_commit(bad, inert));
	assert(pm->failed == PIXCACHE_BATCH_V1_FAILURE_POLICY && !pm->claimed);
	th_pixmap_destroy(pm);
	th_batch_destroy(inert);
	/* One destroyed, room for one. */
	th_realm_destroy(other);
	assert(th_roundtrip(bad));
	over = th_realm_get(bad, "over");
	assert(over->denied == PIXCACHE_BATCH_V1_FAILURE_POLICY);
	th_realm_destroy(over);
	th_realm_destroy(second);
	th_batch_destroy(batch);
	th_session_end(session);
	assert_good_client_served();
	teardown();
}

/*
 * The manager's fds for clients' pixmaps stay within half the process's
 * fd limit: a client asking for copy after copy (one fd each) gets
 * failed(memory) past it, and the other half stays the compositor's (an
 * adversarial reviewer's case: four connections of one application made
 * the manager hold 1,024 copies' fds, Weston 10's whole limit).
 */
TEST(the_managers_fds_stay_within_half_the_fd_limit)
{
	enum { N = 200, LIMIT = 256 };
	uint32_t keys[N][6];
	struct th_pixmap *held[N];
	struct pixcache_config config;
	struct pixcache_stats before, stats;
	struct rlimit limit;
	int copies = 0, refused = 0;

	assert(getrlimit(RLIMIT_NOFILE, &limit) == 0);
	limit.rlim_cur = LIMIT;
	assert(setrlimit(RLIMIT_NOFILE, &limit) == 0);
	th_config(&config);
	config.max_leases = N;
	setup_with(&config, &isolating_policy);
	iso.sandboxed = bad->server_client;
	for (int i = 0; i < N; i++) {
		char name[16];
		struct th_upload *up;

		snprintf(name, sizeof(name), "i-%d", i);
		up = th_put(good, rgood, name, 16, 16, (uint32_t)i);

		/* The key kept, the upload (and its target's fd) not. */
		assert(up->stored);
		memcpy(keys[i], up->key, sizeof(keys[i]));
		th_upload_destroy(up);
	}
	before = th_server_stats(server);
	/* Four at a time: the fds in flight are acknowledged by done. */
	for (int i = 0; i < N; i += 4) {
		struct pixcache_batch_v1 *batch = th_batch(bad);

		for (int j = i; j < i + 4; j++) {
			held[j] = th_lookup_key(bad, batch, keys[j]);
		}
		assert(th_commit(bad, batch));
		th_batch_destroy(batch);
		for (int j = i; j < i + 4; j++) {
			/* The client's own fd closed: only the manager's
			 * count here. */
			if (held[j]->buffer) {
				close(held[j]->fd);
				held[j]->fd = -1;
				copies++;
			} else {
				assert(held[j]->failed ==
					PIXCACHE_BATCH_V1_FAILURE_MEMORY);
				refused++;
			}
		}
	}
	stats = th_server_stats(server);
	fprintf(stderr, "copies %d, refused %d, manager fds %u -> %u of "
		"%d\n", copies, refused, before.fds, stats.fds, LIMIT);
	assert(refused > 0 && stats.fds - before.fds <= LIMIT / 2);
	/* The copies go with their leases, and the room with them. */
	for (int i = 0; i < N; i++) {
		th_pixmap_destroy(held[i]);
	}
	assert(th_roundtrip(bad));
	assert_good_client_served();
	teardown();
}

/* However many leases clients have, the copies alive at once are bounded. */
TEST(copies_for_other_realms_are_bounded)
{
	struct th_upload *one, *two;
	struct pixcache_batch_v1 *batch;
	struct pixcache_config config;
	struct th_pixmap *a, *b;

	th_config(&config);
	config.max_copies = 1;
	setup_with(&config, &isolating_policy);
	iso.sandboxed = bad->server_client;
	one = th_put(good, rgood, "one", 16, 16, 1);
	two = th_put(good, rgood, "two", 16, 16, 2);
	batch = th_batch(bad);
	a = th_lookup_key(bad, batch, one->key);
	b = th_lookup_key(bad, batch, two->key);
	th_commit(bad, batch);
	assert(a->buffer && th_pixmap_has_pattern(a, 1));
	assert(b->failed == PIXCACHE_BATCH_V1_FAILURE_MEMORY);
	assert_good_client_served();
	/* The first copy goes with its lease: room for the next. */
	th_pixmap_destroy(a);
	th_pixmap_destroy(b);
	b = th_lookup_key(bad, batch, two->key);
	th_commit(bad, batch);
	assert(b->buffer && th_pixmap_has_pattern(b, 2));
	th_pixmap_destroy(b);
	th_batch_destroy(batch);
	th_upload_destroy(one);
	th_upload_destroy(two);
	teardown();
}

/* One bound over every connection on the targets the manager holds. */
TEST(uploads_in_flight_are_bounded_over_every_connection)
{
	struct th_upload *mine, *theirs, *third;
	struct pixcache_config config;
	struct th_client *other;
	struct th_realm *rother;

	th_config(&config);
	config.max_uploads_total = 2;
	setup_with(&config, NULL);
	other = th_client_connect(server);
	rother = th_realm_get(other, "default");
	mine = start_upload(good, rgood, "a", 16, 16, ARGB);
	theirs = start_upload(bad, rbad, "b", 16, 16, ARGB);
	assert(mine->fd >= 0 && theirs->fd >= 0);
	third = start_upload(other, rother, "c", 16, 16, ARGB);
	assert(third->failed == PIXCACHE_BATCH_V1_FAILURE_UPLOADS);
	th_upload_destroy(third);
	/* One ends: room again. */
	th_upload_destroy(theirs);
	assert(th_roundtrip(bad));
	third = start_upload(other, rother, "c", 16, 16, ARGB);
	assert(third->fd >= 0 && third->failed == 0);
	th_upload_destroy(third);
	th_upload_destroy(mine);
	th_realm_destroy(rother);
	th_client_disconnect(other);
	assert_good_client_served();
	teardown();
}

/* The bytes of the targets the manager makes for one connection. */
TEST(upload_bytes_in_flight_are_bounded_per_connection)
{
	struct th_upload *up[3], *theirs;
	struct pixcache_config config;

	th_config(&config);
	config.max_upload_bytes = 2 * 16 * 64;	/* two 16x16 targets */
	setup_with(&config, NULL);
	up[0] = start_upload(bad, rbad, "a", 16, 16, ARGB);
	up[1] = start_upload(bad, rbad, "b", 16, 16, ARGB);
	up[2] = start_upload(bad, rbad, "c", 16, 16, ARGB);
	assert(up[0]->fd >= 0 && up[1]->fd >= 0);
	assert(up[2]->failed == PIXCACHE_BATCH_V1_FAILURE_UPLOADS);
	/* Another connection has bytes of its own. */
	theirs = start_upload(good, rgood, "d", 16, 16, ARGB);
	assert(theirs->fd >= 0 && theirs->failed == 0);
	th_upload_fill(theirs, 3);
	pixcache_upload_v1_commit(theirs->proxy);
	assert(th_roundtrip(good) && theirs->stored);
	th_upload_destroy(theirs);
	/* One ends: room again. */
	th_upload_destroy(up[0]);
	assert(th_roundtrip(bad));
	up[0] = start_upload(bad, rbad, "e", 16, 16, ARGB);
	assert(up[0]->fd >= 0 && up[0]->failed == 0);
	for (int i = 0; i < 3; i++) {
		th_upload_destroy(up[i]);
	}
	teardown();
}

/* One that could never be stored gets no target, whatever the limits. */
TEST(an_upload_larger_than_the_budget_is_refused_at_once)
{
	struct pixcache_config config;
	struct th_upload *up;

	th_config(&config);
	config.budget = 64 << 10;
	config.max_bytes = 512 << 10;		/* a 256x256 target: 256 KiB */
	setup_with(&config, NULL);
	up = start_upload(bad, rbad, "big", 256, 256, ARGB);
	assert(up->failed == PIXCACHE_BATCH_V1_FAILURE_SIZE && up->fd < 0);
	assert(server->manager->upload_bytes == 0);
	th_upload_destroy(up);
	/* What fits is stored, for anyone. */
	up = th_put(good, rgood, "small", 16, 16, 1);
	assert(up->stored);
	th_upload_destroy(up);
	teardown();
}

/* Copies are global, but no connection may hold more than its share. */
TEST(one_connection_cannot_take_every_copy)
{
	struct pixcache_batch_v1 *batch;
	struct pixcache_config config;
	struct th_upload *mine[3], *theirs;
	struct th_pixmap *pm[3], *other;
	struct th_realm *app;
	char name[8];

	th_config(&config);
	config.max_copies = 3;
	config.max_copies_per_connection = 2;
	setup_with(&config, &isolating_policy);
	iso.sandboxed = bad->server_client;
	app = th_realm_get(bad, "app");
	theirs = th_put(bad, app, "theirs", 16, 16, 9);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		mine[i] = th_put(good, rgood, name, 16, 16, (uint32_t)i + 1);
	}
	batch = th_batch(bad);
	for (int i = 0; i < 3; i++) {
		pm[i] = th_lookup_key(bad, batch, mine[i]->key);
	}
	th_commit(bad, batch);
	th_batch_destroy(batch);
	assert(pm[0]->buffer && pm[1]->buffer);
	assert(pm[2]->failed == PIXCACHE_BATCH_V1_FAILURE_LEASES);
	/* good reads a key of "app", which it may not read: a copy left. */
	batch = th_batch(good);
	other = th_lookup_key(good, batch, theirs->key);
	th_commit(good, batch);
	th_batch_destroy(batch);
	assert(other->buffer && th_pixmap_has_pattern(other, 9));
	th_pixmap_destroy(other);
	for (int i = 0; i < 3; i++) {
		th_pixmap_destroy(pm[i]);
		th_upload_destroy(mine[i]);
	}
	th_upload_destroy(theirs);
	th_realm_destroy(app);
	teardown();
}

/* The copy path's fallible steps, each failed once: a clean failure. */
TEST(every_fault_on_the_copy_path_leaves_nothing)
{
	static const char *const points[] = {
		"memfd_create", "ftruncate", "pwrite", "add_seals_write",
	};
	struct pixcache_batch_v1 *batch;
	struct pixcache_stats stats;
	struct th_upload *small;
	struct th_pixmap *pm;

	setup_with(NULL, &isolating_policy);
	iso.sandboxed = bad->server_client;
	small = th_put(good, rgood, "small", 16, 16, 4);
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		server->failures = 0;
		server->points_seen = 0;
		server->fail_point = points[i];
		server->fail_at = 1;
		server->fail_rest = false;
		batch = th_batch(bad);
		pm = th_lookup_key(bad, batch, small->key);
		th_commit(bad, batch);
		server->fail_at = 0;
		server->fail_point = NULL;
		assert(server->failures == 1);
		assert(pm->failed == PIXCACHE_BATCH_V1_FAILURE_MEMORY);
		th_pixmap_destroy(pm);
		th_batch_destroy(batch);
		assert(th_roundtrip(bad));
		pixcache_manager_get_stats(server->manager, &stats);
		assert(server->manager->copies == 0 && stats.copy_bytes == 0);
	}
	/* And then it works. */
	batch = th_batch(bad);
	pm = th_lookup_key(bad, batch, small->key);
	th_commit(bad, batch);
	assert(pm->buffer && th_pixmap_has_pattern(pm, 4));
	th_pixmap_destroy(pm);
	th_batch_destroy(batch);
	th_upload_destroy(small);
	teardown();
}

TEST(writing_where_the_policy_does_not_allow_fails_with_policy)
{
	struct th_realm *shelf;
	struct th_upload *up;

	setup_with(NULL, &isolating_policy);
	shelf = th_realm_get(good, "shelf");
	assert(shelf->access == PIXCACHE_REALM_V1_ACCESS_READ);
	assert(shelf->table_fd < 0);
	up = start_upload(good, shelf, "x", 16, 16, ARGB);
	assert(up->failed == PIXCACHE_BATCH_V1_FAILURE_POLICY && up->fd < 0);
	th_upload_destroy(up);
	th_realm_destroy(shelf);
	teardown();
}

/* ---- limits ---- */

static struct th_pixmap *
hold(struct th_client *c, struct th_realm *r, const char *name)
{
	struct pixcache_batch_v1 *batch = th_batch(c);
	struct th_pixmap *pm = th_lookup(c, batch, r, name);

	th_commit(c, batch);
	th_batch_destroy(batch);
	return pm;
}

TEST(a_quota_full_of_leased_pixmaps_fails_with_quota)
{
	struct pixcache_config config;
	struct th_upload *u1, *u2, *u3;
	struct th_pixmap *h1, *h2;

	th_config(&config);
	config.realm_quota = 2 * 64 * 16;	/* two 16x16 pixmaps */
	setup_with(&config, NULL);
	u1 = th_put(bad, rbad, "1", 16, 16, 1);
	u2 = th_put(bad, rbad, "2", 16, 16, 2);
	h1 = hold(bad, rbad, "1");
	h2 = hold(bad, rbad, "2");
	u3 = th_put(bad, rbad, "3", 16, 16, 3);
	assert(u3->failed == PIXCACHE_BATCH_V1_FAILURE_QUOTA);
	th_upload_destroy(u3);
	/* One lease goes: its pixmap can be evicted to make room. */
	th_pixmap_destroy(h1);
	u3 = th_put(bad, rbad, "3", 16, 16, 3);
	assert(u3->stored);
	th_pixmap_destroy(h2);
	th_upload_destroy(u1);
	th_upload_destroy(u2);
	th_upload_destroy(u3);
	teardown();
}

TEST(a_budget_full_of_leased_pixmaps_fails_with_budget)
{
	struct pixcache_config config;
	struct th_upload *u1, *u2;
	struct th_pixmap *h1;

	th_config(&config);
	config.budget = 300 * 1216;		/* one 300x300 pixmap */
	setup_with(&config, NULL);
	u1 = th_put(bad, rbad, "1", 300, 300, 1);
	assert(u1->stored);
	h1 = hold(bad, rbad, "1");
	u2 = th_put(bad, rbad, "2", 300, 300, 2);
	assert(u2->failed == PIXCACHE_BATCH_V1_FAILURE_BUDGET);
	th_upload_destroy(u2);
	u2 = th_put(bad, rbad, "2", 300, 301, 2);
	assert(u2->failed == PIXCACHE_BATCH_V1_FAILURE_SIZE);
	th_pixmap_destroy(h1);
	th_upload_destroy(u1);
	th_upload_destroy(u2);
	teardown();
}

TEST(uploads_beyond_the_limit_fail_with_uploads)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *up[5];
	char name[8];

	setup();
	batch = th_batch(bad);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		up[i] = th_upload(bad, batch, rbad, name, 8, 8, ARGB, 0);
	}
	th_commit(bad, batch);
	for (int i = 0; i < 4; i++) {
		assert(up[i]->fd >= 0 && up[i]->failed == 0);
	}
	assert(up[4]->failed == PIXCACHE_BATCH_V1_FAILURE_UPLOADS);
	assert_good_client_served();
	for (int i = 0; i < 5; i++) {
		th_upload_destroy(up[i]);
	}
	th_batch_destroy(batch);
	teardown();
}

TEST(leases_beyond_the_limit_fail_with_leases)
{
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *pm[17];
	struct th_upload *up;

	setup();
	up = th_put(good, rgood, "popular", 8, 8, 1);
	batch = th_batch(bad);
	for (int i = 0; i < 17; i++) {
		pm[i] = th_lookup(bad, batch, rbad, "popular");
	}
	th_commit(bad, batch);
	for (int i = 0; i < 16; i++) {
		assert(pm[i]->buffer);
	}
	assert(pm[16]->failed == PIXCACHE_BATCH_V1_FAILURE_LEASES);
	assert_good_client_served();
	for (int i = 0; i < 17; i++) {
		th_pixmap_destroy(pm[i]);
	}
	th_batch_destroy(batch);
	th_upload_destroy(up);
	teardown();
}

struct refusal_seen {
	struct wl_listener listener;
	int count;
	bool manager;
	uint32_t reason;
	char realm[1024];
};

static void
on_refused(struct wl_listener *listener, void *data)
{
	struct refusal_seen *seen = wl_container_of(listener, seen, listener);
	const struct pixcache_refusal *refusal = data;

	seen->count++;
	seen->manager = refusal->realm == NULL;
	seen->reason = refusal->reason;
	snprintf(seen->realm, sizeof(seen->realm), "%s",
		refusal->realm != NULL ? refusal->realm : "");
}

/* A realm name cannot forge log lines or drive the terminal of whoever
 * reads the compositor's log. */
TEST(a_denied_realm_reaches_the_log_escaped)
{
	struct refusal_seen seen = { .listener.notify = on_refused };
	struct th_realm *evil;

	setup();
	pixcache_manager_add_refused_listener(server->manager, &seen.listener);
	evil = th_realm_get(bad, "evil\n[pixcache] ok\x1b[31m\"\\");
	assert(evil->denied == PIXCACHE_BATCH_V1_FAILURE_POLICY);
	assert(seen.count == 1 && !seen.manager);
	assert(strcmp(seen.realm,
		"evil\\x0a[pixcache] ok\\x1b[31m\\x22\\x5c") == 0);
	for (const char *c = seen.realm; *c != '\0'; c++) {
		assert(*c >= 0x20 && *c <= 0x7e);
	}
	wl_list_remove(&seen.listener.link);
	th_realm_destroy(evil);
	assert_good_client_served();
	teardown();
}

TEST(connections_beyond_the_limit_are_refused)
{
	struct refusal_seen seen = { .listener.notify = on_refused };
	struct th_client *more[3];
	struct th_client *refused;

	setup();
	pixcache_manager_add_refused_listener(server->manager, &seen.listener);
	/* good and bad are two of the four allowed for this uid. */
	for (int i = 0; i < 2; i++) {
		more[i] = th_client_connect(server);
		assert(more[i]->refused == 0 && more[i]->instance != 0);
	}
	refused = th_client_connect(server);
	assert(refused->refused == PIXCACHE_MANAGER_V1_REFUSAL_CONNECTIONS);
	assert(refused->instance == 0);
	/* The compositor hears of it, to log it. */
	assert(seen.count == 1 && seen.manager &&
		seen.reason == PIXCACHE_MANAGER_V1_REFUSAL_CONNECTIONS);
	wl_list_remove(&seen.listener.link);
	th_client_disconnect(refused);
	th_client_disconnect(more[0]);
	more[2] = th_client_connect(server);
	assert(more[2]->refused == 0);
	th_client_disconnect(more[1]);
	th_client_disconnect(more[2]);
	assert_good_client_served();
	teardown();
}

TEST(sessions_beyond_the_limit_on_one_connection_are_refused)
{
	struct refusal_seen seen = { .listener.notify = on_refused };
	struct th_client *sessions[7], *refused, *more;
	struct pixcache_config config;

	th_config(&config);
	config.max_sessions_per_connection = 8;
	setup_with(&config, NULL);
	pixcache_manager_add_refused_listener(server->manager, &seen.listener);
	/* bad's own session is the first of its eight. */
	for (int i = 0; i < 7; i++) {
		sessions[i] = th_session(bad);
		assert(sessions[i]->refused == 0 &&
			sessions[i]->instance != 0);
	}
	refused = th_session(bad);
	assert(refused->refused == PIXCACHE_MANAGER_V1_REFUSAL_SESSIONS);
	assert(refused->instance == 0);
	assert(seen.count == 1 && seen.manager &&
		seen.reason == PIXCACHE_MANAGER_V1_REFUSAL_SESSIONS);
	wl_list_remove(&seen.listener.link);
	/* Other connections of the same uid notice nothing. */
	assert_good_client_served();
	more = th_client_connect(server);
	assert(more->refused == 0 && more->instance != 0);
	th_client_disconnect(more);
	/* An ended session frees its place. */
	th_session_end(refused);
	th_session_end(sessions[0]);
	sessions[0] = th_session(bad);
	assert(sessions[0]->refused == 0 && sessions[0]->instance != 0);
	for (int i = 0; i < 7; i++) {
		th_session_end(sessions[i]);
	}
	teardown();
}

/* Raises the soft fd limit to n, or skips: the test needs that many. */
static void
need_fds(rlim_t n)
{
	struct rlimit limit;

	assert(getrlimit(RLIMIT_NOFILE, &limit) == 0);
	if (limit.rlim_max < n) {
		test_skip("needs %lu fds, the hard limit is %lu",
			(unsigned long)n, (unsigned long)limit.rlim_max);
	}
	if (limit.rlim_cur < n) {
		limit.rlim_cur = n;
		assert(setrlimit(RLIMIT_NOFILE, &limit) == 0);
	}
}

enum { DESKTOP = 256 };

/*
 * Under the defaults, one uid: a hostile connection binds the manager as
 * often as it may, and 256 applications connected at once are each served
 * a pixmap.
 */
TEST(a_desktop_of_256_connections_is_served_while_one_holds_every_session)
{
	struct th_client *sessions[64], *desktop[DESKTOP];
	struct pixcache_config config;
	struct pixcache_stats stats;
	struct th_upload *up;
	int nsessions = 0;

	need_fds(8 * DESKTOP + 256);
	pixcache_config_init(&config);
	setup_with(&config, NULL);
	up = th_put(good, rgood, "shared", 16, 16, 7);
	assert(up->stored);
	for (;;) {
		assert(nsessions < 64);
		sessions[nsessions] = th_session(bad);
		if (sessions[nsessions++]->refused != 0) {
			break;
		}
	}
	assert(sessions[nsessions - 1]->refused ==
		PIXCACHE_MANAGER_V1_REFUSAL_SESSIONS);
	/* Its first session and the ones it made, then the refused one. */
	assert((uint32_t)nsessions == config.max_sessions_per_connection);
	for (int i = 0; i < DESKTOP; i++) {
		struct th_realm *realm;
		struct pixcache_batch_v1 *batch;
		struct th_pixmap *pm;

		desktop[i] = th_client_connect(server);
		assert(desktop[i]->refused == 0 && desktop[i]->instance != 0);
		realm = th_realm_get(desktop[i], "default");
		batch = th_batch(desktop[i]);
		pm = th_lookup(desktop[i], batch, realm, "shared");
		assert(th_commit(desktop[i], batch));
		assert(pm->buffer && th_pixmap_has_pattern(pm, 7));
		th_pixmap_destroy(pm);
		th_batch_destroy(batch);
		th_realm_destroy(realm);
	}
	pixcache_manager_get_stats(server->manager, &stats);
	assert(stats.clients == DESKTOP + 2);
	assert(stats.sessions == DESKTOP + 1 +
		config.max_sessions_per_connection);
	for (int i = 0; i < DESKTOP; i++) {
		th_client_disconnect(desktop[i]);
	}
	for (int i = 0; i < nsessions; i++) {
		th_session_end(sessions[i]);
	}
	th_upload_destroy(up);
	teardown();
}

/*
 * A client that sends lookups and never reads: the manager stops sending
 * it fds at the cap, and keeps sending them to others.
 */
TEST(a_client_that_never_reads_gets_no_more_than_its_fd_cap)
{
	struct th_upload *up[12];
	struct th_pixmap *pm[12];
	struct pixcache_batch_v1 *batch;
	int buffers = 0, limited = 0;
	struct pixcache_config config;
	char name[16];

	th_config(&config);
	config.budget = 32 << 20;
	setup_with(&config, NULL);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "large-%d", i);
		up[i] = th_put(good, rgood, name, 300, 300, (uint32_t)i);
		assert(up[i]->stored);
	}
	batch = th_batch(bad);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "large-%d", i);
		pm[i] = th_lookup(bad, batch, rbad, name);
	}
	pixcache_batch_v1_commit(batch, 1);
	wl_display_flush(bad->display);
	for (int i = 0; i < 20; i++) {
		th_server_dispatch(server);
	}
	/* Meanwhile, another client gets its fds. */
	assert_good_client_served();
	/* Now bad reads: its table's fd and 7 buffers, the rest refused. */
	assert(th_roundtrip(bad));
	for (int i = 0; i < 12; i++) {
		buffers += pm[i]->buffer;
		limited += pm[i]->failed == PIXCACHE_BATCH_V1_FAILURE_FD_LIMIT;
	}
	assert(buffers == 7 && limited == 5);
	/* Acknowledging what it received lets more through. */
	th_commit(bad, batch);
	th_pixmap_destroy(pm[11]);
	pm[11] = th_lookup(bad, batch, rbad, "large-11");
	th_commit(bad, batch);
	assert(pm[11]->buffer);
	for (int i = 0; i < 12; i++) {
		th_pixmap_destroy(pm[i]);
		th_upload_destroy(up[i]);
	}
	th_batch_destroy(batch);
	teardown();
}

/*
 * One connection binding the manager twice gets one fd cap, not two: the
 * kernel limits fds in flight per user, across every socket.
 */
TEST(sessions_of_one_connection_share_its_fd_cap)
{
	struct th_pixmap *pm[2][12];
	struct th_upload *up[12];
	struct pixcache_batch_v1 *batch[2];
	struct pixcache_config config;
	struct th_client *session[2];
	struct th_realm *realm[2];
	int buffers = 0, limited = 0, tables = 0;
	char name[16];

	th_config(&config);
	config.budget = 32 << 20;
	setup_with(&config, NULL);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "large-%d", i);
		up[i] = th_put(good, rgood, name, 300, 300, (uint32_t)i);
		assert(up[i]->stored);
	}
	session[0] = bad;
	realm[0] = rbad;
	session[1] = th_session(bad);
	realm[1] = th_realm_get(session[1], "default");
	for (int s = 0; s < 2; s++) {
		batch[s] = th_batch(session[s]);
		for (int i = 0; i < 12; i++) {
			snprintf(name, sizeof(name), "large-%d", i);
			pm[s][i] = th_lookup(session[s], batch[s], realm[s],
				name);
		}
		pixcache_batch_v1_commit(batch[s], 1);
	}
	wl_display_flush(bad->display);
	for (int i = 0; i < 20; i++) {
		th_server_dispatch(server);
	}
	assert_good_client_served();
	assert(th_roundtrip(bad));
	for (int s = 0; s < 2; s++) {
		tables += realm[s]->table_fd >= 0;
		for (int i = 0; i < 12; i++) {
			buffers += pm[s][i]->buffer;
			limited += pm[s][i]->failed ==
				PIXCACHE_BATCH_V1_FAILURE_FD_LIMIT;
		}
	}
	/* Nothing was acknowledged: the two tables and the buffers are
	 * the connection's 8, and every other lookup was refused. */
	assert(tables == 2);
	assert(tables + buffers == (int)config.max_fds_in_flight);
	assert(buffers + limited == 24);
	for (int s = 0; s < 2; s++) {
		for (int i = 0; i < 12; i++) {
			th_pixmap_destroy(pm[s][i]);
		}
		th_batch_destroy(batch[s]);
	}
	th_realm_destroy(realm[1]);
	th_session_end(session[1]);
	for (int i = 0; i < 12; i++) {
		th_upload_destroy(up[i]);
	}
	teardown();
}

TEST(an_unknown_or_old_ack_is_ignored)
{
	struct pixcache_batch_v1 *batch;

	setup();
	batch = th_batch(bad);
	th_ack(bad, 0x12345678);
	th_ack(bad, 0);
	th_commit(bad, batch);
	th_ack(bad, bad->last_token);
	assert(th_roundtrip(bad));
	th_batch_destroy(batch);
	teardown();
}

TEST(extra_fds_on_requests_that_take_none_are_dropped_with_the_client)
{
	struct pixcache_batch_v1 *batch;
	int fds[4];
	uint32_t serial = 77;

	setup();
	batch = th_batch(bad);
	th_commit(bad, batch);
	for (int i = 0; i < 4; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert(fds[i] >= 0);
	}
	/* commit takes a uint only. */
	th_send_raw(bad, wl_proxy_get_id((struct wl_proxy *)batch),
		PIXCACHE_BATCH_V1_COMMIT, &serial, 1, fds, 4);
	for (int i = 0; i < 4; i++) {
		close(fds[i]);
	}
	assert(th_roundtrip(bad));
	assert_good_client_served();
	th_batch_destroy(batch);
	assert_bad_client_cleaned();
	teardown();
}

/* ---- disconnection at every step ---- */

TEST(disconnecting_during_an_upload_frees_it_and_its_waiters_learn)
{
	for (int step = 0; step < 3; step++) {
		struct pixcache_batch_v1 *batch;
		struct th_upload *up;
		struct th_pixmap *waiter = NULL;

		setup();
		batch = th_batch(bad);
		up = th_upload(bad, batch, rbad, "x", 300, 300, ARGB, 0);
		if (step == 0) {
			/* Sent, never answered by a roundtrip. */
			pixcache_batch_v1_commit(batch, 1);
			wl_display_flush(bad->display);
			th_server_dispatch(server);
		} else {
			th_commit(bad, batch);
			waiter = hold(good, rgood, "x");
			assert(waiter->pending);
		}
		if (step == 2) {
			th_upload_fill(up, 1);
		}
		th_upload_destroy(up);
		th_batch_destroy(batch);
		assert_bad_client_cleaned();
		if (waiter != NULL) {
			assert(th_roundtrip(good));
			/* The claim passes to it: it fills the name now. */
			assert(waiter->claimed && !waiter->missing);
			th_pixmap_destroy(waiter);
		}
		assert_good_client_served();
		teardown();
	}
}

TEST(disconnecting_with_many_leases_releases_them_all)
{
	struct pixcache_batch_v1 *batch;
	struct th_upload *up[8];
	struct th_pixmap *pm[16];
	char name[16];

	setup();
	batch = th_batch(bad);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		/* Two with buffers of their own: 4 fds with the pool and
		 * table, under the cap of 8. */
		up[i] = th_put(good, rgood, name, i % 4 ? 16 : 300, 16,
			(uint32_t)i);
		pm[2 * i] = th_lookup(bad, batch, rbad, name);
		pm[2 * i + 1] = th_lookup_key(bad, batch, up[i]->key);
	}
	th_commit(bad, batch);
	{
		struct pixcache_stats stats;

		pixcache_manager_get_stats(server->manager, &stats);
		assert(stats.leases == 16);
	}
	/* Never destroyed by the client: the disconnect must free them. */
	for (int i = 0; i < 16; i++) {
		assert(pm[i]->buffer);
		th_pixmap_forget(pm[i]);
	}
	th_batch_destroy(batch);
	for (int i = 0; i < 8; i++) {
		th_upload_destroy(up[i]);
	}
	assert_bad_client_cleaned();
	teardown();
}

