/*
 * A reader-writer lock whose readers do not share a cache line.
 *
 * Each thread reads through one of PXC_RWLOCK_SHARDS shards, each on its own
 * cache line, so lookups from several CPUs do not bounce a lock word between
 * them. A writer announces itself, then waits until every shard is empty;
 * readers that arrive meanwhile step back and sleep until it is done.
 * Writes pay for the scan of all shards; the cache is written far less
 * often than it is read.
 *
 * Phase-fair: a writer's release lets every reader queued behind it in at
 * once, and the next writer announces itself only after they entered; a
 * writer waits only for the readers inside when it announced itself. So
 * neither side starves, however often the other comes back.
 *
 * The shard's word also counts hits above its reader count, so that leaving
 * the lock and counting a hit is one atomic add.
 *
 * Not recursive: a thread holding the lock must not take it again.
 */

#ifndef PIXCACHE_RWLOCK_H
#define PIXCACHE_RWLOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PXC_RWLOCK_MAX_SHARDS 64
#define PXC_CACHE_LINE 64

struct pxc_rwlock_shard {
	/* Readers inside in bits 0..15, hits from bit 16 on (wraps at 2^48). */
	_Atomic uint64_t word;
	_Atomic uint64_t misses;
	uint8_t pad[PXC_CACHE_LINE - 2 * sizeof(uint64_t)];
};

struct pxc_rwlock {
	pthread_mutex_t writer;		/* serialises writers */
	atomic_uint writer_active;	/* 0 or 1; readers sleep on it */
	atomic_uint queued;		/* readers waiting for a writer */
	unsigned nshards;		/* a power of two */
	struct pxc_rwlock_shard *shards;
};

/**
 * The shards worth having here: two per CPU, so that threads rarely share
 * one, and no more, since every writer scans them all. A power of two
 * from 2 to PXC_RWLOCK_MAX_SHARDS.
 */
unsigned pxc_rwlock_shards_for_this_machine(void);

/** Bytes of memory pxc_rwlock_init() needs for nshards, alignment included. */
size_t pxc_rwlock_mem_size(unsigned nshards);

/**
 * Initialises the lock with nshards (a power of two) and
 * pxc_rwlock_mem_size(nshards) bytes at mem, which must outlive it.
 * Returns 0 or a negative errno.
 */
int pxc_rwlock_init(struct pxc_rwlock *lock, unsigned nshards, void *mem);

/** Destroys an unlocked lock. */
void pxc_rwlock_finish(struct pxc_rwlock *lock);

/** Takes the lock for reading; returns the shard to unlock. */
struct pxc_rwlock_shard *pxc_rwlock_read_lock(struct pxc_rwlock *lock);

/** Leaves the lock, counting a hit or a miss (or neither). */
void pxc_rwlock_read_unlock(struct pxc_rwlock_shard *shard, int hit);

#define PXC_RWLOCK_MISS (-1)
#define PXC_RWLOCK_NONE 0
#define PXC_RWLOCK_HIT 1

/** Takes the lock for writing: no reader or other writer is inside. */
void pxc_rwlock_write_lock(struct pxc_rwlock *lock);

void pxc_rwlock_write_unlock(struct pxc_rwlock *lock);

/** Hits and misses counted by every shard. Call with the write lock held. */
void pxc_rwlock_tally(struct pxc_rwlock *lock, uint64_t *hits,
	uint64_t *misses);

#endif
