/*
 * pixcache-demo: an xdg-shell window showing a grid of icons obtained
 * through the cache, drawn the way a toolkit draws cached icons.
 *
 *   pixcache-demo [--columns N] [--seconds S] PNG...
 *
 * The icons are looked up in one batch with libpixcache-client on the
 * window's own display; what is missing is decoded from its file and
 * uploaded. The window is a wl_shm buffer of the demo's own (cached
 * pixmaps are sealed and cannot be wl_shm pools): an opaque background,
 * a marker in two corners, and the icons composited over it with pixman.
 *
 * Once the first frame is shown it prints the layout as one JSON line
 * (size, background, marker, where each icon went, what the cache did),
 * then stays until closed, killed, or S seconds have passed.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include "image-io.h"
#include "pixcache-client.h"
#include "shm-buffer.h"
#include "xdg-shell-client-protocol.h"

#define MARGIN 16
#define PAD 8
#define MARKER 8
#define BACKGROUND 0xff2e3440u
#define MARKER_TOP_LEFT 0xffff00ffu
#define MARKER_BOTTOM_RIGHT 0xff00ffffu
#define MAX_ICONS 256

struct icon {
	const char *path;
	char name[300];
	int x, y;
	pixman_image_t *image;		/* the cache's pixels, for pixman */
	struct pixcache_pixmap *pixmap;
};

struct demo {
	struct wl_display *display;
	struct wl_compositor *compositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	struct wl_surface *surface;
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	struct wl_buffer *buffer;
	struct pixcache_client *cache;
	struct icon icons[MAX_ICONS];
	int nicons, columns;
	int width, height;
	bool configured, closed, shown;
	unsigned hits, uploads, lost_races;
};

static void
die(const char *what)
{
	fprintf(stderr, "pixcache-demo: %s\n", what);
	exit(1);
}

/* Drops suffix from the end of s, if it is there. */
static bool
strip(char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n < m || strcmp(s + n - m, suffix) != 0) {
		return false;
	}
	s[n - m] = '\0';
	return true;
}

/*
 * icon/<theme>/<icon-name>/<size>@1[/symbolic] for a themed PNG
 * (.../icons/<theme>/<N>x<N>/<context>/<icon-name>.png), else
 * file/<basename>: see doc/naming.md.
 */
static void
name_icon(struct icon *icon)
{
	char *copy = strdup(icon->path), *parts[5] = { NULL };
	char *p, *save = NULL;
	bool symbolic;
	int size;

	if (copy == NULL) {
		die("out of memory");
	}
	/* The last five components: icons, theme, NxN, context, file. */
	for (p = strtok_r(copy, "/", &save); p != NULL;
			p = strtok_r(NULL, "/", &save)) {
		memmove(parts, parts + 1, sizeof(parts) - sizeof(parts[0]));
		parts[4] = p;
	}
	if (parts[0] != NULL && strcmp(parts[0], "icons") == 0 &&
			sscanf(parts[2], "%dx%d", &size, &size) == 2 &&
			strip(parts[4], ".png")) {
		symbolic = strip(parts[4], ".symbolic");
		strip(parts[4], "-symbolic");
		snprintf(icon->name, sizeof(icon->name), "icon/%s/%s/%d@1%s",
			parts[1], parts[4], size, symbolic ? "/symbolic" : "");
	} else {
		snprintf(icon->name, sizeof(icon->name), "file/%s",
			parts[4] ? basename(parts[4]) : icon->path);
	}
	free(copy);
}

/* ---- the icons, through the cache ---- */

