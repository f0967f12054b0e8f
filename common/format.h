/*
 * The closed list of pixel formats: DRM fourcc codes read as little-endian,
 * premultiplied, with their pixman equivalents on this host.
 */

#ifndef PIXCACHE_FORMAT_H
#define PIXCACHE_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include <pixman.h>

struct pxc_format {
	uint32_t fourcc;
	uint32_t bytes_per_pixel;
	pixman_format_code_t pixman;
};

/** The format of that fourcc, or NULL if it is not in the list. */
const struct pxc_format *pxc_format_find(uint32_t fourcc);

/** The formats, in the order the manager announces them. */
const struct pxc_format *pxc_formats(unsigned *count);

/**
 * The manager's stride for a width (a multiple of 64 bytes) and the size
 * of width x height, in 64-bit arithmetic. False if either overflows
 * 32 bits.
 */
bool pxc_format_layout(const struct pxc_format *format, uint32_t width,
	uint32_t height, uint32_t *stride, uint32_t *size);

#endif
