/*
 * The primitives under the core: ChaCha20 and SipHash against their
 * published test vectors, the tag generator's reseeding, and the UTF-8
 * check.
 */

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "random.h"
#include "siphash.h"
#include "test-runner.h"
#include "utf8.h"

static uint32_t
rotl32(uint32_t x, int b)
{
	return (x << b) | (x >> (32 - b));
}

static void
quarter_round(uint32_t *x, int a, int b, int c, int d)
{
	x[a] += x[b];
	x[d] = rotl32(x[d] ^ x[a], 16);
	x[c] += x[d];
	x[b] = rotl32(x[b] ^ x[c], 12);
	x[a] += x[b];
	x[d] = rotl32(x[d] ^ x[a], 8);
	x[c] += x[d];
	x[b] = rotl32(x[b] ^ x[c], 7);
}

/* A plain ChaCha20 block, written from RFC 8439: the reference. */
static void
reference_block(const uint32_t key[8], uint32_t counter,
	const uint32_t nonce[3], uint8_t out[64])
{
	uint32_t in[16] = {
		0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,
		key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
		counter, nonce[0], nonce[1], nonce[2],
	};
	uint32_t x[16];

	memcpy(x, in, sizeof(x));
	for (int i = 0; i < 10; i++) {
		quarter_round(x, 0, 4, 8, 12);
		quarter_round(x, 1, 5, 9, 13);
		quarter_round(x, 2, 6, 10, 14);
		quarter_round(x, 3, 7, 11, 15);
		quarter_round(x, 0, 5, 10, 15);
		quarter_round(x, 1, 6, 11, 12);
		quarter_round(x, 2, 7, 8, 13);
		quarter_round(x, 3, 4, 9, 14);
	}
	for (int i = 0; i < 16; i++) {
		uint32_t v = x[i] + in[i];

		for (int b = 0; b < 4; b++) {
			out[4 * i + b] = (uint8_t)(v >> (8 * b));
		}
	}
}

/* RFC 8439, section 2.3.2: the reference and the generator's blocks. */
TEST(chacha20_block_matches_rfc8439)
{
	static const uint8_t expect[64] = {
		0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15,
		0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4,
		0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03,
		0x04, 0x22, 0xaa, 0x9a, 0xc3, 0xd4, 0x6c, 0x4e,
		0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa, 0x09,
		0x14, 0xc2, 0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2,
		0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16, 0x4e, 0xb9,
		0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e,
	};
	uint32_t key[8];
	const uint32_t nonce[3] = { 0x09000000, 0x4a000000, 0x00000000 };
	uint8_t out[64], lanes[64 * PXC_RANDOM_BLOCKS];

	for (int i = 0; i < 8; i++) {
		key[i] = (uint32_t)(4 * i) | (uint32_t)(4 * i + 1) << 8 |
			(uint32_t)(4 * i + 2) << 16 | (uint32_t)(4 * i + 3) << 24;
	}
	reference_block(key, 1, nonce, out);
	assert(memcmp(out, expect, sizeof(expect)) == 0);
	pxc_chacha20_blocks(key, 1, nonce, lanes);
	assert(memcmp(lanes, expect, sizeof(expect)) == 0);
}

/* Every lane is the block of its counter, across a counter wrap. */
TEST(chacha20_blocks_equal_single_blocks)
{
	const uint32_t key[8] = { 9, 8, 7, 6, 5, 4, 3, 0xffffffff };
	const uint32_t nonce[3] = { 1, 2, 3 };
	uint8_t one[64 * PXC_RANDOM_BLOCKS], lanes[64 * PXC_RANDOM_BLOCKS];

	for (uint32_t i = 0; i < PXC_RANDOM_BLOCKS; i++) {
		reference_block(key, 0xfffffffe + i, nonce, one + 64 * i);
	}
	pxc_chacha20_blocks(key, 0xfffffffe, nonce, lanes);
	assert(memcmp(one, lanes, sizeof(one)) == 0);
}

