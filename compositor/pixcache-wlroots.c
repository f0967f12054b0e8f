/*
 * pixcache-wlroots: a small wlroots 0.15 compositor with the pixcache
 * manager inside it.
 *
 *   pixcache-wlroots [--socket NAME] [--realm-socket NAME:REALM]...
 *                    [--budget SIZE] [--output WxH] [--screenshot PATH]
 *                    [--debug]
 *
 * It shows xdg-shell toplevels (and their popups) through wlroots' scene
 * graph, cascaded from the top-left corner of the first output, each
 * activated as it maps; it has no input handling. Run headless with
 * WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1
 * (WLR_HEADLESS_OUTPUTS outputs, one by default, of --output's size).
 *
 * The policy: a client is in the realm of the socket it connected to,
 * which it cannot forge. Clients of the display's socket read and write
 * realm "default"; clients of a --realm-socket NAME:REALM read and write
 * REALM and only read "default", as a sandbox given a socket of its own
 * would (tools/realm-sockets.c, shared with pixcached).
 *
 * SIGUSR1 renders the output anew and writes it to --screenshot PATH as
 * PNG. SIGINT and SIGTERM stop it: every client is disconnected, the
 * manager is destroyed, then wlroots, then the display.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <wayland-server-core.h>
#include <wlr/backend.h>
#include <wlr/backend/headless.h>
#include <wlr/render/allocator.h>
#include <wlr/render/pixman.h>
#include <wlr/render/wlr_renderer.h>
#include <wlr/types/wlr_compositor.h>
#include <wlr/types/wlr_data_device.h>
#include <wlr/types/wlr_output.h>
#include <wlr/types/wlr_output_layout.h>
#include <wlr/types/wlr_scene.h>
#include <wlr/types/wlr_seat.h>
#include <wlr/types/wlr_xdg_shell.h>
#include <wlr/util/log.h>

#include "image-io.h"
#include "pixcache-server.h"
#include "realm-sockets.h"
#include "size.h"

/* Where toplevels go: a cascade of this step, restarting after CASCADE. */
#define CASCADE_STEP 32
#define CASCADE 8

struct output {
	struct wl_list link;		/* server->outputs */
	struct server *server;
	struct wlr_output *wlr_output;
	struct wl_listener frame;
	struct wl_listener destroy;
};

/* A toplevel; its scene node goes with its xdg_surface. */
struct view {
	struct server *server;
	struct wlr_xdg_surface *xdg_surface;
	struct wlr_scene_node *node;
	struct wl_listener map;
	struct wl_listener unmap;
	struct wl_listener destroy;
	unsigned id;
};

struct server {
	struct wl_display *display;
	struct wlr_backend *backend;
	struct wlr_renderer *renderer;
	struct wlr_allocator *allocator;
	struct wlr_scene *scene;
	struct wlr_output_layout *output_layout;
	struct wlr_xdg_shell *xdg_shell;
	struct pixcache_manager *pixcache;

	struct wl_list outputs;
	struct wlr_xdg_surface *active;
	unsigned next_view, placed;

	struct wl_listener new_output;
	struct wl_listener new_xdg_surface;
	struct wl_listener refused;
	struct wl_event_source *signals[3];

	/* The policy: a realm per socket. */
	struct pxt_realm_sockets *realms;

	/* Options. */
	const char *socket;
	const char *screenshot;
	uint64_t budget;
	int width, height;
	bool debug;
};

/* One line on stderr. */
static void vsay(void *data, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
vsay(void *data, const char *fmt, va_list ap)
{
	fputs("pixcache-wlroots: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(NULL, fmt, ap);
	va_end(ap);
}

/*
 * A client's text, safe to log: printable ASCII but '\\' and '"' as is,
 * anything else \xNN, cut at size. A client's app_id cannot forge lines.
 */
static const char *
safe_text(const char *text, char *out, size_t size)
{
	size_t n = 0;

	for (; text != NULL && *text != '\0' && n + 5 < size; text++) {
		unsigned char c = (unsigned char)*text;

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			out[n++] = (char)c;
		} else {
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
		}
	}
	out[n] = '\0';
	return out;
}

/* ---- refusals (the policy: tools/realm-sockets.h) ---- */

static void
client_refused(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, refused);
	const struct pixcache_refusal *refusal = data;
	const struct pxt_realm_client *origin =
		pxt_realm_sockets_client(server->realms, refusal->client);
	unsigned id = origin ? origin->id : 0;

	if (refusal->realm == NULL) {
		say("refuse client %u (reason %u: too many connections or "
			"sessions)", id, refusal->reason);
	} else {
		say("deny client %u realm \"%s\" (reason %u)", id,
			refusal->realm, refusal->reason);
	}
}

