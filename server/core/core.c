#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core-private.h"
#include "siphash.h"
#include "utf8.h"

#define REALMS_MAX (UINT32_C(1) << 16)
#define SLOTS_MIN 16

static void *
default_realloc(void *data, void *ptr, size_t old_size, size_t new_size)
{
	if (new_size == 0) {
		free(ptr);
		return NULL;
	}
	return malloc(new_size);
}

static const struct pxc_allocator default_allocator = {
	.realloc = default_realloc,
};

static void *
cache_alloc(struct pxc_cache *cache, size_t size)
{
	return cache->alloc.realloc(cache->alloc.data, NULL, 0, size);
}

static void *
cache_zalloc(struct pxc_cache *cache, size_t size)
{
	void *p = cache_alloc(cache, size);

	if (p != NULL) {
		memset(p, 0, size);
	}
	return p;
}

static void
cache_free_mem(struct pxc_cache *cache, void *ptr, size_t size)
{
	if (ptr != NULL) {
		cache->alloc.realloc(cache->alloc.data, ptr, size, 0);
	}
}

static size_t
entry_size(size_t name_len)
{
	return offsetof(struct pxc_entry, name) + name_len + 1;
}

uint32_t
pxc_core_name_hash(const struct pxc_cache *cache, const char *name, size_t len)
{
	return (uint32_t)(pxc_siphash13(cache->hash_key, name, len) >> 32);
}

struct pxc_entry *
pxc_core_slot_entry(const struct pxc_realm *realm, uint32_t slot)
{
	uintptr_t cell = realm->slots[slot];

	return slot_is_entry(cell) ? (struct pxc_entry *)cell : NULL;
}

static uint64_t
realm_usage(const struct pxc_realm *realm)
{
	return realm->indexed_bytes + realm->held_only_bytes;
}

static uint64_t
cache_usage(const struct pxc_cache *cache)
{
	return cache->indexed_bytes + cache->held_only_bytes;
}

/* Holds are only taken under the read lock, so under the write lock an
 * entry seen unheld stays unheld; a held one may become unheld. */
static bool
entry_unheld(struct pxc_entry *entry)
{
	return atomic_load_explicit(&entry->refs, memory_order_acquire) == 1;
}

static uint32_t
slot_generation(const struct pxc_realm *realm, uint32_t slot)
{
	return atomic_load_explicit(&realm->gens[slot], memory_order_relaxed);
}

/* Whether the slot comes back to the free list when its entry leaves. */
static bool
slot_survives_leave(const struct pxc_realm *realm, uint32_t slot)
{
	return slot_generation(realm, slot) + 1 != PXC_GENERATION_RETIRED;
}

static struct pxc_key
make_key(const struct pxc_cache *cache, const struct pxc_realm *realm,
	uint32_t slot, uint32_t generation, uint64_t tag)
{
	return (struct pxc_key){
		.instance = cache->instance,
		.slot = realm->id << cache->capacity_shift | slot,
		.generation = generation,
		.tag = tag,
	};
}

static void
fill_hit(const struct pxc_cache *cache, const struct pxc_realm *realm,
	struct pxc_entry *entry, struct pxc_hit *hit)
{
	hit->key = make_key(cache, realm, entry->slot, entry->generation,
		entry->tag);
	hit->payload = entry->payload;
	hit->cost = entry->cost;
	hit->owner = entry->owner;
	hit->hold = NULL;
}

/* ---- slots ---- */

static void
slot_push_free(struct pxc_realm *realm, uint32_t slot)
{
	realm->slots[slot] = SLOT_FREE(realm->free_head);
	realm->free_head = slot + 1;
	realm->free_count++;
}

/* Most recently freed first; then the next never-used slot. */
static uint32_t
slot_take(struct pxc_realm *realm)
{
	uint32_t slot;

	if (realm->free_head != 0) {
		slot = realm->free_head - 1;
		realm->free_head = SLOT_FREE_NEXT(realm->slots[slot]);
		realm->free_count--;
		return slot;
	}
	assert(realm->slots_used < realm->slots_alloc);
	return realm->slots_used++;
}

static bool
slot_ready(const struct pxc_realm *realm)
{
	return realm->free_count > 0 || realm->slots_used < realm->slots_alloc;
}

/*
 * Bumps the slot's generation, so every key of the old occupant fails from
 * now on, and frees the slot, or retires it for good when the generation
 * would reach PXC_GENERATION_RETIRED.
 */
static void
slot_release(struct pxc_cache *cache, struct pxc_realm *realm, uint32_t slot)
{
	uint32_t next = slot_generation(realm, slot) + 1;

	atomic_store_explicit(&realm->gens[slot], next, memory_order_release);
	if (next == PXC_GENERATION_RETIRED) {
		realm->slots[slot] = SLOT_RETIRED;
		realm->retired++;
		cache->retired_slots++;
	} else {
		slot_push_free(realm, slot);
	}
}

/* ---- entries leaving ---- */

/*
 * Takes an entry out of the index. Its key is stale once this returns.
 * Unheld, it goes to the graveyard, to be released after the lock is
 * dropped; held, its bytes keep counting until the last hold goes.
 */
static void
entry_leave(struct pxc_cache *cache, struct pxc_realm *realm,
	struct pxc_entry *entry, enum pxc_leave_reason reason,
	struct pxc_entry **graveyard)
{
	uint32_t slot = entry->slot;
	struct pxc_key key = make_key(cache, realm, slot, entry->generation,
		entry->tag);

