#include "index.h"

/* Linear probing stays short up to four fifths full. */
static bool
within_load(uint64_t buckets, uint64_t count)
{
	return count * 5 <= buckets * 4;
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

static uint32_t
distance(uint64_t b, uint32_t pos, uint32_t mask)
{
	return (pos - (uint32_t)(b >> 32)) & mask;
}

/* Takes the place of the first entry nearer its home, and moves it on. */
static void
place(uint64_t *buckets, uint32_t mask, uint64_t b)
{
	uint32_t pos = (uint32_t)(b >> 32) & mask;
	uint32_t dist = 0;

	while (buckets[pos] != 0) {
		if (distance(buckets[pos], pos, mask) < dist) {
			uint64_t moved = buckets[pos];

			buckets[pos] = b;
			b = moved;
			dist = distance(b, pos, mask);
		}
		pos = (pos + 1) & mask;
		dist++;
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
 * Backward-shift deletion: the rest of the run moves back one place until
 * an entry already at its home, so no tombstones accumulate and lookups
 * never slow down with churn.
 */
bool
pxc_index_remove(struct pxc_index *index, uint32_t hash, uint32_t slot)
{
	uint64_t want = (uint64_t)hash << 32 | ((uint64_t)slot + 1);
	uint32_t mask = index->mask;
	uint32_t hole = hash & mask;
	uint32_t next;

	for (uint32_t dist = 0; index->buckets[hole] != want; dist++) {
		if (index->buckets[hole] == 0 ||
				distance(index->buckets[hole], hole, mask) <
				dist) {
			return false;
		}
		hole = (hole + 1) & mask;
	}
	for (next = (hole + 1) & mask; index->buckets[next] != 0 &&
			distance(index->buckets[next], next, mask) > 0;
			next = (next + 1) & mask) {
		index->buckets[hole] = index->buckets[next];
		hole = next;
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
		uint32_t pos, prev = (uint32_t)(i - 1) & mask;

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
		if (distance(b, (uint32_t)i, mask) > 0 &&
				distance(b, (uint32_t)i, mask) >
				distance(index->buckets[prev], prev, mask) + 1) {
			return (uint32_t)i;
		}
	}
	if (used != index->count || !within_load((uint64_t)mask + 1, used)) {
		return 0;
	}
	return PXC_INDEX_END;
}
