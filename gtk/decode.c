/*
 * Icon files to premultiplied pixman images: PNG with the project's own
 * libpng reader (tools/image-io.c), SVG with librsvg into a cairo surface
 * over the image's pixels (cairo's ARGB32 is pixman's a8r8g8b8).
 */

#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <cairo.h>
#include <librsvg/rsvg.h>

#include "gtk-private.h"
#include "image-io.h"

/* The cache takes pixmaps of at most 16384 on a side. */
#define MAX_SIDE 16384

enum pxgtk_file_kind
pxgtk_file_kind(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot == NULL || strchr(dot, '/') != NULL) {
		return PXGTK_FILE_OTHER;
	}
	if (strcmp(dot, ".png") == 0) {
		return PXGTK_FILE_PNG;
	}
	if (strcmp(dot, ".svg") == 0) {
		return PXGTK_FILE_SVG;
	}
	return PXGTK_FILE_OTHER;
}

static pixman_image_t *
render_svg(const char *path, int side, char *error, size_t size)
{
	RsvgRectangle viewport = { 0, 0, side, side };
	pixman_image_t *image;
	cairo_surface_t *surface;
	RsvgHandle *handle;
	GError *gerror = NULL;
	cairo_t *cr;
	bool ok;

	if (side < 1 || side > MAX_SIDE) {
		snprintf(error, size, "%s: %d pixels is not a size the cache "
			"takes", path, side);
		return NULL;
	}
	handle = rsvg_handle_new_from_file(path, &gerror);
	if (handle == NULL) {
		snprintf(error, size, "%s", gerror->message);
		g_error_free(gerror);
		return NULL;
	}
	image = pixman_image_create_bits(PIXMAN_a8r8g8b8, side, side, NULL, 0);
	if (image == NULL) {
		snprintf(error, size, "%s: out of memory", path);
		g_object_unref(handle);
		return NULL;
	}
	surface = cairo_image_surface_create_for_data(
		(unsigned char *)pixman_image_get_data(image),
		CAIRO_FORMAT_ARGB32, side, side,
		pixman_image_get_stride(image));
	cr = cairo_create(surface);
	ok = rsvg_handle_render_document(handle, cr, &viewport, &gerror);
	ok = ok && cairo_status(cr) == CAIRO_STATUS_SUCCESS;
	cairo_destroy(cr);
	/* Everything cairo drew is in the pixels before they are used. */
	cairo_surface_finish(surface);
	cairo_surface_destroy(surface);
	g_object_unref(handle);
	if (!ok) {
		snprintf(error, size, "%s: %s", path,
			gerror != NULL ? gerror->message : "cannot render");
		g_clear_error(&gerror);
		pixman_image_unref(image);
		return NULL;
	}
	return image;
}

pixman_image_t *
pxgtk_decode(const char *path, enum pxgtk_file_kind kind, int side,
	char *error, size_t size)
{
	switch (kind) {
	case PXGTK_FILE_PNG:
		return pxt_image_load(path, error, size);
	case PXGTK_FILE_SVG:
		return render_svg(path, side, error, size);
	default:
		snprintf(error, size, "%s: neither PNG nor SVG", path);
		return NULL;
	}
}