static void
upload_missing(struct demo *demo, struct icon *icon)
{
	char error[256];
	pixman_image_t *image = pxt_image_load(icon->path, error,
		sizeof(error));
	int ret;

	if (image == NULL) {
		die(error);
	}
	ret = pixcache_client_put(demo->cache, "default", icon->name, image,
		DRM_FORMAT_ARGB8888, 0, NULL);
	pixman_image_unref(image);
	if (ret == 0) {
		demo->uploads++;
	} else if (ret == -EBUSY || ret == -EEXIST) {
		demo->lost_races++;
	} else {
		fprintf(stderr, "pixcache-demo: put %s: %s\n", icon->name,
			strerror(-ret));
		exit(1);
	}
	ret = pixcache_client_find(demo->cache, "default", icon->name,
		&icon->pixmap);
	if (ret < 0) {
		fprintf(stderr, "pixcache-demo: find %s: %s\n", icon->name,
			strerror(-ret));
		exit(1);
	}
}

static void
get_icons(struct demo *demo)
{
	const char *names[MAX_ICONS];
	struct pixcache_pixmap *pixmaps[MAX_ICONS];
	int results[MAX_ICONS];

	for (int i = 0; i < demo->nicons; i++) {
		names[i] = demo->icons[i].name;
	}
	/* First needs in one batch: one round trip for every icon. */
	if (pixcache_client_find_many(demo->cache, "default", names,
			(unsigned)demo->nicons, results, pixmaps) < 0) {
		die("cannot reach the pixcache manager on this display");
	}
	for (int i = 0; i < demo->nicons; i++) {
		struct icon *icon = &demo->icons[i];

		if (results[i] == 0) {
			icon->pixmap = pixmaps[i];
			demo->hits++;
		} else if (results[i] == -ENOENT) {
			upload_missing(demo, icon);
		} else {
			fprintf(stderr, "pixcache-demo: %s: %s\n", icon->name,
				strerror(-results[i]));
			exit(1);
		}
		icon->image = pixcache_pixmap_create_pixman(icon->pixmap);
		if (icon->image == NULL) {
			die("out of memory");
		}
	}
}

/* ---- layout and drawing ---- */

static void
lay_out(struct demo *demo)
{
	int cell = 0, rows;

	for (int i = 0; i < demo->nicons; i++) {
		int w = pixman_image_get_width(demo->icons[i].image);
		int h = pixman_image_get_height(demo->icons[i].image);

		cell = w > cell ? w : cell;
		cell = h > cell ? h : cell;
	}
	cell += 2 * PAD;
	rows = (demo->nicons + demo->columns - 1) / demo->columns;
	demo->width = 2 * MARGIN + demo->columns * cell;
	demo->height = 2 * MARGIN + rows * cell;
	for (int i = 0; i < demo->nicons; i++) {
		demo->icons[i].x = MARGIN + i % demo->columns * cell + PAD;
		demo->icons[i].y = MARGIN + i / demo->columns * cell + PAD;
	}
}

/* The frame, into an image of our own: cached pixmaps are only sources. */
static void
draw(struct demo *demo, pixman_image_t *dst)
{
	pxt_fill(dst, BACKGROUND, 0, 0, demo->width, demo->height);
	pxt_fill(dst, MARKER_TOP_LEFT, 0, 0, MARKER, MARKER);
	pxt_fill(dst, MARKER_BOTTOM_RIGHT, demo->width - MARKER,
		demo->height - MARKER, MARKER, MARKER);
	for (int i = 0; i < demo->nicons; i++) {
		struct icon *icon = &demo->icons[i];

		pixman_image_composite32(PIXMAN_OP_OVER, icon->image, NULL,
			dst, 0, 0, 0, 0, icon->x, icon->y,
			pixman_image_get_width(icon->image),
			pixman_image_get_height(icon->image));
	}
}

static void
buffer_release(void *data, struct wl_buffer *buffer)
{
}

static const struct wl_buffer_listener buffer_listener = {
	.release = buffer_release,
};

static struct wl_buffer *
make_buffer(struct demo *demo)
{
	/* Opaque: the background covers it all. */
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_x8r8g8b8,
		demo->width, demo->height, NULL, 0);
	struct wl_buffer *buffer;

	if (image == NULL) {
		die("cannot make a buffer");
	}
	draw(demo, image);
	buffer = pxt_shm_buffer(demo->shm, image);
	pixman_image_unref(image);
	if (buffer == NULL) {
		die("cannot make a buffer");
	}
	wl_buffer_add_listener(buffer, &buffer_listener, demo);
	return buffer;
}