	if (entry->name_len > 0 &&
			!pxc_index_remove(&realm->names, entry->hash, slot)) {
		assert(!"a named entry is in its realm's index");
	}
	slot_release(cache, realm, slot);
	entry->slot = ENTRY_NO_SLOT;
	realm->entries--;
	realm->indexed_bytes -= entry->cost;
	cache->entries--;
	cache->indexed_bytes -= entry->cost;
	if (reason == PXC_LEAVE_EVICTED) {
		cache->evictions++;
	}
	if (cache->leave != NULL) {
		cache->leave(cache->data, entry->payload, &key, reason);
	}

	if (atomic_fetch_sub_explicit(&entry->refs, 1,
			memory_order_acq_rel) == 1) {
		entry->next = *graveyard;
		*graveyard = entry;
		return;
	}
	realm->held_only_entries++;
	realm->held_only_bytes += entry->cost;
	cache->held_only_entries++;
	cache->held_only_bytes += entry->cost;
}

static void
entry_free(struct pxc_cache *cache, struct pxc_entry *entry)
{
	cache->release(cache->data, entry->payload);
	cache_free_mem(cache, entry, entry_size(entry->name_len));
}

/* Releases what left the index; called without the lock. */
static void
bury(struct pxc_cache *cache, struct pxc_entry *graveyard)
{
	while (graveyard != NULL) {
		struct pxc_entry *next = graveyard->next;

		entry_free(cache, graveyard);
		graveyard = next;
	}
}

/* ---- eviction ---- */

/*
 * CLOCK over the slot table: the hand skips held entries, gives referenced
 * ones a second chance and evicts the first unreferenced one. Two sweeps
 * find a victim if anything is unheld; when nothing is, nothing changed
 * (only unheld entries lose their reference bit).
 */
static bool
evict_one(struct pxc_cache *cache, struct pxc_realm *realm,
	struct pxc_entry **graveyard)
{
	uint32_t slot = realm->hand;

	if (realm->entries == 0) {
		return false;
	}
	for (uint64_t step = 0; step < 2 * (uint64_t)realm->slots_used;
			step++, slot = realm_next_slot(realm, slot)) {
		struct pxc_entry *entry = pxc_core_slot_entry(realm, slot);

		if (entry == NULL || !entry_unheld(entry)) {
			continue;
		}
		if (!atomic_load_explicit(&entry->referenced,
				memory_order_relaxed)) {
			realm->hand = realm_next_slot(realm, slot);
			entry_leave(cache, realm, entry, PXC_LEAVE_EVICTED,
				graveyard);
			return true;
		}
		atomic_store_explicit(&entry->referenced, 0,
			memory_order_relaxed);
	}
	return false;
}

/* Evicts from realm until extra bytes and a slot fit in it. */
static void
evict_for_realm(struct pxc_cache *cache, struct pxc_realm *realm,
	uint64_t extra, bool need_slot, struct pxc_entry **graveyard)
{
	while (realm_usage(realm) > realm->quota - extra ||
			(need_slot && !slot_ready(realm))) {
		bool evicted = evict_one(cache, realm, graveyard);

		assert(evicted);
		if (!evicted) {
			return;
		}
	}
}

/*
 * The realm that gives up an entry when the cache as a whole needs room:
 * the one using the most bytes, so that a realm filling the cache evicts
 * its own entries before anyone else's. Ties go to the lower index.
 */
static struct pxc_realm *
pick_victim_realm(struct pxc_cache *cache)
{
	struct pxc_realm *best = NULL;

	for (uint32_t i = 0; i < cache->nrealms; i++) {
		struct pxc_realm *realm = cache->realms[i];

		if (realm->entries == 0 || realm->exhausted_op == cache->op_seq) {
			continue;
		}
		if (best == NULL || realm_usage(realm) > realm_usage(best)) {
			best = realm;
		}
	}
	return best;
}

/* Evicts until extra bytes fit in the budget, or nothing unheld is left. */
static bool
evict_for_budget(struct pxc_cache *cache, uint64_t extra,
	struct pxc_entry **graveyard)
{
	cache->op_seq++;
	while (extra > cache->budget ||
			cache_usage(cache) > cache->budget - extra) {
		struct pxc_realm *realm = pick_victim_realm(cache);

		if (realm == NULL) {
			return false;
		}
		if (!evict_one(cache, realm, graveyard)) {
			realm->exhausted_op = cache->op_seq;
		}
	}
	return true;
}

/* ---- room checks (no changes) ---- */

/* Whether evicting realm's unheld entries but skip frees need bytes and
 * need_slots slots. */
static bool
realm_can_free(const struct pxc_realm *realm, const struct pxc_entry *skip,
	uint64_t need, uint32_t need_slots, uint64_t *freed)
{
	uint32_t slots = 0;

	for (uint32_t i = 0; i < realm->slots_used; i++) {
		struct pxc_entry *entry = pxc_core_slot_entry(realm, i);

		if (entry == NULL || entry == skip || !entry_unheld(entry)) {
			continue;
		}
		*freed += entry->cost;
		if (slot_survives_leave(realm, entry->slot)) {
			slots++;
		}
		if (*freed >= need && slots >= need_slots) {
			return true;
		}
	}
	return *freed >= need && slots >= need_slots;
}

static uint64_t
excess(uint64_t usage, uint64_t extra, uint64_t limit)
{
	/* extra <= limit was checked: no overflow. */
	return usage > limit - extra ? usage - (limit - extra) : 0;
}

