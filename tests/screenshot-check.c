/*
 * Compares the demo window in a compositor's screenshot, pixel by pixel,
 * with a reference rendered here from the source PNGs.
 *
 *   screenshot-check SHOT OUTDIR WIDTH HEIGHT BACKGROUND MARKER
 *                    MARKER_TOP_LEFT MARKER_BOTTOM_RIGHT X,Y,PNG...
 *
 * The window is found in SHOT by its top-left marker (a MARKER-sized
 * square of one colour) and confirmed by the bottom-right one. The
 * reference is the background, the two markers and each PNG decoded,
 * premultiplied and composited over at its place: what the demo should
 * show if the cache, the manager and the compositor kept every bit.
 * Writes OUTDIR/capture.png and OUTDIR/reference.png, prints one report
 * line, and exits 0 only if no pixel differs: 1 if some do, 3 if the
 * window is not in the capture (not shown yet, or gone), 2 for bad
 * arguments or files.
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-io.h"

static uint32_t
pixel(pixman_image_t *image, int x, int y)
{
	const uint32_t *p = pixman_image_get_data(image);

	return p[y * (pixman_image_get_stride(image) / 4) + x] | 0xff000000u;
}

static bool
square_at(pixman_image_t *image, int x, int y, int size, uint32_t color)
{
	if (x < 0 || y < 0 || x + size > pixman_image_get_width(image) ||
			y + size > pixman_image_get_height(image)) {
		return false;
	}
	for (int j = 0; j < size; j++) {
		for (int i = 0; i < size; i++) {
			if (pixel(image, x + i, y + j) != color) {
				return false;
			}
		}
	}
	return true;
}

static pixman_image_t *
load(const char *path)
{
	char error[256];
	pixman_image_t *image = pxt_image_load(path, error, sizeof(error));

	if (image == NULL) {
		fprintf(stderr, "screenshot-check: %s\n", error);
		exit(2);
	}
	return image;
}

static void
save(const char *dir, const char *name, pixman_image_t *image)
{
	char path[4096], error[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (pxt_image_save(path, image, error, sizeof(error)) < 0) {
		fprintf(stderr, "screenshot-check: %s\n", error);
		exit(2);
	}
}

int
main(int argc, char *argv[])
{
	pixman_image_t *shot, *reference, *capture;
	int w, h, marker, wx = -1, wy = -1;
	uint32_t background, top_left, bottom_right;
	long differ = 0;

	if (argc < 10) {
		fprintf(stderr, "usage: screenshot-check SHOT OUTDIR WIDTH HEIGHT "
			"BACKGROUND MARKER TOP_LEFT BOTTOM_RIGHT X,Y,PNG...\n");
		return 2;
	}
	shot = load(argv[1]);
	w = atoi(argv[3]);
	h = atoi(argv[4]);
	background = (uint32_t)strtoul(argv[5], NULL, 0);
	marker = atoi(argv[6]);
	top_left = (uint32_t)strtoul(argv[7], NULL, 0);
	bottom_right = (uint32_t)strtoul(argv[8], NULL, 0);
	for (int y = 0; y < pixman_image_get_height(shot) && wx < 0; y++) {
		for (int x = 0; x < pixman_image_get_width(shot); x++) {
			if (square_at(shot, x, y, marker, top_left) &&
					square_at(shot, x + w - marker,
					y + h - marker, marker, bottom_right)) {
				wx = x;
				wy = y;
				break;
			}
		}
	}
	if (wx < 0) {
		printf("report: screenshot: the window's markers are not in "
			"the capture\n");
		pixman_image_unref(shot);
		return 3;
	}
	reference = pixman_image_create_bits(PIXMAN_x8r8g8b8, w, h, NULL, 0);
	pxt_fill(reference, background, 0, 0, w, h);
	pxt_fill(reference, top_left, 0, 0, marker, marker);
	pxt_fill(reference, bottom_right, w - marker, h - marker, marker,
		marker);
	for (int i = 9; i < argc; i++) {
		int x, y, n = 0;
		pixman_image_t *icon;

		if (sscanf(argv[i], "%d,%d,%n", &x, &y, &n) != 2 || n == 0) {
			fprintf(stderr, "screenshot-check: bad icon \"%s\"\n",
				argv[i]);
			return 2;
		}
		icon = load(argv[i] + n);
		pixman_image_composite32(PIXMAN_OP_OVER, icon, NULL, reference,
			0, 0, 0, 0, x, y, pixman_image_get_width(icon),
			pixman_image_get_height(icon));
		pixman_image_unref(icon);
	}
	capture = pixman_image_create_bits(PIXMAN_x8r8g8b8, w, h, NULL, 0);
	pixman_image_composite32(PIXMAN_OP_SRC, shot, NULL, capture, wx, wy,
		0, 0, 0, 0, w, h);
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			differ += pixel(capture, x, y) != pixel(reference, x, y);
		}
	}
	save(argv[2], "capture.png", capture);
	save(argv[2], "reference.png", reference);
	printf("report: screenshot: window at (%d, %d), %dx%d, %d icons, "
		"%ld pixels compared, %ld differ\n", wx, wy, w, h, argc - 9,
		(long)w * h, differ);
	pixman_image_unref(capture);
	pixman_image_unref(reference);
	pixman_image_unref(shot);
	return differ == 0 ? 0 : 1;
}
