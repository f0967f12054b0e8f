/*
 * libpixcache-gtk against a manager of the test's own (client-harness):
 * textures over cached pixmaps, and the icon loader on an icon theme the
 * test writes (PNGs with known pixels, an SVG of known colours, a parent
 * theme, right-to-left and symbolic variants, a broken file).
 *
 * No display is needed: GtkIconTheme and GdkTexture work without one,
 * and the pixels are read back with gdk_texture_download().
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client-harness.h"
#include "image-io.h"
#include "pixcache-gtk.h"
#include "test-runner.h"

#define SIDE 48
#define STORED_PNGS 6	/* what the theme holds that the cache may store */

/* ---- textures ---- */

static void
put_image(struct pixcache_client *client, const char *name,
	pixman_image_t *image, uint32_t format)
{
	assert(pixcache_client_put(client, "default", name, image, format, 0,
		NULL) == 0);
}

static struct pixcache_pixmap *
find(struct pixcache_client *client, const char *name)
{
	struct pixcache_pixmap *pixmap;

	assert(pixcache_client_find(client, "default", name, &pixmap) == 0);
	return pixmap;
}

/* Whether texture downloads (GDK's premultiplied B, G, R, A bytes on
 * this little-endian test) as image's a8r8g8b8 pixels. */
static bool
texture_equals(GdkTexture *texture, pixman_image_t *image)
{
	int w = pixman_image_get_width(image);
	int h = pixman_image_get_height(image);
	int stride = pixman_image_get_stride(image);
	uint8_t *pixels;
	bool same;

	if (gdk_texture_get_width(texture) != w ||
			gdk_texture_get_height(texture) != h) {
		return false;
	}
	pixels = malloc((size_t)stride * (size_t)h);
	assert(pixels != NULL);
	gdk_texture_download(texture, pixels, (size_t)stride);
	same = memcmp(pixels, pixman_image_get_data(image),
		(size_t)stride * (size_t)h) == 0;
	free(pixels);
	return same;
}

TEST(texture_shows_the_pixmaps_pixels_in_both_byte_orders)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	pixman_image_t *image = ch_image(61, 47, 1);
	const uint32_t formats[] = { DRM_FORMAT_ARGB8888, DRM_FORMAT_ABGR8888 };
	const char *names[] = { "argb", "abgr" };

	for (int i = 0; i < 2; i++) {
		struct pixcache_pixmap *pixmap;
		GdkTexture *texture;

		put_image(client, names[i], image, formats[i]);
		pixmap = find(client, names[i]);
		texture = pixcache_gtk_texture_new(pixmap);
		assert(texture != NULL);
		pixcache_pixmap_unref(pixmap);
		assert(texture_equals(texture, image));
		g_object_unref(texture);
	}
	pixman_image_unref(image);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/*
 * Bytes the manager keeps only for leases (out of the index), once
 * client's releases reached it.
 */
static uint64_t
held_only_bytes(struct ch_server *server, struct pixcache_client *client)
{
	struct pixcache_client_stats round_trip;
	struct pixcache_stats stats;

	assert(pixcache_client_flush(client) == 0);
	assert(pixcache_client_get_stats(client, &round_trip) == 0);
	ch_server_stats(server, &stats);
	return stats.held_only_bytes;
}

TEST(texture_holds_the_pixmap_until_gdk_lets_go)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client_options options;
	struct pixcache_client *client;
	struct pixcache_pixmap *pixmap;
	pixman_image_t *image = ch_image(32, 32, 2);
	GdkTexture *texture;

	/* No local map: only the texture can hold the pixmap. */
	pixcache_client_options_init(&options);
	options.local_entries = 0;
	client = pixcache_client_connect(ch_server_socket(server), &options);
	assert(client != NULL);
	put_image(client, "a", image, DRM_FORMAT_ARGB8888);
	pixmap = find(client, "a");
	texture = pixcache_gtk_texture_new(pixmap);
	pixcache_pixmap_unref(pixmap);
	/* Out of the index, the pixmap lives on for its lease alone. */
	assert(ch_server_remove(server, "default", "a") == 0);
	assert(held_only_bytes(server, client) > 0);
	assert(texture_equals(texture, image));
	g_object_unref(texture);
	assert(held_only_bytes(server, client) == 0);
	pixman_image_unref(image);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* Removes name, so that its pool space goes to another pixmap. */
