/*
 * Behaviour of the core, one behaviour per test. Where QPixmapCache's own
 * test suite checks something that applies here, a test below checks the
 * same: shrinking the limit, stale keys after reuse, oversized inserts,
 * replacement, double removal, clear, staying within the limit, recency.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core-helpers.h"
#include "test-runner.h"

#define CAP 64

static struct pxc_cache *cache;
static struct pxc_realm *realm;
static struct test_alloc alloc;

static void
setup(uint64_t budget, uint32_t capacity)
{
	test_alloc_init(&alloc);
	cache = test_cache_new(&alloc, budget, capacity);
	realm = test_realm_new(cache, "default", 0);
}

/* Destroys the cache and asserts that nothing it allocated or held leaks. */
static void
teardown(void)
{
	test_check(cache);
	pxc_cache_destroy(cache);
	assert(atomic_load(&alloc.live_count) == 0);
	assert(atomic_load(&alloc.live_bytes) == 0);
	assert(atomic_load(&test_payloads_live) == 0);
}

static struct pxc_hit
put(const char *name, uint64_t id, uint64_t cost)
{
	struct pxc_hit hit;

	assert(test_insert(cache, realm, name, id, cost, 0, 0, &hit) == 0);
	return hit;
}

static int
find(const char *name, struct pxc_hit *hit)
{
	return pxc_cache_find(cache, realm, name, strlen(name), 0, hit);
}

static bool
present(const char *name)
{
	return find(name, NULL) == 0;
}

static struct pxc_cache_stats
stats(void)
{
	struct pxc_cache_stats s;

	pxc_cache_get_stats(cache, &s);
	return s;
}

static bool stop_at_first(const struct pxc_entry_info *info, void *data);

static bool
same_key(const struct pxc_key *a, const struct pxc_key *b)
{
	return a->instance == b->instance && a->slot == b->slot &&
		a->generation == b->generation && a->tag == b->tag;
}

TEST(create_and_destroy_leave_nothing)
{
	setup(1000, CAP);
	teardown();
}

TEST(create_rejects_bad_options)
{
	struct pxc_cache_options o = {
		.budget = 1,
		.table_capacity = 0,
		.release = test_payload_release,
	};
	struct pxc_cache *c = NULL;

	assert(pxc_cache_create(&o, &c) == -EINVAL);
	o.table_capacity = (UINT32_C(1) << 30) + 1;
	assert(pxc_cache_create(&o, &c) == -EINVAL);
	o.table_capacity = 8;
	o.first_generation = PXC_GENERATION_RETIRED;
	assert(pxc_cache_create(&o, &c) == -EINVAL);
	o.first_generation = 0;
	o.release = NULL;
	assert(pxc_cache_create(&o, &c) == -EINVAL);
	assert(c == NULL);
}

TEST(destroy_and_release_accept_null)
{
	pxc_cache_destroy(NULL);
	setup(10, CAP);
	pxc_cache_release(cache, NULL);
	teardown();
}

TEST(insert_then_find_by_name)
{
	struct pxc_hit in, out;

	setup(1000, CAP);
	assert(test_insert(cache, realm, "icon/Adwaita/edit-copy/48@1", 7, 100,
		42, 0, &in) == 0);
	assert(in.key.instance == pxc_cache_instance(cache));
	assert(in.hold == NULL);
	assert(find("icon/Adwaita/edit-copy/48@1", &out) == 0);
	assert(same_key(&in.key, &out.key));
	assert(test_payload_id(out.payload) == 7);
	assert(out.cost == 100 && out.owner == 42 && out.hold == NULL);
	assert(stats().hits == 1 && stats().entries == 1);
	assert(stats().indexed_bytes == 100);
	teardown();
}

TEST(missing_name_is_a_miss)
{
	setup(1000, CAP);
	put("a", 1, 1);
	assert(find("b", NULL) == -ENOENT);
	assert(find("", NULL) == -ENOENT);
	assert(stats().misses == 2 && stats().hits == 0);
	teardown();
}

TEST(find_by_key_returns_the_entry)
{
	struct pxc_hit in, out;

	setup(1000, CAP);
	put("a", 1, 10);
	in = put("b", 2, 20);
	assert(pxc_cache_find_key(cache, &in.key, 0, &out) == 0);
	assert(test_payload_id(out.payload) == 2 && out.cost == 20);
	assert(same_key(&in.key, &out.key));
	teardown();
}

TEST(keys_of_another_cache_never_resolve)
{
	struct pxc_cache *other = test_cache_new(NULL, 1000, CAP);
	struct pxc_realm *other_realm = test_realm_new(other, "default", 0);
	struct pxc_hit a, b;

	setup(1000, CAP);
	assert(pxc_cache_instance(cache) != pxc_cache_instance(other));
	a = put("a", 1, 1);
	assert(test_insert(other, other_realm, "a", 2, 1, 0, 0, &b) == 0);
	/* Same slot and generation in both: only the instance differs. */
	assert(a.key.slot == b.key.slot && a.key.generation == b.key.generation);
	assert(pxc_cache_find_key(other, &a.key, 0, NULL) == -ENOENT);
	b.key.tag = a.key.tag;
	assert(pxc_cache_find_key(other, &b.key, 0, NULL) == -ENOENT);
	pxc_cache_destroy(other);
	teardown();
}