struct insert_plan {
	struct pxc_entry *old;
	uint64_t freed_by_old;		/* 0 if old is held */
	bool old_slot_reusable;
	uint64_t *buckets;		/* grown index, or NULL */
	uint32_t bucket_mask;
	uintptr_t *slots;		/* grown slot table, or NULL */
	_Atomic uint32_t *gens;		/* grown with it if the core owns it */
	uint32_t slots_alloc;
};

static int
check_room(struct pxc_cache *cache, struct pxc_realm *realm, uint64_t cost,
	const struct insert_plan *plan)
{
	uint64_t need, freed = 0;
	bool slot = realm->free_count > 0 ||
		realm->slots_used < cache->capacity || plan->old_slot_reusable;

	need = excess(realm_usage(realm) - plan->freed_by_old, cost,
		realm->quota);
	if ((need > 0 || !slot) &&
			!realm_can_free(realm, plan->old, need, slot ? 0 : 1,
				&freed)) {
		return -EDQUOT;
	}

	need = excess(cache_usage(cache) - plan->freed_by_old, cost,
		cache->budget);
	freed = 0;
	for (uint32_t i = 0; need > 0 && i < cache->nrealms; i++) {
		if (realm_can_free(cache->realms[i], plan->old, need, 0,
				&freed)) {
			return 0;
		}
	}
	return need > 0 ? -ENOSPC : 0;
}

/* ---- growth, allocated before anything changes ---- */

static void
init_generations(const struct pxc_cache *cache, _Atomic uint32_t *gens,
	uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++) {
		atomic_store_explicit(&gens[i], cache->first_generation,
			memory_order_relaxed);
	}
}

static int
prepare_growth(struct pxc_cache *cache, struct pxc_realm *realm,
	struct insert_plan *plan, bool named)
{
	uint32_t count = realm->names.count + (named && !plan->old ? 1 : 0);

	if (!pxc_index_fits(&realm->names, count)) {
		uint32_t n = pxc_index_buckets_for(count);

		plan->buckets = cache_zalloc(cache, (size_t)n * sizeof(uint64_t));
		if (plan->buckets == NULL) {
			return -ENOMEM;
		}
		plan->bucket_mask = n - 1;
	}

	if (realm->free_count == 0 && !plan->old_slot_reusable &&
			realm->slots_used == realm->slots_alloc &&
			realm->slots_alloc < cache->capacity) {
		uint64_t n = (uint64_t)realm->slots_alloc * 2;

		if (n > cache->capacity) {
			n = cache->capacity;
		}
		plan->slots_alloc = (uint32_t)n;
		plan->slots = cache_alloc(cache, (size_t)n * sizeof(uintptr_t));
		if (plan->slots == NULL) {
			return -ENOMEM;
		}
		if (realm->gens_owned) {
			plan->gens = cache_alloc(cache,
				(size_t)n * sizeof(uint32_t));
			if (plan->gens == NULL) {
				return -ENOMEM;
			}
		}
	}
	return 0;
}

static void
discard_growth(struct pxc_cache *cache, struct insert_plan *plan)
{
	cache_free_mem(cache, plan->buckets,
		((size_t)plan->bucket_mask + 1) * sizeof(uint64_t));
	cache_free_mem(cache, plan->slots,
		(size_t)plan->slots_alloc * sizeof(uintptr_t));
	cache_free_mem(cache, (void *)plan->gens,
		(size_t)plan->slots_alloc * sizeof(uint32_t));
}

static void
commit_growth(struct pxc_cache *cache, struct pxc_realm *realm,
	struct insert_plan *plan)
{
	if (plan->buckets != NULL) {
		size_t old_size = ((size_t)realm->names.mask + 1) *
			sizeof(uint64_t);
		uint64_t *old = pxc_index_rehash(&realm->names, plan->buckets,
			plan->bucket_mask);

		cache_free_mem(cache, old, old_size);
	}
	if (plan->gens != NULL) {
		init_generations(cache, plan->gens, realm->slots_alloc,
			plan->slots_alloc);
		memcpy((void *)plan->gens, (void *)realm->gens,
			realm->slots_alloc * sizeof(uint32_t));
		cache_free_mem(cache, (void *)realm->gens,
			realm->slots_alloc * sizeof(uint32_t));
		realm->gens = plan->gens;
	}
	if (plan->slots != NULL) {
		memcpy(plan->slots, realm->slots,
			realm->slots_alloc * sizeof(uintptr_t));
		cache_free_mem(cache, realm->slots,
			realm->slots_alloc * sizeof(uintptr_t));
		realm->slots = plan->slots;
		realm->slots_alloc = plan->slots_alloc;
	}
}

/* ---- lookups ---- */

static struct pxc_entry *
index_lookup(const struct pxc_realm *realm, uint32_t hash, const char *name,
	size_t len)
{
	struct pxc_index_search search = pxc_index_search(&realm->names, hash);
	uint32_t slot;

	while ((slot = pxc_index_next(&realm->names, &search)) !=
			PXC_INDEX_END) {
		struct pxc_entry *entry = (struct pxc_entry *)realm->slots[slot];

		if (entry->name_len == len &&
				memcmp(entry->name, name, len) == 0) {
			return entry;
		}
	}
	return NULL;
}

static bool
realm_of_cache(const struct pxc_cache *cache, const struct pxc_realm *realm)
{
	return realm != NULL && realm->cache == cache;
}

/* ---- creation and destruction ---- */

