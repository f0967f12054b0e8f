/*
 * The consistency checker and the state dump: they walk every structure of
 * the core, so the tests can tell a cache that is right from one that only
 * looks right from outside.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "core-private.h"

struct check {
	struct pxc_cache *cache;
	char *why;
	size_t why_size;
};

__attribute__((format(printf, 2, 3)))
static bool
fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->why != NULL && c->why_size > 0) {
		va_start(ap, fmt);
		vsnprintf(c->why, c->why_size, fmt, ap);
		va_end(ap);
	}
	return false;
}

static uint32_t
gen_of(const struct pxc_realm *realm, uint32_t slot)
{
	return atomic_load_explicit(&realm->gens[slot], memory_order_relaxed);
}

struct slot_counts {
	uint64_t entries;
	uint64_t named;
	uint64_t bytes;
	uint32_t free;
	uint32_t retired;
};

static bool
check_entry(struct check *c, const struct pxc_realm *realm,
	const struct pxc_entry *e, uint32_t slot)
{
	if (e->slot != slot || e->realm != realm->id) {
		return fail(c, "realm %s slot %u: entry says slot %u realm %u",
			realm->name, slot, e->slot, e->realm);
	}
	if (e->generation != gen_of(realm, slot)) {
		return fail(c, "realm %s slot %u: entry at generation %u, "
			"table at %u", realm->name, slot, e->generation,
			gen_of(realm, slot));
	}
	if (atomic_load(&e->refs) < 1) {
		return fail(c, "realm %s slot %u: no reference", realm->name,
			slot);
	}
	if (e->cost == 0 || e->name[e->name_len] != '\0' ||
			(e->name_len > 0 &&
				pxc_name_check(e->name, e->name_len) < 0)) {
		return fail(c, "realm %s slot %u: bad cost or name",
			realm->name, slot);
	}
	if (e->name_len > 0 && e->hash != pxc_core_name_hash(c->cache,
			e->name, e->name_len)) {
		return fail(c, "realm %s slot %u: %s has a wrong hash",
			realm->name, slot, e->name);
	}
	if (gen_of(realm, slot) == PXC_GENERATION_RETIRED) {
		return fail(c, "realm %s slot %u: occupied but retired",
			realm->name, slot);
	}
	return true;
}

static bool
check_slots(struct check *c, const struct pxc_realm *realm,
	struct slot_counts *n)
{
	const struct pxc_cache *cache = c->cache;

	if (realm->slots_used > realm->slots_alloc ||
			realm->slots_alloc > cache->capacity) {
		return fail(c, "realm %s: slots used %u alloc %u capacity %u",
			realm->name, realm->slots_used, realm->slots_alloc,
			cache->capacity);
	}
	for (uint32_t i = 0; i < realm->slots_used; i++) {
		uintptr_t cell = realm->slots[i];

		if (slot_is_entry(cell)) {
			const struct pxc_entry *e = (const void *)cell;

			if (!check_entry(c, realm, e, i)) {
				return false;
			}
			n->entries++;
			n->named += e->name_len > 0;
			n->bytes += e->cost;
		} else if (cell == SLOT_RETIRED) {
			if (gen_of(realm, i) != PXC_GENERATION_RETIRED) {
				return fail(c, "realm %s slot %u: retired at "
					"generation %u", realm->name, i,
					gen_of(realm, i));
			}
			n->retired++;
		} else {
			if (gen_of(realm, i) == PXC_GENERATION_RETIRED) {
				return fail(c, "realm %s slot %u: free but "
					"retired", realm->name, i);
			}
			n->free++;
		}
	}
	for (uint32_t i = realm->slots_used;
			i < (realm->gens_owned ? realm->slots_alloc :
				cache->capacity); i++) {
		if (gen_of(realm, i) != cache->first_generation) {
			return fail(c, "realm %s slot %u: unused slot at "
				"generation %u", realm->name, i,
				gen_of(realm, i));
		}
	}
	return true;
}

static bool
check_free_list(struct check *c, const struct pxc_realm *realm,
	const struct slot_counts *n)
{
	uint32_t count = 0;

	for (uint32_t next = realm->free_head; next != 0;) {
		uint32_t slot = next - 1;
		uintptr_t cell;

		if (slot >= realm->slots_used || count > n->free) {
			return fail(c, "realm %s: free list leaves the table "
				"or loops at slot %u", realm->name, slot);
		}
		cell = realm->slots[slot];
		if (slot_is_entry(cell) || cell == SLOT_RETIRED) {
			return fail(c, "realm %s: free list reaches used "
				"slot %u", realm->name, slot);
		}
		count++;
		next = SLOT_FREE_NEXT(cell);
	}
	if (count != n->free || count != realm->free_count) {
		return fail(c, "realm %s: free list %u, free slots %u, "
			"count %u", realm->name, count, n->free,
			realm->free_count);
	}
	return true;
}

static bool
check_index(struct check *c, const struct pxc_realm *realm,
	const struct slot_counts *n)
{
	const struct pxc_index *index = &realm->names;
	uint32_t bad = pxc_index_check(index);

	if (bad != PXC_INDEX_END) {
		return fail(c, "realm %s: index broken at bucket %u",
			realm->name, bad);
	}
	if (index->count != n->named) {
		return fail(c, "realm %s: index holds %u of %" PRIu64
			" named entries", realm->name, index->count, n->named);
	}
	for (uint64_t i = 0; i <= index->mask; i++) {
		uint64_t b = index->buckets[i];
		const struct pxc_entry *e;
		uint32_t slot = (uint32_t)b - 1;

		if (b == 0) {
			continue;
		}
		if (slot >= realm->slots_used ||
				(e = pxc_core_slot_entry(realm, slot)) == NULL ||
				e->name_len == 0) {
			return fail(c, "realm %s: bucket %" PRIu64 " names "
				"empty slot %u", realm->name, i, slot);
		}
		if ((uint32_t)(b >> 32) != pxc_core_name_hash(c->cache,
				e->name, e->name_len)) {
			return fail(c, "realm %s: bucket %" PRIu64 " has the "
				"wrong hash for %s", realm->name, i, e->name);
		}
	}
	return true;
}

/* Every entry is found by its name, as itself: names are unique. */
static bool
check_names(struct check *c, const struct pxc_realm *realm)
{
	for (uint32_t i = 0; i < realm->slots_used; i++) {
		const struct pxc_entry *e = pxc_core_slot_entry(realm, i);
		struct pxc_index_search search;
		const struct pxc_entry *found = NULL;
		uint32_t slot;

		if (e == NULL || e->name_len == 0) {
			continue;
		}
		search = pxc_index_search(&realm->names, e->hash);
		while ((slot = pxc_index_next(&realm->names, &search)) !=
				PXC_INDEX_END) {
			const struct pxc_entry *o =
				pxc_core_slot_entry(realm, slot);

			if (o->name_len == e->name_len &&
					memcmp(o->name, e->name,
						e->name_len) == 0) {
				found = o;
				break;
			}
		}
		if (found != e) {
			return fail(c, "realm %s: name %s finds another entry",
				realm->name, e->name);
		}
	}
	return true;
}

