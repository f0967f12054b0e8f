/*
 * Icons as GTK finds them, through the cache.
 *
 * GTK decides which file is the icon (gtk_icon_theme_lookup_icon(): the
 * theme, its parents, the best size); the loader only changes where the
 * pixels come from. The file's place gives the name of doc/naming.md:
 * icon/<theme directory>/<file name>/<size>@<scale>. All names of a lookup
 * go to the manager in one find_many; each miss is this process's to
 * decode and put, and the next round finds what was put along with what
 * other processes were decoding meanwhile. Whatever the cache cannot serve
 * is decoded here, and whatever the loader cannot decode is GTK's own
 * paintable: a lookup always has an answer.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gtk-private.h"
#include "pixcache-gtk.h"

#define REALM "default"
#define NAME_MAX_BYTES 255
/* find, put; find, put; find: misses put twice at most (one eviction
 * between the put and the find), waits for others' fills twice. */
#define ROUNDS 3

struct pixcache_gtk_loader {
	GtkIconTheme *theme;
	struct pixcache_client *client;	/* not ours; NULL: decode here */

	GMutex lock;
	bool no_manager;		/* the display has none: stop asking */
	struct pixcache_gtk_stats stats;
};

/* One icon of a lookup. */
struct icon {
	GtkIconPaintable *gtk;		/* GTK's answer */
	char *path;			/* its file, if local */
	enum pxgtk_file_kind kind;
	char name[NAME_MAX_BYTES + 1];	/* in the cache; "" if not named */
	pixman_image_t *image;		/* decoded here */
	bool undecodable;
	struct icon *same;		/* an earlier one of the same name */
	GdkPaintable *result;
};

struct pixcache_gtk_loader *
pixcache_gtk_loader_new(GtkIconTheme *theme, struct pixcache_client *client)
{
	struct pixcache_gtk_loader *loader;

	if (theme == NULL) {
		errno = EINVAL;
		return NULL;
	}
	loader = calloc(1, sizeof(*loader));
	if (loader == NULL) {
		return NULL;
	}
	loader->theme = g_object_ref(theme);
	loader->client = client;
	g_mutex_init(&loader->lock);
	return loader;
}

void
pixcache_gtk_loader_destroy(struct pixcache_gtk_loader *loader)
{
	if (loader == NULL) {
		return;
	}
	g_object_unref(loader->theme);
	g_mutex_clear(&loader->lock);
	free(loader);
}

void
pixcache_gtk_loader_get_stats(struct pixcache_gtk_loader *loader,
	struct pixcache_gtk_stats *stats)
{
	g_mutex_lock(&loader->lock);
	*stats = loader->stats;
	g_mutex_unlock(&loader->lock);
}

/* ---- names ---- */

/* A name component: '%' as "%25" (a file name has no '/'). */
static void
append_component(GString *name, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			g_string_append(name, "%25");
		} else {
			g_string_append_c(name, s[i]);
		}
	}
}

/* The search path root path lies under, the longest: its length or 0. */
static size_t
theme_root(char **roots, const char *path)
{
	size_t best = 0;

	for (char **root = roots; root != NULL && *root != NULL; root++) {
		size_t n = strlen(*root);

		while (n > 1 && (*root)[n - 1] == '/') {
			n--;
		}
		if (n > best && strncmp(path, *root, n) == 0 &&
				path[n] == '/') {
			best = n;
		}
	}
	return best;
}

/*
 * icon/<theme>/<icon-name>/<size>@<scale>[/rtl] for a file at
 * <root>/<theme>/<subdirectories>/<icon-name>[-rtl].<ext>: the theme
 * directory the file was found in (a parent of the theme asked for, say
 * hicolor, shares its icons under its own name), the size asked for.
 * False for a file outside any theme (directly in a root, such as
 * /usr/share/pixmaps) or a name the cache would refuse.
 */