static void
realm_free(struct pxc_cache *cache, struct pxc_realm *realm)
{
	if (realm == NULL) {
		return;
	}
	if (realm->gens_owned) {
		cache_free_mem(cache, (void *)realm->gens,
			(size_t)realm->slots_alloc * sizeof(uint32_t));
	}
	cache_free_mem(cache, realm->slots,
		(size_t)realm->slots_alloc * sizeof(uintptr_t));
	cache_free_mem(cache, realm->names.buckets,
		((size_t)realm->names.mask + 1) * sizeof(uint64_t));
	cache_free_mem(cache, realm->name, realm->name_size);
	cache_free_mem(cache, realm, sizeof(*realm));
}

static void
cache_free(struct pxc_cache *cache)
{
	for (uint32_t i = 0; i < cache->nrealms; i++) {
		realm_free(cache, cache->realms[i]);
	}
	cache_free_mem(cache, cache->realms,
		(size_t)cache->realms_alloc * sizeof(*cache->realms));
	pxc_rwlock_finish(&cache->lock);
	cache_free_mem(cache, cache->lock_mem, cache->lock_mem_size);
	pxc_random_finish(&cache->rng);
	cache_free_mem(cache, cache, sizeof(*cache));
}

int
pxc_cache_create(const struct pxc_cache_options *options,
	struct pxc_cache **out)
{
	const struct pxc_allocator *alloc = options->allocator ?
		options->allocator : &default_allocator;
	struct pxc_cache *cache;
	unsigned nshards;
	int ret;

	if (options->release == NULL || options->table_capacity == 0 ||
			options->table_capacity > PXC_TABLE_CAPACITY_MAX ||
			options->first_generation >= PXC_GENERATION_RETIRED) {
		return -EINVAL;
	}
	cache = alloc->realloc(alloc->data, NULL, 0, sizeof(*cache));
	if (cache == NULL) {
		return -ENOMEM;
	}
	memset(cache, 0, sizeof(*cache));
	cache->alloc = *alloc;
	/* A power of two: a key's slot splits by shift and mask. */
	while ((UINT32_C(1) << cache->capacity_shift) <
			options->table_capacity) {
		cache->capacity_shift++;
	}
	cache->capacity = UINT32_C(1) << cache->capacity_shift;
	cache->first_generation = options->first_generation;
	cache->budget = options->budget;
	cache->release = options->release;
	cache->leave = options->leave;
	cache->data = options->data;

	ret = pxc_random_init(&cache->rng);
	if (ret == 0) {
		ret = pxc_random_bytes(&cache->rng, &cache->instance,
			sizeof(cache->instance));
	}
	if (ret == 0) {
		ret = pxc_random_bytes(&cache->rng, cache->hash_key,
			sizeof(cache->hash_key));
	}
	if (ret == 0) {
		ret = pxc_random_bytes(&cache->rng, &cache->decoy_tag,
			sizeof(cache->decoy_tag));
	}
	if (ret < 0) {
		pxc_random_finish(&cache->rng);
		cache_free_mem(cache, cache, sizeof(*cache));
		return ret;
	}

	nshards = pxc_rwlock_shards_for_this_machine();
	cache->lock_mem_size = pxc_rwlock_mem_size(nshards);
	cache->lock_mem = cache_alloc(cache, cache->lock_mem_size);
	if (cache->lock_mem == NULL) {
		pxc_random_finish(&cache->rng);
		cache_free_mem(cache, cache, sizeof(*cache));
		return -ENOMEM;
	}
	ret = pxc_rwlock_init(&cache->lock, nshards, cache->lock_mem);
	if (ret < 0) {
		cache_free_mem(cache, cache->lock_mem, cache->lock_mem_size);
		pxc_random_finish(&cache->rng);
		cache_free_mem(cache, cache, sizeof(*cache));
		return ret;
	}
	*out = cache;
	return 0;
}

static void
clear_locked(struct pxc_cache *cache, struct pxc_entry **graveyard)
{
	for (uint32_t i = 0; i < cache->nrealms; i++) {
		struct pxc_realm *realm = cache->realms[i];

		for (uint32_t slot = 0; slot < realm->slots_used; slot++) {
			struct pxc_entry *entry =
				pxc_core_slot_entry(realm, slot);

			if (entry != NULL) {
				entry_leave(cache, realm, entry,
					PXC_LEAVE_CLEARED, graveyard);
			}
		}
	}
}

void
pxc_cache_destroy(struct pxc_cache *cache)
{
	struct pxc_entry *graveyard = NULL;
	bool free_now;

	if (cache == NULL) {
		return;
	}
	pxc_rwlock_write_lock(&cache->lock);
	clear_locked(cache, &graveyard);
	pxc_rwlock_write_unlock(&cache->lock);
	bury(cache, graveyard);

	/*
	 * Only now may a last release free the cache: before, it would
	 * free it under the burial above.
	 */
	pxc_rwlock_write_lock(&cache->lock);
	cache->destroyed = true;
	free_now = cache->held_only_entries == 0;
	pxc_rwlock_write_unlock(&cache->lock);
	if (free_now) {
		cache_free(cache);
	}
}

uint64_t
pxc_cache_instance(const struct pxc_cache *cache)
{
	return cache->instance;
}

uint32_t
pxc_cache_table_capacity(const struct pxc_cache *cache)
{
	return cache->capacity;
}

/* ---- realms ---- */

uint32_t
pxc_cache_realm_max(const struct pxc_cache *cache)
{
	uint64_t n = (UINT64_C(1) << 32) >> cache->capacity_shift;

	return n < REALMS_MAX ? (uint32_t)n : REALMS_MAX;
}

static struct pxc_realm *
realm_find_locked(struct pxc_cache *cache, const char *name)
{
	for (uint32_t i = 0; i < cache->nrealms; i++) {
		if (strcmp(cache->realms[i]->name, name) == 0) {
			return cache->realms[i];
		}
	}
	return NULL;
}

