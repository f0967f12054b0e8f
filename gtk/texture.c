/*
 * Cached pixmaps as GdkTextures, and the client a GTK application uses.
 *
 * A GdkMemoryTexture keeps the GBytes it is given and reads the pixels
 * from there whenever a renderer needs them; GDK copies only data whose
 * alignment its format cannot read, and 8-bit formats need none. So the
 * texture is the pixmap's mapping itself, and the GBytes' free function is
 * the one place that lets go of the pixmap.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <stdlib.h>

#include <gdk/gdk.h>
#ifdef GDK_WINDOWING_WAYLAND
#include <gdk/wayland/gdkwayland.h>
#endif

#include "gtk-private.h"
#include "pixcache-gtk.h"

/*
 * DRM fourccs name the bytes of a little-endian word, GDK's memory formats
 * the bytes in memory: the same order on every machine.
 */
static bool
gdk_format(uint32_t fourcc, GdkMemoryFormat *format)
{
	switch (fourcc) {
	case DRM_FORMAT_ARGB8888:
		*format = GDK_MEMORY_B8G8R8A8_PREMULTIPLIED;
		return true;
	case DRM_FORMAT_ABGR8888:
		*format = GDK_MEMORY_R8G8B8A8_PREMULTIPLIED;
		return true;
	default:
		return false;
	}
}

static void
release_pixmap(gpointer data)
{
	pixcache_pixmap_unref(data);
}

GdkTexture *
pixcache_gtk_texture_new(struct pixcache_pixmap *pixmap)
{
	GdkMemoryFormat format;
	GdkTexture *texture;
	GBytes *bytes;
	uint32_t width, height, stride;

	if (pixmap == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (!gdk_format(pixcache_pixmap_get_format(pixmap), &format)) {
		errno = ENOTSUP;
		return NULL;
	}
	width = pixcache_pixmap_get_width(pixmap);
	height = pixcache_pixmap_get_height(pixmap);
	stride = pixcache_pixmap_get_stride(pixmap);
	/* What GDK reads: the last row ends at its last pixel. */
	bytes = g_bytes_new_with_free_func(pixcache_pixmap_get_data(pixmap),
		(size_t)stride * (height - 1) + (size_t)width * 4,
		release_pixmap, pixcache_pixmap_ref(pixmap));
	texture = gdk_memory_texture_new((int)width, (int)height, format,
		bytes, stride);
	g_bytes_unref(bytes);
	return texture;
}

static void
release_image(gpointer data)
{
	pixman_image_unref(data);
}

GdkTexture *
pxgtk_texture_from_image(pixman_image_t *image)
{
	int height = pixman_image_get_height(image);
	int stride = pixman_image_get_stride(image);
	GdkTexture *texture;
	GBytes *bytes;

	if (pixman_image_get_format(image) != PIXMAN_a8r8g8b8) {
		return NULL;
	}
	/* pixman's a8r8g8b8 is a word in host order, as cairo's ARGB32:
	 * GDK_MEMORY_DEFAULT on either byte order. */
	bytes = g_bytes_new_with_free_func(pixman_image_get_data(image),
		(size_t)stride * (size_t)height, release_image,
		pixman_image_ref(image));
	texture = gdk_memory_texture_new(pixman_image_get_width(image), height,
		GDK_MEMORY_DEFAULT, bytes, (size_t)stride);
	g_bytes_unref(bytes);
	return texture;
}

struct pixcache_client *
pixcache_gtk_client_new(GdkDisplay *display)
{
	struct pixcache_client *client = NULL;
	int ret;

	if (getenv("PIXCACHE_SOCKET") != NULL) {
		client = pixcache_client_connect(NULL, NULL);
	}
#ifdef GDK_WINDOWING_WAYLAND
	else if (display != NULL && GDK_IS_WAYLAND_DISPLAY(display)) {
		client = pixcache_client_create(
			gdk_wayland_display_get_wl_display(display), NULL);
	}
#endif
	else {
		errno = ENOTSUP;
		return NULL;
	}
	if (client == NULL) {
		return NULL;
	}
	/* GTK reads the display and knows nothing of the library's queue:
	 * the library's thread dispatches it. */
	ret = pixcache_client_start_thread(client);
	if (ret != 0) {
		pixcache_client_destroy(client);
		errno = ret < 0 ? -ret : ret;
		return NULL;
	}
	return client;
}
