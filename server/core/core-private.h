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

/* The slot of an entry that left the index (held-only, or dying). */
#define ENTRY_NO_SLOT UINT32_MAX

struct pxc_entry {
	void *payload;
	uint64_t tag;
	uint64_t cost;
	uint64_t owner;
	struct pxc_entry *next;	/* the graveyard, once it left for good */
	/* One for the index while indexed, one per hold. */
	atomic_uint refs;
	uint32_t slot;
	/* The slot's generation, kept here so hits need not read the table. */
	uint32_t generation;
	uint32_t hash;		/* the name index's bits, for removal */
	uint16_t realm;
	uint8_t name_len;	/* 0: anonymous, reached by key only */
	/* CLOCK's reference bit: set by hits, cleared by the hand. */
	atomic_uchar referenced;
	char name[];
};

static inline bool
entry_indexed(const struct pxc_entry *entry)
{
	return entry->slot != ENTRY_NO_SLOT;
}

struct pxc_realm {
	struct pxc_cache *cache;
	char *name;
	size_t name_size;
	uint32_t id;
	uint64_t quota;
	bool over_quota;	/* a quota cut left held bytes above it */

	uint64_t entries;
	uint64_t indexed_bytes;
	uint64_t held_only_entries;
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

	/*
	 * CLOCK: the hand sweeps the slot table. A new entry mostly takes
	 * the slot just evicted, right behind the hand; one that lands
	 * elsewhere starts referenced, so it gets a whole sweep of grace.
	 */
	uint32_t hand;
	uint64_t exhausted_op;	/* scratch of the global eviction */
};

struct pxc_cache {
	struct pxc_rwlock lock;
	void *lock_mem;
	size_t lock_mem_size;
	struct pxc_allocator alloc;

	uint64_t instance;
	uint64_t hash_key[2];
	uint64_t decoy_tag;	/* compared against where a slot is empty */
	uint32_t capacity;	/* a power of two */
	unsigned capacity_shift;
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

/* The slot the hand visits after slot. */
static inline uint32_t
realm_next_slot(const struct pxc_realm *realm, uint32_t slot)
{
	return slot + 1 < realm->slots_used ? slot + 1 : 0;
}

/* The entry in a slot, or NULL if it is free or retired. */
struct pxc_entry *pxc_core_slot_entry(const struct pxc_realm *realm,
	uint32_t slot);

#endif
