/*
 * A reference model of the core: the same policy written the plainest way
 * (arrays, linear scans, no locks, no hashing), so that a property test can
 * compare the core with it result by result.
 */

#ifndef PIXCACHE_CORE_MODEL_H
#define PIXCACHE_CORE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"

#define MODEL_REALMS 4
#define MODEL_CAPACITY 64
#define MODEL_ENTRIES 1024
#define MODEL_NAME 32

struct model_entry {
	bool used;		/* this cell of the model's array is taken */
	bool indexed;		/* else held-only */
	int realm;
	char name[MODEL_NAME];
	uint64_t cost;
	uint64_t owner;
	uint64_t id;
	uint32_t slot;		/* in the realm */
	uint32_t generation;
	uint64_t tag;		/* learnt from the core at insert */
	int holds;
	bool referenced;
};

struct model_realm {
	uint64_t quota;
	int n;				/* indexed entries */
	uint32_t hand;			/* CLOCK's, a slot */
	uint32_t gens[MODEL_CAPACITY];
	int slot_entry[MODEL_CAPACITY];	/* entry index or -1 */
	uint32_t slots_used;
	uint32_t free_stack[MODEL_CAPACITY];
	int nfree;
	uint32_t retired;
	uint64_t indexed_bytes;
	uint64_t held_entries;
	uint64_t held_bytes;
	bool exhausted;
};

struct model {
	uint64_t budget;
	uint32_t capacity;
	uint32_t first_generation;
	struct model_realm realms[MODEL_REALMS];
	int nrealms;
	struct model_entry entries[MODEL_ENTRIES];
	struct pxc_cache_stats stats;
};

void model_init(struct model *m, uint64_t budget, uint32_t capacity,
	uint32_t first_generation);

int model_add_realm(struct model *m, uint64_t quota);

/**
 * The model's insert; an empty name inserts an anonymous entry.
 * Returns 0 or the core's negative errno; on success
 * *entry_out is the new entry's index (its tag is for the caller to set).
 */
int model_insert(struct model *m, int realm, const char *name, uint64_t id,
	uint64_t cost, uint64_t owner, uint32_t flags, int *entry_out);

/** The indexed entry of that name, marking it used; -1 if none. */
int model_find(struct model *m, int realm, const char *name, bool hold);

/** The entry a key names, marking it used; -1 if none. */
int model_find_key(struct model *m, const struct pxc_key *key,
	uint64_t instance, bool hold);

bool model_remove(struct model *m, int realm, const char *name);
bool model_remove_key(struct model *m, const struct pxc_key *key,
	uint64_t instance);
void model_release(struct model *m, int entry);
void model_clear(struct model *m);
void model_set_budget(struct model *m, uint64_t budget);
void model_set_quota(struct model *m, int realm, uint64_t quota);

/** The key the core must have given entry. */
struct pxc_key model_key(const struct model *m, int entry, uint64_t instance);

#endif