static void
reuse_space_of(struct ch_server *server, const char *name)
{
	struct pixcache_client *other = ch_connect(server);
	pixman_image_t *image = ch_image(32, 32, 99);
	struct pixcache_pixmap *pixmap;

	assert(ch_server_remove(server, "default", name) == 0);
	put_image(other, "b", image, DRM_FORMAT_ARGB8888);
	pixmap = find(other, "b");
	assert(ch_has_pattern(pixmap, 99));
	pixcache_pixmap_unref(pixmap);
	pixman_image_unref(image);
	pixcache_client_destroy(other);
}

TEST(texture_keeps_its_pixels_after_the_client_is_destroyed)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	pixman_image_t *image = ch_image(32, 32, 3);
	struct pixcache_pixmap *pixmap;
	GdkTexture *texture;

	put_image(client, "a", image, DRM_FORMAT_ARGB8888);
	pixmap = find(client, "a");
	texture = pixcache_gtk_texture_new(pixmap);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	reuse_space_of(server, "a");
	assert(texture_equals(texture, image));
	g_object_unref(texture);
	pixman_image_unref(image);
	ch_server_stop(server);
}

TEST(texture_refuses_what_gdk_cannot_show_without_a_copy)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	pixman_image_t *image = ch_image(8, 8, 4);
	pixman_image_t *mask = pixman_image_create_bits(PIXMAN_a8, 8, 8, NULL,
		0);
	struct pixcache_pixmap *pixmap;

	put_image(client, "x", image, DRM_FORMAT_XRGB8888);
	put_image(client, "r8", mask, DRM_FORMAT_R8);
	pixmap = find(client, "x");
	errno = 0;
	assert(pixcache_gtk_texture_new(pixmap) == NULL && errno == ENOTSUP);
	pixcache_pixmap_unref(pixmap);
	pixmap = find(client, "r8");
	errno = 0;
	assert(pixcache_gtk_texture_new(pixmap) == NULL && errno == ENOTSUP);
	pixcache_pixmap_unref(pixmap);
	errno = 0;
	assert(pixcache_gtk_texture_new(NULL) == NULL && errno == EINVAL);
	pixman_image_unref(mask);
	pixman_image_unref(image);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* ---- an icon theme of the test's own ---- */

struct theme {
	char root[64];
	GtkIconTheme *gtk;
};

/*
 * An icon whose PNG round trip is exact: opaque pixels from seed, fully
 * transparent ones, and half-transparent red (128, 128, 0, 0)
 * premultiplied, (255, 0, 0, 128) straight.
 */
static pixman_image_t *
icon_image(uint32_t seed)
{
	pixman_image_t *image = ch_image(SIDE, SIDE, seed);
	uint32_t *bits = pixman_image_get_data(image);

	for (int i = 0; i < SIDE; i++) {
		bits[i * SIDE + i] = 0;
		bits[i * SIDE + (SIDE - 1 - i)] = 0x80800000u;
	}
	return image;
}

static void
write_file(const char *root, const char *path, const char *text)
{
	char full[256];
	FILE *f;

	snprintf(full, sizeof(full), "%s/%s", root, path);
	f = fopen(full, "w");
	assert(f != NULL);
	fputs(text, f);
	assert(fclose(f) == 0);
}

static void
write_png(const char *root, const char *path, uint32_t seed)
{
	pixman_image_t *image = icon_image(seed);
	char full[256], error[256];

	snprintf(full, sizeof(full), "%s/%s", root, path);
	assert(pxt_image_save(full, image, error, sizeof(error)) == 0);
	pixman_image_unref(image);
}

static void
make_dirs(const char *root, const char *path)
{
	char full[256];

	snprintf(full, sizeof(full), "%s/%s", root, path);
	for (char *p = full + strlen(root) + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			assert(mkdir(full, 0700) == 0 || errno == EEXIST);
			*p = c;
		}
		if (*p == '\0') {
			break;
		}
	}
}