struct pxc_realm *
pxc_cache_realm_find(struct pxc_cache *cache, const char *name)
{
	struct pxc_rwlock_shard *shard = pxc_rwlock_read_lock(&cache->lock);
	struct pxc_realm *realm = realm_find_locked(cache, name);

	pxc_rwlock_read_unlock(shard, PXC_RWLOCK_NONE);
	return realm;
}

const char *
pxc_realm_name(const struct pxc_realm *realm)
{
	return realm->name;
}

uint32_t
pxc_realm_index(const struct pxc_realm *realm)
{
	return realm->id;
}

static uint64_t
quota_or_unlimited(uint64_t quota)
{
	return quota != 0 ? quota : UINT64_MAX;
}

static struct pxc_realm *
realm_alloc(struct pxc_cache *cache, const char *name,
	const struct pxc_realm_options *options)
{
	struct pxc_realm *realm = cache_zalloc(cache, sizeof(*realm));
	uint32_t slots = cache->capacity < SLOTS_MIN ?
		cache->capacity : SLOTS_MIN;

	if (realm == NULL) {
		return NULL;
	}
	realm->cache = cache;
	realm->name_size = strlen(name) + 1;
	realm->quota = quota_or_unlimited(options ? options->quota : 0);
	realm->name = cache_alloc(cache, realm->name_size);
	realm->slots = cache_alloc(cache, slots * sizeof(uintptr_t));
	realm->slots_alloc = slots;
	realm->names.buckets = cache_zalloc(cache,
		PXC_INDEX_MIN_BUCKETS * sizeof(uint64_t));
	realm->names.mask = PXC_INDEX_MIN_BUCKETS - 1;
	if (options != NULL && options->generation_table != NULL) {
		realm->gens = (_Atomic uint32_t *)options->generation_table;
	} else {
		/* Only a shared table needs its whole capacity at once. */
		realm->gens = cache_alloc(cache, slots * sizeof(uint32_t));
		realm->gens_owned = true;
	}
	if (realm->name == NULL || realm->slots == NULL ||
			realm->names.buckets == NULL || realm->gens == NULL) {
		realm_free(cache, realm);
		return NULL;
	}
	memcpy(realm->name, name, realm->name_size);
	init_generations(cache, realm->gens, 0,
		realm->gens_owned ? slots : cache->capacity);
	return realm;
}

int
pxc_cache_realm_create(struct pxc_cache *cache, const char *name,
	const struct pxc_realm_options *options, struct pxc_realm **out)
{
	struct pxc_realm **realms = NULL;
	struct pxc_realm *realm;
	uint32_t realms_alloc = 0;
	int ret = name ? pxc_name_check(name, strlen(name)) : -EINVAL;

	if (ret < 0) {
		return ret;
	}
	realm = realm_alloc(cache, name, options);
	if (realm == NULL) {
		return -ENOMEM;
	}

	pxc_rwlock_write_lock(&cache->lock);
	if (realm_find_locked(cache, name) != NULL) {
		ret = -EEXIST;
	} else if (cache->nrealms >= pxc_cache_realm_max(cache)) {
		ret = -ENOSPC;
	} else if (cache->nrealms == cache->realms_alloc) {
		realms_alloc = cache->realms_alloc ? cache->realms_alloc * 2 : 4;
		realms = cache_alloc(cache, realms_alloc * sizeof(*realms));
		if (realms == NULL) {
			ret = -ENOMEM;
		} else if (cache->realms != NULL) {
			memcpy(realms, cache->realms,
				cache->nrealms * sizeof(*realms));
		}
	}
	if (ret == 0) {
		if (realms != NULL) {
			cache_free_mem(cache, cache->realms,
				cache->realms_alloc * sizeof(*realms));
			cache->realms = realms;
			cache->realms_alloc = realms_alloc;
		}
		realm->id = cache->nrealms;
		cache->realms[cache->nrealms++] = realm;
	}
	pxc_rwlock_write_unlock(&cache->lock);

	if (ret < 0) {
		realm_free(cache, realm);
		return ret;
	}
	if (out != NULL) {
		*out = realm;
	}
	return 0;
}

/* ---- insert ---- */

static bool
may_replace(const struct pxc_entry *old, const struct pxc_insert *insert)
{
	if (insert->flags & PXC_INSERT_REPLACE) {
		return true;
	}
	return (insert->flags & PXC_INSERT_REPLACE_OWN) &&
		old->owner == insert->owner;
}

static void
link_entry(struct pxc_cache *cache, struct pxc_realm *realm,
	struct pxc_entry *entry)
{
	uint32_t slot = slot_take(realm);
	uint32_t behind_hand = realm->hand > 0 ? realm->hand - 1 :
		realm->slots_used - 1;

	entry->slot = slot;
	entry->generation = slot_generation(realm, slot);
	entry->realm = (uint16_t)realm->id;
	/* Anywhere but right behind the hand, it would be reached early. */
	atomic_init(&entry->referenced, slot != behind_hand);
	realm->slots[slot] = (uintptr_t)entry;
	if (entry->name_len > 0) {
		pxc_index_insert(&realm->names, entry->hash, slot);
	}
	realm->entries++;
	realm->indexed_bytes += entry->cost;
	cache->entries++;
	cache->indexed_bytes += entry->cost;
	cache->inserts++;
}

