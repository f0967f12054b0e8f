#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-helpers.h"
#include "test-runner.h"

atomic_long test_payloads_live;
atomic_long test_payloads_released;

static void *
counting_realloc(void *data, void *ptr, size_t old_size, size_t new_size)
{
	struct test_alloc *a = data;
	long n;

	if (new_size == 0) {
		if (ptr != NULL) {
			atomic_fetch_sub(&a->live_count, 1);
			atomic_fetch_sub(&a->live_bytes, (long)old_size);
			free(ptr);
		}
		return NULL;
	}
	assert(ptr == NULL);
	atomic_fetch_add(&a->calls, 1);
	n = atomic_fetch_add(&a->armed_calls, 1) + 1;
	if (a->fail_at > 0 && (n == a->fail_at ||
			(a->fail_rest && n > a->fail_at))) {
		atomic_fetch_add(&a->failures, 1);
		return NULL;
	}
	ptr = malloc(new_size);
	assert(ptr != NULL);
	/* Garbage, not zeros: code that forgets to initialise shows it. */
	memset(ptr, 0xa5, new_size);
	atomic_fetch_add(&a->live_count, 1);
	atomic_fetch_add(&a->live_bytes, (long)new_size);
	return ptr;
}

void
test_alloc_init(struct test_alloc *a)
{
	memset(a, 0, sizeof(*a));
	a->allocator.realloc = counting_realloc;
	a->allocator.data = a;
}

void
test_alloc_arm(struct test_alloc *a, long n, bool rest)
{
	atomic_store(&a->armed_calls, 0);
	a->fail_at = n;
	a->fail_rest = rest;
}

void
test_alloc_disarm(struct test_alloc *a)
{
	a->fail_at = 0;
	a->fail_rest = false;
}

void *
test_payload_new(uint64_t id)
{
	struct test_payload *p = malloc(sizeof(*p));

	assert(p != NULL);
	p->magic = TEST_PAYLOAD_LIVE;
	p->id = id;
	atomic_fetch_add(&test_payloads_live, 1);
	return p;
}

uint64_t
test_payload_id(const void *payload)
{
	const struct test_payload *p = payload;

	assert(p->magic == TEST_PAYLOAD_LIVE);
	return p->id;
}

void
test_payload_free(void *payload)
{
	struct test_payload *p = payload;

	assert(p->magic == TEST_PAYLOAD_LIVE);
	p->magic = 0;
	atomic_fetch_sub(&test_payloads_live, 1);
	free(p);
}

void
test_payload_release(void *data, void *payload)
{
	test_payload_free(payload);
	atomic_fetch_add(&test_payloads_released, 1);
}

struct pxc_cache *
test_cache_new(struct test_alloc *a, uint64_t budget, uint32_t capacity)
{
	struct pxc_cache_options options = {
		.budget = budget,
		.table_capacity = capacity,
		.allocator = a ? &a->allocator : NULL,
		.release = test_payload_release,
	};
	struct pxc_cache *cache = NULL;

	assert(pxc_cache_create(&options, &cache) == 0);
	return cache;
}

struct pxc_realm *
test_realm_new(struct pxc_cache *cache, const char *name, uint64_t quota)
{
	struct pxc_realm_options options = { .quota = quota };
	struct pxc_realm *realm = NULL;

	assert(pxc_cache_realm_create(cache, name, &options, &realm) == 0);
	return realm;
}

int
test_insert(struct pxc_cache *cache, struct pxc_realm *realm,
	const char *name, uint64_t id, uint64_t cost, uint64_t owner,
	uint32_t flags, struct pxc_hit *hit)
{
	struct pxc_insert insert = {
		.realm = realm,
		.name = name,
		.name_len = name ? strlen(name) : 0,
		.payload = test_payload_new(id),
		.cost = cost,
		.owner = owner,
		.flags = flags,
	};
	int ret = pxc_cache_insert(cache, &insert, hit);

	if (ret < 0) {
		test_payload_free(insert.payload);
	}
	return ret;
}

void
test_check(struct pxc_cache *cache)
{
	char why[256];

	if (!pxc_cache_check(cache, why, sizeof(why))) {
		test_fail("inconsistent cache: %s", why);
	}
}

char *
test_dump(struct pxc_cache *cache, bool with_keys)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert(f != NULL);
	assert(pxc_cache_dump(cache, f, with_keys) == 0);
	assert(fclose(f) == 0);
	return text;
}

void
test_assert_unchanged(struct pxc_cache *cache, char *before)
{
	char *after = test_dump(cache, true);

	if (strcmp(before, after) != 0) {
		fprintf(stderr, "before:\n%s\nafter:\n%s\n", before, after);
		test_fail("the cache changed");
	}
	free(before);
	free(after);
}
