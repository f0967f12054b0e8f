/*
 * pixcache-gtk-demo: a GTK 4 window of theme icons, loaded through the
 * cache with libpixcache-gtk.
 *
 *   pixcache-gtk-demo [--theme NAME] [--size N] [--columns N]
 *                     [--seconds S] ICON-NAME...
 *
 * Connects to the manager of the compositor it runs on (or to
 * $PIXCACHE_SOCKET), looks every icon up in one batch, and shows each in a
 * GtkPicture of a GtkGrid, over an opaque background with a marker in two
 * corners (as pixcache-demo draws, so tests/screenshot-check finds it).
 * Without a manager the icons are decoded here and shown all the same.
 *
 * Once the first frame is drawn it prints one JSON line: the area's size,
 * background and markers, where each icon is in it, and what the loader
 * did (hits, decodes, uploads). Then it stays until closed, SIGINT,
 * SIGTERM, or S seconds, and frees everything before it exits.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <gtk/gtk.h>

#include "pixcache-gtk.h"

#define MARGIN 16
#define PAD 8
#define MARKER 8
#define BACKGROUND 0xff2e3440u
#define MARKER_TOP_LEFT 0xffff00ffu
#define MARKER_BOTTOM_RIGHT 0xff00ffffu
#define MAX_ICONS 256

static const char css[] =
	".pxc-area { background-color: #2e3440; }\n"
	".pxc-marker { min-width: 8px; min-height: 8px; }\n"
	".pxc-top-left { background-color: #ff00ff; }\n"
	".pxc-bottom-right { background-color: #00ffff; }\n";

struct demo {
	const char *names[MAX_ICONS];
	GdkPaintable *paintables[MAX_ICONS];
	GtkWidget *pictures[MAX_ICONS];
	int count, columns, size, seconds;
	const char *theme;

	struct pixcache_client *client;
	struct pixcache_gtk_loader *loader;
	GtkWidget *window, *area;
	gboolean printed, done;
};

static void
usage(void)
{
	fprintf(stderr, "usage: pixcache-gtk-demo [--theme NAME] [--size N] "
		"[--columns N] [--seconds S] ICON-NAME... (1 to %d icons)\n",
		MAX_ICONS);
	exit(2);
}

static void
parse(int argc, char *argv[], struct demo *demo)
{
	static const struct option options[] = {
		{ "theme", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 'z' },
		{ "columns", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	demo->columns = 8;
	demo->size = 48;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c == 't') {
			demo->theme = optarg;
		} else if (c == 'z') {
			demo->size = atoi(optarg);
		} else if (c == 'c') {
			demo->columns = atoi(optarg);
		} else if (c == 's') {
			demo->seconds = atoi(optarg);
		} else {
			usage();
		}
	}
	if (optind == argc || argc - optind > MAX_ICONS ||
			demo->columns < 1 || demo->columns > 64 ||
			demo->size < 1 || demo->size > 512) {
		usage();
	}
	for (int i = optind; i < argc; i++) {
		demo->names[demo->count++] = argv[i];
	}
}

/* ---- the report ---- */

static void
print_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			printf("\\%c", *s);
		} else if ((unsigned char)*s < 0x20) {
			printf("\\u%04x", *s);
		} else {
			putchar(*s);
		}
	}
	putchar('"');
}

/* The file GTK itself would show for name: what the icon should be. */
static char *
gtk_file(struct demo *demo, const char *name)
{
	GtkIconTheme *theme = gtk_icon_theme_get_for_display(
		gtk_widget_get_display(demo->window));
	GtkIconPaintable *icon = gtk_icon_theme_lookup_icon(theme, name, NULL,
		demo->size, 1, GTK_TEXT_DIR_LTR, 0);
	GFile *file = gtk_icon_paintable_get_file(icon);
	char *path = file != NULL ? g_file_get_path(file) : NULL;

	g_clear_object(&file);
	g_object_unref(icon);
	return path;
}

