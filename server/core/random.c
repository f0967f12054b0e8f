#define _DEFAULT_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

#include "random.h"

/*
 * fork() copies the generator's state into the child; without a reseed the
 * child would hand out the parent's next tags. The child handler bumps a
 * process-wide generation that every generator compares before output.
 */
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void
register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static inline uint32_t
rotl32(uint32_t x, int b)
{
	return (x << b) | (x >> (32 - b));
}

/*
 * The ChaCha20 block function of RFC 8439, over PXC_RANDOM_BLOCKS
 * consecutive counters at once: written lane by lane, so the compiler turns
 * each step into one vector operation; twice the speed of block after block
 * here.
 */
#define LANES PXC_RANDOM_BLOCKS
#define QUARTER_ROUND_LANES(x, a, b, c, d) do { \
	for (int l = 0; l < LANES; l++) { \
		QUARTER_ROUND_LANE(x, a, b, c, d, l); \
	} \
} while (0)
#define QUARTER_ROUND_LANE(x, a, b, c, d, l) do { \
	x[a][l] += x[b][l]; x[d][l] = rotl32(x[d][l] ^ x[a][l], 16); \
	x[c][l] += x[d][l]; x[b][l] = rotl32(x[b][l] ^ x[c][l], 12); \
	x[a][l] += x[b][l]; x[d][l] = rotl32(x[d][l] ^ x[a][l], 8); \
	x[c][l] += x[d][l]; x[b][l] = rotl32(x[b][l] ^ x[c][l], 7); \
} while (0)

void
pxc_chacha20_blocks(const uint32_t key[8], uint32_t counter,
	const uint32_t nonce[3], uint8_t out[64 * PXC_RANDOM_BLOCKS])
{
	const uint32_t in[16] = {
		0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,
		key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
		counter, nonce[0], nonce[1], nonce[2],
	};
	uint32_t x[16][LANES];

	for (int i = 0; i < 16; i++) {
		for (int l = 0; l < LANES; l++) {
			x[i][l] = in[i] + (i == 12 ? (uint32_t)l : 0);
		}
	}
	for (int i = 0; i < 10; i++) {
		QUARTER_ROUND_LANES(x, 0, 4, 8, 12);
		QUARTER_ROUND_LANES(x, 1, 5, 9, 13);
		QUARTER_ROUND_LANES(x, 2, 6, 10, 14);
		QUARTER_ROUND_LANES(x, 3, 7, 11, 15);
		QUARTER_ROUND_LANES(x, 0, 5, 10, 15);
		QUARTER_ROUND_LANES(x, 1, 6, 11, 12);
		QUARTER_ROUND_LANES(x, 2, 7, 8, 13);
		QUARTER_ROUND_LANES(x, 3, 4, 9, 14);
	}
	for (int l = 0; l < LANES; l++) {
		for (int i = 0; i < 16; i++) {
			uint32_t v = x[i][l] + in[i] +
				(i == 12 ? (uint32_t)l : 0);
			uint8_t *o = out + 64 * l + 4 * i;

			o[0] = (uint8_t)v;
			o[1] = (uint8_t)(v >> 8);
			o[2] = (uint8_t)(v >> 16);
			o[3] = (uint8_t)(v >> 24);
		}
	}
	explicit_bzero(x, sizeof(x));
}

int
pxc_getrandom(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
reseed(struct pxc_random *r)
{
	uint32_t seed[8];
	int ret = r->fill(seed, sizeof(seed));

	if (ret < 0) {
		return ret;
	}
	/* XOR, not replace: a weak seed cannot make the key weaker. */
	for (int i = 0; i < 8; i++) {
		r->key[i] ^= seed[i];
	}
	explicit_bzero(seed, sizeof(seed));
	r->refills = 0;
	return 0;
}

/*
 * Fast key erasure: the first 32 bytes of each buffer become the next key
 * and are wiped, so the state never reveals output already handed out.
 */
static void
refill(struct pxc_random *r)
{
	static const uint32_t nonce[3] = { 0, 0, 0 };

	pxc_chacha20_blocks(r->key, 0, nonce, r->buf);
	memcpy(r->key, r->buf, sizeof(r->key));
	explicit_bzero(r->buf, sizeof(r->key));
	r->pos = sizeof(r->key);
	r->refills++;
}

int
pxc_random_init(struct pxc_random *r)
{
	int ret;

	pthread_once(&atfork_once, register_atfork);
	memset(r, 0, sizeof(*r));
	r->fill = pxc_getrandom;
	r->fork_generation =
		atomic_load_explicit(&fork_generation, memory_order_relaxed);
	ret = r->fill(r->key, sizeof(r->key));
	if (ret < 0) {
		return ret;
	}
	refill(r);
	return 0;
}

static int
check_fork(struct pxc_random *r)
{
	unsigned gen = atomic_load_explicit(&fork_generation,
		memory_order_relaxed);
	int ret;

	if (gen == r->fork_generation) {
		return 0;
	}
	ret = reseed(r);
	if (ret < 0) {
		return ret;
	}
	/* The buffer holds what the parent hands out next: drop it. */
	r->fork_generation = gen;
	refill(r);
	return 0;
}

int
pxc_random_bytes(struct pxc_random *r, void *out, size_t len)
{
	uint8_t *p = out;
	int ret = check_fork(r);

	if (ret < 0) {
		return ret;
	}
	while (len > 0) {
		size_t n;

		if (r->pos == sizeof(r->buf)) {
			/*
			 * A failed periodic reseed is not an error: the key
			 * is still secret and erased as it goes; the next
			 * refill tries again.
			 */
			if (r->refills >= PXC_RANDOM_RESEED_REFILLS) {
				reseed(r);
			}
			refill(r);
		}
		n = sizeof(r->buf) - r->pos;
		if (n > len) {
			n = len;
		}
		memcpy(p, r->buf + r->pos, n);
		explicit_bzero(r->buf + r->pos, n);
		r->pos += n;
		p += n;
		len -= n;
	}
	return 0;
}

void
pxc_random_finish(struct pxc_random *r)
{
	explicit_bzero(r, sizeof(*r));
}