TEST(tags_do_not_repeat)
{
	enum { N = 5000 };
	uint64_t *tags = calloc(N, sizeof(*tags));
	char name[32];

	setup(UINT64_MAX, 8192);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		tags[i] = put(name, (uint64_t)i, 1).key.tag;
		for (int j = 0; j < i; j++) {
			assert(tags[j] != tags[i]);
		}
	}
	free(tags);
	teardown();
}

TEST(bad_names_fail_and_change_nothing)
{
	static const struct {
		const char *bytes;
		size_t len;
		int err;
	} cases[] = {
		{ "", 0, -EINVAL },
		{ "a\0b", 3, -EINVAL },
		{ "\xc0\x80", 2, -EILSEQ },		/* overlong NUL */
		{ "\xe0\x80\xaf", 3, -EILSEQ },		/* overlong '/' */
		{ "\xed\xa0\x80", 3, -EILSEQ },		/* surrogate */
		{ "\xf4\x90\x80\x80", 4, -EILSEQ },	/* above U+10FFFF */
		{ "\xe2\x82", 2, -EILSEQ },		/* truncated */
		{ "\x80", 1, -EILSEQ },			/* lone continuation */
		{ "\xfe", 1, -EILSEQ },
		{ "a\xff", 2, -EILSEQ },
	};
	char long_name[PXC_NAME_MAX + 2];
	char *before;

	setup(1000, CAP);
	put("kept", 1, 1);
	before = test_dump(cache, true);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pxc_insert ins = {
			.realm = realm,
			.name = cases[i].bytes,
			.name_len = cases[i].len,
			.payload = &ins,
			.cost = 1,
		};

		assert(pxc_name_check(cases[i].bytes, cases[i].len) ==
			cases[i].err);
		assert(pxc_cache_insert(cache, &ins, NULL) == cases[i].err);
	}
	memset(long_name, 'x', sizeof(long_name));
	long_name[PXC_NAME_MAX + 1] = '\0';
	assert(test_insert(cache, realm, long_name, 2, 1, 0, 0, NULL) ==
		-ENAMETOOLONG);
	test_assert_unchanged(cache, before);

	long_name[PXC_NAME_MAX] = '\0';
	assert(test_insert(cache, realm, long_name, 3, 1, 0, 0, NULL) == 0);
	assert(test_insert(cache, realm, "ümlaut/日本/🙂", 4, 1, 0, 0,
		NULL) == 0);
	teardown();
}

TEST(bad_arguments_fail_and_change_nothing)
{
	struct pxc_cache *other = test_cache_new(NULL, 1000, CAP);
	struct pxc_realm *foreign = test_realm_new(other, "default", 0);
	struct pxc_insert ins = { .name = "a", .name_len = 1, .cost = 1 };
	char *before;

	setup(1000, CAP);
	put("kept", 1, 1);
	before = test_dump(cache, true);
	ins.payload = &ins;
	ins.realm = NULL;
	assert(pxc_cache_insert(cache, &ins, NULL) == -EINVAL);
	ins.realm = foreign;
	assert(pxc_cache_insert(cache, &ins, NULL) == -EINVAL);
	ins.realm = realm;
	ins.cost = 0;
	assert(pxc_cache_insert(cache, &ins, NULL) == -EINVAL);
	ins.cost = 1;
	ins.flags = 1u << 7;
	assert(pxc_cache_insert(cache, &ins, NULL) == -EINVAL);
	assert(pxc_cache_insert(cache, NULL, NULL) == -EINVAL);
	assert(pxc_cache_find(cache, foreign, "a", 1, 0, NULL) == -EINVAL);
	assert(pxc_cache_find(cache, realm, "kept", 4, PXC_FIND_HOLD,
		NULL) == -EINVAL);
	assert(pxc_cache_find_key(cache, NULL, 0, NULL) == -EINVAL);
	assert(pxc_cache_remove(cache, foreign, "a", 1) == -EINVAL);
	assert(pxc_cache_remove_key(cache, NULL) == -EINVAL);
	test_assert_unchanged(cache, before);
	pxc_cache_destroy(other);
	teardown();
}

TEST(existing_name_is_not_replaced_without_flag)
{
	struct pxc_hit a, again;
	char *before;

	setup(1000, CAP);
	a = put("a", 1, 10);
	before = test_dump(cache, true);
	assert(test_insert(cache, realm, "a", 2, 10, 0, 0, NULL) == -EEXIST);
	test_assert_unchanged(cache, before);
	assert(find("a", &again) == 0);
	assert(test_payload_id(again.payload) == 1);
	assert(same_key(&a.key, &again.key));
	teardown();
}