static bool
name_icon(char **roots, const char *path, int size, int scale, char *out)
{
	size_t root = theme_root(roots, path);
	const char *theme, *slash, *base, *dot;
	size_t stem;
	bool rtl;
	GString *name;
	bool ok;

	if (root == 0) {
		return false;
	}
	theme = path + root + 1;
	slash = strchr(theme, '/');
	base = strrchr(path, '/') + 1;
	dot = strrchr(base, '.');
	if (slash == NULL || slash == theme || slash + 1 == base ||
			dot == NULL || dot == base) {
		return false;
	}
	stem = (size_t)(dot - base);
	rtl = stem > 4 && strncmp(dot - 4, "-rtl", 4) == 0;
	stem -= rtl ? 4 : 0;
	name = g_string_new("icon/");
	append_component(name, theme, (size_t)(slash - theme));
	g_string_append_c(name, '/');
	append_component(name, base, stem);
	g_string_append_printf(name, "/%d@%d%s", size, scale,
		rtl ? "/rtl" : "");
	ok = name->len <= NAME_MAX_BYTES &&
		g_utf8_validate(name->str, (gssize)name->len, NULL);
	if (ok) {
		memcpy(out, name->str, name->len + 1);
	}
	g_string_free(name, TRUE);
	return ok;
}

/* GTK's answer for one icon, and what the loader can make of it. */
static void
look_up(struct pixcache_gtk_loader *loader, char **roots, struct icon *icon,
	const char *icon_name, const char *const *fallbacks, int size,
	int scale, GtkTextDirection direction, GtkIconLookupFlags flags)
{
	GFile *file;

	/* Without PRELOAD: GTK would decode in the background what the
	 * cache is about to give. */
	icon->gtk = gtk_icon_theme_lookup_icon(loader->theme, icon_name,
		(const char **)fallbacks, size, scale, direction,
		flags & ~GTK_ICON_LOOKUP_PRELOAD);
	/* GTK recolours symbolic icons as it draws them: its own. */
	if (gtk_icon_paintable_is_symbolic(icon->gtk)) {
		return;
	}
	file = gtk_icon_paintable_get_file(icon->gtk);
	if (file != NULL) {
		/* NULL for a resource: GTK's image-missing. */
		icon->path = g_file_get_path(file);
		g_object_unref(file);
	}
	if (icon->path == NULL) {
		return;
	}
	icon->kind = pxgtk_file_kind(icon->path);
	if (icon->kind != PXGTK_FILE_OTHER &&
			!name_icon(roots, icon->path, size, scale,
			icon->name)) {
		icon->name[0] = '\0';
	}
}

/* ---- pixels ---- */

static bool
decode(struct icon *icon, int side, struct pixcache_gtk_stats *stats)
{
	char error[512];

	if (icon->image != NULL) {
		return true;
	}
	if (icon->undecodable || icon->kind == PXGTK_FILE_OTHER) {
		return false;
	}
	icon->image = pxgtk_decode(icon->path, icon->kind, side, error,
		sizeof(error));
	if (icon->image == NULL) {
		/* GTK's own paintable will say what it makes of it. */
		g_debug("pixcache-gtk: %s", error);
		icon->undecodable = true;
		return false;
	}
	stats->decodes++;
	return true;
}

/* The cache's pixmap as the icon's answer, if GDK can show it. */
static void
take_pixmap(struct icon *icon, struct pixcache_pixmap *pixmap,
	struct pixcache_gtk_stats *stats)
{
	GdkTexture *texture = pixcache_gtk_texture_new(pixmap);

	pixcache_pixmap_unref(pixmap);
	if (texture == NULL) {
		/* Another toolkit stored it in a format GDK lacks: the icon
		 * is decoded here. */
		return;
	}
	icon->result = GDK_PAINTABLE(texture);
	if (icon->image == NULL) {
		stats->hits++;
	}
}