static int
insert_locked(struct pxc_cache *cache, const struct pxc_insert *insert,
	struct pxc_entry *entry, struct pxc_entry **graveyard)
{
	struct pxc_realm *realm = insert->realm;
	bool named = insert->name_len > 0;
	struct insert_plan plan = {
		.old = named ? index_lookup(realm, entry->hash, insert->name,
			insert->name_len) : NULL,
	};
	int ret;

	if (plan.old != NULL) {
		if (!may_replace(plan.old, insert)) {
			return -EEXIST;
		}
		plan.freed_by_old = entry_unheld(plan.old) ? plan.old->cost : 0;
		plan.old_slot_reusable =
			slot_survives_leave(realm, plan.old->slot);
	}
	if (insert->cost > realm->quota || insert->cost > cache->budget) {
		return -EFBIG;
	}
	ret = check_room(cache, realm, insert->cost, &plan);
	if (ret == 0) {
		ret = pxc_random_bytes(&cache->rng, &entry->tag,
			sizeof(entry->tag));
	}
	if (ret == 0) {
		ret = prepare_growth(cache, realm, &plan, named);
		if (ret < 0) {
			discard_growth(cache, &plan);
		}
	}
	if (ret < 0) {
		return ret;
	}

	/* Nothing below can fail. */
	commit_growth(cache, realm, &plan);
	if (plan.old != NULL) {
		entry_leave(cache, realm, plan.old, PXC_LEAVE_REPLACED,
			graveyard);
		cache->replacements++;
	}
	evict_for_realm(cache, realm, insert->cost, true, graveyard);
	evict_for_budget(cache, insert->cost, graveyard);
	link_entry(cache, realm, entry);
	cache->over_budget = false;
	realm->over_quota = false;
	return 0;
}

int
pxc_cache_insert(struct pxc_cache *cache, const struct pxc_insert *insert,
	struct pxc_hit *hit)
{
	struct pxc_entry *graveyard = NULL;
	struct pxc_entry *entry;
	int ret;

	if (insert == NULL || !realm_of_cache(cache, insert->realm) ||
			insert->cost == 0 ||
			(insert->flags & ~(uint32_t)(PXC_INSERT_REPLACE |
				PXC_INSERT_REPLACE_OWN | PXC_INSERT_HOLD))) {
		return -EINVAL;
	}
	/* No name at all: an anonymous entry, reached by its key only. */
	if (insert->name != NULL || insert->name_len != 0) {
		ret = pxc_name_check(insert->name, insert->name_len);
		if (ret < 0) {
			return ret;
		}
	}

	entry = cache_alloc(cache, entry_size(insert->name_len));
	if (entry == NULL) {
		return -ENOMEM;
	}
	entry->payload = insert->payload;
	entry->cost = insert->cost;
	entry->owner = insert->owner;
	entry->name_len = (uint8_t)insert->name_len;
	if (insert->name_len > 0) {
		memcpy(entry->name, insert->name, insert->name_len);
	}
	entry->name[insert->name_len] = '\0';
	atomic_init(&entry->refs, (insert->flags & PXC_INSERT_HOLD) ? 2 : 1);
	entry->hash = insert->name_len > 0 ?
		pxc_core_name_hash(cache, insert->name, insert->name_len) : 0;

	pxc_rwlock_write_lock(&cache->lock);
	ret = insert_locked(cache, insert, entry, &graveyard);
	if (ret == 0 && hit != NULL) {
		fill_hit(cache, insert->realm, entry, hit);
		if (insert->flags & PXC_INSERT_HOLD) {
			hit->hold = entry;
		}
	}
	pxc_rwlock_write_unlock(&cache->lock);

	bury(cache, graveyard);
	if (ret < 0) {
		cache_free_mem(cache, entry, entry_size(insert->name_len));
	}
	return ret;
}

/* ---- find ---- */

static void
mark_used(struct pxc_entry *entry)
{
	/* Read first: a hit on a hot entry writes nothing shared. */
	if (!atomic_load_explicit(&entry->referenced, memory_order_relaxed)) {
		atomic_store_explicit(&entry->referenced, 1,
			memory_order_relaxed);
	}
}

static void
take_hold(struct pxc_entry *entry, uint32_t flags, struct pxc_hit *hit)
{
	if (flags & PXC_FIND_HOLD) {
		/* The index's reference keeps it above zero meanwhile. */
		atomic_fetch_add_explicit(&entry->refs, 1,
			memory_order_relaxed);
		hit->hold = entry;
	}
}

int
pxc_cache_find(struct pxc_cache *cache, struct pxc_realm *realm,
	const char *name, size_t name_len, uint32_t flags, struct pxc_hit *hit)
{
	struct pxc_rwlock_shard *shard;
	struct pxc_entry *entry;
	uint32_t hash;

	bool peek = flags & PXC_FIND_PEEK;

	if (!realm_of_cache(cache, realm) || name == NULL ||
			(flags & ~(uint32_t)(PXC_FIND_HOLD | PXC_FIND_PEEK)) ||
			((flags & PXC_FIND_HOLD) && hit == NULL)) {
		return -EINVAL;
	}
	if (name_len == 0 || name_len > PXC_NAME_MAX) {
		shard = pxc_rwlock_read_lock(&cache->lock);
		pxc_rwlock_read_unlock(shard,
			peek ? PXC_RWLOCK_NONE : PXC_RWLOCK_MISS);
		return -ENOENT;
	}
	hash = pxc_core_name_hash(cache, name, name_len);

	shard = pxc_rwlock_read_lock(&cache->lock);
	entry = index_lookup(realm, hash, name, name_len);
	if (entry == NULL) {
		pxc_rwlock_read_unlock(shard,
			peek ? PXC_RWLOCK_NONE : PXC_RWLOCK_MISS);
		return -ENOENT;
	}
	if (!peek) {
		mark_used(entry);
	}
	if (hit != NULL) {
		fill_hit(cache, realm, entry, hit);
		take_hold(entry, flags, hit);
	}
	pxc_rwlock_read_unlock(shard, peek ? PXC_RWLOCK_NONE : PXC_RWLOCK_HIT);
	return 0;
}