TEST(replacing_a_name_frees_the_old_entry)
{
	struct pxc_hit a, b, out;

	setup(1000, CAP);
	a = put("a", 1, 10);
	assert(test_insert(cache, realm, "a", 2, 30, 0, PXC_INSERT_REPLACE,
		&b) == 0);
	assert(atomic_load(&test_payloads_live) == 1);
	assert(pxc_cache_find_key(cache, &a.key, 0, NULL) == -ENOENT);
	assert(pxc_cache_find_key(cache, &b.key, 0, &out) == 0);
	assert(test_payload_id(out.payload) == 2);
	assert(stats().entries == 1 && stats().indexed_bytes == 30);
	assert(stats().replacements == 1 && stats().inserts == 2);
	teardown();
}

TEST(replace_own_replaces_only_the_owners_entry)
{
	struct pxc_hit out;

	setup(1000, CAP);
	assert(test_insert(cache, realm, "a", 1, 10, 100, 0, NULL) == 0);
	assert(test_insert(cache, realm, "a", 2, 10, 200,
		PXC_INSERT_REPLACE_OWN, NULL) == -EEXIST);
	assert(find("a", &out) == 0 && test_payload_id(out.payload) == 1);
	assert(test_insert(cache, realm, "a", 3, 10, 100,
		PXC_INSERT_REPLACE_OWN, NULL) == 0);
	assert(find("a", &out) == 0 && test_payload_id(out.payload) == 3);
	assert(test_insert(cache, realm, "a", 4, 10, 200, PXC_INSERT_REPLACE,
		NULL) == 0);
	assert(find("a", &out) == 0 && out.owner == 200);
	teardown();
}

TEST(replaced_held_entry_lives_until_released)
{
	struct pxc_hit held;

	setup(1000, CAP);
	put("a", 1, 10);
	assert(find("a", &held) == 0);
	assert(pxc_cache_find(cache, realm, "a", 1, PXC_FIND_HOLD, &held) == 0);
	assert(test_insert(cache, realm, "a", 2, 20, 0, PXC_INSERT_REPLACE,
		NULL) == 0);
	assert(test_payload_id(held.payload) == 1);
	assert(atomic_load(&test_payloads_live) == 2);
	assert(stats().held_only_entries == 1 && stats().held_only_bytes == 10);
	assert(stats().indexed_bytes == 20);
	test_check(cache);
	pxc_cache_release(cache, held.hold);
	assert(atomic_load(&test_payloads_live) == 1);
	assert(stats().held_only_entries == 0 && stats().held_only_bytes == 0);
	teardown();
}

TEST(removing_twice_or_never_inserted_is_harmless)
{
	struct pxc_hit a;
	char *before;

	setup(1000, CAP);
	a = put("a", 1, 10);
	put("b", 2, 10);
	assert(pxc_cache_remove(cache, realm, "a", 1) == 0);
	assert(atomic_load(&test_payloads_live) == 1);
	before = test_dump(cache, true);
	assert(pxc_cache_remove(cache, realm, "a", 1) == -ENOENT);
	assert(pxc_cache_remove(cache, realm, "never", 5) == -ENOENT);
	assert(pxc_cache_remove_key(cache, &a.key) == -ENOENT);
	test_assert_unchanged(cache, before);
	assert(present("b"));
	assert(stats().removals == 1);
	teardown();
}

TEST(remove_by_key_removes_that_entry_only)
{
	struct pxc_hit a, b;

	setup(1000, CAP);
	a = put("a", 1, 10);
	b = put("b", 2, 10);
	assert(pxc_cache_remove_key(cache, &b.key) == 0);
	assert(!present("b") && present("a"));
	assert(pxc_cache_find_key(cache, &a.key, 0, NULL) == 0);
	assert(pxc_cache_remove_key(cache, &b.key) == -ENOENT);
	teardown();
}

TEST(anonymous_entries_are_reached_by_key_only)
{
	struct pxc_insert ins = {
		.name = NULL,
		.name_len = 0,
		.cost = 10,
		.flags = PXC_INSERT_REPLACE,
	};
	struct pxc_hit a, b, out;
	size_t calls;

	setup(1000, CAP);
	ins.realm = realm;
	ins.payload = test_payload_new(1);
	assert(pxc_cache_insert(cache, &ins, &a) == 0);
	ins.payload = test_payload_new(2);
	assert(pxc_cache_insert(cache, &ins, &b) == 0);
	/* Two entries: nothing to replace without a name. */
	assert(a.key.slot != b.key.slot && stats().entries == 2);
	assert(stats().replacements == 0);
	assert(pxc_cache_find_key(cache, &a.key, 0, &out) == 0);
	assert(test_payload_id(out.payload) == 1);
	assert(find("", NULL) == -ENOENT);
	calls = pxc_cache_for_each(cache, realm, stop_at_first, NULL);
	assert(calls == 1);
	assert(pxc_cache_remove_key(cache, &a.key) == 0);
	assert(pxc_cache_find_key(cache, &a.key, 0, NULL) == -ENOENT);
	assert(pxc_cache_find_key(cache, &b.key, 0, NULL) == 0);
	/* A length without a name is a bad argument. */
	ins.name_len = 3;
	assert(pxc_cache_insert(cache, &ins, NULL) == -EINVAL);
	teardown();
}