/* A 16-unit square: red, its top-left quarter half-transparent blue. */
static const char svg[] =
	"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"16\" height=\"16\" "
	"viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" "
	"fill=\"#ff0000\"/><rect width=\"8\" height=\"8\" fill=\"#0000ff\" "
	"fill-opacity=\"0.5\"/></svg>\n";

static void
make_theme(struct theme *theme)
{
	const char *path[] = { NULL, NULL };

	snprintf(theme->root, sizeof(theme->root), "/tmp/pixcache-gtk-XXXXXX");
	assert(mkdtemp(theme->root) != NULL);
	make_dirs(theme->root, "pxtheme/48x48/apps");
	make_dirs(theme->root, "pxtheme/scalable/apps");
	make_dirs(theme->root, "pxparent/48x48/apps");
	/* GTK falls back to hicolor, else to a copy of its own that only
	 * gtk_init() registers. */
	make_dirs(theme->root, "hicolor");
	write_file(theme->root, "hicolor/index.theme",
		"[Icon Theme]\nName=hicolor\nDirectories=\n");
	write_file(theme->root, "pxtheme/index.theme",
		"[Icon Theme]\nName=pxtheme\nInherits=pxparent\n"
		"Directories=48x48/apps,scalable/apps\n\n"
		"[48x48/apps]\nSize=48\nType=Fixed\n\n"
		"[scalable/apps]\nSize=48\nMinSize=8\nMaxSize=512\n"
		"Type=Scalable\n");
	write_file(theme->root, "pxparent/index.theme",
		"[Icon Theme]\nName=pxparent\nDirectories=48x48/apps\n\n"
		"[48x48/apps]\nSize=48\nType=Fixed\n");
	write_png(theme->root, "pxtheme/48x48/apps/pxc-one.png", 1);
	write_png(theme->root, "pxtheme/48x48/apps/pxc-two.png", 2);
	write_png(theme->root, "pxtheme/48x48/apps/pxc-arrow.png", 3);
	write_png(theme->root, "pxtheme/48x48/apps/pxc-arrow-rtl.png", 4);
	write_png(theme->root, "pxtheme/48x48/apps/pxc%odd.png", 5);
	write_png(theme->root, "pxparent/48x48/apps/pxc-parent.png", 6);
	write_png(theme->root,
		"pxtheme/48x48/apps/pxc-mark-symbolic.symbolic.png", 7);
	write_png(theme->root, "pxc-loose.png", 8);
	write_file(theme->root, "pxtheme/48x48/apps/pxc-broken.png",
		"not a PNG\n");
	write_file(theme->root, "pxtheme/scalable/apps/pxc-vector.svg", svg);

	path[0] = theme->root;
	theme->gtk = gtk_icon_theme_new();
	gtk_icon_theme_set_search_path(theme->gtk, path);
	gtk_icon_theme_set_theme_name(theme->gtk, "pxtheme");
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
	struct FTW *ftw)
{
	return remove(path);
}

/*
 * GTK 4.8 loses a finalized icon theme's directory tables (what its
 * lookups read): the test keeps each theme to the end of its process (one
 * test), as an application keeps its display's, after checking that
 * nothing but the test holds it any more.
 */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static GtkIconTheme *kept[8];
static unsigned nkept;