static void
print_icon(struct demo *demo, int i)
{
	graphene_point_t at;
	char *file = gtk_file(demo, demo->names[i]);
	GdkPaintable *paintable = demo->paintables[i];

	if (!gtk_widget_compute_point(demo->pictures[i], demo->area,
			&GRAPHENE_POINT_INIT(0, 0), &at)) {
		at = GRAPHENE_POINT_INIT(-1, -1);
	}
	printf("%s{\"name\": ", i > 0 ? ", " : "");
	print_string(demo->names[i]);
	printf(", \"file\": ");
	print_string(file != NULL ? file : "");
	printf(", \"x\": %d, \"y\": %d, \"width\": %d, \"height\": %d, "
		"\"texture\": %s}", (int)at.x, (int)at.y,
		gdk_paintable_get_intrinsic_width(paintable),
		gdk_paintable_get_intrinsic_height(paintable),
		GDK_IS_TEXTURE(paintable) ? "true" : "false");
	g_free(file);
}

static void
print_report(struct demo *demo)
{
	struct pixcache_gtk_stats stats;

	pixcache_gtk_loader_get_stats(demo->loader, &stats);
	printf("{\"width\": %d, \"height\": %d, \"background\": %u, "
		"\"marker\": %d, \"marker_top_left\": %u, "
		"\"marker_bottom_right\": %u, \"client\": %s, "
		"\"hits\": %llu, \"decodes\": %llu, \"uploads\": %llu, "
		"\"uncached\": %llu, \"passed\": %llu, \"icons\": [",
		gtk_widget_get_width(demo->area),
		gtk_widget_get_height(demo->area), BACKGROUND, MARKER,
		MARKER_TOP_LEFT, MARKER_BOTTOM_RIGHT,
		demo->client != NULL ? "true" : "false",
		(unsigned long long)stats.hits,
		(unsigned long long)stats.decodes,
		(unsigned long long)stats.uploads,
		(unsigned long long)stats.uncached,
		(unsigned long long)stats.passed);
	for (int i = 0; i < demo->count; i++) {
		print_icon(demo, i);
	}
	printf("]}\n");
	fflush(stdout);
}

/* The first frame is drawn (and committed): say where everything is. */
static void
after_paint(GdkFrameClock *clock, struct demo *demo)
{
	if (!demo->printed) {
		demo->printed = TRUE;
		print_report(demo);
	}
}

/* ---- the window ---- */

static GtkWidget *
marker(const char *class, GtkAlign align)
{
	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);

	gtk_widget_add_css_class(box, "pxc-marker");
	gtk_widget_add_css_class(box, class);
	gtk_widget_set_halign(box, align);
	gtk_widget_set_valign(box, align);
	return box;
}

static GtkWidget *
icon_grid(struct demo *demo)
{
	GtkWidget *grid = gtk_grid_new();

	gtk_widget_set_margin_start(grid, MARGIN);
	gtk_widget_set_margin_end(grid, MARGIN);
	gtk_widget_set_margin_top(grid, MARGIN);
	gtk_widget_set_margin_bottom(grid, MARGIN);
	for (int i = 0; i < demo->count; i++) {
		/* At its own size, on whole pixels: the texture as it is. */
		GtkWidget *picture = gtk_picture_new_for_paintable(
			demo->paintables[i]);

		gtk_picture_set_can_shrink(GTK_PICTURE(picture), FALSE);
		gtk_widget_set_halign(picture, GTK_ALIGN_CENTER);
		gtk_widget_set_valign(picture, GTK_ALIGN_CENTER);
		gtk_widget_set_margin_start(picture, PAD);
		gtk_widget_set_margin_end(picture, PAD);
		gtk_widget_set_margin_top(picture, PAD);
		gtk_widget_set_margin_bottom(picture, PAD);
		gtk_widget_set_tooltip_text(picture, demo->names[i]);
		gtk_grid_attach(GTK_GRID(grid), picture, i % demo->columns,
			i / demo->columns, 1, 1);
		demo->pictures[i] = picture;
	}
	return grid;
}

static void
on_map(GtkWidget *window, struct demo *demo)
{
	g_signal_connect(gtk_widget_get_frame_clock(window), "after-paint",
		G_CALLBACK(after_paint), demo);
}