TEST(stale_key_never_finds_the_next_occupant_of_its_slot)
{
	struct pxc_hit a, b, out;

	setup(1000, CAP);
	a = put("a", 1, 10);
	assert(pxc_cache_remove(cache, realm, "a", 1) == 0);
	b = put("b", 2, 10);
	/* The slot was reused at once, with the next generation. */
	assert(b.key.slot == a.key.slot);
	assert(b.key.generation == a.key.generation + 1);
	assert(pxc_cache_find_key(cache, &a.key, 0, NULL) == -ENOENT);
	/* Even with the new tag, the old generation fails... */
	a.key.tag = b.key.tag;
	assert(pxc_cache_find_key(cache, &a.key, 0, NULL) == -ENOENT);
	/* ...and the new generation with the old tag fails too. */
	assert(pxc_cache_find_key(cache, &b.key, 0, &out) == 0);
	assert(test_payload_id(out.payload) == 2);
	teardown();
}

/*
 * Every way a key can be wrong fails alike: the same error, one more miss
 * and nothing else changed.
 */
TEST(wrong_keys_fail_exactly_like_an_empty_slot)
{
	struct pxc_hit a, gone;
	struct pxc_key keys[8];
	int n = 0;

	setup(1000, CAP);
	gone = put("gone", 1, 1);
	assert(pxc_cache_remove(cache, realm, "gone", 4) == 0);
	a = put("a", 2, 1);
	put("b", 3, 1);

	keys[n] = a.key, keys[n++].tag ^= 1;			/* wrong tag */
	keys[n] = a.key, keys[n++].instance ^= 1;		/* other instance */
	keys[n] = a.key, keys[n++].generation -= 1;		/* old generation */
	keys[n] = a.key, keys[n++].generation += 1;		/* future one */
	keys[n++] = gone.key;					/* removed */
	keys[n] = a.key, keys[n++].slot = CAP - 1;		/* never used */
	keys[n] = a.key, keys[n++].slot = 5 * CAP;		/* no such realm */
	keys[n] = a.key, keys[n++].slot = 2;			/* empty slot */

	for (int i = 0; i < n; i++) {
		struct pxc_cache_stats s0 = stats();
		char *before = test_dump(cache, true);

		assert(pxc_cache_find_key(cache, &keys[i], 0, NULL) == -ENOENT);
		assert(pxc_cache_remove_key(cache, &keys[i]) == -ENOENT);
		assert(stats().misses == s0.misses + 1);
		assert(stats().hits == s0.hits);
		free(before);
	}
	assert(pxc_cache_find_key(cache, &a.key, 0, NULL) == 0);
	teardown();
}

TEST(clear_invalidates_every_key_and_allocates_nothing)
{
	struct pxc_hit hits[10], again;
	char name[16];
	long calls;

	setup(1000, CAP);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		hits[i] = put(name, (uint64_t)i, 1);
	}
	calls = atomic_load(&alloc.calls);
	pxc_cache_clear(cache);
	assert(atomic_load(&alloc.calls) == calls);
	assert(atomic_load(&test_payloads_live) == 0);
	assert(stats().entries == 0 && stats().indexed_bytes == 0);
	for (int i = 0; i < 10; i++) {
		assert(pxc_cache_find_key(cache, &hits[i].key, 0, NULL) ==
			-ENOENT);
	}
	/* Generations went up, never back: the reused slot has a new one. */
	again = put("n0", 0, 1);
	assert(again.key.generation > hits[0].key.generation ||
		again.key.slot != hits[0].key.slot);
	for (int i = 0; i < 10; i++) {
		assert(pxc_cache_find_key(cache, &hits[i].key, 0, NULL) ==
			-ENOENT);
	}
	teardown();
}

TEST(clear_keeps_held_payloads_until_released)
{
	struct pxc_hit held;

	setup(1000, CAP);
	put("a", 1, 10);
	put("b", 2, 10);
	assert(pxc_cache_find(cache, realm, "a", 1, PXC_FIND_HOLD, &held) == 0);
	pxc_cache_clear(cache);
	assert(atomic_load(&test_payloads_live) == 1);
	assert(test_payload_id(held.payload) == 1);
	assert(stats().held_only_bytes == 10 && stats().entries == 0);
	test_check(cache);
	pxc_cache_release(cache, held.hold);
	assert(atomic_load(&test_payloads_live) == 0);
	teardown();
}

TEST(insert_larger_than_budget_fails_and_evicts_nothing)
{
	char *before;

	setup(100, CAP);
	put("a", 1, 60);
	put("b", 2, 40);
	before = test_dump(cache, true);
	assert(test_insert(cache, realm, "big", 3, 101, 0, 0, NULL) == -EFBIG);
	test_assert_unchanged(cache, before);
	assert(present("a") && present("b") && !present("big"));
	teardown();
}

TEST(insert_larger_than_quota_fails_and_evicts_nothing)
{
	struct pxc_realm *small;
	char *before;

	setup(1000, CAP);
	small = test_realm_new(cache, "small", 50);
	assert(test_insert(cache, small, "a", 1, 30, 0, 0, NULL) == 0);
	before = test_dump(cache, true);
	assert(test_insert(cache, small, "big", 2, 51, 0, 0, NULL) == -EFBIG);
	test_assert_unchanged(cache, before);
	teardown();
}