static void
drop_theme(struct theme *theme)
{
	assert(G_OBJECT(theme->gtk)->ref_count == 1);
	pthread_mutex_lock(&kept_lock);
	assert(nkept < G_N_ELEMENTS(kept));
	kept[nkept++] = theme->gtk;
	pthread_mutex_unlock(&kept_lock);
	assert(nftw(theme->root, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
}

/* Whether paintable is a texture with the pixels of icon_image(seed). */
static bool
shows_icon(GdkPaintable *paintable, uint32_t seed)
{
	pixman_image_t *image = icon_image(seed);
	bool same = GDK_IS_TEXTURE(paintable) &&
		texture_equals(GDK_TEXTURE(paintable), image);

	pixman_image_unref(image);
	return same;
}

static void
assert_stats(struct pixcache_gtk_loader *loader, uint64_t hits,
	uint64_t decodes, uint64_t uploads, uint64_t uncached, uint64_t passed)
{
	struct pixcache_gtk_stats s;

	pixcache_gtk_loader_get_stats(loader, &s);
	if (s.hits != hits || s.decodes != decodes || s.uploads != uploads ||
			s.uncached != uncached || s.passed != passed) {
		test_fail("stats: hits %llu decodes %llu uploads %llu "
			"uncached %llu passed %llu",
			(unsigned long long)s.hits,
			(unsigned long long)s.decodes,
			(unsigned long long)s.uploads,
			(unsigned long long)s.uncached,
			(unsigned long long)s.passed);
	}
}

static GdkPaintable *
lookup(struct pixcache_gtk_loader *loader, const char *name, int size,
	int scale, GtkTextDirection direction)
{
	GdkPaintable *paintable = pixcache_gtk_loader_lookup_icon(loader,
		name, NULL, size, scale, direction, 0);

	assert(paintable != NULL);
	return paintable;
}

/* ---- the loader ---- */

/*
 * A client that waits one second at most: shorter than the manager's
 * upload timeout (10 s), so a claim left held makes its find time out
 * rather than claim.
 */
static struct pixcache_client *
impatient(struct ch_server *server)
{
	struct pixcache_client_options options;
	struct pixcache_client *client;

	pixcache_client_options_init(&options);
	options.timeout_ms = 1000;
	client = pixcache_client_connect(ch_server_socket(server), &options);
	assert(client != NULL);
	return client;
}

TEST(second_loader_finds_what_the_first_decoded)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *first = ch_connect(server);
	struct pixcache_client *second = ch_connect(server);
	const char *names[] = { "pxc-one", "pxc-two" };
	struct pixcache_gtk_loader *loader;
	GdkPaintable *got[2];
	struct pixcache_stats stats;
	struct theme theme;
	uint64_t hits;

	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, first);
	assert(pixcache_gtk_loader_lookup_icons(loader, names, 2, 48, 1,
		GTK_TEXT_DIR_LTR, 0, got) == 0);
	assert(shows_icon(got[0], 1) && shows_icon(got[1], 2));
	assert_stats(loader, 0, 2, 2, 0, 0);
	g_object_unref(got[0]);
	g_object_unref(got[1]);
	pixcache_gtk_loader_destroy(loader);

	ch_server_stats(server, &stats);
	hits = stats.hits;
	loader = pixcache_gtk_loader_new(theme.gtk, second);
	assert(pixcache_gtk_loader_lookup_icons(loader, names, 2, 48, 1,
		GTK_TEXT_DIR_LTR, 0, got) == 0);
	assert(shows_icon(got[0], 1) && shows_icon(got[1], 2));
	assert_stats(loader, 2, 0, 0, 0, 0);
	ch_server_stats(server, &stats);
	assert(stats.hits == hits + 2 && stats.entries == 2);
	g_object_unref(got[0]);
	g_object_unref(got[1]);
	pixcache_gtk_loader_destroy(loader);

	drop_theme(&theme);
	pixcache_client_destroy(second);
	pixcache_client_destroy(first);
	ch_server_stop(server);
}

TEST(an_icon_asked_twice_in_one_lookup_is_served_twice)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	const char *names[] = { "pxc-one", "pxc-one" };
	struct pixcache_gtk_loader *loader;
	GdkPaintable *got[2];
	struct theme theme;

	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, client);
	assert(pixcache_gtk_loader_lookup_icons(loader, names, 2, 48, 1,
		GTK_TEXT_DIR_LTR, 0, got) == 0);
	assert(shows_icon(got[0], 1) && shows_icon(got[1], 1));
	/* Once: the manager would have this client claim it twice. */
	assert_stats(loader, 0, 1, 1, 0, 0);
	g_object_unref(got[0]);
	g_object_unref(got[1]);
	pixcache_gtk_loader_destroy(loader);
	drop_theme(&theme);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* Whether the cache holds name, of width x height. */
