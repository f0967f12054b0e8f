/*
 * libpixcache-gtk: the pixmap cache for GTK 4 applications.
 *
 * Two things, on top of libpixcache-client:
 *  - pixcache_gtk_texture_new(): a cached pixmap as a GdkTexture over the
 *    mapped pixels themselves, not a copy; the texture holds the pixmap
 *    until GDK finalizes it.
 *  - a loader that looks icons up as GTK does (gtk_icon_theme_lookup_icon()
 *    on a GtkIconTheme), finds each in the cache by its name of
 *    doc/naming.md, or decodes its file (PNG with libpng, SVG with librsvg)
 *    and stores it for every other application, and returns a GdkPaintable.
 *    Without a manager it decodes locally and still returns the icon.
 *
 * A texture is immutable and may be used and released on any thread. The
 * loader's own state is locked, so it may be called from any thread that
 * may use its GtkIconTheme (GTK's, normally).
 */

#ifndef PIXCACHE_GTK_H
#define PIXCACHE_GTK_H

#include <stdint.h>

#include <gtk/gtk.h>

#include "pixcache-client.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define PIXCACHE_GTK_EXPORT __attribute__((visibility("default")))
#else
#define PIXCACHE_GTK_EXPORT
#endif

/**
 * A texture over pixmap's pixels, without copying them: a GdkMemoryTexture
 * whose GBytes holds a reference on pixmap and drops it when GDK frees the
 * bytes (the last reference to the texture, and to anything a renderer made
 * of it). The caller keeps its own reference. The texture stays valid, with
 * the same pixels, after pixcache_client_destroy() and through broken
 * connections, as held pixmaps do (doc/client.md).
 *
 * Formats: ARGB8888 and ABGR8888 (premultiplied, as the cache keeps them).
 * Returns NULL with errno EINVAL for NULL, ENOTSUP for a format GDK 4.8
 * cannot show without a copy (XRGB8888, XBGR8888: no 4-byte opaque format
 * there; R8: no single-channel one).
 */
PIXCACHE_GTK_EXPORT GdkTexture *pixcache_gtk_texture_new(
	struct pixcache_pixmap *pixmap);

/**
 * A client of the manager for display, with the library's thread started
 * (GTK reads the display; nothing calls pixcache_client_dispatch()):
 * with $PIXCACHE_SOCKET set, a connection of its own to that socket
 * (pixcached, for development); else display's own wl_display, the
 * manager of the compositor the application runs on. Destroy it with
 * pixcache_client_destroy() before the display is closed, after every
 * loader that uses it. Returns NULL with errno: ENOTSUP for a display that
 * is not Wayland's (and no $PIXCACHE_SOCKET), or the client library's.
 */
PIXCACHE_GTK_EXPORT struct pixcache_client *pixcache_gtk_client_new(
	GdkDisplay *display);

struct pixcache_gtk_loader;

/**
 * A loader of theme's icons through client's cache, in realm "default".
 * Holds a reference on theme. client may be NULL (every icon is decoded
 * here, as without a manager); it is not the loader's: it must outlive the
 * loader. Returns NULL with errno EINVAL or ENOMEM.
 */
PIXCACHE_GTK_EXPORT struct pixcache_gtk_loader *pixcache_gtk_loader_new(
	GtkIconTheme *theme, struct pixcache_client *client);

/**
 * Frees the loader. What it returned stays valid (textures hold their
 * pixmaps). Accepts NULL.
 */
PIXCACHE_GTK_EXPORT void pixcache_gtk_loader_destroy(
	struct pixcache_gtk_loader *loader);

/**
 * Looks icon_name up as gtk_icon_theme_lookup_icon() does, with the same
 * arguments, and returns a new reference to a paintable, never NULL for
 * valid arguments:
 *  - a GdkTexture of the cached pixmap, for a PNG or SVG file of the theme:
 *    found in the cache, or decoded here, stored, then found (the first
 *    application to need it decodes it, the others find it; one that asks
 *    while another decodes it waits for that upload). Its size is in
 *    device pixels: a PNG's own, an SVG rendered at size * scale. Show it
 *    at size logical pixels (GtkImage with that pixel size; a GtkPicture
 *    at scale 1 shows it as it is).
 *  - a GdkTexture of pixels decoded here, when there is no manager, or it
 *    refused (quota, budget, policy), or the name is not one of
 *    doc/naming.md (a file outside any theme directory).
 *  - GTK's own GtkIconPaintable, for what the cache does not serve:
 *    symbolic icons (GTK recolours them as it draws), icons that are not a
 *    PNG or SVG file (GTK's built-in image-missing), files it cannot
 *    decode.
 * Returns NULL for NULL loader or icon_name, or a size or scale out of
 * range (both at least 1, scale at most 16, size * scale at most 16384).
 */
PIXCACHE_GTK_EXPORT GdkPaintable *pixcache_gtk_loader_lookup_icon(
	struct pixcache_gtk_loader *loader, const char *icon_name,
	const char *const *fallbacks, int size, int scale,
	GtkTextDirection direction, GtkIconLookupFlags flags);

/**
 * As pixcache_gtk_loader_lookup_icon() for count icon names at once (no
 * fallbacks), with one round trip to the manager for all that are cached
 * (and one more after this process stored its misses, or while other
 * applications decode some). A name asked twice is looked up once.
 * paintables[i] gets icon_names[i]'s new reference. Returns 0, or -EINVAL
 * (NULL arguments, size or scale out of range; nothing was filled).
 */
PIXCACHE_GTK_EXPORT int pixcache_gtk_loader_lookup_icons(
	struct pixcache_gtk_loader *loader, const char *const *icon_names,
	unsigned count, int size, int scale, GtkTextDirection direction,
	GtkIconLookupFlags flags, GdkPaintable **paintables);

/** What a loader did, since it was made (a name asked twice in one
 * lookup counts once). */
struct pixcache_gtk_stats {
	/** Icons found in the cache: nothing decoded here. */
	uint64_t hits;
	/** Icon files decoded here (PNG or SVG). */
	uint64_t decodes;
	/** Of those, stored in the cache by this loader. */
	uint64_t uploads;
	/** Icons decoded and shown from this process's memory, not cached. */
	uint64_t uncached;
	/** GTK's own paintables returned (symbolic, not a file, no decode). */
	uint64_t passed;
};

/** Fills *stats. */
PIXCACHE_GTK_EXPORT void pixcache_gtk_loader_get_stats(
	struct pixcache_gtk_loader *loader, struct pixcache_gtk_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
