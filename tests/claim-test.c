/*
 * Claims over the protocol: the first lookup that misses a name claims it,
 * every other lookup of the name waits for that client's fill, and a claim
 * that ends unfilled (its holder gone, its object destroyed, its time up,
 * its upload failed) passes to the next waiter that may upload. Each test
 * one behaviour; every one ends with no claim, lease or upload left.
 */

#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "server-harness.h"
#include "test-runner.h"

#define ARGB DRM_FORMAT_ARGB8888

static struct th_server *server;
static struct th_client *a, *b, *c;
static struct th_realm *ra, *rb, *rc;

/* The client that may only read; everyone else may write too. */
static struct wl_client *reader;

static uint32_t
reader_access(void *data, struct wl_client *client, const char *realm)
{
	return PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_TABLE |
		(client == reader ? 0 : PIXCACHE_ACCESS_WRITE);
}

static const struct pixcache_policy reader_policy = {
	.realm_access = reader_access,
};

/* Client c is the reader, under reader_policy. */
static void
setup_full(const struct pixcache_config *config,
	const struct pixcache_policy *policy)
{
	server = th_server_create(config, policy);
	a = th_client_connect(server);
	b = th_client_connect(server);
	c = th_client_connect(server);
	reader = c->server_client;
	ra = th_realm_get(a, "default");
	rb = th_realm_get(b, "default");
	rc = th_realm_get(c, "default");
}

static void
setup_with(const struct pixcache_config *config)
{
	setup_full(config, NULL);
}

static void
setup(void)
{
	setup_full(NULL, NULL);
}

static void
teardown(void)
{
	struct pixcache_stats stats;

	th_realm_destroy(ra);
	th_realm_destroy(rb);
	th_realm_destroy(rc);
	th_client_disconnect(a);
	th_client_disconnect(b);
	th_client_disconnect(c);
	th_server_dispatch(server);
	pixcache_manager_get_stats(server->manager, &stats);
	assert(stats.clients == 0 && stats.leases == 0 &&
		stats.uploads == 0 && stats.claims == 0 &&
		stats.found_leases == 0);
	th_server_destroy(server);
}

/* Lets every client read what the manager sent. */
static void
settle(void)
{
	th_server_dispatch(server);
	th_roundtrip(a);
	th_roundtrip(b);
	th_roundtrip(c);
}

TEST(two_clients_missing_one_name_decode_it_once)
{
	struct th_pixmap *first, *second;
	struct th_upload *up;

	setup();
	first = th_lookup_now(a, ra, "icon");
	second = th_lookup_now(b, rb, "icon");
	assert(first->claimed && !first->missing);
	assert(second->pending && !second->claimed && !second->missing);
	assert(th_server_stats(server).claims == 1);
	/* The claimant's upload takes the claim over; the waiter waits on. */
	up = th_put(a, ra, "icon", 8, 8, 7);
	assert(up->stored);
	settle();
	assert(second->got_key && second->buffer &&
		th_pixmap_has_pattern(second, 7));
	assert(memcmp(second->key, up->key, sizeof(up->key)) == 0);
	assert(th_server_stats(server).claims == 0);
	th_pixmap_destroy(first);
	th_pixmap_destroy(second);
	th_upload_destroy(up);
	teardown();
}

TEST(another_clients_upload_of_a_claimed_name_is_busy)
{
	struct th_pixmap *claim;
	struct th_upload *up;

	setup();
	claim = th_lookup_now(a, ra, "icon");
	assert(claim->claimed);
	up = th_put(b, rb, "icon", 8, 8, 1);
	assert(up->failed == PIXCACHE_BATCH_V1_FAILURE_BUSY && !up->stored);
	th_upload_destroy(up);
	th_pixmap_destroy(claim);
	teardown();
}

TEST(the_claimants_disconnect_passes_the_claim_to_a_waiter)
{
	struct th_pixmap *claim, *waiter;
	struct th_upload *up;

	setup();
	claim = th_lookup_now(a, ra, "icon");
	waiter = th_lookup_now(b, rb, "icon");
	assert(claim->claimed && waiter->pending);
	th_pixmap_forget(claim);
	th_realm_destroy(ra);
	th_client_disconnect(a);
	a = th_client_connect(server);
	ra = th_realm_get(a, "default");
	settle();
	assert(waiter->claimed && !waiter->missing && !waiter->got_key);
	/* And the new claimant fills it. */
	up = th_put(b, rb, "icon", 8, 8, 3);
	assert(up->stored);
	th_pixmap_destroy(waiter);
	th_upload_destroy(up);
	teardown();
}

