/*
 * Random operation sequences over fixed seeds, every result compared with
 * the reference model (core-model.c): return values, keys down to slot and
 * generation, statistics, and periodically every realm's entries in CLOCK
 * order. The checker runs after every operation. A failure prints the seed
 * and the operation number; PXC_PROPERTY_SEED=N replays one sequence.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-helpers.h"
#include "core-model.h"
#include "test-runner.h"

#define SEQUENCES 20
#define OPS_PER_SEQUENCE 50000
#define NAMES 48
#define MAX_HOLDS 64
#define MAX_KEYS 256

struct hold {
	int entry;			/* the model's */
	struct pxc_entry *handle;	/* the core's */
};

/* How often each insert outcome happened, to show what was exercised. */
static long outcomes[5];
static const int outcome_errno[5] = { 0, EEXIST, EFBIG, EDQUOT, ENOSPC };

struct run {
	uint64_t seed;
	long op;
	uint64_t rng;
	struct pxc_cache *cache;
	struct pxc_realm *realms[MODEL_REALMS];
	struct model model;
	struct hold holds[MAX_HOLDS];
	int nholds;
	struct pxc_key keys[MAX_KEYS];	/* issued keys, most stale by now */
	int nkeys;
	uint64_t next_id;
};

static struct run run;
static struct pxc_cache_stats last_stats;
static struct pxc_cache_stats sum_stats;

#define require(cond) do { \
	if (!(cond)) { \
		test_fail("%s:%d: %s (seed %" PRIu64 ", operation %ld)", \
			__FILE__, __LINE__, #cond, run.seed, run.op); \
	} \
} while (0)

