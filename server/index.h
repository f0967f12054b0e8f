/*
 * The name index of a realm: open addressing with linear probing over
 * 64-bit buckets, each holding 32 bits of the name's keyed hash and the
 * slot of its entry. The hash bits answer most probes without touching an
 * entry; names are compared only when they match.
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

static inline uint32_t
pxc_index_home(const struct pxc_index *index, uint32_t hash)
{
	return hash & index->mask;
}

/**
 * The slot of the next bucket from *pos on whose hash bits equal hash, or
 * PXC_INDEX_END at the first empty bucket. Start with *pos at the home of
 * hash. Terminates because the load factor keeps a bucket empty.
 */
static inline uint32_t
pxc_index_next(const struct pxc_index *index, uint32_t hash, uint32_t *pos)
{
	for (;;) {
		uint64_t b = index->buckets[*pos];

		*pos = (*pos + 1) & index->mask;
		if (b == 0) {
			return PXC_INDEX_END;
		}
		if ((uint32_t)(b >> 32) == hash) {
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
 * Checks the probe invariant: every bucket is reachable from its home
 * without crossing an empty one, and count matches. Returns the position
 * of the first bad bucket, or PXC_INDEX_END.
 */
uint32_t pxc_index_check(const struct pxc_index *index);

#endif