TEST(destroying_the_claim_passes_it_to_the_first_waiter_only)
{
	struct th_pixmap *claim, *first, *second;

	setup();
	claim = th_lookup_now(a, ra, "icon");
	first = th_lookup_now(b, rb, "icon");
	second = th_lookup_now(c, rc, "icon");
	assert(first->pending && second->pending);
	th_pixmap_destroy(claim);
	settle();
	assert(first->claimed);
	assert(second->pending && !second->claimed && !second->missing);
	th_pixmap_destroy(first);
	settle();
	assert(second->claimed);
	th_pixmap_destroy(second);
	settle();
	assert(th_server_stats(server).claims == 0);
	teardown();
}

TEST(a_claim_not_filled_in_time_passes_on)
{
	struct pixcache_config config;
	struct th_pixmap *claim, *waiter;

	th_config(&config);
	config.upload_timeout_ms = 100;
	setup_with(&config);
	claim = th_lookup_now(a, ra, "icon");
	waiter = th_lookup_now(b, rb, "icon");
	for (int i = 0; i < 100 && !waiter->claimed; i++) {
		usleep(10000);
		settle();
	}
	assert(waiter->claimed);
	assert(claim->failed == PIXCACHE_BATCH_V1_FAILURE_TIMEOUT);
	th_pixmap_destroy(claim);
	th_pixmap_destroy(waiter);
	teardown();
}

TEST(a_failed_fill_passes_the_claim_to_a_waiter)
{
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *claim, *waiter;
	struct th_upload *up;

	setup();
	claim = th_lookup_now(a, ra, "icon");
	waiter = th_lookup_now(b, rb, "icon");
	batch = th_batch(a);
	up = th_upload(a, batch, ra, "icon", 8, 8, ARGB, 0);
	th_commit(a, batch);
	assert(up->fd >= 0 && th_server_stats(server).claims == 0);
	/* The upload is cancelled: the name goes to the waiter. */
	th_upload_destroy(up);
	settle();
	assert(waiter->claimed);
	th_pixmap_destroy(claim);
	th_pixmap_destroy(waiter);
	th_batch_destroy(batch);
	teardown();
}

TEST(a_reader_that_may_not_upload_gets_missing_and_no_claim)
{
	struct th_pixmap *pm;

	setup_full(NULL, &reader_policy);
	pm = th_lookup_now(c, rc, "icon");
	assert(pm->missing && !pm->claimed);
	assert(th_server_stats(server).claims == 0);
	th_pixmap_destroy(pm);
	teardown();
}

TEST(a_passed_claim_skips_waiters_that_may_not_upload)
{
	struct th_pixmap *claim, *readonly, *writer;

	setup_full(NULL, &reader_policy);
	claim = th_lookup_now(a, ra, "icon");
	readonly = th_lookup_now(c, rc, "icon");
	writer = th_lookup_now(b, rb, "icon");
	assert(readonly->pending && writer->pending);
	th_pixmap_destroy(claim);
	settle();
	assert(readonly->missing && !readonly->claimed);
	assert(writer->claimed);
	th_pixmap_destroy(readonly);
	th_pixmap_destroy(writer);
	teardown();
}

TEST(past_its_claims_a_client_gets_missing)
{
	struct pixcache_config config;
	struct th_pixmap *one, *two;

	th_config(&config);
	config.max_claims = 1;
	setup_with(&config);
	one = th_lookup_now(a, ra, "one");
	two = th_lookup_now(a, ra, "two");
	assert(one->claimed && two->missing && !two->claimed);
	th_pixmap_destroy(one);
	th_pixmap_destroy(two);
	teardown();
}

