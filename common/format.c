#include <stddef.h>

#include <drm_fourcc.h>

#include "format.h"

/*
 * DRM formats name the bits of a little-endian word; pixman names them
 * in the host's order, so a big-endian host reads ARGB8888 as b8g8r8a8.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LE(little, big) little
#else
#define LE(little, big) big
#endif

static const struct pxc_format formats[] = {
	{ DRM_FORMAT_ARGB8888, 4, LE(PIXMAN_a8r8g8b8, PIXMAN_b8g8r8a8) },
	{ DRM_FORMAT_XRGB8888, 4, LE(PIXMAN_x8r8g8b8, PIXMAN_b8g8r8x8) },
	{ DRM_FORMAT_ABGR8888, 4, LE(PIXMAN_a8b8g8r8, PIXMAN_r8g8b8a8) },
	{ DRM_FORMAT_XBGR8888, 4, LE(PIXMAN_x8b8g8r8, PIXMAN_r8g8b8x8) },
	{ DRM_FORMAT_R8, 1, PIXMAN_a8 },
};

const struct pxc_format *
pxc_format_find(uint32_t fourcc)
{
	for (unsigned i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (formats[i].fourcc == fourcc) {
			return &formats[i];
		}
	}
	return NULL;
}

const struct pxc_format *
pxc_formats(unsigned *count)
{
	*count = sizeof(formats) / sizeof(formats[0]);
	return formats;
}

bool
pxc_format_layout(const struct pxc_format *format, uint32_t width,
	uint32_t height, uint32_t *stride, uint32_t *size)
{
	uint64_t row = ((uint64_t)width * format->bytes_per_pixel + 63) &
		~UINT64_C(63);
	uint64_t total = row * height;

	if (row > UINT32_MAX || total > UINT32_MAX) {
		return false;
	}
	*stride = (uint32_t)row;
	*size = (uint32_t)total;
	return true;
}