/* ---- the window ---- */

static void
wm_base_ping(void *data, struct xdg_wm_base *wm_base, uint32_t serial)
{
	xdg_wm_base_pong(wm_base, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {
	.ping = wm_base_ping,
};

static void
surface_configure(void *data, struct xdg_surface *xdg_surface,
	uint32_t serial)
{
	struct demo *demo = data;

	xdg_surface_ack_configure(xdg_surface, serial);
	if (demo->buffer == NULL) {
		demo->buffer = make_buffer(demo);
	}
	/* Our size is our own: the icons decide it. */
	wl_surface_attach(demo->surface, demo->buffer, 0, 0);
	wl_surface_damage_buffer(demo->surface, 0, 0, demo->width,
		demo->height);
	wl_surface_commit(demo->surface);
	demo->configured = true;
}

static const struct xdg_surface_listener surface_listener = {
	.configure = surface_configure,
};

static void
toplevel_configure(void *data, struct xdg_toplevel *toplevel, int32_t w,
	int32_t h, struct wl_array *states)
{
}

static void
toplevel_close(void *data, struct xdg_toplevel *toplevel)
{
	struct demo *demo = data;

	demo->closed = true;
}

static const struct xdg_toplevel_listener toplevel_listener = {
	.configure = toplevel_configure,
	.close = toplevel_close,
};

static void
registry_global(void *data, struct wl_registry *registry, uint32_t name,
	const char *interface, uint32_t version)
{
	struct demo *demo = data;

	if (strcmp(interface, wl_compositor_interface.name) == 0) {
		demo->compositor = wl_registry_bind(registry, name,
			&wl_compositor_interface, 4);
	} else if (strcmp(interface, wl_shm_interface.name) == 0) {
		demo->shm = wl_registry_bind(registry, name, &wl_shm_interface,
			1);
	} else if (strcmp(interface, xdg_wm_base_interface.name) == 0) {
		demo->wm_base = wl_registry_bind(registry, name,
			&xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(demo->wm_base, &wm_base_listener,
			demo);
	}
}

static void
registry_global_remove(void *data, struct wl_registry *registry,
	uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_global_remove,
};

static void
frame_done(void *data, struct wl_callback *callback, uint32_t time)
{
	struct demo *demo = data;

	wl_callback_destroy(callback);
	demo->shown = true;
}

static const struct wl_callback_listener frame_listener = {
	.done = frame_done,
};

static void
create_window(struct demo *demo)
{
	struct wl_callback *frame;

	demo->surface = wl_compositor_create_surface(demo->compositor);
	demo->xdg_surface = xdg_wm_base_get_xdg_surface(demo->wm_base,
		demo->surface);
	xdg_surface_add_listener(demo->xdg_surface, &surface_listener, demo);
	demo->toplevel = xdg_surface_get_toplevel(demo->xdg_surface);
	xdg_toplevel_add_listener(demo->toplevel, &toplevel_listener, demo);
	xdg_toplevel_set_title(demo->toplevel, "pixcache demo");
	xdg_toplevel_set_app_id(demo->toplevel, "org.pixcache.Demo");
	/* Told when the first frame was shown. */
	frame = wl_surface_frame(demo->surface);
	wl_callback_add_listener(frame, &frame_listener, demo);
	wl_surface_commit(demo->surface);
}

/* ---- output ---- */

static void
print_layout(const struct demo *demo)
{
	printf("{\"width\": %d, \"height\": %d, \"background\": %u, "
		"\"marker\": %d, \"marker_top_left\": %u, "
		"\"marker_bottom_right\": %u, \"hits\": %u, \"uploads\": %u, "
		"\"lost_races\": %u, \"icons\": [", demo->width, demo->height,
		BACKGROUND, MARKER, MARKER_TOP_LEFT, MARKER_BOTTOM_RIGHT,
		demo->hits, demo->uploads, demo->lost_races);
	for (int i = 0; i < demo->nicons; i++) {
		printf("%s{\"name\": \"%s\", \"file\": \"%s\", \"x\": %d, "
			"\"y\": %d}", i ? ", " : "", demo->icons[i].name,
			demo->icons[i].path, demo->icons[i].x,
			demo->icons[i].y);
	}
	printf("]}\n");
	fflush(stdout);
}

static void
parse(int argc, char *argv[], struct demo *demo, int *seconds)
{
	static const struct option options[] = {
		{ "columns", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	demo->columns = 8;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c == 'c') {
			demo->columns = atoi(optarg);
		} else if (c == 's') {
			*seconds = atoi(optarg);
		} else {
			die("usage: pixcache-demo [--columns N] [--seconds S] "
				"PNG...");
		}
	}
	if (optind == argc || argc - optind > MAX_ICONS ||
			demo->columns < 1 || demo->columns > 64) {
		die("usage: pixcache-demo [--columns N] [--seconds S] PNG... "
			"(1 to 256 files, 1 to 64 columns)");
	}
	for (int i = optind; i < argc; i++) {
		struct icon *icon = &demo->icons[demo->nicons++];

		icon->path = argv[i];
		name_icon(icon);
	}
}

/* The application's loop: its reads, then the library's dispatch. */
static void
run(struct demo *demo, int seconds)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!demo->closed) {
		struct pollfd pfd = {
			.fd = wl_display_get_fd(demo->display),
			.events = POLLIN,
		};

		while (wl_display_prepare_read(demo->display) != 0) {
			wl_display_dispatch_pending(demo->display);
		}
		wl_display_flush(demo->display);
		if (poll(&pfd, 1, 100) > 0) {
			wl_display_read_events(demo->display);
		} else {
			wl_display_cancel_read(demo->display);
		}
		if (wl_display_dispatch_pending(demo->display) < 0) {
			die("the compositor went away");
		}
		pixcache_client_dispatch(demo->cache);
		if (demo->shown) {
			print_layout(demo);
			demo->shown = false;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (seconds > 0 && now.tv_sec - start.tv_sec >= seconds) {
			break;
		}
	}
}

int
main(int argc, char *argv[])
{
	struct demo demo = { 0 };
	struct wl_registry *registry;
	int seconds = 0;

	parse(argc, argv, &demo, &seconds);
	demo.display = wl_display_connect(NULL);
	if (demo.display == NULL) {
		die("cannot connect to the Wayland display");
	}
	registry = wl_display_get_registry(demo.display);
	wl_registry_add_listener(registry, &registry_listener, &demo);
	wl_display_roundtrip(demo.display);
	if (demo.compositor == NULL || demo.shm == NULL ||
			demo.wm_base == NULL) {
		die("the compositor lacks wl_compositor, wl_shm or xdg_wm_base");
	}
	demo.cache = pixcache_client_create(demo.display, NULL);
	if (demo.cache == NULL) {
		die("cannot create the pixcache client");
	}
	get_icons(&demo);
	lay_out(&demo);
	create_window(&demo);
	run(&demo, seconds);
	for (int i = 0; i < demo.nicons; i++) {
		pixman_image_unref(demo.icons[i].image);
		pixcache_pixmap_unref(demo.icons[i].pixmap);
	}
	pixcache_client_destroy(demo.cache);
	if (demo.buffer != NULL) {
		wl_buffer_destroy(demo.buffer);
	}
	xdg_toplevel_destroy(demo.toplevel);
	xdg_surface_destroy(demo.xdg_surface);
	wl_surface_destroy(demo.surface);
	xdg_wm_base_destroy(demo.wm_base);
	wl_shm_destroy(demo.shm);
	wl_compositor_destroy(demo.compositor);
	wl_registry_destroy(registry);
	wl_display_disconnect(demo.display);
	return 0;
}
