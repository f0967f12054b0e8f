/*
 * The DRM device the GPU tests use: /dev/dri/card0, which must make dumb
 * buffers (vgem does, in tests/vm/vm-run.sh --modules vgem).
 */

#ifndef PIXCACHE_TEST_DRM_UTIL_H
#define PIXCACHE_TEST_DRM_UTIL_H

#include <stdint.h>

#define TEST_CARD "/dev/dri/card0"

/**
 * TEST_CARD opened read-write, if it makes dumb buffers; else the test is
 * skipped, saying why.
 */
int test_open_card(void);

/* A buffer a GPU drew, as a client would offer it: a dumb buffer of
 * TEST_CARD, mapped writable, exported as a dma-buf. */
struct test_gpu_buffer {
	int card;
	uint32_t handle;
	int fd;				/* the dma-buf */
	uint32_t pitch;
	uint64_t size;
	uint8_t *map;
};

/** width x height pixels of 32 bits; the test is skipped without a card. */
struct test_gpu_buffer *test_gpu_buffer_create(uint32_t width,
	uint32_t height);
/** Writes height rows of row_bytes from rows at offset, stride apart. */
void test_gpu_buffer_write(struct test_gpu_buffer *buffer, uint32_t offset,
	uint32_t stride, uint32_t row_bytes, uint32_t height,
	const uint8_t *rows);
/**
 * Attaches an unsignalled write fence, as a GPU still drawing would
 * (vgem signals it itself after 10 s); returns it for
 * test_gpu_buffer_signal().
 */
uint32_t test_gpu_buffer_fence(struct test_gpu_buffer *buffer);
void test_gpu_buffer_signal(struct test_gpu_buffer *buffer, uint32_t fence);
void test_gpu_buffer_destroy(struct test_gpu_buffer *buffer);

#endif