TEST(shrinking_the_budget_evicts_at_once)
{
	char name[16];

	setup(1000, CAP);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(name, (uint64_t)i, 10);
	}
	assert(present("n8") && present("n9"));
	pxc_cache_set_budget(cache, 50);
	assert(stats().indexed_bytes <= 50 && stats().budget == 50);
	assert(stats().entries == 5 && stats().evictions == 5);
	assert(atomic_load(&test_payloads_live) == 5);
	/* The two just used are among the survivors. */
	assert(present("n8") && present("n9"));
	pxc_cache_set_budget(cache, 0);
	assert(stats().entries == 0 && atomic_load(&test_payloads_live) == 0);
	assert(test_insert(cache, realm, "x", 1, 1, 0, 0, NULL) == -EFBIG);
	teardown();
}

TEST(many_inserts_stay_within_the_budget)
{
	char name[16];

	setup(500, CAP);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(name, (uint64_t)i, 10);
		assert(stats().indexed_bytes <= 500);
	}
	assert(stats().entries == 50);
	assert(stats().evictions == 950);
	assert(atomic_load(&test_payloads_live) == 50);
	teardown();
}

TEST(recently_used_entry_survives_eviction_of_older_ones)
{
	char name[16];

	setup(100, CAP);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(name, (uint64_t)i, 10);
	}
	assert(present("n0"));		/* the oldest, now used */
	put("new", 10, 10);
	assert(present("n0"));
	assert(!present("n1"));		/* the oldest unused went */
	teardown();
}

TEST(use_by_key_counts_as_recent_use)
{
	struct pxc_hit first;
	char name[16];

	setup(100, CAP);
	first = put("n0", 0, 10);
	for (int i = 1; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(name, (uint64_t)i, 10);
	}
	assert(pxc_cache_find_key(cache, &first.key, 0, NULL) == 0);
	put("new", 10, 10);
	assert(present("n0") && !present("n1"));
	teardown();
}

TEST(peeking_counts_nothing_and_marks_nothing)
{
	struct pxc_hit hit;
	char name[16];

	setup(100, CAP);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(name, (uint64_t)i, 10);
	}
	assert(pxc_cache_find(cache, realm, "n0", 2, PXC_FIND_PEEK,
		&hit) == 0);
	assert(test_payload_id(hit.payload) == 0);
	assert(pxc_cache_find(cache, realm, "zz", 2, PXC_FIND_PEEK,
		NULL) == -ENOENT);
	assert(stats().hits == 0 && stats().misses == 0);
	put("new", 10, 10);
	assert(!present("n0"));		/* not marked used by the peek */
	teardown();
}

TEST(touching_a_key_marks_its_entry_used)
{
	struct pxc_hit first;
	char name[16];

	setup(100, CAP);
	first = put("n0", 0, 10);
	for (int i = 1; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(name, (uint64_t)i, 10);
	}
	assert(pxc_cache_touch(cache, realm, first.key.slot % CAP,
		first.key.generation + 1) == -ENOENT);
	assert(pxc_cache_touch(cache, realm, CAP - 1, 0) == -ENOENT);
	assert(pxc_cache_touch(cache, realm, first.key.slot % CAP,
		first.key.generation) == 0);
	assert(stats().hits == 0);
	put("new", 10, 10);
	assert(present("n0") && !present("n1"));
	teardown();
}

TEST(held_entries_are_evicted_last)
{
	struct pxc_hit held;
	char name[16];

	setup(100, CAP);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(name, (uint64_t)i, 10);
	}
	assert(pxc_cache_find(cache, realm, "n0", 2, PXC_FIND_HOLD,
		&held) == 0);
	/* Used once more than the others, but held: it stays regardless. */
	for (int i = 10; i < 30; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		put(name, (uint64_t)i, 10);
	}
	assert(present("n0"));
	pxc_cache_release(cache, held.hold);
	assert(present("n0"));
	teardown();
}

TEST(held_bytes_block_inserts_that_need_room)
{
	struct pxc_hit holds[10];
	char name[16];
	char *before;

	setup(100, CAP);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert(test_insert(cache, realm, name, (uint64_t)i, 10, 0,
			PXC_INSERT_HOLD, &holds[i]) == 0);
	}
	before = test_dump(cache, true);
	assert(test_insert(cache, realm, "new", 10, 10, 0, 0, NULL) == -ENOSPC);
	test_assert_unchanged(cache, before);

	/* Released, n3 is still indexed but evictable: room is made. */
	pxc_cache_release(cache, holds[3].hold);
	assert(present("n3"));
	put("new", 10, 10);
	assert(!present("n3"));
	for (int i = 0; i < 10; i++) {
		if (i != 3) {
			pxc_cache_release(cache, holds[i].hold);
		}
	}
	teardown();
}

