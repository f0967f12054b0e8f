/*
 * Allocation failure, the SQLite way: for every operation, fail allocation
 * N for N = 1, 2, ... until the operation succeeds, once with that single
 * failure and once with every allocation from N on failing. After each
 * failure the cache must be exactly as before (the full dump, tags
 * included, and the checker), with not one byte more allocated.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-helpers.h"
#include "test-runner.h"

static struct test_alloc alloc;
static long failure_points;

/*
 * A scenario builds a cache in some state, runs one operation on it and
 * checks what a success did. It is built afresh for each failure mode.
 */
struct scenario {
	const char *name;
	struct pxc_cache *(*setup)(void *data);
	int (*op)(struct pxc_cache *cache, void *data);
	void (*verify)(struct pxc_cache *cache, void *data);
	void *data;
};

static void
finish(struct pxc_cache *cache)
{
	test_check(cache);
	pxc_cache_destroy(cache);
	assert(atomic_load(&alloc.live_bytes) == 0);
	assert(atomic_load(&alloc.live_count) == 0);
	assert(atomic_load(&test_payloads_live) == 0);
}

/* Fails allocation n (and all after it, if rest) until op succeeds. */
static long
fail_in_turn(const struct scenario *s, bool rest)
{
	struct pxc_cache *cache = s->setup(s->data);

	for (long n = 1;; n++) {
		char *before = test_dump(cache, true);
		long bytes = atomic_load(&alloc.live_bytes);
		long count = atomic_load(&alloc.live_count);
		long failed = atomic_load(&alloc.failures);
		long live = atomic_load(&test_payloads_live);
		int ret;

		test_alloc_arm(&alloc, n, rest);
		ret = s->op(cache, s->data);
		test_alloc_disarm(&alloc);

		if (atomic_load(&alloc.failures) == failed) {
			/* Fewer than n allocations: it went through. */
			assert(ret == 0);
			free(before);
			s->verify(cache, s->data);
			finish(cache);
			return n - 1;
		}
		/* An allocation failed: so must the operation, cleanly. */
		if (ret != -ENOMEM) {
			test_fail("allocation %ld%s failed, the operation "
				"returned %d", n, rest ? " and later" : "",
				ret);
		}
		failure_points++;
		test_assert_unchanged(cache, before);
		test_check(cache);
		assert(atomic_load(&alloc.live_bytes) == bytes);
		assert(atomic_load(&alloc.live_count) == count);
		assert(atomic_load(&test_payloads_live) == live);
	}
}

/* Returns how many allocations the operation makes. */
static long
fail_each_allocation(const struct scenario *s)
{
	long once, rest, before = failure_points;

	test_alloc_init(&alloc);
	once = fail_in_turn(s, false);
	rest = fail_in_turn(s, true);
	assert(once == rest);
	printf("report: alloc: %s: %ld allocations, %ld failure points\n",
		s->name, once, failure_points - before);
	return once;
}

static struct pxc_cache *
new_cache(uint64_t budget, uint32_t capacity, uint32_t first_generation)
{
	struct pxc_cache_options o = {
		.budget = budget,
		.table_capacity = capacity,
		.allocator = &alloc.allocator,
		.release = test_payload_release,
		.first_generation = first_generation,
	};
	struct pxc_cache *cache = NULL;

	assert(pxc_cache_create(&o, &cache) == 0);
	return cache;
}

static void
fill(struct pxc_cache *cache, struct pxc_realm *realm, int n, uint64_t cost)
{
	char name[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "fill-%d", i);
		assert(test_insert(cache, realm, name, (uint64_t)i, cost, 0, 0,
			NULL) == 0);
	}
}

struct insert_args {
	struct pxc_realm *realm;
	struct pxc_hit held;		/* a hold the setup took, if any */
	const char *name;
	uint64_t cost;
	uint32_t flags;
	struct pxc_hit hit;
};

static int
do_insert(struct pxc_cache *cache, void *data)
{
	struct insert_args *a = data;

	return test_insert(cache, a->realm, a->name, 1000, a->cost, 0,
		a->flags, &a->hit);
}