/* Gives up a claim: the library sends it at once, to the next waiter. */
static void
abandon(struct pixcache_gtk_loader *loader, struct icon *icon)
{
	pixcache_client_abandon(loader->client, REALM, icon->name);
}

/*
 * A miss: this process holds the name's claim. Decode and store it, to be
 * found next round; the claim goes with the put, or is given up.
 */
static bool
fill(struct pixcache_gtk_loader *loader, struct icon *icon, int side,
	struct pixcache_gtk_stats *stats)
{
	int ret;

	if (!decode(icon, side, stats)) {
		abandon(loader, icon);
		return false;
	}
	ret = pixcache_client_put(loader->client, REALM, icon->name,
		icon->image, DRM_FORMAT_ARGB8888, 0, NULL);
	if (ret == 0) {
		stats->uploads++;
		return true;
	}
	if (ret == -EEXIST || ret == -EBUSY) {
		/* Stored or being stored by another process: find it. */
		return true;
	}
	/* Refused (quota, budget, policy...): shown from here. */
	abandon(loader, icon);
	return false;
}

static bool
manager_missing(struct pixcache_gtk_loader *loader)
{
	bool missing;

	g_mutex_lock(&loader->lock);
	missing = loader->client == NULL || loader->no_manager;
	g_mutex_unlock(&loader->lock);
	return missing;
}

/* The named icons through the cache, in rounds of one find_many each. */
static void
serve_from_cache(struct pixcache_gtk_loader *loader, struct icon *icons,
	unsigned count, int side, struct pixcache_gtk_stats *stats)
{
	struct pixcache_pixmap **pixmaps = g_new(struct pixcache_pixmap *,
		count);
	const char **names = g_new(const char *, count);
	unsigned *which = g_new(unsigned, count);
	int *results = g_new(int, count);
	unsigned pending = 0;

	for (unsigned i = 0; i < count; i++) {
		if (icons[i].name[0] != '\0' && icons[i].same == NULL) {
			which[pending] = i;
			names[pending++] = icons[i].name;
		}
	}
	for (int round = 0; round < ROUNDS && pending > 0; round++) {
		bool last = round == ROUNDS - 1;
		unsigned again = 0;
		int ret = pixcache_client_find_many(loader->client, REALM,
			names, pending, results, pixmaps);

		if (ret < 0) {
			if (ret == -ENOTCONN) {
				/* No manager on this display: decode here
				 * from now on, with no round trip. */
				g_mutex_lock(&loader->lock);
				loader->no_manager = true;
				g_mutex_unlock(&loader->lock);
			}
			break;
		}
		for (unsigned i = 0; i < pending; i++) {
			struct icon *icon = &icons[which[i]];
			bool retry = false;

			if (results[i] == 0) {
				take_pixmap(icon, pixmaps[i], stats);
			} else if (results[i] == -ENOENT && last) {
				abandon(loader, icon);
			} else if (results[i] == -ENOENT) {
				retry = fill(loader, icon, side, stats);
			} else if (results[i] == -EINPROGRESS) {
				/* Another's fill, and this thread held
				 * claims: asked again without any. */
				retry = true;
			}
			if (retry) {
				which[again] = which[i];
				names[again++] = names[i];
			}
		}
		pending = again;
	}
	g_free(results);
	g_free(which);
	g_free(names);
	g_free(pixmaps);
}

/* What the cache did not answer: decoded here, else GTK's own. */
static void
serve_locally(struct icon *icon, int side, struct pixcache_gtk_stats *stats)
{
	GdkTexture *texture = NULL;

	if (decode(icon, side, stats)) {
		texture = pxgtk_texture_from_image(icon->image);
	}
	if (texture != NULL) {
		icon->result = GDK_PAINTABLE(texture);
		stats->uncached++;
	} else {
		icon->result = GDK_PAINTABLE(g_object_ref(icon->gtk));
		stats->passed++;
	}
}

