/*
 * Helpers for the core's tests: an allocator that counts and fails on
 * request, payloads that notice a double or missing release, and short
 * ways to build a cache.
 */

#ifndef PIXCACHE_CORE_HELPERS_H
#define PIXCACHE_CORE_HELPERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core.h"

struct test_alloc {
	struct pxc_allocator allocator;
	atomic_long live_count;
	atomic_long live_bytes;
	atomic_long calls;		/* allocations asked for, failed ones too */
	atomic_long failures;		/* allocations failed on purpose */
	long fail_at;			/* fail allocation N after arming; 0: none */
	bool fail_rest;			/* and every one after it */
	atomic_long armed_calls;
};

void test_alloc_init(struct test_alloc *a);

/** Fails the nth allocation from now (n >= 1), and all later ones if rest. */
void test_alloc_arm(struct test_alloc *a, long n, bool rest);

void test_alloc_disarm(struct test_alloc *a);

/* Payloads: heap objects that the release callback checks and frees. */
#define TEST_PAYLOAD_LIVE 0x9a71c0deu

struct test_payload {
	uint32_t magic;
	uint64_t id;
};

extern atomic_long test_payloads_live;
extern atomic_long test_payloads_released;

void *test_payload_new(uint64_t id);
uint64_t test_payload_id(const void *payload);
void test_payload_free(void *payload);
void test_payload_release(void *data, void *payload);

/** A cache with the given budget and table capacity; a may be NULL. */
struct pxc_cache *test_cache_new(struct test_alloc *a, uint64_t budget,
	uint32_t capacity);

struct pxc_realm *test_realm_new(struct pxc_cache *cache, const char *name,
	uint64_t quota);

/**
 * Inserts a fresh payload numbered id under name (NULL: anonymous); frees
 * it again if the insert fails. Returns what pxc_cache_insert() returned.
 */
int test_insert(struct pxc_cache *cache, struct pxc_realm *realm,
	const char *name, uint64_t id, uint64_t cost, uint64_t owner,
	uint32_t flags, struct pxc_hit *hit);

/** Fails the test with the checker's words if the cache is inconsistent. */
void test_check(struct pxc_cache *cache);

/** pxc_cache_dump() into a malloc'ed string. */
char *test_dump(struct pxc_cache *cache, bool with_keys);

/** Fails the test unless the cache's dump equals before; frees before. */
void test_assert_unchanged(struct pxc_cache *cache, char *before);

#endif
