/*
 * Image files for the tools: PNG and PAM (straight alpha) to and from
 * premultiplied pixman images.
 */

#ifndef PIXCACHE_TOOLS_IMAGE_IO_H
#define PIXCACHE_TOOLS_IMAGE_IO_H

#include <pixman.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Loads a PNG or a PAM (by its first bytes) as a premultiplied a8r8g8b8
 * image. Returns NULL and writes why into error.
 */
pixman_image_t *pxt_image_load(const char *path, char *error, size_t size);

/**
 * Saves image (any pixman format) as PNG or PAM, by path's extension,
 * with straight alpha. Returns 0, or -1 and writes why into error.
 */
int pxt_image_save(const char *path, pixman_image_t *image, char *error,
	size_t size);

/** Fills a rectangle of dst with an opaque or translucent a8r8g8b8 colour. */
void pxt_fill(pixman_image_t *dst, uint32_t argb, int x, int y, int w,
	int h);

#endif
