#define _DEFAULT_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rwlock.h"

#define READERS_MASK UINT64_C(0xffff)
#define HIT_UNIT (UINT64_C(1) << 16)

static atomic_uint next_thread_id;
static _Thread_local unsigned thread_shard = UINT32_MAX;

/* Threads take shards in turn, so up to nshards threads have one each. */
static unsigned
current_shard(const struct pxc_rwlock *lock)
{
	if (thread_shard == UINT32_MAX) {
		thread_shard = atomic_fetch_add_explicit(&next_thread_id, 1,
			memory_order_relaxed);
	}
	return thread_shard & (lock->nshards - 1);
}

unsigned
pxc_rwlock_shards_for_this_machine(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	unsigned n = 2;

	while (n < PXC_RWLOCK_MAX_SHARDS && (long)n < 2 * cpus) {
		n *= 2;
	}
	return n;
}

size_t
pxc_rwlock_mem_size(unsigned nshards)
{
	return nshards * sizeof(struct pxc_rwlock_shard) + PXC_CACHE_LINE;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

int
pxc_rwlock_init(struct pxc_rwlock *lock, unsigned nshards, void *mem)
{
	uintptr_t p = ((uintptr_t)mem + PXC_CACHE_LINE - 1) &
		~(uintptr_t)(PXC_CACHE_LINE - 1);
	int ret = pthread_mutex_init(&lock->writer, NULL);

	if (ret != 0) {
		return -ret;
	}
	atomic_init(&lock->writer_active, 0);
	atomic_init(&lock->queued, 0);
	lock->nshards = nshards;
	lock->shards = (struct pxc_rwlock_shard *)p;
	for (unsigned i = 0; i < nshards; i++) {
		atomic_init(&lock->shards[i].word, 0);
		atomic_init(&lock->shards[i].misses, 0);
	}
	return 0;
}

void
pxc_rwlock_finish(struct pxc_rwlock *lock)
{
	pthread_mutex_destroy(&lock->writer);
}

static void
futex_wait(atomic_uint *word, unsigned expected)
{
	/* Returns at once if *word no longer holds expected. */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void
futex_wake_all(atomic_uint *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/*
 * The reader's increment and the writer's flag form a Dekker pair: both
 * sides store, then load the other's, all sequentially consistent, so at
 * least one of them sees the other and backs off or waits.
 */
static bool
try_enter(struct pxc_rwlock *lock, struct pxc_rwlock_shard *shard)
{
	atomic_fetch_add_explicit(&shard->word, 1, memory_order_seq_cst);
	if (!atomic_load_explicit(&lock->writer_active, memory_order_seq_cst)) {
		return true;
	}
	atomic_fetch_sub_explicit(&shard->word, 1, memory_order_release);
	return false;
}

struct pxc_rwlock_shard *
pxc_rwlock_read_lock(struct pxc_rwlock *lock)
{
	struct pxc_rwlock_shard *shard = &lock->shards[current_shard(lock)];

	if (try_enter(lock, shard)) {
		return shard;
	}
	/*
	 * Queued, the next writer waits for us to enter before it announces
	 * itself. The queue count and the flag are another Dekker pair with
	 * the releasing writer, which wakes us if it sees the count: no
	 * wake-up is lost.
	 */
	atomic_fetch_add_explicit(&lock->queued, 1, memory_order_seq_cst);
	do {
		while (atomic_load_explicit(&lock->writer_active,
				memory_order_seq_cst)) {
			futex_wait(&lock->writer_active, 1);
		}
	} while (!try_enter(lock, shard));
	atomic_fetch_sub_explicit(&lock->queued, 1, memory_order_release);
	return shard;
}

void
pxc_rwlock_read_unlock(struct pxc_rwlock_shard *shard, int hit)
{
	if (hit == PXC_RWLOCK_MISS) {
		atomic_fetch_add_explicit(&shard->misses, 1,
			memory_order_relaxed);
	}
	/* Unsigned wrap-around: HIT_UNIT - 1 counts a hit and leaves. */
	atomic_fetch_add_explicit(&shard->word,
		(hit == PXC_RWLOCK_HIT ? HIT_UNIT : 0) - 1,
		memory_order_release);
}

static void
wait_for_readers(struct pxc_rwlock_shard *shard)
{
	unsigned spins = 0;

	while (atomic_load_explicit(&shard->word, memory_order_seq_cst) &
			READERS_MASK) {
		if (++spins < 128) {
			cpu_relax();
		} else {
			sched_yield();
		}
	}
}

static void
wait_for_queue(struct pxc_rwlock *lock)
{
	unsigned spins = 0;

	while (atomic_load_explicit(&lock->queued, memory_order_acquire) != 0) {
		if (++spins < 128) {
			cpu_relax();
		} else {
			sched_yield();
		}
	}
}

void
pxc_rwlock_write_lock(struct pxc_rwlock *lock)
{
	pthread_mutex_lock(&lock->writer);
	/*
	 * Readers queued behind the last writer enter first; none can join
	 * the queue while no writer is announced, so it drains.
	 */
	wait_for_queue(lock);
	atomic_store_explicit(&lock->writer_active, 1, memory_order_seq_cst);
	for (unsigned i = 0; i < lock->nshards; i++) {
		wait_for_readers(&lock->shards[i]);
	}
}

void
pxc_rwlock_write_unlock(struct pxc_rwlock *lock)
{
	atomic_store_explicit(&lock->writer_active, 0, memory_order_seq_cst);
	if (atomic_load_explicit(&lock->queued, memory_order_seq_cst) != 0) {
		futex_wake_all(&lock->writer_active);
	}
	pthread_mutex_unlock(&lock->writer);
}

void
pxc_rwlock_tally(struct pxc_rwlock *lock, uint64_t *hits, uint64_t *misses)
{
	*hits = 0;
	*misses = 0;
	for (unsigned i = 0; i < lock->nshards; i++) {
		struct pxc_rwlock_shard *s = &lock->shards[i];

		*hits += atomic_load_explicit(&s->word,
			memory_order_relaxed) >> 16;
		*misses += atomic_load_explicit(&s->misses,
			memory_order_relaxed);
	}
}