int
pxc_cache_touch(struct pxc_cache *cache, struct pxc_realm *realm,
	uint32_t slot, uint32_t generation)
{
	struct pxc_rwlock_shard *shard;
	struct pxc_entry *entry;

	if (!realm_of_cache(cache, realm)) {
		return -ENOENT;
	}
	shard = pxc_rwlock_read_lock(&cache->lock);
	entry = slot < realm->slots_used ?
		pxc_core_slot_entry(realm, slot) : NULL;
	if (entry != NULL && entry->generation == generation) {
		mark_used(entry);
	} else {
		entry = NULL;
	}
	pxc_rwlock_read_unlock(shard, PXC_RWLOCK_NONE);
	return entry != NULL ? 0 : -ENOENT;
}

/*
 * The entry the key names, or NULL. An empty, reused or retired slot and a
 * wrong instance, generation or tag all take the same path: one
 * comparison of everything at the end, against a decoy tag where the slot
 * holds no entry.
 */
static struct pxc_entry *
key_lookup(struct pxc_cache *cache, const struct pxc_key *key,
	struct pxc_realm **realm_out)
{
	uint32_t realm_index = key->slot >> cache->capacity_shift;
	uint32_t slot = key->slot & (cache->capacity - 1);
	struct pxc_realm *realm;
	struct pxc_entry *entry;
	uint64_t diff;

	if (realm_index >= cache->nrealms) {
		return NULL;
	}
	realm = cache->realms[realm_index];
	if (slot >= realm->slots_used) {
		return NULL;
	}
	entry = pxc_core_slot_entry(realm, slot);
	diff = (key->instance ^ cache->instance) |
		(key->tag ^ (entry ? entry->tag : cache->decoy_tag)) |
		(uint64_t)(key->generation ^ (entry ? entry->generation : 0)) |
		(uint64_t)(entry == NULL);
	if (diff != 0) {
		return NULL;
	}
	*realm_out = realm;
	return entry;
}

int
pxc_cache_find_key(struct pxc_cache *cache, const struct pxc_key *key,
	uint32_t flags, struct pxc_hit *hit)
{
	struct pxc_rwlock_shard *shard;
	struct pxc_realm *realm;
	struct pxc_entry *entry;

	if (key == NULL || (flags & ~(uint32_t)PXC_FIND_HOLD) ||
			((flags & PXC_FIND_HOLD) && hit == NULL)) {
		return -EINVAL;
	}
	shard = pxc_rwlock_read_lock(&cache->lock);
	entry = key_lookup(cache, key, &realm);
	if (entry == NULL) {
		pxc_rwlock_read_unlock(shard, PXC_RWLOCK_MISS);
		return -ENOENT;
	}
	mark_used(entry);
	if (hit != NULL) {
		fill_hit(cache, realm, entry, hit);
		take_hold(entry, flags, hit);
	}
	pxc_rwlock_read_unlock(shard, PXC_RWLOCK_HIT);
	return 0;
}

void
pxc_cache_release(struct pxc_cache *cache, struct pxc_entry *hold)
{
	struct pxc_realm *realm;
	unsigned refs;
	bool free_cache;

	if (hold == NULL) {
		return;
	}
	refs = atomic_fetch_sub_explicit(&hold->refs, 1, memory_order_acq_rel);
	assert(refs >= 1);
	if (refs > 1) {
		return;
	}

	/* The last reference: the index let go of it before. */
	pxc_rwlock_write_lock(&cache->lock);
	assert(!entry_indexed(hold));
	realm = cache->realms[hold->realm];
	realm->held_only_entries--;
	realm->held_only_bytes -= hold->cost;
	cache->held_only_entries--;
	cache->held_only_bytes -= hold->cost;
	free_cache = cache->destroyed && cache->held_only_entries == 0;
	pxc_rwlock_write_unlock(&cache->lock);

	entry_free(cache, hold);
	if (free_cache) {
		cache_free(cache);
	}
}

/* ---- remove, clear ---- */

int
pxc_cache_remove(struct pxc_cache *cache, struct pxc_realm *realm,
	const char *name, size_t name_len)
{
	struct pxc_entry *graveyard = NULL;
	struct pxc_entry *entry;
	uint32_t hash;

	if (!realm_of_cache(cache, realm) || name == NULL) {
		return -EINVAL;
	}
	if (name_len == 0 || name_len > PXC_NAME_MAX) {
		return -ENOENT;
	}
	hash = pxc_core_name_hash(cache, name, name_len);

	pxc_rwlock_write_lock(&cache->lock);
	entry = index_lookup(realm, hash, name, name_len);
	if (entry != NULL) {
		entry_leave(cache, realm, entry, PXC_LEAVE_REMOVED,
			&graveyard);
		cache->removals++;
	}
	pxc_rwlock_write_unlock(&cache->lock);

	bury(cache, graveyard);
	return entry != NULL ? 0 : -ENOENT;
}

