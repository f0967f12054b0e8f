#define _DEFAULT_SOURCE
#include <endian.h>
#include <string.h>

#include "siphash.h"

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline uint64_t
rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline void
sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v;

	/* memcpy: unaligned names; le64toh: the same hash on every host. */
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline void
sip_compress(struct sip_state *s, uint64_t m, int rounds)
{
	s->v3 ^= m;
	for (int i = 0; i < rounds; i++) {
		sip_round(s);
	}
	s->v0 ^= m;
}

static inline uint64_t
siphash(const uint64_t key[2], const void *data, size_t len, int c, int d)
{
	const uint8_t *p = data;
	struct sip_state s = {
		.v0 = key[0] ^ 0x736f6d6570736575ULL,
		.v1 = key[1] ^ 0x646f72616e646f6dULL,
		.v2 = key[0] ^ 0x6c7967656e657261ULL,
		.v3 = key[1] ^ 0x7465646279746573ULL,
	};
	size_t whole = len & ~(size_t)7;
	uint8_t tail[8] = { 0 };

	for (size_t i = 0; i < whole; i += 8) {
		sip_compress(&s, load_le64(p + i), c);
	}
	memcpy(tail, p + whole, len - whole);
	tail[7] = (uint8_t)len;
	sip_compress(&s, load_le64(tail), c);

	s.v2 ^= 0xff;
	for (int i = 0; i < d; i++) {
		sip_round(&s);
	}
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t
pxc_siphash13(const uint64_t key[2], const void *data, size_t len)
{
	return siphash(key, data, len, 1, 3);
}

uint64_t
pxc_siphash24(const uint64_t key[2], const void *data, size_t len)
{
	return siphash(key, data, len, 2, 4);
}