static bool
cached(struct pixcache_client *client, const char *name, uint32_t side)
{
	struct pixcache_pixmap *pixmap;
	bool ok;

	if (pixcache_client_find(client, "default", name, &pixmap) != 0) {
		return false;
	}
	ok = pixcache_pixmap_get_width(pixmap) == side &&
		pixcache_pixmap_get_height(pixmap) == side;
	pixcache_pixmap_unref(pixmap);
	return ok;
}

TEST(icons_are_named_by_theme_directory_and_size_asked)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_client *check = ch_connect(server);
	struct pixcache_gtk_loader *loader;
	struct theme theme;

	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, client);
	g_object_unref(lookup(loader, "pxc-one", 48, 1, GTK_TEXT_DIR_LTR));
	/* The 48-pixel file for 32 asked: named for 32, its own size. */
	g_object_unref(lookup(loader, "pxc-one", 32, 1, GTK_TEXT_DIR_LTR));
	/* Found in the parent theme: under the parent's name. */
	g_object_unref(lookup(loader, "pxc-parent", 48, 1, GTK_TEXT_DIR_LTR));
	g_object_unref(lookup(loader, "pxc-arrow", 48, 1, GTK_TEXT_DIR_RTL));
	g_object_unref(lookup(loader, "pxc-arrow", 48, 1, GTK_TEXT_DIR_LTR));
	g_object_unref(lookup(loader, "pxc%odd", 48, 1, GTK_TEXT_DIR_LTR));
	assert_stats(loader, 0, STORED_PNGS, STORED_PNGS, 0, 0);
	assert(cached(check, "icon/pxtheme/pxc-one/48@1", 48));
	assert(cached(check, "icon/pxtheme/pxc-one/32@1", 48));
	assert(cached(check, "icon/pxparent/pxc-parent/48@1", 48));
	assert(cached(check, "icon/pxtheme/pxc-arrow/48@1/rtl", 48));
	assert(cached(check, "icon/pxtheme/pxc-arrow/48@1", 48));
	assert(cached(check, "icon/pxtheme/pxc%25odd/48@1", 48));
	pixcache_gtk_loader_destroy(loader);
	drop_theme(&theme);
	pixcache_client_destroy(check);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* The texture's pixel at (x, y), as GDK's B, G, R, A bytes. */
static void
texel(GdkTexture *texture, int x, int y, uint8_t bgra[4])
{
	int w = gdk_texture_get_width(texture);
	int h = gdk_texture_get_height(texture);
	uint8_t *pixels = malloc((size_t)w * (size_t)h * 4);

	assert(pixels != NULL);
	gdk_texture_download(texture, pixels, (size_t)w * 4);
	memcpy(bgra, pixels + ((size_t)y * (size_t)w + (size_t)x) * 4, 4);
	free(pixels);
}

static bool
near(int a, int b)
{
	return a - b <= 1 && b - a <= 1;
}

TEST(svg_is_rendered_at_size_times_scale)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_gtk_loader *loader;
	GdkPaintable *paintable;
	struct theme theme;
	uint8_t p[4];

	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, client);
	paintable = lookup(loader, "pxc-vector", 24, 2, GTK_TEXT_DIR_LTR);
	assert(GDK_IS_TEXTURE(paintable));
	assert(gdk_texture_get_width(GDK_TEXTURE(paintable)) == 48);
	assert(gdk_texture_get_height(GDK_TEXTURE(paintable)) == 48);
	/* Red, and half blue over red: librsvg's own rounding aside. */
	texel(GDK_TEXTURE(paintable), 40, 40, p);
	assert(p[0] == 0 && p[1] == 0 && p[2] == 255 && p[3] == 255);
	texel(GDK_TEXTURE(paintable), 4, 4, p);
	assert(near(p[0], 128) && p[1] == 0 && near(p[2], 127) &&
		p[3] == 255);
	assert(cached(client, "icon/pxtheme/pxc-vector/24@2", 48));
	assert_stats(loader, 0, 1, 1, 0, 0);
	g_object_unref(paintable);
	pixcache_gtk_loader_destroy(loader);
	drop_theme(&theme);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