/* ---- outputs ---- */

static void
output_frame(struct wl_listener *listener, void *data)
{
	struct output *output = wl_container_of(listener, output, frame);
	struct wlr_scene_output *scene_output = wlr_scene_get_scene_output(
		output->server->scene, output->wlr_output);
	struct timespec now;

	if (scene_output == NULL) {
		return;
	}
	wlr_scene_output_commit(scene_output);
	clock_gettime(CLOCK_MONOTONIC, &now);
	wlr_scene_output_send_frame_done(scene_output, &now);
}

static void
output_destroy(struct wl_listener *listener, void *data)
{
	struct output *output = wl_container_of(listener, output, destroy);

	wl_list_remove(&output->frame.link);
	wl_list_remove(&output->destroy.link);
	wl_list_remove(&output->link);
	free(output);
}

static void
new_output(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, new_output);
	struct wlr_output *wlr_output = data;
	struct output *output;

	if (!wlr_output_init_render(wlr_output, server->allocator,
			server->renderer)) {
		say("output %s: cannot render to it", wlr_output->name);
		return;
	}
	if (wlr_output_is_headless(wlr_output) && server->width > 0) {
		wlr_output_set_custom_mode(wlr_output, server->width,
			server->height, 0);
	} else if (!wl_list_empty(&wlr_output->modes)) {
		wlr_output_set_mode(wlr_output,
			wlr_output_preferred_mode(wlr_output));
	}
	wlr_output_enable(wlr_output, true);
	output = calloc(1, sizeof(*output));
	if (output == NULL || !wlr_output_commit(wlr_output)) {
		say("output %s: cannot enable it", wlr_output->name);
		free(output);
		return;
	}
	output->server = server;
	output->wlr_output = wlr_output;
	output->frame.notify = output_frame;
	wl_signal_add(&wlr_output->events.frame, &output->frame);
	output->destroy.notify = output_destroy;
	wl_signal_add(&wlr_output->events.destroy, &output->destroy);
	wl_list_insert(server->outputs.prev, &output->link);
	/* The scene follows the layout: it makes the scene output. */
	wlr_output_layout_add_auto(server->output_layout, wlr_output);
	say("output %s %dx%d", wlr_output->name, wlr_output->width,
		wlr_output->height);
}

/* ---- the screenshot ---- */

/* The output's scene, rendered anew into image (its size). */
static bool
render_output(struct server *server, struct wlr_output *wlr_output,
	pixman_image_t *image)
{
	static const float black[4] = { 0, 0, 0, 1 };
	struct wlr_box *box =
		wlr_output_layout_get_box(server->output_layout, wlr_output);
	bool ok;

	if (box == NULL || !wlr_output_attach_render(wlr_output, NULL)) {
		return false;
	}
	wlr_renderer_begin(server->renderer, (uint32_t)wlr_output->width,
		(uint32_t)wlr_output->height);
	wlr_renderer_clear(server->renderer, black);
	wlr_scene_render_output(server->scene, wlr_output, box->x, box->y,
		NULL);
	ok = wlr_renderer_read_pixels(server->renderer, DRM_FORMAT_ARGB8888,
		NULL, (uint32_t)pixman_image_get_stride(image),
		(uint32_t)wlr_output->width, (uint32_t)wlr_output->height, 0,
		0, 0, 0, pixman_image_get_data(image));
	wlr_renderer_end(server->renderer);
	/* What was drawn is ours: the output shows its own frames. */
	wlr_output_rollback(wlr_output);
	return ok;
}

/*
 * PATH with ".part" before its extension (which says the file's format):
 * written there, then renamed, a screenshot is never seen half written.
 */
static bool
partial_path(const char *path, char *out, size_t size)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	int n;

	if (dot == NULL || (slash != NULL && slash > dot)) {
		dot = path + strlen(path);
	}
	n = snprintf(out, size, "%.*s.part%s", (int)(dot - path), path, dot);
	return n >= 0 && (size_t)n < size;
}