static uint64_t
next(void)
{
	/* splitmix64: reproducible, and the tests need nothing more. */
	uint64_t z = (run.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
below(uint64_t n)
{
	return next() % n;
}

static void
random_name(char *name, size_t size)
{
	snprintf(name, size, "icon/theme/name-%02d/48@1", (int)below(NAMES));
}

static bool
same_key(const struct pxc_key *a, const struct pxc_key *b)
{
	return a->instance == b->instance && a->slot == b->slot &&
		a->generation == b->generation && a->tag == b->tag;
}

static void
remember_key(const struct pxc_key *key)
{
	if (run.nkeys < MAX_KEYS) {
		run.keys[run.nkeys++] = *key;
	} else {
		run.keys[below(MAX_KEYS)] = *key;
	}
}

static void
add_hold(int entry, struct pxc_entry *handle)
{
	require(handle != NULL);
	if (run.nholds == MAX_HOLDS) {
		/* Full: let go of one at random first. */
		int i = (int)below(MAX_HOLDS);

		pxc_cache_release(run.cache, run.holds[i].handle);
		model_release(&run.model, run.holds[i].entry);
		run.holds[i] = run.holds[--run.nholds];
	}
	run.holds[run.nholds++] = (struct hold){ entry, handle };
}

static void
compare_hit(int entry, const struct pxc_hit *hit)
{
	const struct model_entry *e = &run.model.entries[entry];
	struct pxc_key key = model_key(&run.model, entry,
		pxc_cache_instance(run.cache));

	require(same_key(&hit->key, &key));
	require(test_payload_id(hit->payload) == e->id);
	require(hit->cost == e->cost && hit->owner == e->owner);
}

/* A lookup found what the model found, and its hold is kept. */
static void
compare_lookup(int entry, int ret, bool hold, const struct pxc_hit *hit)
{
	require(ret == (entry >= 0 ? 0 : -ENOENT));
	if (entry >= 0) {
		compare_hit(entry, hit);
		if (hold) {
			add_hold(entry, hit->hold);
		}
	}
}

static void
op_insert(void)
{
	int realm = (int)below((uint64_t)run.model.nrealms);
	uint32_t flags = (uint32_t)below(8);
	uint64_t cost = 1 + below(below(4) == 0 ? 400 : 40);
	uint64_t owner = below(3);
	struct pxc_hit hit;
	char name[64];
	int ret, expect, entry = -1;

	random_name(name, sizeof(name));
	if (below(16) == 0) {
		name[0] = '\0';	/* anonymous */
	}
	expect = model_insert(&run.model, realm, name, run.next_id, cost,
		owner, flags, &entry);
	ret = test_insert(run.cache, run.realms[realm], name[0] ? name : NULL,
		run.next_id, cost, owner, flags, &hit);
	run.next_id++;
	require(ret == expect);
	for (int i = 0; i < 5; i++) {
		outcomes[i] += -ret == outcome_errno[i];
	}
	if (ret < 0) {
		return;
	}
	run.model.entries[entry].tag = hit.key.tag;
	compare_hit(entry, &hit);
	remember_key(&hit.key);
	if (flags & PXC_INSERT_HOLD) {
		add_hold(entry, hit.hold);
	} else {
		require(hit.hold == NULL);
	}
}

static void
op_find(void)
{
	int realm = (int)below((uint64_t)run.model.nrealms);
	bool hold = below(4) == 0;
	struct pxc_hit hit;
	char name[64];
	int entry, ret;

	random_name(name, sizeof(name));
	entry = model_find(&run.model, realm, name, hold);
	ret = pxc_cache_find(run.cache, run.realms[realm], name, strlen(name),
		hold ? PXC_FIND_HOLD : 0, &hit);
	compare_lookup(entry, ret, hold, &hit);
}

static struct pxc_key
random_key(void)
{
	struct pxc_key key;

	if (run.nkeys == 0) {
		return (struct pxc_key){ 0 };
	}
	key = run.keys[below((uint64_t)run.nkeys)];
	switch (below(8)) {
	case 0:
		key.tag ^= 1ULL << below(64);
		break;
	case 1:
		key.generation += (uint32_t)below(3) - 1;
		break;
	case 2:
		key.slot = (uint32_t)below(MODEL_REALMS * MODEL_CAPACITY + 8);
		break;
	case 3:
		key.instance ^= 1;
		break;
	default:
		break;
	}
	return key;
}

static void
op_find_key(void)
{
	struct pxc_key key = random_key();
	bool hold = below(4) == 0;
	uint64_t instance = pxc_cache_instance(run.cache);
	struct pxc_hit hit;
	int entry = model_find_key(&run.model, &key, instance, hold);
	int ret = pxc_cache_find_key(run.cache, &key,
		hold ? PXC_FIND_HOLD : 0, &hit);

	compare_lookup(entry, ret, hold, &hit);
}

static void
op_remove(void)
{
	int realm = (int)below((uint64_t)run.model.nrealms);
	char name[64];
	bool removed;

	random_name(name, sizeof(name));
	removed = model_remove(&run.model, realm, name);
	require(pxc_cache_remove(run.cache, run.realms[realm], name,
		strlen(name)) == (removed ? 0 : -ENOENT));
}

static void
op_remove_key(void)
{
	struct pxc_key key = random_key();
	bool removed = model_remove_key(&run.model, &key,
		pxc_cache_instance(run.cache));

	require(pxc_cache_remove_key(run.cache, &key) ==
		(removed ? 0 : -ENOENT));
}

static void
op_release(void)
{
	int i;

	if (run.nholds == 0) {
		return;
	}
	i = (int)below((uint64_t)run.nholds);
	model_release(&run.model, run.holds[i].entry);
	pxc_cache_release(run.cache, run.holds[i].handle);
	run.holds[i] = run.holds[--run.nholds];
}

static void
op_limits(void)
{
	switch (below(3)) {
	case 0: {
		uint64_t budget = 200 + below(2000);

		model_set_budget(&run.model, budget);
		pxc_cache_set_budget(run.cache, budget);
		break;
	}
	case 1: {
		int realm = (int)below((uint64_t)run.model.nrealms);
		uint64_t quota = below(3) == 0 ? 0 : 100 + below(1000);

		model_set_quota(&run.model, realm, quota);
		pxc_cache_realm_set_quota(run.cache, run.realms[realm], quota);
		break;
	}
	default:
		model_clear(&run.model);
		pxc_cache_clear(run.cache);
		break;
	}
}

static void
compare_stats(void)
{
	struct pxc_cache_stats s;
	const struct pxc_cache_stats *m = &run.model.stats;

	pxc_cache_get_stats(run.cache, &s);
	require(s.budget == m->budget && s.entries == m->entries);
	require(s.indexed_bytes == m->indexed_bytes);
	require(s.held_only_entries == m->held_only_entries);
	require(s.held_only_bytes == m->held_only_bytes);
	require(s.hits == m->hits && s.misses == m->misses);
	require(s.inserts == m->inserts && s.replacements == m->replacements);
	require(s.removals == m->removals && s.evictions == m->evictions);
	require(s.retired_slots == m->retired_slots && s.realms == m->realms);
}

struct walk {
	const struct model_realm *realm;
	uint32_t slot;
};

/* Entries come in slot order: the model's next occupied slot. */
static bool
compare_entry(const struct pxc_entry_info *info, void *data)
{
	struct walk *w = data;
	int entry;
	const struct model_entry *e;

	while (w->realm->slot_entry[w->slot] < 0) {
		w->slot++;
	}
	entry = w->realm->slot_entry[w->slot++];
	e = &run.model.entries[entry];
	struct pxc_key key = model_key(&run.model, entry,
		pxc_cache_instance(run.cache));

	require(info->name_len == strlen(e->name));
	require(memcmp(info->name, e->name, info->name_len) == 0);
	require(same_key(&info->key, &key) && info->cost == e->cost);
	require(info->held == (e->holds > 0));
	return true;
}

/* Every realm's entries, slot by slot, as in the model. */
static void
compare_entries(void)
{
	for (int i = 0; i < run.model.nrealms; i++) {
		struct walk w = { &run.model.realms[i], 0 };
		struct pxc_realm_stats rs;

		require(pxc_cache_for_each(run.cache, run.realms[i],
			compare_entry, &w) == (size_t)run.model.realms[i].n);
		pxc_cache_get_realm_stats(run.cache, run.realms[i], &rs);
		require(rs.held_only_bytes == run.model.realms[i].held_bytes);
		require(rs.held_only_entries ==
			run.model.realms[i].held_entries);
		require(rs.retired_slots == run.model.realms[i].retired);
		require(rs.slots_used == run.model.realms[i].slots_used);
	}
}

static void
one_op(void)
{
	uint64_t r = below(100);

	if (r < 35) {
		op_insert();
	} else if (r < 60) {
		op_find();
	} else if (r < 72) {
		op_find_key();
	} else if (r < 80) {
		op_remove();
	} else if (r < 85) {
		op_remove_key();
	} else if (r < 99) {
		op_release();
	} else {
		op_limits();
	}
}

static void
run_sequence(uint64_t seed, long ops)
{
	struct test_alloc alloc;
	char why[256];
	/* Odd seeds start generations near the top, so slots retire. */
	uint32_t first = seed & 1 ? PXC_GENERATION_RETIRED - 60 : 0;
	struct pxc_cache_options options = {
		.budget = 1500,
		.table_capacity = MODEL_CAPACITY,
		.allocator = &alloc.allocator,
		.release = test_payload_release,
		.first_generation = first,
	};
	static const uint64_t quotas[MODEL_REALMS] = { 0, 600, 300, 0 };
	char realm_name[16];

	memset(&run, 0, sizeof(run));
	run.seed = seed;
	run.rng = seed;
	test_alloc_init(&alloc);
	assert(pxc_cache_create(&options, &run.cache) == 0);
	model_init(&run.model, options.budget, MODEL_CAPACITY, first);
	for (int i = 0; i < MODEL_REALMS; i++) {
		snprintf(realm_name, sizeof(realm_name), "realm-%d", i);
		run.realms[i] = test_realm_new(run.cache, realm_name, quotas[i]);
		model_add_realm(&run.model, quotas[i]);
	}

	for (run.op = 0; run.op < ops; run.op++) {
		one_op();
		if (!pxc_cache_check(run.cache, why, sizeof(why))) {
			test_fail("seed %" PRIu64 " operation %ld: %s", seed,
				run.op, why);
		}
		compare_stats();
		if (run.op % 64 == 0) {
			compare_entries();
		}
	}
	compare_entries();

	pxc_cache_get_stats(run.cache, &last_stats);
	while (run.nholds > 0) {
		op_release();
	}
	pxc_cache_destroy(run.cache);
	require(atomic_load(&alloc.live_bytes) == 0);
	require(atomic_load(&test_payloads_live) == 0);
}

TEST(core_matches_the_model_over_random_sequences)
{
	const char *only = getenv("PXC_PROPERTY_SEED");
	long total = 0;

	if (only != NULL) {
		run_sequence(strtoull(only, NULL, 10), OPS_PER_SEQUENCE);
		return;
	}
	for (uint64_t seed = 1; seed <= SEQUENCES; seed++) {
		run_sequence(seed, OPS_PER_SEQUENCE);
		total += OPS_PER_SEQUENCE;
		sum_stats.evictions += last_stats.evictions;
		sum_stats.replacements += last_stats.replacements;
		sum_stats.retired_slots += last_stats.retired_slots;
		sum_stats.hits += last_stats.hits;
		sum_stats.removals += last_stats.removals;
	}
	printf("report: property: %ld operations over %d seeds, checker after each\n",
		total, SEQUENCES);
	printf("report: property: inserts ok %ld, exists %ld, too big %ld, "
		"over quota %ld, over budget %ld\n", outcomes[0], outcomes[1],
		outcomes[2], outcomes[3], outcomes[4]);
	printf("report: property: evictions %" PRIu64 ", replacements %" PRIu64
		", retired slots %" PRIu64 ", hits %" PRIu64 ", removals %"
		PRIu64 "\n", sum_stats.evictions, sum_stats.replacements,
		sum_stats.retired_slots, sum_stats.hits, sum_stats.removals);
}