/* The reference vectors of the SipHash paper: key 00..0f, message 00..n-1. */
TEST(siphash24_matches_the_reference_vectors)
{
	const uint64_t key[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	uint8_t msg[15];

	for (int i = 0; i < 15; i++) {
		msg[i] = (uint8_t)i;
	}
	assert(pxc_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
	assert(pxc_siphash24(key, msg, 1) == 0x74f839c593dc67fdULL);
	assert(pxc_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
}

TEST(siphash13_depends_on_key_and_every_byte)
{
	uint64_t key[2] = { 1, 2 };
	char msg[40] = "icon/Adwaita/document-open/48@1";
	uint64_t h = pxc_siphash13(key, msg, sizeof(msg));

	key[1] ^= 1;
	assert(pxc_siphash13(key, msg, sizeof(msg)) != h);
	key[1] ^= 1;
	for (size_t i = 0; i < sizeof(msg); i++) {
		msg[i] ^= 0x20;
		assert(pxc_siphash13(key, msg, sizeof(msg)) != h);
		msg[i] ^= 0x20;
	}
	assert(pxc_siphash13(key, msg, sizeof(msg)) == h);
}

static int fills;
static int fill_error;

static int
counting_fill(void *buf, size_t len)
{
	fills++;
	if (fill_error != 0) {
		return -fill_error;
	}
	return pxc_getrandom(buf, len);
}

TEST(generator_reseeds_every_few_hundred_tags)
{
	struct pxc_random r;
	uint64_t tag;
	int per_refill = (PXC_RANDOM_BUF_SIZE - 32) / 8;

	assert(pxc_random_init(&r) == 0);
	r.fill = counting_fill;
	fills = 0;
	for (int i = 0; i < 1000; i++) {
		assert(pxc_random_bytes(&r, &tag, sizeof(tag)) == 0);
	}
	/* 1000 tags: 17 refills, a reseed every 4 of them. */
	assert(fills >= 1000 / (per_refill * PXC_RANDOM_RESEED_REFILLS) - 1);
	assert(fills <= 1000 / (per_refill * PXC_RANDOM_RESEED_REFILLS) + 1);
	pxc_random_finish(&r);
}

TEST(generator_keeps_going_when_a_periodic_reseed_fails)
{
	struct pxc_random r;
	uint64_t a, b;

	assert(pxc_random_init(&r) == 0);
	r.fill = counting_fill;
	fill_error = EIO;
	for (int i = 0; i < 1000; i++) {
		assert(pxc_random_bytes(&r, &a, sizeof(a)) == 0);
		assert(pxc_random_bytes(&r, &b, sizeof(b)) == 0);
		assert(a != b);
	}
	fill_error = 0;
	pxc_random_finish(&r);
}

TEST(generator_refuses_output_after_fork_without_reseed)
{
	struct pxc_random r;
	uint64_t tag = 0, parent_next;
	int fds[2], status;
	pid_t pid;

	assert(pxc_random_init(&r) == 0);
	assert(pxc_random_bytes(&r, &tag, sizeof(tag)) == 0);
	assert(pipe(fds) == 0);
	pid = test_fork();
	if (pid == 0) {
		uint64_t out = 0;

		r.fill = counting_fill;
		fill_error = EAGAIN;
		assert(pxc_random_bytes(&r, &out, sizeof(out)) == -EAGAIN);
		assert(out == 0);
		fill_error = 0;
		assert(pxc_random_bytes(&r, &out, sizeof(out)) == 0);
		assert(write(fds[1], &out, sizeof(out)) == sizeof(out));
		_exit(0);
	}
	assert(pxc_random_bytes(&r, &parent_next, sizeof(parent_next)) == 0);
	assert(read(fds[0], &tag, sizeof(tag)) == sizeof(tag));
	assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		WEXITSTATUS(status) == 0);
	assert(tag != parent_next);
	close(fds[0]);
	close(fds[1]);
	pxc_random_finish(&r);
}

TEST(utf8_accepts_every_valid_form)
{
	assert(pxc_utf8_valid("", 0));
	assert(pxc_utf8_valid("ascii/only-name_48@2", 20));
	assert(pxc_utf8_valid("\xc2\x80", 2));			/* U+0080 */
	assert(pxc_utf8_valid("\xdf\xbf", 2));			/* U+07FF */
	assert(pxc_utf8_valid("\xe0\xa0\x80", 3));		/* U+0800 */
	assert(pxc_utf8_valid("\xed\x9f\xbf", 3));		/* U+D7FF */
	assert(pxc_utf8_valid("\xee\x80\x80", 3));		/* U+E000 */
	assert(pxc_utf8_valid("\xef\xbf\xbf", 3));		/* U+FFFF */
	assert(pxc_utf8_valid("\xf0\x90\x80\x80", 4));		/* U+10000 */
	assert(pxc_utf8_valid("\xf4\x8f\xbf\xbf", 4));		/* U+10FFFF */
}

TEST(utf8_rejects_every_invalid_form)
{
	assert(!pxc_utf8_valid("\xc1\xbf", 2));			/* overlong */
	assert(!pxc_utf8_valid("\xe0\x9f\xbf", 3));		/* overlong */
	assert(!pxc_utf8_valid("\xf0\x8f\xbf\xbf", 4));		/* overlong */
	assert(!pxc_utf8_valid("\xed\xa0\x80", 3));		/* U+D800 */
	assert(!pxc_utf8_valid("\xed\xbf\xbf", 3));		/* U+DFFF */
	assert(!pxc_utf8_valid("\xf4\x90\x80\x80", 4));		/* U+110000 */
	assert(!pxc_utf8_valid("\xf5\x80\x80\x80", 4));
	assert(!pxc_utf8_valid("\xc2", 1));			/* truncated */
	assert(!pxc_utf8_valid("\xe2\x82", 2));
	assert(!pxc_utf8_valid("\xc2\x41", 2));			/* bad follower */
	assert(!pxc_utf8_valid("\xe2\x82\x41", 3));
	assert(!pxc_utf8_valid("\xbf", 1));
	assert(!pxc_utf8_valid("\xff", 1));
}