static void
write_screenshot(struct server *server)
{
	struct output *output;
	pixman_image_t *image;
	char tmp[4096], error[256] = "";

	if (server->screenshot == NULL || wl_list_empty(&server->outputs)) {
		say("screenshot: no --screenshot path or no output");
		return;
	}
	output = wl_container_of(server->outputs.next, output, link);
	image = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		output->wlr_output->width, output->wlr_output->height, NULL, 0);
	if (image == NULL || !render_output(server, output->wlr_output,
			image)) {
		say("screenshot: cannot render output %s",
			output->wlr_output->name);
	} else if (!partial_path(server->screenshot, tmp, sizeof(tmp))) {
		say("screenshot: path too long");
	} else if (pxt_image_save(tmp, image, error, sizeof(error)) < 0 ||
			rename(tmp, server->screenshot) < 0) {
		say("screenshot: cannot write %s: %s", server->screenshot,
			error[0] ? error : strerror(errno));
		unlink(tmp);
	} else {
		say("screenshot of %s written to %s", output->wlr_output->name,
			server->screenshot);
	}
	if (image != NULL) {
		pixman_image_unref(image);
	}
}

/* ---- views ---- */

static void
view_map(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, map);
	struct server *server = view->server;
	unsigned step = server->placed++ % CASCADE;
	int x = CASCADE_STEP * (int)(step + 1), y = x;
	char app_id[128];
	struct wlr_box geometry;

	wlr_xdg_surface_get_geometry(view->xdg_surface, &geometry);
	wlr_scene_node_set_position(view->node, x, y);
	wlr_scene_node_raise_to_top(view->node);
	if (server->active != NULL) {
		wlr_xdg_toplevel_set_activated(server->active, false);
	}
	wlr_xdg_toplevel_set_activated(view->xdg_surface, true);
	server->active = view->xdg_surface;
	say("map toplevel %u app_id \"%s\" at %d,%d size %dx%d", view->id,
		safe_text(view->xdg_surface->toplevel->app_id, app_id,
		sizeof(app_id)), x, y, geometry.width, geometry.height);
}

static void
view_unmap(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, unmap);

	if (view->server->active == view->xdg_surface) {
		view->server->active = NULL;
	}
	say("unmap toplevel %u", view->id);
}

static void
view_destroy(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, destroy);

	if (view->server->active == view->xdg_surface) {
		view->server->active = NULL;
	}
	wl_list_remove(&view->map.link);
	wl_list_remove(&view->unmap.link);
	wl_list_remove(&view->destroy.link);
	free(view);
}

static void
new_toplevel(struct server *server, struct wlr_xdg_surface *xdg_surface)
{
	struct view *view = calloc(1, sizeof(*view));

	if (view != NULL) {
		view->node = wlr_scene_xdg_surface_create(&server->scene->node,
			xdg_surface);
	}
	if (view == NULL || view->node == NULL) {
		free(view);
		wl_resource_post_no_memory(xdg_surface->resource);
		return;
	}
	view->server = server;
	view->xdg_surface = xdg_surface;
	view->id = ++server->next_view;
	/* Its popups find their parent's node here. */
	xdg_surface->data = view->node;
	view->map.notify = view_map;
	wl_signal_add(&xdg_surface->events.map, &view->map);
	view->unmap.notify = view_unmap;
	wl_signal_add(&xdg_surface->events.unmap, &view->unmap);
	view->destroy.notify = view_destroy;
	wl_signal_add(&xdg_surface->events.destroy, &view->destroy);
}

/* A popup goes in its parent's node, and goes with its xdg_surface. */
static void
new_popup(struct wlr_xdg_surface *xdg_surface)
{
	struct wlr_surface *parent = xdg_surface->popup->parent;
	struct wlr_xdg_surface *parent_xdg;

	if (parent == NULL || !wlr_surface_is_xdg_surface(parent)) {
		return;
	}
	parent_xdg = wlr_xdg_surface_from_wlr_surface(parent);
	if (parent_xdg == NULL || parent_xdg->data == NULL) {
		return;
	}
	xdg_surface->data = wlr_scene_xdg_surface_create(parent_xdg->data,
		xdg_surface);
	if (xdg_surface->data == NULL) {
		wl_resource_post_no_memory(xdg_surface->resource);
	}
}

static void
new_xdg_surface(struct wl_listener *listener, void *data)
{
	struct server *server =
		wl_container_of(listener, server, new_xdg_surface);
	struct wlr_xdg_surface *xdg_surface = data;

	if (xdg_surface->role == WLR_XDG_SURFACE_ROLE_TOPLEVEL) {
		new_toplevel(server, xdg_surface);
	} else if (xdg_surface->role == WLR_XDG_SURFACE_ROLE_POPUP) {
		new_popup(xdg_surface);
	}
}

/* ---- setup and teardown ---- */

/* The kernel counts fds in flight to clients against our limit. */
static void
raise_fd_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
			limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
			say("cannot raise the fd limit: %s", strerror(errno));
		}
	}
}

