/*
 * The core's structures, shared by core.c and the checker (check.c).
 */

#ifndef PIXCACHE_CORE_PRIVATE_H
#define PIXCACHE_CORE_PRIVATE_H

#include <stdatomic.h>

#include "core.h"
#include "index.h"
#include "random.h"
#include "rwlock.h"

/* Slot table cells: an entry pointer, a free-list link, or retired. */
#define SLOT_RETIRED ((uintptr_t)0)
#define SLOT_FREE_BIT ((uintptr_t)1)
/* Free cells link to the next free slot plus one; 0 ends the list. */
#define SLOT_FREE(next_plus1) (((uintptr_t)(next_plus1) << 1) | SLOT_FREE_BIT)
#define SLOT_FREE_NEXT(cell) ((uint32_t)((cell) >> 1))

/* Slots per realm at most: bucket positions come from 32 hash bits. */
#define PXC_TABLE_CAPACITY_MAX (UINT32_C(1) << 30)

enum entry_state {
	ENTRY_INDEXED = 1,
	ENTRY_HELD_ONLY,	/* left the index, bytes still held */
	ENTRY_DEAD,		/* on its way to release */
};

struct pxc_entry {
	void *payload;
	uint64_t tag;
	uint64_t cost;
	uint64_t owner;
	/* Realm ring while indexed; held-only list; graveyard (next only). */
	struct pxc_entry *prev, *next;
	/* One for the index while indexed, one per hold. */
	atomic_uint refs;
	uint32_t slot;
	uint16_t realm;
	uint8_t name_len;
	/* CLOCK's reference bit: set by hits, cleared by the hand. */
	atomic_uchar referenced;
	uint8_t state;
	char name[];
};

struct pxc_realm {
	struct pxc_cache *cache;
	char *name;
	size_t name_size;
	uint32_t id;
	uint64_t quota;
	bool over_quota;	/* a quota cut left held bytes above it */

	uint64_t entries;
	uint64_t indexed_bytes;
	uint64_t held_only_bytes;

	/* The slot table: grows by doubling up to the cache's capacity. */
	uintptr_t *slots;
	uint32_t slots_alloc;
	uint32_t slots_used;	/* slots ever used: a prefix of the table */
	uint32_t free_head;	/* free slot plus one; 0: none */
	uint32_t free_count;
	uint32_t retired;
	_Atomic uint32_t *gens;	/* capacity words, maybe shared */
	bool gens_owned;

	struct pxc_index names;

	/* CLOCK: a ring of indexed entries; new ones go just behind the hand. */
	struct pxc_entry *hand;
	uint64_t exhausted_op;	/* scratch of the global eviction */
};

struct pxc_cache {
	struct pxc_rwlock lock;
	void *lock_mem;
	struct pxc_allocator alloc;

	uint64_t instance;
	uint64_t hash_key[2];
	uint64_t decoy_tag;	/* compared against where a slot is empty */
	uint32_t capacity;
	uint32_t first_generation;

	void (*release)(void *data, void *payload);
	void (*leave)(void *data, void *payload, const struct pxc_key *key,
		enum pxc_leave_reason reason);
	void *data;

	uint64_t budget;
	bool over_budget;	/* a budget cut left held bytes above it */
	uint64_t entries;
	uint64_t indexed_bytes;
	uint64_t held_only_entries;
	uint64_t held_only_bytes;
	struct pxc_entry *held_only;	/* doubly linked, NULL-terminated */

	struct pxc_realm **realms;
	uint32_t nrealms;
	uint32_t realms_alloc;

	uint64_t inserts;
	uint64_t replacements;
	uint64_t removals;
	uint64_t evictions;
	uint64_t retired_slots;
	uint64_t op_seq;

	struct pxc_random rng;
	bool destroyed;
};

static inline bool
slot_is_entry(uintptr_t cell)
{
	return cell != SLOT_RETIRED && !(cell & SLOT_FREE_BIT);
}

/* The 32 bits of a name's keyed hash that the index keeps. */
uint32_t pxc_core_name_hash(const struct pxc_cache *cache, const char *name,
	size_t len);

/* The entry in a slot, or NULL if it is free or retired. */
struct pxc_entry *pxc_core_slot_entry(const struct pxc_realm *realm,
	uint32_t slot);

#endif