TEST(a_name_claimed_by_one_session_is_uploaded_by_another_of_its_client)
{
	struct th_client *session;
	struct th_realm *rs;
	struct th_pixmap *claim, *waiter;
	struct th_upload *up;

	setup();
	session = th_session(a);
	rs = th_realm_get(session, "default");
	claim = th_lookup_now(a, ra, "icon");
	waiter = th_lookup_now(b, rb, "icon");
	up = th_put(session, rs, "icon", 8, 8, 2);
	assert(up->stored);
	settle();
	assert(waiter->buffer && th_pixmap_has_pattern(waiter, 2));
	th_pixmap_destroy(claim);
	th_pixmap_destroy(waiter);
	th_upload_destroy(up);
	th_realm_destroy(rs);
	th_session_end(session);
	teardown();
}

TEST(a_second_lookup_of_its_own_claim_is_claimed_too)
{
	struct th_pixmap *first, *second;
	struct th_upload *up;

	setup();
	first = th_lookup_now(a, ra, "icon");
	second = th_lookup_now(a, ra, "icon");
	/* Its client fills it: waiting for itself would never end. */
	assert(first->claimed && second->claimed && !second->pending);
	assert(th_server_stats(server).claims == 1);
	up = th_put(a, ra, "icon", 8, 8, 4);
	assert(up->stored);
	th_pixmap_destroy(first);
	th_pixmap_destroy(second);
	th_upload_destroy(up);
	teardown();
}

TEST(a_timed_out_claim_fails_its_own_clients_waiters_and_passes_on)
{
	struct pixcache_config config;
	struct th_pixmap *claim, *b1, *b2, *other;

	th_config(&config);
	config.upload_timeout_ms = 100;
	setup_with(&config);
	claim = th_lookup_now(a, ra, "icon");
	b1 = th_lookup_now(b, rb, "icon");
	b2 = th_lookup_now(b, rb, "icon");
	other = th_lookup_now(c, rc, "icon");
	assert(b1->pending && b2->pending && other->pending);
	/* The claim passes to b, whose first lookup then stalls. */
	th_pixmap_destroy(claim);
	settle();
	assert(b1->claimed && b2->pending);
	for (int i = 0; i < 100 && !other->claimed; i++) {
		usleep(10000);
		settle();
	}
	/* Its other lookup is as late: failed, not given the claim. */
	assert(b1->failed == PIXCACHE_BATCH_V1_FAILURE_TIMEOUT);
	assert(b2->failed == PIXCACHE_BATCH_V1_FAILURE_TIMEOUT &&
		!b2->claimed);
	assert(other->claimed);
	th_pixmap_destroy(b1);
	th_pixmap_destroy(b2);
	th_pixmap_destroy(other);
	teardown();
}

/*
 * A pixmap object costs the manager its lease until the client destroys
 * it, held or not: a client's objects are bounded (twice max_leases), so
 * asking a million times waiting on a claim grows nothing unbounded. Past
 * the bound a lookup is failed(leases) at once.
 */
TEST(pixmap_objects_are_bounded_per_connection)
{
	struct pixcache_config config;
	struct pixcache_batch_v1 *batch;
	struct th_pixmap *claim, *waiting[33];

	th_config(&config);
	config.max_leases = 16;
	setup_with(&config);
	claim = th_lookup_now(a, ra, "icon");
	settle();
	assert(claim->claimed);
	batch = th_batch(b);
	for (int i = 0; i < 33; i++) {
		waiting[i] = th_lookup(b, batch, rb, "icon");
	}
	th_commit(b, batch);
	settle();
	for (int i = 0; i < 32; i++) {
		assert(waiting[i]->pending && waiting[i]->failed == 0);
	}
	assert(!waiting[32]->pending &&
		waiting[32]->failed == PIXCACHE_BATCH_V1_FAILURE_LEASES);
	/* Destroyed objects give their room back. */
	th_pixmap_destroy(waiting[0]);
	th_pixmap_destroy(waiting[32]);
	waiting[0] = th_lookup(b, batch, rb, "icon");
	th_commit(b, batch);
	settle();
	assert(waiting[0]->pending);
	for (int i = 0; i < 32; i++) {
		th_pixmap_destroy(waiting[i]);
	}
	th_batch_destroy(batch);
	th_pixmap_destroy(claim);
	teardown();
}