TEST(what_the_cache_does_not_serve_is_gtks_own_paintable)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct pixcache_client *client = ch_connect(server);
	struct pixcache_client *other = impatient(server);
	const char *names[] = { "pxc-mark-symbolic", "pxc-no-such-icon",
		"pxc-broken" };
	struct pixcache_gtk_loader *loader;
	struct pixcache_pixmap *pixmap;
	struct pixcache_stats stats;
	GdkPaintable *got[3];
	struct theme theme;

	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, client);
	assert(pixcache_gtk_loader_lookup_icons(loader, names, 3, 48, 1,
		GTK_TEXT_DIR_LTR, 0, got) == 0);
	for (int i = 0; i < 3; i++) {
		assert(GTK_IS_ICON_PAINTABLE(got[i]));
		g_object_unref(got[i]);
	}
	assert_stats(loader, 0, 0, 0, 0, 3);
	ch_server_stats(server, &stats);
	assert(stats.entries == 0);
	/* The broken file's claim was given up: another process is not
	 * kept waiting for an upload that will never come, it claims. */
	assert(pixcache_client_find(other, "default",
		"icon/pxtheme/pxc-broken/48@1", &pixmap) == -ENOENT);
	pixcache_gtk_loader_destroy(loader);
	drop_theme(&theme);
	pixcache_client_destroy(other);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* Icons served here, with the right pixels, and nothing cached. */
static void
check_uncached(struct pixcache_gtk_loader *loader, uint64_t times)
{
	const char *names[] = { "pxc-one", "pxc-two", "pxc-loose" };
	GdkPaintable *got[3];

	assert(pixcache_gtk_loader_lookup_icons(loader, names, 3, 48, 1,
		GTK_TEXT_DIR_LTR, 0, got) == 0);
	assert(shows_icon(got[0], 1) && shows_icon(got[1], 2) &&
		shows_icon(got[2], 8));
	for (int i = 0; i < 3; i++) {
		g_object_unref(got[i]);
	}
	assert_stats(loader, 0, 3 * times, 0, 3 * times, 0);
}

TEST(without_a_manager_icons_are_decoded_here)
{
	struct ch_server *bare = ch_server_start_bare(NULL);
	struct pixcache_client *client = ch_connect(bare);
	struct pixcache_gtk_loader *loader;
	struct pixcache_client_usage usage;
	struct theme theme;

	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, NULL);
	check_uncached(loader, 1);
	pixcache_gtk_loader_destroy(loader);

	/* A display without a manager: asked once, then never again. */
	loader = pixcache_gtk_loader_new(theme.gtk, client);
	check_uncached(loader, 1);
	pixcache_client_get_usage(client, &usage);
	assert(usage.remote_lookups == 0);
	check_uncached(loader, 2);
	pixcache_gtk_loader_destroy(loader);
	drop_theme(&theme);
	pixcache_client_destroy(client);
	ch_server_stop(bare);
}

TEST(icons_the_manager_refuses_are_shown_from_here)
{
	struct pixcache_config config;
	struct ch_server *server;
	struct pixcache_client *client, *other;
	struct pixcache_gtk_loader *loader;
	struct pixcache_pixmap *pixmap;
	GdkPaintable *paintable;
	struct theme theme;

	/* Room for no 48x48 icon. */
	ch_config(&config);
	config.realm_quota = 4096;
	server = ch_server_start(&config, NULL, NULL);
	client = ch_connect(server);
	other = impatient(server);
	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, client);
	paintable = lookup(loader, "pxc-one", 48, 1, GTK_TEXT_DIR_LTR);
	assert(shows_icon(paintable, 1));
	assert_stats(loader, 0, 1, 0, 1, 0);
	g_object_unref(paintable);
	/* Its claim was given up too. */
	assert(pixcache_client_find(other, "default",
		"icon/pxtheme/pxc-one/48@1", &pixmap) == -ENOENT);
	pixcache_gtk_loader_destroy(loader);
	drop_theme(&theme);
	pixcache_client_destroy(other);
	pixcache_client_destroy(client);
	ch_server_stop(server);
}

/* ---- two applications starting at once ---- */

struct starter {
	struct ch_server *server;
	pthread_barrier_t *barrier;
	struct pixcache_gtk_stats stats;
	bool pixels_ok;
};