static int
on_signal(int signal_number, void *data)
{
	struct server *server = data;

	if (signal_number == SIGUSR1) {
		write_screenshot(server);
		return 0;
	}
	say("%s: stopping", strsignal(signal_number));
	wl_display_terminate(server->display);
	return 0;
}

/* The globals of a desktop that clients expect, with no input. */
static bool
create_globals(struct server *server)
{
	return wlr_renderer_init_wl_display(server->renderer,
			server->display) &&
		wlr_compositor_create(server->display, server->renderer) !=
			NULL &&
		wlr_data_device_manager_create(server->display) != NULL &&
		wlr_seat_create(server->display, "seat0") != NULL;
}

static bool
start_wlroots(struct server *server)
{
	server->backend = wlr_backend_autocreate(server->display);
	if (server->backend == NULL) {
		say("cannot create a wlroots backend");
		return false;
	}
	server->renderer = wlr_renderer_autocreate(server->backend);
	if (server->renderer == NULL) {
		say("cannot create a renderer");
		return false;
	}
	server->allocator = wlr_allocator_autocreate(server->backend,
		server->renderer);
	server->output_layout = wlr_output_layout_create();
	server->scene = wlr_scene_create();
	server->xdg_shell = wlr_xdg_shell_create(server->display);
	if (server->allocator == NULL || server->output_layout == NULL ||
			server->scene == NULL || server->xdg_shell == NULL ||
			!wlr_scene_attach_output_layout(server->scene,
			server->output_layout) || !create_globals(server)) {
		say("cannot set wlroots up");
		return false;
	}
	server->new_output.notify = new_output;
	wl_signal_add(&server->backend->events.new_output,
		&server->new_output);
	server->new_xdg_surface.notify = new_xdg_surface;
	wl_signal_add(&server->xdg_shell->events.new_surface,
		&server->new_xdg_surface);
	return true;
}

static bool
start_pixcache(struct server *server)
{
	struct pixcache_config config;
	struct pixcache_policy policy = {
		.realm_access = pxt_realm_access,
		.data = server->realms,
	};

	pixcache_config_init(&config);
	if (server->budget != 0) {
		config.budget = server->budget;
	}
	server->pixcache = pixcache_manager_create(server->display, &config,
		&policy);
	if (server->pixcache == NULL) {
		say("cannot create the pixcache manager: %s", strerror(errno));
		return false;
	}
	server->refused.notify = client_refused;
	pixcache_manager_add_refused_listener(server->pixcache,
		&server->refused);
	say("pixcache manager ready, instance %016" PRIx64 ", budget %" PRIu64
		" bytes", pixcache_manager_instance(server->pixcache),
		config.budget);
	return true;
}

static bool
start_sockets(struct server *server)
{
	if (server->socket != NULL) {
		if (wl_display_add_socket(server->display, server->socket) < 0) {
			say("cannot listen on %s: %s", server->socket,
				strerror(errno));
			return false;
		}
	} else {
		server->socket = wl_display_add_socket_auto(server->display);
		if (server->socket == NULL) {
			say("cannot find a free socket name");
			return false;
		}
	}
	return pxt_realm_sockets_listen(server->realms, server->display,
		server->socket);
}

static bool
start(struct server *server)
{
	struct wl_event_loop *loop;
	static const int signals[3] = { SIGINT, SIGTERM, SIGUSR1 };

	server->display = wl_display_create();
	if (server->display == NULL) {
		say("cannot create a display");
		return false;
	}
	if (!start_wlroots(server) || !start_pixcache(server) ||
			!start_sockets(server)) {
		return false;
	}
	loop = wl_display_get_event_loop(server->display);
	for (int i = 0; i < 3; i++) {
		server->signals[i] = wl_event_loop_add_signal(loop, signals[i],
			on_signal, server);
		if (server->signals[i] == NULL) {
			say("cannot watch signals");
			return false;
		}
	}
	if (!wlr_backend_start(server->backend)) {
		say("cannot start the backend");
		return false;
	}
	return true;
}

static void
report(struct server *server)
{
	struct pixcache_stats stats;

	pixcache_manager_get_stats(server->pixcache, &stats);
	say("stopping: %u clients, %" PRIu64 " entries, %" PRIu64 " bytes "
		"indexed, %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64
		" inserts", pxt_realm_sockets_clients(server->realms),
		stats.entries, stats.indexed_bytes, stats.hits, stats.misses,
		stats.inserts);
}

/*
 * In the order that leaves nothing pointing at what went: clients first
 * (their views and their pixcache state go through the usual paths), the
 * manager while the display it serves still stands, then wlroots, which
 * our listeners leave before each object they listen to goes.
 */
