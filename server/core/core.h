/*
 * pixcache core: the bookkeeping of the cache, with no Wayland and no
 * shared memory in it.
 *
 * The core indexes opaque payloads (the manager's pixmaps) by realm and
 * name and by generation-counted key, accounts their cost against a global
 * budget and per-realm quotas, and evicts the least recently used when room
 * is needed. Every function may be called from any thread. Lookups share a
 * lock that does not bounce between CPUs; everything that changes the index
 * excludes them.
 *
 * Every operation either completes or leaves the cache exactly as it was:
 * all allocations and all checks happen before the first change.
 *
 * Errors are returned as negative errno values.
 */

#ifndef PIXCACHE_CORE_H
#define PIXCACHE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "name.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The generation a retired slot shows in its table: no key carries it. */
#define PXC_GENERATION_RETIRED UINT32_MAX

struct pxc_cache;
struct pxc_realm;
struct pxc_entry;

/**
 * A key: names one entry for as long as it stays in the cache, and nothing
 * ever after. slot is the cache-wide slot number (realm index times the
 * table capacity, plus the slot in the realm's table).
 */
struct pxc_key {
	uint64_t instance;
	uint32_t slot;
	uint32_t generation;
	uint64_t tag;
};

/**
 * Every allocation the core makes goes through this one function, so a
 * test can count them and fail any one of them.
 *
 * With ptr NULL it allocates new_size bytes; with new_size 0 it frees ptr,
 * which was allocated with old_size bytes. The core never asks it to
 * resize. It may be called from any thread, also while the core holds its
 * lock: it must not call into the cache.
 */
struct pxc_allocator {
	void *(*realloc)(void *data, void *ptr, size_t old_size, size_t new_size);
	void *data;
};

/** Why an entry left the index. */
enum pxc_leave_reason {
	PXC_LEAVE_EVICTED = 1,	/* room was needed, or the budget shrank */
	PXC_LEAVE_REMOVED,	/* pxc_cache_remove() or pxc_cache_remove_key() */
	PXC_LEAVE_REPLACED,	/* an insert of the same name replaced it */
	PXC_LEAVE_CLEARED,	/* pxc_cache_clear() or the cache's destruction */
};

struct pxc_cache_options {
	/** Indexed plus held bytes, at most. */
	uint64_t budget;
	/**
	 * Slots in each realm's table: the most entries a realm holds.
	 * Rounded up to a power of two, at most 2^30.
	 */
	uint32_t table_capacity;
	/** NULL: malloc and free. */
	const struct pxc_allocator *allocator;
	/**
	 * Called once for every payload, when its entry has left the index
	 * and the last hold is released. Runs without the cache's lock held,
	 * on whichever thread let go last; it may call into the cache.
	 */
	void (*release)(void *data, void *payload);
	/**
	 * Optional. Called when an entry leaves the index, after its slot's
	 * generation was bumped (so its key no longer resolves) and before
	 * any other thread can see the cache. Runs with the cache's lock
	 * held: it must not call into the cache.
	 */
	void (*leave)(void *data, void *payload, const struct pxc_key *key,
		enum pxc_leave_reason reason);
	/** Passed to release and leave. */
	void *data;
	/**
	 * Test hook: the generation a slot starts with when it is first
	 * used, to reach slot retirement quickly. 0 in production.
	 */
	uint32_t first_generation;
};

/**
 * Creates a cache. The instance id is 64 random bits, so keys of another
 * cache, or of an earlier run, never resolve here.
 *
 * Returns 0 and sets *out, -EINVAL for a zero table capacity or a NULL
 * release callback, -ENOMEM, or the error of getrandom().
 */
int pxc_cache_create(const struct pxc_cache_options *options,
	struct pxc_cache **out);

/**
 * Removes every entry (leave reason PXC_LEAVE_CLEARED) and frees the cache.
 * Entries that are still held keep the cache's memory alive until their
 * last hold is released; nothing else may be called on the cache after
 * this. Accepts NULL.
 */
void pxc_cache_destroy(struct pxc_cache *cache);

/** The instance id that every key of this cache carries. */
uint64_t pxc_cache_instance(const struct pxc_cache *cache);

/** The slots in each realm's table, as rounded up. */
uint32_t pxc_cache_table_capacity(const struct pxc_cache *cache);


struct pxc_realm_options {
	/** Bytes the realm may use, indexed plus held; 0: no quota. */
	uint64_t quota;
	/**
	 * Optional: table_capacity 32-bit words where the core keeps the
	 * realm's slot generations, such as a mapping shared with readers.
	 * The core initialises it and stores to it atomically; it must stay
	 * valid for the cache's lifetime. NULL: the core allocates it.
	 */
	uint32_t *generation_table;
};

