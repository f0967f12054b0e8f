/*
 * The generator of key tags: ChaCha20 with fast key erasure, seeded from
 * getrandom(), reseeded every few hundred tags and after fork(). Tags are
 * capabilities, so they must not be predictable from tags already seen;
 * a getrandom() call per tag would cost ~300 ns.
 */

#ifndef PIXCACHE_RANDOM_H
#define PIXCACHE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#define PXC_RANDOM_BLOCKS 8
#define PXC_RANDOM_BUF_SIZE (64 * PXC_RANDOM_BLOCKS)
/* Refills between reseeds: 4 x 480 bytes, 240 64-bit tags. */
#define PXC_RANDOM_RESEED_REFILLS 4

struct pxc_random {
	uint32_t key[8];
	uint8_t buf[PXC_RANDOM_BUF_SIZE];
	size_t pos;
	unsigned refills;
	unsigned fork_generation;
	/* The entropy source: getrandom() unless a test replaces it. */
	int (*fill)(void *buf, size_t len);
};

/** Seeds r from getrandom(). Returns 0 or a negative errno. */
int pxc_random_init(struct pxc_random *r);

/**
 * Fills out with len random bytes. Returns 0, or a negative errno when a
 * reseed that cannot be skipped (after fork) failed; then out is untouched.
 */
int pxc_random_bytes(struct pxc_random *r, void *out, size_t len);

/** Wipes r. */
void pxc_random_finish(struct pxc_random *r);

/**
 * PXC_RANDOM_BLOCKS blocks of the ChaCha20 block function of RFC 8439, for
 * counter, counter + 1, ... (wrapping).
 */
void pxc_chacha20_blocks(const uint32_t key[8], uint32_t counter,
	const uint32_t nonce[3], uint8_t out[64 * PXC_RANDOM_BLOCKS]);

/** getrandom() until len bytes are read. Returns 0 or a negative errno. */
int pxc_getrandom(void *buf, size_t len);

#endif