TEST(evicted_but_held_bytes_count_until_released)
{
	struct pxc_hit held;

	setup(100, CAP);
	put("a", 1, 60);
	assert(pxc_cache_find(cache, realm, "a", 1, PXC_FIND_HOLD, &held) == 0);
	assert(pxc_cache_remove(cache, realm, "a", 1) == 0);
	assert(stats().held_only_bytes == 60 && stats().indexed_bytes == 0);
	assert(test_insert(cache, realm, "b", 2, 50, 0, 0, NULL) == -ENOSPC);
	put("c", 3, 40);
	pxc_cache_release(cache, held.hold);
	assert(stats().held_only_bytes == 0);
	put("b", 2, 50);
	assert(present("c"));
	teardown();
}

TEST(quota_evicts_within_its_realm_only)
{
	struct pxc_realm *app;
	char name[16];

	setup(1000, CAP);
	app = test_realm_new(cache, "app", 30);
	put("default-entry", 100, 10);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert(test_insert(cache, app, name, (uint64_t)i, 10, 0, 0,
			NULL) == 0);
	}
	assert(present("default-entry"));
	assert(pxc_cache_find(cache, app, "n0", 2, 0, NULL) == -ENOENT);
	assert(pxc_cache_find(cache, app, "n4", 2, 0, NULL) == 0);
	assert(stats().evictions == 2);
	teardown();
}

TEST(quota_full_of_held_entries_fails_with_edquot)
{
	struct pxc_realm *app;
	struct pxc_hit h1, h2;
	char *before;

	setup(1000, CAP);
	app = test_realm_new(cache, "app", 20);
	assert(test_insert(cache, app, "a", 1, 10, 0, PXC_INSERT_HOLD,
		&h1) == 0);
	assert(test_insert(cache, app, "b", 2, 10, 0, PXC_INSERT_HOLD,
		&h2) == 0);
	before = test_dump(cache, true);
	assert(test_insert(cache, app, "c", 3, 10, 0, 0, NULL) == -EDQUOT);
	test_assert_unchanged(cache, before);
	pxc_cache_release(cache, h1.hold);
	pxc_cache_release(cache, h2.hold);
	teardown();
}

TEST(shrinking_a_quota_evicts_at_once)
{
	struct pxc_realm *app;
	struct pxc_realm_stats rs;
	char name[16];

	setup(1000, CAP);
	app = test_realm_new(cache, "app", 0);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert(test_insert(cache, app, name, (uint64_t)i, 10, 0, 0,
			NULL) == 0);
	}
	put("other", 9, 10);
	pxc_cache_realm_set_quota(cache, app, 25);
	pxc_cache_get_realm_stats(cache, app, &rs);
	assert(rs.indexed_bytes == 20 && rs.entries == 2 && rs.quota == 25);
	assert(present("other"));
	teardown();
}

TEST(the_budget_takes_from_the_largest_realm_first)
{
	struct pxc_realm *big, *small;
	char name[16];

	setup(80, CAP);
	big = test_realm_new(cache, "big", 0);
	small = test_realm_new(cache, "small", 0);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert(test_insert(cache, big, name, (uint64_t)i, 10, 0, 0,
			NULL) == 0);
	}
	assert(test_insert(cache, small, "s0", 10, 10, 0, 0, NULL) == 0);
	assert(test_insert(cache, small, "s1", 11, 10, 0, 0, NULL) == 0);
	/* Full: the next insert into small evicts big's oldest. */
	assert(test_insert(cache, small, "s2", 12, 10, 0, 0, NULL) == 0);
	assert(pxc_cache_find(cache, big, "n0", 2, 0, NULL) == -ENOENT);
	assert(pxc_cache_find(cache, small, "s0", 2, 0, NULL) == 0);
	teardown();
}

TEST(realms_are_separate_namespaces)
{
	struct pxc_realm *app;
	struct pxc_hit d, a, out;

	setup(1000, CAP);
	app = test_realm_new(cache, "app", 0);
	d = put("same", 1, 10);
	assert(test_insert(cache, app, "same", 2, 20, 0, 0, &a) == 0);
	assert(pxc_cache_find(cache, app, "same", 4, 0, &out) == 0);
	assert(test_payload_id(out.payload) == 2);
	assert(find("same", &out) == 0 && test_payload_id(out.payload) == 1);
	assert(test_insert(cache, app, "app-only", 3, 1, 0, 0, NULL) == 0);
	assert(!present("app-only"));
	/* Keys name their realm: each resolves to its own entry. */
	assert(a.key.slot / CAP == pxc_realm_index(app));
	assert(pxc_cache_find_key(cache, &d.key, 0, &out) == 0);
	assert(test_payload_id(out.payload) == 1);
	assert(pxc_cache_remove(cache, app, "same", 4) == 0);
	assert(present("same"));
	assert(pxc_cache_find_key(cache, &a.key, 0, NULL) == -ENOENT);
	teardown();
}

TEST(realm_creation_checks_names_and_duplicates)
{
	struct pxc_realm *r = NULL;

	setup(1000, CAP);
	assert(pxc_cache_realm_create(cache, "default", NULL, &r) == -EEXIST);
	assert(pxc_cache_realm_create(cache, "", NULL, &r) == -EINVAL);
	assert(pxc_cache_realm_create(cache, "\xff", NULL, &r) == -EILSEQ);
	assert(pxc_cache_realm_create(cache, NULL, NULL, &r) == -EINVAL);
	assert(r == NULL);
	assert(pxc_cache_realm_find(cache, "default") == realm);
	assert(pxc_cache_realm_find(cache, "nope") == NULL);
	assert(strcmp(pxc_realm_name(realm), "default") == 0);
	teardown();
}