/**
 * Creates the realm called name (1 to PXC_NAME_MAX bytes of UTF-8).
 * Realms live as long as the cache.
 *
 * Returns 0 and sets *out, -EEXIST if the cache has a realm of that name,
 * -ENOSPC when no realm index is left (see pxc_cache_realm_max()), an
 * error of pxc_name_check(), or -ENOMEM.
 */
int pxc_cache_realm_create(struct pxc_cache *cache, const char *name,
	const struct pxc_realm_options *options, struct pxc_realm **out);

/** The realm called name, or NULL. */
struct pxc_realm *pxc_cache_realm_find(struct pxc_cache *cache,
	const char *name);

/** The number of realms the cache can hold: its slot space over capacity. */
uint32_t pxc_cache_realm_max(const struct pxc_cache *cache);

/** The realm's name; valid as long as the cache. */
const char *pxc_realm_name(const struct pxc_realm *realm);

/** The realm's index: the slot number of a key divided by the capacity. */
uint32_t pxc_realm_index(const struct pxc_realm *realm);

/** Insert flags. */
enum pxc_insert_flags {
	/** Replace an entry of the same name, whoever owns it. */
	PXC_INSERT_REPLACE = 1 << 0,
	/** Replace an entry of the same name if it has the same owner. */
	PXC_INSERT_REPLACE_OWN = 1 << 1,
	/** Also take a hold on the new entry (see pxc_cache_release()). */
	PXC_INSERT_HOLD = 1 << 2,
};

/** Lookup flags. */
enum pxc_find_flags {
	/** Take a hold: the payload stays valid until pxc_cache_release(). */
	PXC_FIND_HOLD = 1 << 0,
	/** Only look: count no hit or miss, do not mark the entry used. */
	PXC_FIND_PEEK = 1 << 1,
};

struct pxc_insert {
	struct pxc_realm *realm;
	/**
	 * NULL with name_len 0: an anonymous entry, reached only by its key
	 * (which its owner may hand on); it has no name to replace or find.
	 */
	const char *name;
	size_t name_len;
	/** Owned by the cache once the insert succeeds, never before. */
	void *payload;
	/** Bytes the payload costs; at least 1. */
	uint64_t cost;
	/** Opaque to the core; compared by PXC_INSERT_REPLACE_OWN. */
	uint64_t owner;
	/** enum pxc_insert_flags */
	uint32_t flags;
};

/** What a lookup or an insert found. */
struct pxc_hit {
	struct pxc_key key;
	void *payload;
	uint64_t cost;
	uint64_t owner;
	/**
	 * With PXC_FIND_HOLD or PXC_INSERT_HOLD: the hold, to be given to
	 * pxc_cache_release() exactly once. NULL otherwise.
	 */
	struct pxc_entry *hold;
};

/**
 * Inserts a payload under (realm, name), evicting least recently used
 * entries that nobody holds if the realm's quota, its table or the budget
 * needs room: first from the realm itself, then from whichever realm uses
 * the most bytes. A replaced entry's key goes stale at once; if it is held,
 * its bytes keep counting until the last hold is released.
 *
 * Returns 0 and fills *hit (may be NULL), or, changing nothing:
 * -EINVAL for bad arguments, an error of pxc_name_check(),
 * -EEXIST if the name exists and the flags do not allow replacing it,
 * -EFBIG if cost exceeds the quota or the budget by itself,
 * -EDQUOT if the realm's quota or table cannot make room because what is in
 * it is held, -ENOSPC likewise for the budget, -ENOMEM, or an error of
 * getrandom().
 */
int pxc_cache_insert(struct pxc_cache *cache, const struct pxc_insert *insert,
	struct pxc_hit *hit);

/**
 * Looks (realm, name) up; a hit marks the entry as recently used.
 * Anonymous entries are never found by name.
 * Returns 0 and fills *hit (may be NULL without PXC_FIND_HOLD),
 * -ENOENT, or -EINVAL for bad arguments. Names that could not be stored
 * (see pxc_name_check()) are simply not found.
 */
int pxc_cache_find(struct pxc_cache *cache, struct pxc_realm *realm,
	const char *name, size_t name_len, uint32_t flags, struct pxc_hit *hit);

/**
 * Looks a key up. It resolves only while the entry it was issued for is in
 * the cache, and only with the exact instance, slot, generation and tag.
 * Every other key fails the same way, with -ENOENT, whether its slot is
 * empty, reused, retired or its tag is wrong. A hit marks the entry as
 * recently used. -EINVAL for bad arguments.
 */
int pxc_cache_find_key(struct pxc_cache *cache, const struct pxc_key *key,
	uint32_t flags, struct pxc_hit *hit);