static void
verify_insert(struct pxc_cache *cache, void *data)
{
	struct insert_args *a = data;
	struct pxc_hit found;

	assert(pxc_cache_find(cache, a->realm, a->name, strlen(a->name), 0,
		&found) == 0);
	assert(test_payload_id(found.payload) == 1000);
	pxc_cache_release(cache, a->hit.hold);
	pxc_cache_release(cache, a->held.hold);
	a->held.hold = NULL;
}

TEST(cache_creation_fails_cleanly_at_every_allocation)
{
	struct pxc_cache_options o = {
		.budget = 100,
		.table_capacity = 16,
		.allocator = &alloc.allocator,
		.release = test_payload_release,
	};

	test_alloc_init(&alloc);
	for (int rest = 0; rest <= 1; rest++) {
		for (long n = 1;; n++) {
			struct pxc_cache *cache = NULL;
			long failed = atomic_load(&alloc.failures);
			int ret;

			test_alloc_arm(&alloc, n, rest);
			ret = pxc_cache_create(&o, &cache);
			test_alloc_disarm(&alloc);
			if (atomic_load(&alloc.failures) == failed) {
				assert(ret == 0);
				pxc_cache_destroy(cache);
				break;
			}
			assert(ret == -ENOMEM && cache == NULL);
			assert(atomic_load(&alloc.live_bytes) == 0);
			failure_points++;
		}
	}
	assert(atomic_load(&alloc.live_bytes) == 0);
	printf("report: alloc: cache creation: %ld failure points\n",
		failure_points);
}

static struct pxc_cache *
setup_realms(void *data)
{
	int *existing = data;
	struct pxc_cache *cache = new_cache(1000, 64, 0);
	char name[16];

	for (int i = 0; i < *existing; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		test_realm_new(cache, name, 0);
	}
	return cache;
}

static int
do_realm_create(struct pxc_cache *cache, void *data)
{
	return pxc_cache_realm_create(cache, "new", NULL, NULL);
}

static void
verify_realm(struct pxc_cache *cache, void *data)
{
	assert(pxc_cache_realm_find(cache, "new") != NULL);
}

TEST(realm_creation_fails_cleanly_at_every_allocation)
{
	int none = 0, two = 2, four = 4;
	struct scenario first = {
		"first realm", setup_realms, do_realm_create, verify_realm,
		&none,
	};
	struct scenario third = {
		"third realm", setup_realms, do_realm_create, verify_realm,
		&two,
	};
	struct scenario fifth = {
		"fifth realm", setup_realms, do_realm_create, verify_realm,
		&four,
	};

	/* Realm, name, slots, generations, index; the first and the fifth
	 * also (re)allocate the array of realms. */
	assert(fail_each_allocation(&first) == 6);
	assert(fail_each_allocation(&third) == 5);
	assert(fail_each_allocation(&fifth) == 6);
}

static struct pxc_cache *
setup_empty(void *data)
{
	struct insert_args *a = data;
	struct pxc_cache *cache = new_cache(1000, 64, 0);

	a->realm = test_realm_new(cache, "default", 0);
	return cache;
}

TEST(plain_insert_fails_cleanly_at_every_allocation)
{
	struct insert_args args = { .name = "a", .cost = 10 };
	struct scenario s = {
		"insert", setup_empty, do_insert, verify_insert, &args,
	};

	assert(fail_each_allocation(&s) == 1);
}

/*
 * The hardest insert: it grows the name index and the slot table with its
 * generations (four slots retired, none free), evicts for the budget and
 * takes a hold, so every kind of change is pending when an allocation
 * fails.
 */
static struct pxc_cache *
setup_crowded(void *data)
{
	struct insert_args *a = data;
	struct pxc_cache *cache = new_cache(12 * 10, 64,
		PXC_GENERATION_RETIRED - 1);
	struct pxc_cache_stats stats;
	char name[32];

	a->realm = test_realm_new(cache, "default", 0);
	/* 12 entries in 16 slots, 4 retired: index and table just full. */
	fill(cache, a->realm, 12, 10);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "fill-%d", i);
		assert(pxc_cache_remove(cache, a->realm, name,
			strlen(name)) == 0);
		snprintf(name, sizeof(name), "more-%d", i);
		assert(test_insert(cache, a->realm, name, 100, 10, 0, 0,
			NULL) == 0);
	}
	assert(pxc_cache_find(cache, a->realm, "fill-5", 6, PXC_FIND_HOLD,
		&a->held) == 0);
	pxc_cache_get_stats(cache, &stats);
	assert(stats.retired_slots == 4 && stats.entries == 12);
	assert(stats.evictions == 0);
	return cache;
}