static void
add_stats(struct pixcache_gtk_loader *loader,
	const struct pixcache_gtk_stats *add)
{
	g_mutex_lock(&loader->lock);
	loader->stats.hits += add->hits;
	loader->stats.decodes += add->decodes;
	loader->stats.uploads += add->uploads;
	loader->stats.uncached += add->uncached;
	loader->stats.passed += add->passed;
	g_mutex_unlock(&loader->lock);
}

/* Each name once: the manager would claim it twice, the loader decode it
 * twice. */
static void
find_duplicates(struct icon *icons, unsigned count)
{
	GHashTable *first = g_hash_table_new(g_str_hash, g_str_equal);

	for (unsigned i = 0; i < count; i++) {
		struct icon *icon = &icons[i];

		if (icon->name[0] == '\0') {
			continue;
		}
		icon->same = g_hash_table_lookup(first, icon->name);
		if (icon->same == NULL) {
			g_hash_table_insert(first, icon->name, icon);
		}
	}
	g_hash_table_destroy(first);
}

static void
lookup(struct pixcache_gtk_loader *loader, const char *const *icon_names,
	const char *const *fallbacks, unsigned count, int size, int scale,
	GtkTextDirection direction, GtkIconLookupFlags flags,
	GdkPaintable **paintables)
{
	struct icon *icons = g_new0(struct icon, count);
	struct pixcache_gtk_stats stats = { 0 };
	char **roots = gtk_icon_theme_get_search_path(loader->theme);
	int side = size * scale;

	for (unsigned i = 0; i < count; i++) {
		look_up(loader, roots, &icons[i], icon_names[i], fallbacks,
			size, scale, direction, flags);
	}
	g_strfreev(roots);
	find_duplicates(icons, count);
	if (!manager_missing(loader)) {
		serve_from_cache(loader, icons, count, side, &stats);
	}
	for (unsigned i = 0; i < count; i++) {
		struct icon *icon = &icons[i];

		if (icon->same != NULL) {
			/* Served (and counted) with the first: earlier. */
			icon->result = g_object_ref(icon->same->result);
		} else if (icon->result == NULL) {
			serve_locally(icon, side, &stats);
		}
		paintables[i] = icon->result;
		/* The texture holds its own reference on the image. */
		if (icon->image != NULL) {
			pixman_image_unref(icon->image);
		}
		g_object_unref(icon->gtk);
		g_free(icon->path);
	}
	g_free(icons);
	add_stats(loader, &stats);
}

static bool
valid_size(int size, int scale)
{
	/* size * scale is a side in pixels: no overflow. */
	return size >= 1 && scale >= 1 && size <= 16384 && scale <= 16 &&
		size * scale <= 16384;
}

GdkPaintable *
pixcache_gtk_loader_lookup_icon(struct pixcache_gtk_loader *loader,
	const char *icon_name, const char *const *fallbacks, int size,
	int scale, GtkTextDirection direction, GtkIconLookupFlags flags)
{
	GdkPaintable *paintable;

	if (loader == NULL || icon_name == NULL || !valid_size(size, scale)) {
		return NULL;
	}
	lookup(loader, &icon_name, fallbacks, 1, size, scale, direction, flags,
		&paintable);
	return paintable;
}

int
pixcache_gtk_loader_lookup_icons(struct pixcache_gtk_loader *loader,
	const char *const *icon_names, unsigned count, int size, int scale,
	GtkTextDirection direction, GtkIconLookupFlags flags,
	GdkPaintable **paintables)
{
	if (loader == NULL || (count > 0 && (icon_names == NULL ||
			paintables == NULL)) || !valid_size(size, scale)) {
		return -EINVAL;
	}
	for (unsigned i = 0; i < count; i++) {
		if (icon_names[i] == NULL) {
			return -EINVAL;
		}
	}
	if (count > 0) {
		lookup(loader, icon_names, NULL, count, size, scale, direction,
			flags, paintables);
	}
	return 0;
}