static gboolean
on_close(GtkWindow *window, struct demo *demo)
{
	demo->done = TRUE;
	/* Destroyed with everything else, below. */
	return TRUE;
}

static gboolean
on_quit(gpointer data)
{
	struct demo *demo = data;

	demo->done = TRUE;
	return G_SOURCE_CONTINUE;
}

static void
build_window(struct demo *demo)
{
	GtkCssProvider *provider = gtk_css_provider_new();

	gtk_css_provider_load_from_data(provider, css, -1);
	gtk_style_context_add_provider_for_display(gdk_display_get_default(),
		GTK_STYLE_PROVIDER(provider),
		GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
	g_object_unref(provider);

	demo->area = gtk_overlay_new();
	gtk_widget_add_css_class(demo->area, "pxc-area");
	gtk_overlay_set_child(GTK_OVERLAY(demo->area), icon_grid(demo));
	gtk_overlay_add_overlay(GTK_OVERLAY(demo->area),
		marker("pxc-top-left", GTK_ALIGN_START));
	gtk_overlay_add_overlay(GTK_OVERLAY(demo->area),
		marker("pxc-bottom-right", GTK_ALIGN_END));

	demo->window = gtk_window_new();
	gtk_window_set_title(GTK_WINDOW(demo->window), "pixcache GTK demo");
	gtk_window_set_resizable(GTK_WINDOW(demo->window), FALSE);
	gtk_window_set_child(GTK_WINDOW(demo->window), demo->area);
	g_signal_connect(demo->window, "map", G_CALLBACK(on_map), demo);
	g_signal_connect(demo->window, "close-request", G_CALLBACK(on_close),
		demo);
}

/* ---- the icons ---- */

static void
load_icons(struct demo *demo)
{
	GdkDisplay *display = gdk_display_get_default();

	if (demo->theme != NULL) {
		g_object_set(gtk_settings_get_for_display(display),
			"gtk-icon-theme-name", demo->theme, NULL);
	}
	demo->client = pixcache_gtk_client_new(display);
	if (demo->client == NULL) {
		fprintf(stderr, "pixcache-gtk-demo: no cache (%s): decoding "
			"here\n", g_strerror(errno));
	}
	demo->loader = pixcache_gtk_loader_new(
		gtk_icon_theme_get_for_display(display), demo->client);
	if (demo->loader == NULL ||
			pixcache_gtk_loader_lookup_icons(demo->loader,
			demo->names, (unsigned)demo->count, demo->size, 1,
			GTK_TEXT_DIR_LTR, 0, demo->paintables) < 0) {
		fprintf(stderr, "pixcache-gtk-demo: cannot load icons\n");
		exit(1);
	}
}

int
main(int argc, char *argv[])
{
	struct demo demo = { 0 };
	guint term, intr, timeout = 0;

	parse(argc, argv, &demo);
	if (!gtk_init_check()) {
		fprintf(stderr, "pixcache-gtk-demo: cannot open a display\n");
		return 1;
	}
	load_icons(&demo);
	build_window(&demo);
	term = g_unix_signal_add(SIGTERM, on_quit, &demo);
	intr = g_unix_signal_add(SIGINT, on_quit, &demo);
	if (demo.seconds > 0) {
		timeout = g_timeout_add_seconds((guint)demo.seconds, on_quit,
			&demo);
	}
	gtk_window_present(GTK_WINDOW(demo.window));
	while (!demo.done) {
		g_main_context_iteration(NULL, TRUE);
	}

	if (timeout != 0) {
		g_source_remove(timeout);
	}
	g_source_remove(intr);
	g_source_remove(term);
	gtk_window_destroy(GTK_WINDOW(demo.window));
	while (g_main_context_iteration(NULL, FALSE)) {
		/* What the window's teardown queued. */
	}
	for (int i = 0; i < demo.count; i++) {
		g_object_unref(demo.paintables[i]);
	}
	pixcache_gtk_loader_destroy(demo.loader);
	pixcache_client_destroy(demo.client);
	return 0;
}