TEST(realms_are_limited_by_the_slot_space)
{
	struct pxc_realm *r;
	char name[16];

	test_alloc_init(&alloc);
	cache = test_cache_new(&alloc, 1000, UINT32_C(1) << 30);
	assert(pxc_cache_realm_max(cache) == 4);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		test_realm_new(cache, name, 0);
	}
	assert(pxc_cache_realm_create(cache, "r4", NULL, &r) == -ENOSPC);
	test_check(cache);
	pxc_cache_destroy(cache);
	assert(atomic_load(&alloc.live_bytes) == 0);
}

static struct pxc_cache *
cache_near_wrap(uint32_t capacity)
{
	struct pxc_cache_options o = {
		.budget = 1000,
		.table_capacity = capacity,
		.allocator = &alloc.allocator,
		.release = test_payload_release,
		.first_generation = PXC_GENERATION_RETIRED - 3,
	};
	struct pxc_cache *c = NULL;

	test_alloc_init(&alloc);
	assert(pxc_cache_create(&o, &c) == 0);
	return c;
}

TEST(a_slot_whose_generation_would_wrap_is_retired)
{
	struct pxc_hit h[3], next;

	cache = cache_near_wrap(CAP);
	realm = test_realm_new(cache, "default", 0);
	for (int i = 0; i < 3; i++) {
		h[i] = put("a", (uint64_t)i, 1);
		assert(h[i].key.slot == 0);
		assert(h[i].key.generation == PXC_GENERATION_RETIRED - 3 +
			(uint32_t)i);
		assert(pxc_cache_remove(cache, realm, "a", 1) == 0);
	}
	assert(stats().retired_slots == 1);
	next = put("a", 9, 1);
	assert(next.key.slot == 1);
	for (int i = 0; i < 3; i++) {
		assert(pxc_cache_find_key(cache, &h[i].key, 0, NULL) == -ENOENT);
	}
	teardown();
}

TEST(retired_slots_are_never_reused)
{
	struct pxc_realm_stats rs;

	cache = cache_near_wrap(4);
	realm = test_realm_new(cache, "default", 0);
	/* 4 slots x 3 generations each, then nothing is left. */
	for (int i = 0; i < 12; i++) {
		put("a", (uint64_t)i, 1);
		assert(pxc_cache_remove(cache, realm, "a", 1) == 0);
	}
	assert(stats().retired_slots == 4);
	assert(test_insert(cache, realm, "a", 99, 1, 0, 0, NULL) == -EDQUOT);
	pxc_cache_get_realm_stats(cache, realm, &rs);
	assert(rs.retired_slots == 4 && rs.slots_used == 4);
	teardown();
}

TEST(a_full_table_evicts_to_free_a_slot)
{
	struct pxc_hit first, last;
	char name[16];

	setup(1000, 8);
	first = put("n0", 0, 1);
	for (int i = 1; i < 9; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		last = put(name, (uint64_t)i, 1);
	}
	assert(stats().entries == 8 && stats().evictions == 1);
	assert(!present("n0"));
	assert(last.key.slot == first.key.slot);
	assert(last.key.generation == first.key.generation + 1);
	teardown();
}

TEST(a_table_full_of_held_entries_fails_with_edquot)
{
	struct pxc_hit holds[4];
	char name[16];
	char *before;

	setup(1000, 4);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert(test_insert(cache, realm, name, (uint64_t)i, 1, 0,
			PXC_INSERT_HOLD, &holds[i]) == 0);
	}
	before = test_dump(cache, true);
	assert(test_insert(cache, realm, "x", 9, 1, 0, 0, NULL) == -EDQUOT);
	test_assert_unchanged(cache, before);
	for (int i = 0; i < 4; i++) {
		pxc_cache_release(cache, holds[i].hold);
	}
	teardown();
}

TEST(an_external_generation_table_shows_every_change)
{
	uint32_t table[CAP];
	struct pxc_realm_options ro = { .generation_table = table };
	struct pxc_realm *shared;
	struct pxc_hit a;

	memset(table, 0xee, sizeof(table));
	setup(1000, CAP);
	assert(pxc_cache_realm_create(cache, "shared", &ro, &shared) == 0);
	for (int i = 0; i < CAP; i++) {
		assert(table[i] == 0);
	}
	assert(test_insert(cache, shared, "a", 1, 1, 0, 0, &a) == 0);
	assert(table[a.key.slot % CAP] == a.key.generation);
	assert(pxc_cache_remove(cache, shared, "a", 1) == 0);
	assert(table[a.key.slot % CAP] == a.key.generation + 1);
	teardown();
}

struct leave_log {
	int count;
	enum pxc_leave_reason reasons[8];
	uint64_t ids[8];
	struct pxc_key keys[8];
};

static void
log_leave(void *data, void *payload, const struct pxc_key *key,
	enum pxc_leave_reason reason)
{
	struct leave_log *log = data;

