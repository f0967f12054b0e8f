/*
 * The name index of a realm: open addressing with Robin Hood linear
 * probing over 64-bit buckets, each holding 32 bits of the name's keyed
 * hash and the slot of its entry. The hash bits answer most probes without
 * touching an entry; names are compared only when they match.
 *
 * Robin Hood: along a run, entries are ordered by their distance from home,
 * so a search stops at the first entry nearer its home than the search is
 * to its own; misses stay short even four fifths full.
 */

#ifndef PIXCACHE_INDEX_H
#define PIXCACHE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PXC_INDEX_END UINT32_MAX
#define PXC_INDEX_MIN_BUCKETS 16

struct pxc_index {
	uint64_t *buckets;	/* 0: empty; else hash << 32 | (slot + 1) */
	uint32_t mask;		/* buckets - 1, a power of two less one */
	uint32_t count;
};

/** A search in progress: start it with pxc_index_search(). */
struct pxc_index_search {
	uint32_t hash;
	uint32_t pos;
	uint32_t dist;
};

static inline struct pxc_index_search
pxc_index_search(const struct pxc_index *index, uint32_t hash)
{
	return (struct pxc_index_search){ hash, hash & index->mask, 0 };
}

/**
 * The slot of the next bucket whose hash bits equal the search's, or
 * PXC_INDEX_END when no further bucket can hold it.
 */
static inline uint32_t
pxc_index_next(const struct pxc_index *index, struct pxc_index_search *s)
{
	for (;;) {
		uint64_t b = index->buckets[s->pos];
		uint32_t hash = (uint32_t)(b >> 32);

		if (b == 0 || ((s->pos - hash) & index->mask) < s->dist) {
			return PXC_INDEX_END;
		}
		s->pos = (s->pos + 1) & index->mask;
		s->dist++;
		if (hash == s->hash) {
			return (uint32_t)b - 1;
		}
	}
}

/** Buckets needed to hold count entries within the load factor. */
uint32_t pxc_index_buckets_for(uint32_t count);

/** Whether count entries fit without growing. */
bool pxc_index_fits(const struct pxc_index *index, uint32_t count);

/** Adds (hash, slot); the caller made sure it fits. */
void pxc_index_insert(struct pxc_index *index, uint32_t hash, uint32_t slot);

/** Removes (hash, slot). Returns false if it is not there. */
bool pxc_index_remove(struct pxc_index *index, uint32_t hash, uint32_t slot);

/**
 * Moves every bucket into buckets, zeroed, of mask + 1 entries, and makes
 * them the index's. Returns the old buckets for the caller to free.
 */
uint64_t *pxc_index_rehash(struct pxc_index *index, uint64_t *buckets,
	uint32_t mask);

/**
 * Checks the probe invariants: every bucket is reachable from its home
 * without crossing an empty one, distances from home grow by at most one
 * from a bucket to the next, and count matches. Returns the position of
 * the first bad bucket, or PXC_INDEX_END.
 */
uint32_t pxc_index_check(const struct pxc_index *index);

#endif