static void
verify_crowded(struct pxc_cache *cache, void *data)
{
	struct insert_args *a = data;
	struct pxc_cache_stats stats;

	pxc_cache_get_stats(cache, &stats);
	assert(stats.evictions == 3 && stats.entries == 10);
	assert(stats.retired_slots == 7);
	assert(pxc_cache_find(cache, a->realm, "fill-5", 6, 0, NULL) == 0);
	verify_insert(cache, data);
}

TEST(insert_that_grows_and_evicts_fails_cleanly)
{
	struct insert_args args = {
		.name = "new",
		.cost = 25,
		.flags = PXC_INSERT_HOLD,
	};
	struct scenario s = {
		"insert growing index and table, evicting, holding",
		setup_crowded, do_insert, verify_crowded, &args,
	};

	/* The entry, the index, the slot table and its generations. */
	assert(fail_each_allocation(&s) == 4);
}

static void
verify_replaced(struct pxc_cache *cache, void *data)
{
	struct pxc_cache_stats stats;

	pxc_cache_get_stats(cache, &stats);
	assert(stats.replacements == 1 && stats.held_only_bytes == 10);
	verify_insert(cache, data);
}

TEST(insert_replacing_a_held_entry_fails_cleanly)
{
	struct insert_args args = {
		.name = "fill-5",
		.cost = 25,
		.flags = PXC_INSERT_REPLACE,
	};
	struct scenario s = {
		"insert replacing a held entry", setup_crowded, do_insert,
		verify_replaced, &args,
	};

	/* The entry, the slot table and its generations: the replaced
	 * entry's slot retires. */
	assert(fail_each_allocation(&s) == 3);
}

static struct pxc_cache *
setup_quota(void *data)
{
	struct insert_args *a = data;
	struct pxc_cache *cache = new_cache(10000, 64, 0);

	test_realm_new(cache, "default", 0);
	a->realm = test_realm_new(cache, "app", 100);
	fill(cache, a->realm, 10, 10);
	return cache;
}

TEST(insert_into_a_full_quota_fails_cleanly)
{
	struct insert_args args = { .name = "new", .cost = 30 };
	struct scenario s = {
		"insert evicting for a quota", setup_quota, do_insert,
		verify_insert, &args,
	};

	assert(fail_each_allocation(&s) >= 1);
}

/* What allocates nothing must not call the allocator at all. */
TEST(lookups_removals_clear_and_limits_allocate_nothing)
{
	struct pxc_cache *cache;
	struct pxc_realm *realm;
	struct pxc_hit hit, held;
	long calls;

	test_alloc_init(&alloc);
	cache = new_cache(1000, 64, 0);
	realm = test_realm_new(cache, "default", 0);
	fill(cache, realm, 20, 10);
	test_alloc_arm(&alloc, 1, true);	/* every allocation fails */
	calls = atomic_load(&alloc.calls);

	assert(pxc_cache_find(cache, realm, "fill-1", 6, 0, &hit) == 0);
	assert(pxc_cache_find_key(cache, &hit.key, PXC_FIND_HOLD, &held) == 0);
	assert(pxc_cache_find(cache, realm, "nope", 4, 0, NULL) == -ENOENT);
	assert(pxc_cache_remove(cache, realm, "fill-2", 6) == 0);
	assert(pxc_cache_remove_key(cache, &hit.key) == 0);
	pxc_cache_set_budget(cache, 100);
	pxc_cache_realm_set_quota(cache, realm, 50);
	pxc_cache_clear(cache);
	pxc_cache_release(cache, held.hold);
	test_check(cache);

	assert(atomic_load(&alloc.calls) == calls);
	test_alloc_disarm(&alloc);
	finish(cache);
}