int
pxc_cache_remove_key(struct pxc_cache *cache, const struct pxc_key *key)
{
	struct pxc_entry *graveyard = NULL;
	struct pxc_realm *realm;
	struct pxc_entry *entry;

	if (key == NULL) {
		return -EINVAL;
	}
	pxc_rwlock_write_lock(&cache->lock);
	entry = key_lookup(cache, key, &realm);
	if (entry != NULL) {
		entry_leave(cache, realm, entry, PXC_LEAVE_REMOVED,
			&graveyard);
		cache->removals++;
	}
	pxc_rwlock_write_unlock(&cache->lock);

	bury(cache, graveyard);
	return entry != NULL ? 0 : -ENOENT;
}

void
pxc_cache_clear(struct pxc_cache *cache)
{
	struct pxc_entry *graveyard = NULL;

	pxc_rwlock_write_lock(&cache->lock);
	clear_locked(cache, &graveyard);
	pxc_rwlock_write_unlock(&cache->lock);
	bury(cache, graveyard);
}

/* ---- limits ---- */

void
pxc_cache_set_budget(struct pxc_cache *cache, uint64_t budget)
{
	struct pxc_entry *graveyard = NULL;

	pxc_rwlock_write_lock(&cache->lock);
	cache->budget = budget;
	cache->over_budget = !evict_for_budget(cache, 0, &graveyard);
	pxc_rwlock_write_unlock(&cache->lock);
	bury(cache, graveyard);
}

void
pxc_cache_realm_set_quota(struct pxc_cache *cache, struct pxc_realm *realm,
	uint64_t quota)
{
	struct pxc_entry *graveyard = NULL;

	if (!realm_of_cache(cache, realm)) {
		return;
	}
	pxc_rwlock_write_lock(&cache->lock);
	realm->quota = quota_or_unlimited(quota);
	while (realm_usage(realm) > realm->quota &&
			evict_one(cache, realm, &graveyard)) {
	}
	realm->over_quota = realm_usage(realm) > realm->quota;
	pxc_rwlock_write_unlock(&cache->lock);
	bury(cache, graveyard);
}

/* ---- statistics and iteration ---- */

void
pxc_cache_get_stats(struct pxc_cache *cache, struct pxc_cache_stats *stats)
{
	pxc_rwlock_write_lock(&cache->lock);
	*stats = (struct pxc_cache_stats){
		.budget = cache->budget,
		.entries = cache->entries,
		.indexed_bytes = cache->indexed_bytes,
		.held_only_entries = cache->held_only_entries,
		.held_only_bytes = cache->held_only_bytes,
		.inserts = cache->inserts,
		.replacements = cache->replacements,
		.removals = cache->removals,
		.evictions = cache->evictions,
		.retired_slots = cache->retired_slots,
		.realms = cache->nrealms,
	};
	pxc_rwlock_tally(&cache->lock, &stats->hits, &stats->misses);
	pxc_rwlock_write_unlock(&cache->lock);
}

void
pxc_cache_get_realm_stats(struct pxc_cache *cache,
	const struct pxc_realm *realm, struct pxc_realm_stats *stats)
{
	pxc_rwlock_write_lock(&cache->lock);
	*stats = (struct pxc_realm_stats){
		.quota = realm->quota,
		.entries = realm->entries,
		.indexed_bytes = realm->indexed_bytes,
		.held_only_entries = realm->held_only_entries,
		.held_only_bytes = realm->held_only_bytes,
		.slots_used = realm->slots_used,
		.retired_slots = realm->retired,
	};
	pxc_rwlock_write_unlock(&cache->lock);
}

static bool
for_each_in_realm(struct pxc_cache *cache, struct pxc_realm *realm,
	uint32_t from, bool (*fn)(const struct pxc_entry_info *info,
	void *data), void *data, size_t *calls)
{
	for (uint32_t slot = from; slot < realm->slots_used; slot++) {
		struct pxc_entry *entry = pxc_core_slot_entry(realm, slot);
		struct pxc_entry_info info;

		if (entry == NULL) {
			continue;
		}
		info = (struct pxc_entry_info){
			.realm = realm,
			.name = entry->name,
			.name_len = entry->name_len,
			.key = make_key(cache, realm, entry->slot,
				entry->generation, entry->tag),
			.payload = entry->payload,
			.cost = entry->cost,
			.owner = entry->owner,
			.held = !entry_unheld(entry),
		};

		(*calls)++;
		if (!fn(&info, data)) {
			return false;
		}
	}
	return true;
}

size_t
pxc_cache_for_each(struct pxc_cache *cache, const struct pxc_realm *realm,
	bool (*fn)(const struct pxc_entry_info *info, void *data), void *data)
{
	struct pxc_rwlock_shard *shard = pxc_rwlock_read_lock(&cache->lock);
	size_t calls = 0;

	for (uint32_t i = 0; i < cache->nrealms; i++) {
		struct pxc_realm *r = cache->realms[i];

		if (realm != NULL && r != realm) {
			continue;
		}
		if (!for_each_in_realm(cache, r, 0, fn, data, &calls)) {
			break;
		}
	}
	pxc_rwlock_read_unlock(shard, PXC_RWLOCK_NONE);
	return calls;
}

size_t
pxc_cache_for_each_from(struct pxc_cache *cache, struct pxc_realm *realm,
	uint32_t from, bool (*fn)(const struct pxc_entry_info *info,
	void *data), void *data)
{
	struct pxc_rwlock_shard *shard = pxc_rwlock_read_lock(&cache->lock);
	size_t calls = 0;

	for_each_in_realm(cache, realm, from, fn, data, &calls);
	pxc_rwlock_read_unlock(shard, PXC_RWLOCK_NONE);
	return calls;
}
