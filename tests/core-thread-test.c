/*
 * The core from several threads at once: mixed inserts, lookups, holds,
 * removals, releases, clears and budget changes, with the checker running
 * concurrently. Run under ThreadSanitizer in CI. Payloads are checked to
 * be alive whenever a hold is used, and the hit and miss counters must add
 * up to exactly the lookups made.
 */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core-helpers.h"
#include "test-runner.h"

#define THREADS 4
#define OPS 100000
#define NAMES 256
#define HOLDS 32
#define KEYS 64

static struct pxc_cache *cache;
static struct pxc_realm *realms[2];
static atomic_bool stop_checker;
static atomic_long next_id;

struct worker {
	pthread_t thread;
	uint64_t rng;
	long lookups;
	long inserted;
	struct pxc_hit holds[HOLDS];
	int nholds;
	struct pxc_key keys[KEYS];
	int nkeys;
};

static uint64_t
rnd(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static void
hold(struct worker *w, const struct pxc_hit *hit)
{
	if (w->nholds == HOLDS) {
		pxc_cache_release(cache, w->holds[--w->nholds].hold);
	}
	w->holds[w->nholds++] = *hit;
}

static void
use_holds(struct worker *w)
{
	/* Whatever happened meanwhile, a held payload is still alive. */
	for (int i = 0; i < w->nholds; i++) {
		(void)test_payload_id(w->holds[i].payload);
	}
}

static void
do_insert(struct worker *w, int realm, const char *name)
{
	uint32_t flags = (uint32_t)(rnd(w) % 8);
	struct pxc_hit hit;
	int ret = test_insert(cache, realms[realm], name,
		(uint64_t)atomic_fetch_add(&next_id, 1), 1 + rnd(w) % 20,
		rnd(w) % 3, flags, &hit);

	assert(ret == 0 || ret == -EEXIST || ret == -ENOSPC ||
		ret == -EDQUOT || ret == -EFBIG);
	if (ret == 0) {
		w->inserted++;
		w->keys[rnd(w) % KEYS] = hit.key;
		w->nkeys = w->nkeys < KEYS ? w->nkeys + 1 : KEYS;
		if (flags & PXC_INSERT_HOLD) {
			hold(w, &hit);
		}
	}
}

static void
do_lookup(struct worker *w, int realm, const char *name, bool by_key)
{
	uint32_t flags = rnd(w) % 3 == 0 ? PXC_FIND_HOLD : 0;
	struct pxc_hit hit;
	int ret;

	if (by_key && w->nkeys > 0) {
		ret = pxc_cache_find_key(cache, &w->keys[rnd(w) % KEYS], flags,
			&hit);
	} else {
		ret = pxc_cache_find(cache, realms[realm], name, strlen(name),
			flags, &hit);
	}
	w->lookups++;
	assert(ret == 0 || ret == -ENOENT);
	/* Without a hold the payload may already be gone: only a held
	 * one may be touched. */
	if (ret == 0 && (flags & PXC_FIND_HOLD)) {
		(void)test_payload_id(hit.payload);
		hold(w, &hit);
	}
}

static void *
work(void *data)
{
	struct worker *w = data;
	char name[48];

	for (long i = 0; i < OPS; i++) {
		uint64_t op = rnd(w) % 100;
		int realm = (int)(rnd(w) % 2);

		snprintf(name, sizeof(name), "cursor/theme/n%d/24@1/0",
			(int)(rnd(w) % NAMES));
		if (op < 30) {
			do_insert(w, realm, name);
		} else if (op < 75) {
			do_lookup(w, realm, name, op >= 65);
		} else if (op < 83) {
			pxc_cache_remove(cache, realms[realm], name,
				strlen(name));
		} else if (op < 86 && w->nkeys > 0) {
			pxc_cache_remove_key(cache, &w->keys[rnd(w) % KEYS]);
		} else if (op < 98 && w->nholds > 0) {
			int k = (int)(rnd(w) % (uint64_t)w->nholds);

			pxc_cache_release(cache, w->holds[k].hold);
			w->holds[k] = w->holds[--w->nholds];
		} else if (op == 98) {
			pxc_cache_set_budget(cache, 500 + rnd(w) % 2000);
		} else if (rnd(w) % 50 == 0) {
			pxc_cache_clear(cache);
		}
		use_holds(w);
	}
	while (w->nholds > 0) {
		pxc_cache_release(cache, w->holds[--w->nholds].hold);
	}
	return NULL;
}

static void *
check_continuously(void *data)
{
	char why[256];
	long *checks = data;

	while (!atomic_load(&stop_checker)) {
		if (!pxc_cache_check(cache, why, sizeof(why))) {
			test_fail("checker, while threads ran: %s", why);
		}
		(*checks)++;
		/* Paced, so that the workers get the lock too. */
		nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
	}
	return NULL;
}

TEST(threads_mixing_every_operation_keep_the_cache_consistent)
{
	static struct worker workers[THREADS];
	struct test_alloc alloc;
	struct pxc_cache_stats stats;
	pthread_t checker;
	long lookups = 0, inserted = 0, checks = 0;

	test_alloc_init(&alloc);
	cache = test_cache_new(&alloc, 1500, 128);
	realms[0] = test_realm_new(cache, "default", 0);
	realms[1] = test_realm_new(cache, "app", 600);

	assert(pthread_create(&checker, NULL, check_continuously,
		&checks) == 0);
	for (int i = 0; i < THREADS; i++) {
		workers[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		assert(pthread_create(&workers[i].thread, NULL, work,
			&workers[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert(pthread_join(workers[i].thread, NULL) == 0);
		lookups += workers[i].lookups;
		inserted += workers[i].inserted;
	}
	atomic_store(&stop_checker, true);
	assert(pthread_join(checker, NULL) == 0);

	test_check(cache);
	pxc_cache_get_stats(cache, &stats);
	assert(stats.hits + stats.misses == (uint64_t)lookups);
	assert(stats.inserts == (uint64_t)inserted);
	assert(stats.held_only_entries == 0 && stats.held_only_bytes == 0);
	assert(stats.indexed_bytes <= stats.budget);
	printf("report: threads: %d x %d operations, %ld lookups, %ld inserts, "
		"%ld concurrent checks\n", THREADS, OPS, lookups, inserted,
		checks);
	pxc_cache_destroy(cache);
	assert(atomic_load(&alloc.live_bytes) == 0);
	assert(atomic_load(&test_payloads_live) == 0);
}

#define MIN_REPLACEMENTS 2000
#define MAX_REPLACEMENTS (1 << 18)
#define MIN_CHECKS 20000

/* Every key the writer issued, in order; published up to latest. */
static struct pxc_key issued[MAX_REPLACEMENTS];
static atomic_long latest = -1;
static atomic_long checks;

struct reader {
	pthread_t thread;
	uint64_t rng;
	long hits;
	long stale;
};

/* Hits of the latest key, over every reader. */
static atomic_long latest_hits;

static void *
read_latest(void *data)
{
	struct reader *r = data;
	struct pxc_hit hit;

	while (!atomic_load(&stop_checker)) {
		long i = atomic_load_explicit(&latest, memory_order_acquire);
		long old;

		if (i < 1) {
			continue;
		}
		/* The latest key finds its own payload or nothing. */
		if (pxc_cache_find_key(cache, &issued[i], PXC_FIND_HOLD,
				&hit) == 0) {
			assert(test_payload_id(hit.payload) == (uint64_t)i);
			pxc_cache_release(cache, hit.hold);
			r->hits++;
			atomic_fetch_add(&latest_hits, 1);
		}
		/* An older one was replaced before i was published. */
		r->rng = r->rng * 6364136223846793005ULL + 1;
		old = (long)((r->rng >> 33) % (uint64_t)i);
		assert(pxc_cache_find_key(cache, &issued[old], PXC_FIND_HOLD,
			&hit) == -ENOENT);
		r->stale++;
		atomic_fetch_add(&checks, 1);
	}
	return NULL;
}

/*
 * Readers look keys up while a writer replaces the entry they name over
 * and over, reusing the same slot: a key finds the payload it was issued
 * for or nothing, never the entry that took its slot.
 */
TEST(a_stale_key_never_finds_another_payload_under_concurrency)
{
	struct reader readers[THREADS];
	long hits = 0, stale = 0;
	struct pxc_hit hit;

	cache = test_cache_new(NULL, 1000, 64);
	realms[0] = test_realm_new(cache, "default", 0);
	for (int i = 0; i < THREADS; i++) {
		readers[i] = (struct reader){ .rng = (uint64_t)i + 1 };
		assert(pthread_create(&readers[i].thread, NULL, read_latest,
			&readers[i]) == 0);
	}
	/* Until the readers checked enough, whichever side is faster. */
	for (long i = 0; i < MIN_REPLACEMENTS ||
			atomic_load(&checks) < MIN_CHECKS; i++) {
		assert(i < MAX_REPLACEMENTS);
		assert(test_insert(cache, realms[0], "x", (uint64_t)i, 1, 0,
			PXC_INSERT_REPLACE, &hit) == 0);
		issued[i] = hit.key;
		atomic_store_explicit(&latest, i, memory_order_release);
		if (i >= MIN_REPLACEMENTS) {
			sched_yield();
		}
	}
	/* The latest key stays current now: however the threads were
	 * scheduled (a loaded machine may let the writer win every race),
	 * the readers find it. */
	for (int i = 0; i < 5000 && atomic_load(&latest_hits) == 0; i++) {
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	atomic_store(&stop_checker, true);
	for (int i = 0; i < THREADS; i++) {
		assert(pthread_join(readers[i].thread, NULL) == 0);
		hits += readers[i].hits;
		stale += readers[i].stale;
	}
	/* The slot was reused with every replacement. */
	assert(issued[atomic_load(&latest)].slot == issued[0].slot);
	assert(hits > 0 && stale > 0);
	printf("report: threads: %d readers, %ld hits of the latest key, %ld stale "
		"keys refused\n", THREADS, hits, stale);
	test_check(cache);
	pxc_cache_destroy(cache);
	assert(atomic_load(&test_payloads_live) == 0);
}
