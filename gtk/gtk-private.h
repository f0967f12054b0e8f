/*
 * What the files of libpixcache-gtk share: decoding icon files into
 * premultiplied pixman images, and textures over images of this process.
 */

#ifndef PIXCACHE_GTK_PRIVATE_H
#define PIXCACHE_GTK_PRIVATE_H

#include <stddef.h>

#include <gtk/gtk.h>
#include <pixman.h>

/** The icon files the loader decodes itself. */
enum pxgtk_file_kind {
	PXGTK_FILE_OTHER,	/* not ours: GTK's own paintable shows it */
	PXGTK_FILE_PNG,
	PXGTK_FILE_SVG,
};

/** The kind of path, by its extension. */
enum pxgtk_file_kind pxgtk_file_kind(const char *path);

/**
 * Decodes path into a premultiplied a8r8g8b8 image: a PNG at its own size,
 * an SVG rendered to fit a square of side pixels. Returns NULL and writes
 * why into error.
 */
pixman_image_t *pxgtk_decode(const char *path, enum pxgtk_file_kind kind,
	int side, char *error, size_t size);

/**
 * A texture over image's pixels (a8r8g8b8, premultiplied), holding a
 * reference on image until GDK frees it. Returns NULL for an image of
 * another format.
 */
GdkTexture *pxgtk_texture_from_image(pixman_image_t *image);

#endif