static bool
check_hand(struct check *c, const struct pxc_realm *realm)
{
	if (realm->hand != 0 && realm->hand >= realm->slots_used) {
		return fail(c, "realm %s: hand at %u of %u slots", realm->name,
			realm->hand, realm->slots_used);
	}
	return true;
}

static bool
check_realm(struct check *c, uint32_t i)
{
	const struct pxc_realm *realm = c->cache->realms[i];
	struct slot_counts n = { 0 };

	if (realm->cache != c->cache || realm->id != i) {
		return fail(c, "realm %u: wrong cache or index", i);
	}
	if (!check_slots(c, realm, &n) || !check_free_list(c, realm, &n) ||
			!check_index(c, realm, &n) || !check_names(c, realm) ||
			!check_hand(c, realm)) {
		return false;
	}
	if (n.entries != realm->entries || n.bytes != realm->indexed_bytes ||
			n.retired != realm->retired) {
		return fail(c, "realm %s: counts %" PRIu64 "/%" PRIu64 "/%u, "
			"slots say %" PRIu64 "/%" PRIu64 "/%u", realm->name,
			realm->entries, realm->indexed_bytes, realm->retired,
			n.entries, n.bytes, n.retired);
	}
	if ((realm->held_only_entries == 0) !=
			(realm->held_only_bytes == 0)) {
		return fail(c, "realm %s: %" PRIu64 " held-only entries of %"
			PRIu64 " bytes", realm->name, realm->held_only_entries,
			realm->held_only_bytes);
	}
	if (!realm->over_quota &&
			realm->indexed_bytes + realm->held_only_bytes >
			realm->quota) {
		return fail(c, "realm %s: %" PRIu64 " bytes over quota %"
			PRIu64, realm->name,
			realm->indexed_bytes + realm->held_only_bytes,
			realm->quota);
	}
	return true;
}