static void
stop(struct server *server)
{
	if (server->display == NULL) {
		return;
	}
	wl_display_destroy_clients(server->display);
	if (server->pixcache != NULL) {
		wl_list_remove(&server->refused.link);
		pixcache_manager_destroy(server->pixcache);
	}
	pxt_realm_sockets_stop(server->realms);
	for (int i = 0; i < 3; i++) {
		if (server->signals[i] != NULL) {
			wl_event_source_remove(server->signals[i]);
		}
	}
	if (server->new_output.notify != NULL) {
		wl_list_remove(&server->new_output.link);
	}
	if (server->new_xdg_surface.notify != NULL) {
		wl_list_remove(&server->new_xdg_surface.link);
	}
	if (server->backend != NULL) {
		wlr_backend_destroy(server->backend);
	}
	if (server->scene != NULL) {
		wlr_scene_node_destroy(&server->scene->node);
	}
	if (server->output_layout != NULL) {
		wlr_output_layout_destroy(server->output_layout);
	}
	if (server->allocator != NULL) {
		wlr_allocator_destroy(server->allocator);
	}
	if (server->renderer != NULL) {
		wlr_renderer_destroy(server->renderer);
	}
	wl_display_destroy(server->display);
}

/* ---- the command line ---- */

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: pixcache-wlroots [--socket NAME] "
		"[--realm-socket NAME:REALM]...\n"
		"                        [--budget SIZE] [--output WxH] "
		"[--screenshot PATH] [--debug]\n"
		"\n"
		"A wlroots compositor with the pixcache manager: clients of "
		"NAME (default:\n"
		"the first free wayland-N) use realm \"%s\"; clients of a "
		"--realm-socket\n"
		"read and write REALM and only read \"%s\". --output: the "
		"headless\n"
		"outputs' size (wlroots' default: 1280x720). SIGUSR1 writes the output to PATH "
		"as PNG.\n", PXT_DEFAULT_REALM, PXT_DEFAULT_REALM);
}

static bool
parse_output_size(struct server *server, const char *arg)
{
	char end;

	if (sscanf(arg, "%dx%d%c", &server->width, &server->height, &end) !=
			2 || server->width < 1 || server->height < 1 ||
			server->width > 16384 || server->height > 16384) {
		say("--output wants WIDTHxHEIGHT, got \"%s\"", arg);
		return false;
	}
	return true;
}

/* 0: go on; else the exit status (-1: 0 after --help). */
static int
parse(int argc, char *argv[], struct server *server)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "realm-socket", required_argument, NULL, 'r' },
		{ "budget", required_argument, NULL, 'b' },
		{ "output", required_argument, NULL, 'o' },
		{ "screenshot", required_argument, NULL, 'S' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 's':
			server->socket = optarg;
			break;
		case 'r':
			ok = pxt_realm_sockets_add(server->realms, optarg);
			break;
		case 'b':
			ok = pxc_parse_size(optarg, &server->budget) == 0 &&
				server->budget != 0;
			if (!ok) {
				say("bad --budget \"%s\"", optarg);
			}
			break;
		case 'o':
			ok = parse_output_size(server, optarg);
			break;
		case 'S':
			server->screenshot = optarg;
			break;
		case 'd':
			server->debug = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			return 2;
		}
	}
	if (optind < argc) {
		say("unexpected argument \"%s\"", argv[optind]);
		return 2;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct pxt_realm_sockets_hooks hooks = { .log = vsay };
	struct server server = { 0 };
	int ret;

	wl_list_init(&server.outputs);
	server.realms = pxt_realm_sockets_create(&hooks);
	if (server.realms == NULL) {
		say("out of memory");
		return 1;
	}
	ret = parse(argc, argv, &server);
	if (ret == 0 && getenv("XDG_RUNTIME_DIR") == NULL) {
		say("XDG_RUNTIME_DIR is not set");
		ret = 1;
	}
	if (ret == 0) {
		wlr_log_init(server.debug ? WLR_DEBUG : WLR_ERROR, NULL);
		raise_fd_limit();
		if (start(&server)) {
			say("ready on %s, renderer %s", server.socket,
				wlr_renderer_is_pixman(server.renderer) ?
				"pixman" : "not pixman");
			wl_display_run(server.display);
			report(&server);
		} else {
			ret = 1;
		}
		stop(&server);
	}
	/* After the manager, which stop() destroyed. */
	pxt_realm_sockets_destroy(server.realms);
	return ret < 0 ? 0 : ret;
}