static const char *const all_pngs[] = { "pxc-one", "pxc-two", "pxc-arrow",
	"pxc%odd", "pxc-parent" };
static const uint32_t all_seeds[] = { 1, 2, 3, 5, 6 };
#define ALL_PNGS 5

static void *
start_application(void *data)
{
	struct starter *s = data;
	struct pixcache_client *client = ch_connect(s->server);
	struct pixcache_gtk_loader *loader;
	GdkPaintable *got[ALL_PNGS];
	struct theme theme;

	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, client);
	pthread_barrier_wait(s->barrier);
	assert(pixcache_gtk_loader_lookup_icons(loader, all_pngs, ALL_PNGS,
		48, 1, GTK_TEXT_DIR_LTR, 0, got) == 0);
	s->pixels_ok = true;
	for (int i = 0; i < ALL_PNGS; i++) {
		s->pixels_ok = s->pixels_ok && shows_icon(got[i], all_seeds[i]);
		g_object_unref(got[i]);
	}
	pixcache_gtk_loader_get_stats(loader, &s->stats);
	pixcache_gtk_loader_destroy(loader);
	drop_theme(&theme);
	pixcache_client_destroy(client);
	return NULL;
}

TEST(applications_starting_at_once_decode_each_icon_once)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	pthread_barrier_t barrier;
	struct starter s[3];
	pthread_t threads[3];
	uint64_t decodes = 0, uploads = 0, hits = 0;

	pthread_barrier_init(&barrier, NULL, 3);
	for (int i = 0; i < 3; i++) {
		s[i] = (struct starter){
			.server = server,
			.barrier = &barrier,
		};
		assert(pthread_create(&threads[i], NULL, start_application,
			&s[i]) == 0);
	}
	for (int i = 0; i < 3; i++) {
		assert(pthread_join(threads[i], NULL) == 0);
		assert(s[i].pixels_ok);
		assert(s[i].stats.uncached == 0 && s[i].stats.passed == 0);
		decodes += s[i].stats.decodes;
		uploads += s[i].stats.uploads;
		hits += s[i].stats.hits;
	}
	assert(decodes == ALL_PNGS && uploads == ALL_PNGS);
	assert(hits == 2 * ALL_PNGS);
	pthread_barrier_destroy(&barrier);
	ch_server_stop(server);
}

TEST(bad_arguments_are_refused)
{
	struct theme theme;
	struct pixcache_gtk_loader *loader;
	const char *names[] = { "pxc-one", NULL };
	GdkPaintable *got[2] = { NULL, NULL };

	errno = 0;
	assert(pixcache_gtk_loader_new(NULL, NULL) == NULL && errno == EINVAL);
	make_theme(&theme);
	loader = pixcache_gtk_loader_new(theme.gtk, NULL);
	assert(pixcache_gtk_loader_lookup_icon(loader, NULL, NULL, 48, 1,
		GTK_TEXT_DIR_LTR, 0) == NULL);
	assert(pixcache_gtk_loader_lookup_icon(loader, "pxc-one", NULL, 0, 1,
		GTK_TEXT_DIR_LTR, 0) == NULL);
	assert(pixcache_gtk_loader_lookup_icon(loader, "pxc-one", NULL, 48,
		0, GTK_TEXT_DIR_LTR, 0) == NULL);
	assert(pixcache_gtk_loader_lookup_icon(loader, "pxc-one", NULL, 8192,
		4, GTK_TEXT_DIR_LTR, 0) == NULL);
	assert(pixcache_gtk_loader_lookup_icons(loader, names, 2, 48, 1,
		GTK_TEXT_DIR_LTR, 0, got) == -EINVAL);
	assert(got[0] == NULL && got[1] == NULL);
	assert(pixcache_gtk_loader_lookup_icons(NULL, names, 1, 48, 1,
		GTK_TEXT_DIR_LTR, 0, got) == -EINVAL);
	assert_stats(loader, 0, 0, 0, 0, 0);
	pixcache_gtk_loader_destroy(loader);
	pixcache_gtk_loader_destroy(NULL);
	drop_theme(&theme);
}
