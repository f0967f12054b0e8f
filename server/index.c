#include "index.h"

/* Linear probing stays short up to three quarters full. */
static bool
within_load(uint64_t buckets, uint64_t count)
{
	return count * 4 <= buckets * 3;
}

uint32_t
pxc_index_buckets_for(uint32_t count)
{
	uint64_t n = PXC_INDEX_MIN_BUCKETS;

	while (!within_load(n, count)) {
		n *= 2;
	}
	return (uint32_t)n;
}

bool
pxc_index_fits(const struct pxc_index *index, uint32_t count)
{
	return within_load((uint64_t)index->mask + 1, count);
}

static void
place(uint64_t *buckets, uint32_t mask, uint64_t b)
{
	uint32_t pos = (uint32_t)(b >> 32) & mask;

	while (buckets[pos] != 0) {
		pos = (pos + 1) & mask;
	}
	buckets[pos] = b;
}

void
pxc_index_insert(struct pxc_index *index, uint32_t hash, uint32_t slot)
{
	place(index->buckets, index->mask,
		(uint64_t)hash << 32 | ((uint64_t)slot + 1));
	index->count++;
}

/*
 * Backward-shift deletion: later buckets of the same run move up into the
 * hole when that keeps them reachable from their home, so no tombstones
 * accumulate and lookups never slow down with churn.
 */
bool
pxc_index_remove(struct pxc_index *index, uint32_t hash, uint32_t slot)
{
	uint64_t want = (uint64_t)hash << 32 | ((uint64_t)slot + 1);
	uint32_t mask = index->mask;
	uint32_t hole = hash & mask;

	while (index->buckets[hole] != want) {
		if (index->buckets[hole] == 0) {
			return false;
		}
		hole = (hole + 1) & mask;
	}
	for (uint32_t pos = (hole + 1) & mask; index->buckets[pos] != 0;
			pos = (pos + 1) & mask) {
		uint32_t home = (uint32_t)(index->buckets[pos] >> 32) & mask;

		if (((pos - home) & mask) >= ((pos - hole) & mask)) {
			index->buckets[hole] = index->buckets[pos];
			hole = pos;
		}
	}
	index->buckets[hole] = 0;
	index->count--;
	return true;
}

uint64_t *
pxc_index_rehash(struct pxc_index *index, uint64_t *buckets, uint32_t mask)
{
	uint64_t *old = index->buckets;

	for (uint64_t i = 0; old != NULL && i <= index->mask; i++) {
		if (old[i] != 0) {
			place(buckets, mask, old[i]);
		}
	}
	index->buckets = buckets;
	index->mask = mask;
	return old;
}

uint32_t
pxc_index_check(const struct pxc_index *index)
{
	uint32_t mask = index->mask;
	uint64_t used = 0;

	for (uint64_t i = 0; i <= mask; i++) {
		uint64_t b = index->buckets[i];
		uint32_t pos;

		if (b == 0) {
			continue;
		}
		used++;
		for (pos = (uint32_t)(b >> 32) & mask; pos != i;
				pos = (pos + 1) & mask) {
			if (index->buckets[pos] == 0) {
				return (uint32_t)i;
			}
		}
	}
	if (used != index->count || !within_load((uint64_t)mask + 1, used)) {
		return 0;
	}
	return PXC_INDEX_END;
}