/**
 * Marks the entry in slot (of realm's table) as recently used if its
 * generation is generation: how clients report hits the manager never saw.
 * Returns 0 or -ENOENT (empty slot, other generation, bad arguments).
 */
int pxc_cache_touch(struct pxc_cache *cache, struct pxc_realm *realm,
	uint32_t slot, uint32_t generation);

/**
 * Releases a hold taken by a lookup or an insert. When the entry has left
 * the index and this was its last hold, its payload is released (on this
 * thread) and its bytes stop counting. Accepts NULL.
 */
void pxc_cache_release(struct pxc_cache *cache, struct pxc_entry *hold);

/**
 * Removes (realm, name). Returns 0, -ENOENT if it is not there, -EINVAL
 * for bad arguments. Removing twice is harmless: the second time is
 * -ENOENT.
 */
int pxc_cache_remove(struct pxc_cache *cache, struct pxc_realm *realm,
	const char *name, size_t name_len);

/** Removes the entry a key names. Returns 0, -ENOENT or -EINVAL. */
int pxc_cache_remove_key(struct pxc_cache *cache, const struct pxc_key *key);

/**
 * Removes every entry: every key issued so far goes stale. Generations are
 * bumped, never reset. Allocates nothing and cannot fail.
 */
void pxc_cache_clear(struct pxc_cache *cache);

/**
 * Sets the budget. A smaller budget evicts at once what nobody holds until
 * the cache fits; held bytes cannot be evicted, so until they are released
 * the cache may stay above it and inserts that need room fail.
 */
void pxc_cache_set_budget(struct pxc_cache *cache, uint64_t budget);

/**
 * Sets a realm's quota (0: no quota), evicting from the realm as
 * pxc_cache_set_budget() does.
 */
void pxc_cache_realm_set_quota(struct pxc_cache *cache,
	struct pxc_realm *realm, uint64_t quota);

struct pxc_cache_stats {
	uint64_t budget;
	uint64_t entries;		/* indexed entries */
	uint64_t indexed_bytes;
	uint64_t held_only_entries;	/* left the index, still held */
	uint64_t held_only_bytes;
	uint64_t hits;			/* by name and by key */
	uint64_t misses;
	uint64_t inserts;		/* successful, replacements included */
	uint64_t replacements;
	uint64_t removals;		/* by name or key */
	uint64_t evictions;
	uint64_t retired_slots;
	uint32_t realms;
};

/** Fills *stats with a consistent snapshot. */
void pxc_cache_get_stats(struct pxc_cache *cache, struct pxc_cache_stats *stats);

struct pxc_realm_stats {
	uint64_t quota;
	uint64_t entries;
	uint64_t indexed_bytes;
	uint64_t held_only_entries;
	uint64_t held_only_bytes;
	uint32_t slots_used;		/* slots ever used, retired included */
	uint32_t retired_slots;
};

/** Fills *stats with a consistent snapshot of one realm. */
void pxc_cache_get_realm_stats(struct pxc_cache *cache,
	const struct pxc_realm *realm, struct pxc_realm_stats *stats);

/** One entry, as pxc_cache_for_each() shows it. */
struct pxc_entry_info {
	const struct pxc_realm *realm;
	const char *name;
	size_t name_len;
	struct pxc_key key;
	void *payload;
	uint64_t cost;
	uint64_t owner;
	bool held;
};

/**
 * Calls fn for every indexed entry of realm (NULL: of every realm), in no
 * particular order, until fn returns false. fn runs with the lookup lock
 * held: it must not call into the cache. Returns the number of calls.
 */
size_t pxc_cache_for_each(struct pxc_cache *cache, const struct pxc_realm *realm,
	bool (*fn)(const struct pxc_entry_info *info, void *data), void *data);

/**
 * As pxc_cache_for_each(), for one realm, in slot order from its slot
 * from (a realm's own slot, 0 to its table capacity): a cursor, so that a
 * long listing can be sent a page at a time.
 */
size_t pxc_cache_for_each_from(struct pxc_cache *cache,
	struct pxc_realm *realm, uint32_t from,
	bool (*fn)(const struct pxc_entry_info *info, void *data), void *data);

/**
 * Walks every structure of the cache and checks every invariant. Returns
 * true if all hold; otherwise false, with the first broken one described
 * in why (may be NULL).
 */
bool pxc_cache_check(struct pxc_cache *cache, char *why, size_t why_size);

/**
 * Writes a canonical description of the whole state to f: two caches in
 * the same state, up to their random tags, write the same text when their
 * keys are left out. Returns 0 or a negative errno.
 */
int pxc_cache_dump(struct pxc_cache *cache, FILE *f, bool with_keys);

#ifdef __cplusplus
}
#endif

#endif