	assert(log->count < 8);
	log->reasons[log->count] = reason;
	log->ids[log->count] = test_payload_id(payload);
	log->keys[log->count++] = *key;
}

TEST(leaving_entries_are_reported_with_their_reason)
{
	struct leave_log log = { 0 };
	struct pxc_cache_options o = {
		.budget = 20,
		.table_capacity = CAP,
		.release = test_payload_release,
		.leave = log_leave,
		.data = &log,
	};
	struct pxc_hit a;

	test_alloc_init(&alloc);
	o.allocator = &alloc.allocator;
	assert(pxc_cache_create(&o, &cache) == 0);
	realm = test_realm_new(cache, "default", 0);
	a = put("a", 1, 10);
	assert(pxc_cache_remove(cache, realm, "a", 1) == 0);
	put("b", 2, 10);
	assert(test_insert(cache, realm, "b", 3, 10, 0, PXC_INSERT_REPLACE,
		NULL) == 0);
	put("c", 4, 10);
	put("d", 5, 10);			/* evicts b */
	pxc_cache_clear(cache);			/* c, d */
	assert(log.count == 5);
	assert(log.reasons[0] == PXC_LEAVE_REMOVED && log.ids[0] == 1);
	assert(same_key(&log.keys[0], &a.key));
	assert(log.reasons[1] == PXC_LEAVE_REPLACED && log.ids[1] == 2);
	assert(log.reasons[2] == PXC_LEAVE_EVICTED && log.ids[2] == 3);
	assert(log.reasons[3] == PXC_LEAVE_CLEARED);
	assert(log.reasons[4] == PXC_LEAVE_CLEARED);
	teardown();
}

static bool
collect(const struct pxc_entry_info *info, void *data)
{
	int *seen = data;

	seen[test_payload_id(info->payload)]++;
	assert(info->cost == test_payload_id(info->payload) + 1);
	return true;
}

static bool
stop_at_first(const struct pxc_entry_info *info, void *data)
{
	return false;
}

TEST(iteration_visits_every_entry_once)
{
	struct pxc_realm *app;
	int seen[8] = { 0 };
	char name[16];

	setup(1000, CAP);
	app = test_realm_new(cache, "app", 0);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert(test_insert(cache, i % 2 ? app : realm, name,
			(uint64_t)i, (uint64_t)i + 1, 0, 0, NULL) == 0);
	}
	assert(pxc_cache_for_each(cache, NULL, collect, seen) == 8);
	for (int i = 0; i < 8; i++) {
		assert(seen[i] == 1);
	}
	assert(pxc_cache_for_each(cache, app, collect, seen) == 4);
	assert(seen[1] == 2 && seen[0] == 1);
	assert(pxc_cache_for_each(cache, NULL, stop_at_first, NULL) == 1);
	teardown();
}

TEST(destroying_a_cache_with_held_entries_waits_for_them)
{
	struct pxc_hit held;

	setup(1000, CAP);
	put("a", 1, 10);
	put("b", 2, 10);
	assert(pxc_cache_find(cache, realm, "a", 1, PXC_FIND_HOLD, &held) == 0);
	pxc_cache_destroy(cache);
	assert(atomic_load(&test_payloads_live) == 1);
	assert(test_payload_id(held.payload) == 1);
	assert(atomic_load(&alloc.live_count) > 0);
	pxc_cache_release(cache, held.hold);
	assert(atomic_load(&test_payloads_live) == 0);
	assert(atomic_load(&alloc.live_count) == 0);
	assert(atomic_load(&alloc.live_bytes) == 0);
}

TEST(stats_report_indexed_and_held_only_bytes_apart)
{
	struct pxc_hit h;
	struct pxc_cache_stats s;

	setup(1000, CAP);
	put("a", 1, 10);
	put("b", 2, 20);
	assert(pxc_cache_find(cache, realm, "b", 1, PXC_FIND_HOLD, &h) == 0);
	assert(pxc_cache_remove(cache, realm, "b", 1) == 0);
	s = stats();
	assert(s.entries == 1 && s.indexed_bytes == 10);
	assert(s.held_only_entries == 1 && s.held_only_bytes == 20);
	assert(s.inserts == 2 && s.removals == 1 && s.realms == 1);
	pxc_cache_release(cache, h.hold);
	teardown();
}

TEST(tags_differ_between_parent_and_child_after_fork)
{
	struct pxc_hit parent, child;
	int fds[2];
	pid_t pid;
	int status;

	setup(1000, CAP);
	put("warm", 0, 1);	/* the generator has buffered output */
	assert(pipe(fds) == 0);
	pid = test_fork();
	if (pid == 0) {
		close(fds[0]);
		child = put("x", 1, 1);
		assert(write(fds[1], &child.key.tag, 8) == 8);
		_exit(0);
	}
	close(fds[1]);
	parent = put("x", 1, 1);
	assert(read(fds[0], &child.key.tag, 8) == 8);
	close(fds[0]);
	assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		WEXITSTATUS(status) == 0);
	assert(parent.key.slot == 1);
	assert(parent.key.tag != child.key.tag);
	teardown();
}