static bool
check_locked(struct check *c)
{
	const struct pxc_cache *cache = c->cache;
	uint64_t entries = 0, bytes = 0, retired = 0;
	uint64_t held_entries = 0, held_bytes = 0;

	if (cache->nrealms > pxc_cache_realm_max(cache) ||
			cache->nrealms > cache->realms_alloc) {
		return fail(c, "%u realms", cache->nrealms);
	}
	for (uint32_t i = 0; i < cache->nrealms; i++) {
		const struct pxc_realm *realm = cache->realms[i];

		if (!check_realm(c, i)) {
			return false;
		}
		entries += realm->entries;
		bytes += realm->indexed_bytes;
		retired += realm->retired;
		held_entries += realm->held_only_entries;
		held_bytes += realm->held_only_bytes;
	}
	if (held_entries != cache->held_only_entries ||
			held_bytes != cache->held_only_bytes) {
		return fail(c, "held-only: %" PRIu64 "/%" PRIu64 ", realms "
			"sum to %" PRIu64 "/%" PRIu64, cache->held_only_entries,
			cache->held_only_bytes, held_entries, held_bytes);
	}
	if (entries != cache->entries || bytes != cache->indexed_bytes ||
			retired != cache->retired_slots) {
		return fail(c, "cache: %" PRIu64 "/%" PRIu64 "/%" PRIu64
			", realms sum to %" PRIu64 "/%" PRIu64 "/%" PRIu64,
			cache->entries, cache->indexed_bytes,
			cache->retired_slots, entries, bytes, retired);
	}
	if (!cache->over_budget &&
			cache->indexed_bytes + cache->held_only_bytes >
			cache->budget) {
		return fail(c, "cache: %" PRIu64 " bytes over budget %" PRIu64,
			cache->indexed_bytes + cache->held_only_bytes,
			cache->budget);
	}
	return true;
}

bool
pxc_cache_check(struct pxc_cache *cache, char *why, size_t why_size)
{
	struct check c = { cache, why, why_size };
	bool ok;

	pxc_rwlock_write_lock(&cache->lock);
	ok = check_locked(&c);
	pxc_rwlock_write_unlock(&cache->lock);
	return ok;
}

static void
dump_entry(const struct pxc_entry *e, bool with_keys, FILE *f)
{
	fprintf(f, "  %s slot=%u gen=%u cost=%" PRIu64 " owner=%" PRIu64
		" ref=%u refs=%u", e->name_len ? e->name : "(anonymous)",
		e->slot, e->generation, e->cost, e->owner,
		(unsigned)atomic_load(&e->referenced), atomic_load(&e->refs));
	if (with_keys) {
		fprintf(f, " tag=%016" PRIx64 " payload=%p", e->tag,
			e->payload);
	}
	fputc('\n', f);
}

static void
dump_realm(const struct pxc_cache *cache, const struct pxc_realm *realm,
	bool with_keys, FILE *f)
{
	fprintf(f, "realm %u %s quota=%" PRIu64 " over=%d entries=%" PRIu64
		" indexed=%" PRIu64 " held=%" PRIu64 "/%" PRIu64 " slots=%u/%u"
		" free=%u head=%u retired=%u hand=%u buckets=%u\n", realm->id,
		realm->name, realm->quota, realm->over_quota, realm->entries,
		realm->indexed_bytes, realm->held_only_entries,
		realm->held_only_bytes, realm->slots_used, realm->slots_alloc,
		realm->free_count, realm->free_head, realm->retired,
		realm->hand, realm->names.mask + 1);
	for (uint32_t i = 0; i < realm->slots_used; i++) {
		const struct pxc_entry *e = pxc_core_slot_entry(realm, i);

		if (e != NULL) {
			dump_entry(e, with_keys, f);
		}
	}
	fprintf(f, " free:");
	for (uint32_t next = realm->free_head; next != 0;
			next = SLOT_FREE_NEXT(realm->slots[next - 1])) {
		fprintf(f, " %u", next - 1);
	}
	fprintf(f, "\n gens:");
	for (uint32_t i = 0; i < realm->slots_used; i++) {
		fprintf(f, " %u", gen_of(realm, i));
	}
	fprintf(f, "\n");
}

int
pxc_cache_dump(struct pxc_cache *cache, FILE *f, bool with_keys)
{
	uint64_t hits, misses;

	pxc_rwlock_write_lock(&cache->lock);
	pxc_rwlock_tally(&cache->lock, &hits, &misses);
	fprintf(f, "cache budget=%" PRIu64 " over=%d entries=%" PRIu64
		" indexed=%" PRIu64 " held=%" PRIu64 "/%" PRIu64
		" inserts=%" PRIu64 " replaced=%" PRIu64 " removed=%" PRIu64
		" evicted=%" PRIu64 " retired=%" PRIu64 " hits=%" PRIu64
		" misses=%" PRIu64 " realms=%u/%u\n", cache->budget,
		cache->over_budget, cache->entries, cache->indexed_bytes,
		cache->held_only_entries, cache->held_only_bytes,
		cache->inserts, cache->replacements, cache->removals,
		cache->evictions, cache->retired_slots, hits, misses,
		cache->nrealms, cache->realms_alloc);
	for (uint32_t i = 0; i < cache->nrealms; i++) {
		dump_realm(cache, cache->realms[i], with_keys, f);
	}
	pxc_rwlock_write_unlock(&cache->lock);
	return ferror(f) ? -EIO : 0;
}
