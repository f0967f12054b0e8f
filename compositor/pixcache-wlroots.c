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
 * would.
 *
 * SIGUSR1 renders the output anew and writes it to --screenshot PATH as
 * PNG. SIGINT and SIGTERM stop it: every client is disconnected, the
 * manager is destroyed, then wlroots, then the display.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
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
#include "size.h"

#define DEFAULT_REALM "default"
#define MAX_REALM_SOCKETS 16
/* Where toplevels go: a cascade of this step, restarting after CASCADE. */
#define CASCADE_STEP 32
#define CASCADE 8

/* A socket whose clients are in one realm, listened on by us. */
struct realm_socket {
	struct server *server;
	const char *name;
	char *realm;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lock_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 5];
	int fd;
	int lock_fd;
	struct wl_event_source *source;
};

/* What the policy knows of a client: where it connected. */
struct origin {
	struct wl_list link;		/* server->origins */
	struct server *server;
	struct wl_client *client;
	const struct realm_socket *socket;	/* NULL: the display's */
	struct wl_listener destroy;
	pid_t pid;
	unsigned id;
};

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
	struct wl_list origins;
	struct wlr_xdg_surface *active;
	unsigned next_client, next_view, placed;

	struct wl_listener new_output;
	struct wl_listener new_xdg_surface;
	struct wl_listener client_created;
	struct wl_listener refused;
	struct wl_event_source *signals[3];

	struct realm_socket realms[MAX_REALM_SOCKETS];
	int nrealms;
	/* The socket of the client being created, for client_created. */
	const struct realm_socket *accepting;

	/* Options. */
	const char *socket;
	const char *screenshot;
	uint64_t budget;
	int width, height;
	bool debug;
};

/* One line on stderr. */
static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	fputs("pixcache-wlroots: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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

/* ---- the policy ---- */

static struct origin *
origin_of(struct server *server, struct wl_client *client)
{
	struct origin *origin;

	wl_list_for_each(origin, &server->origins, link) {
		if (origin->client == client) {
			return origin;
		}
	}
	return NULL;
}

static uint32_t
realm_access(void *data, struct wl_client *client, const char *realm)
{
	const uint32_t all = PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_WRITE |
		PIXCACHE_ACCESS_TABLE;
	struct origin *origin = origin_of(data, client);

	if (origin == NULL) {
		/* We could not note where it came from: nothing. */
		return 0;
	}
	if (origin->socket == NULL) {
		return strcmp(realm, DEFAULT_REALM) == 0 ? all : 0;
	}
	if (strcmp(realm, origin->socket->realm) == 0) {
		return all;
	}
	if (strcmp(realm, DEFAULT_REALM) == 0) {
		return PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_TABLE;
	}
	return 0;
}

static void
client_gone(struct wl_listener *listener, void *data)
{
	struct origin *origin = wl_container_of(listener, origin, destroy);

	say("disconnect client %u pid %d", origin->id, (int)origin->pid);
	wl_list_remove(&origin->link);
	wl_list_remove(&origin->destroy.link);
	free(origin);
}

/* Runs inside wl_client_create(), for every socket's clients. */
static void
client_created(struct wl_listener *listener, void *data)
{
	struct server *server =
		wl_container_of(listener, server, client_created);
	struct wl_client *client = data;
	struct origin *origin = calloc(1, sizeof(*origin));
	const struct realm_socket *rs = server->accepting;

	if (origin == NULL) {
		/* Unknown to the policy, it may use no realm. */
		say("out of memory: a new client gets no realm");
		return;
	}
	origin->server = server;
	origin->client = client;
	origin->socket = rs;
	origin->id = ++server->next_client;
	wl_client_get_credentials(client, &origin->pid, NULL, NULL);
	origin->destroy.notify = client_gone;
	wl_client_add_destroy_listener(client, &origin->destroy);
	wl_list_insert(&server->origins, &origin->link);
	say("connect client %u pid %d on %s (realm %s)", origin->id,
		(int)origin->pid, rs ? rs->name : server->socket,
		rs ? rs->realm : DEFAULT_REALM);
}

static void
client_refused(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, refused);
	const struct pixcache_refusal *refusal = data;
	struct origin *origin = origin_of(server, refusal->client);
	unsigned id = origin ? origin->id : 0;

	if (refusal->realm == NULL) {
		say("refuse client %u (reason %u: too many connections or "
			"sessions)", id, refusal->reason);
	} else {
		say("deny client %u realm \"%s\" (reason %u)", id,
			refusal->realm, refusal->reason);
	}
}

/* ---- realm sockets ---- */

static int
realm_accept(int fd, uint32_t mask, void *data)
{
	struct realm_socket *rs = data;
	struct server *server = rs->server;
	int client_fd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (client_fd < 0) {
		say("accept on %s: %s", rs->name, strerror(errno));
		return 0;
	}
	server->accepting = rs;
	if (wl_client_create(server->display, client_fd) == NULL) {
		say("cannot create a client on %s: %s", rs->name,
			strerror(errno));
		close(client_fd);
	}
	server->accepting = NULL;
	return 0;
}

/*
 * $XDG_RUNTIME_DIR/NAME, taken as libwayland takes its sockets: whoever
 * holds the lock file owns the name and may replace a stale socket.
 */
static int
realm_listen(struct server *server, struct realm_socket *rs)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
	} addr = { .un.sun_family = AF_UNIX };

	if (snprintf(rs->path, sizeof(rs->path), "%s/%s", dir, rs->name) >=
			(int)sizeof(rs->path)) {
		say("socket path too long: %s/%s", dir, rs->name);
		return -1;
	}
	snprintf(rs->lock_path, sizeof(rs->lock_path), "%s.lock", rs->path);
	rs->lock_fd = open(rs->lock_path, O_CREAT | O_CLOEXEC | O_RDWR, 0660);
	if (rs->lock_fd < 0 || flock(rs->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		say("socket %s is in use: %s", rs->name, strerror(errno));
		return -1;
	}
	unlink(rs->path);
	memcpy(addr.un.sun_path, rs->path, strlen(rs->path) + 1);
	rs->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rs->fd < 0 || bind(rs->fd, &addr.sa, sizeof(addr.un)) < 0 ||
			listen(rs->fd, 128) < 0) {
		say("cannot listen on %s: %s", rs->path, strerror(errno));
		return -1;
	}
	rs->source = wl_event_loop_add_fd(
		wl_display_get_event_loop(server->display), rs->fd,
		WL_EVENT_READABLE, realm_accept, rs);
	if (rs->source == NULL) {
		say("cannot watch %s", rs->path);
		return -1;
	}
	return 0;
}

static void
realm_unlisten(struct realm_socket *rs)
{
	if (rs->source != NULL) {
		wl_event_source_remove(rs->source);
	}
	if (rs->fd >= 0) {
		close(rs->fd);
		unlink(rs->path);
	}
	if (rs->lock_fd >= 0) {
		unlink(rs->lock_path);
		close(rs->lock_fd);
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
		.realm_access = realm_access,
		.data = server,
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
	for (int i = 0; i < server->nrealms; i++) {
		if (realm_listen(server, &server->realms[i]) < 0) {
			return false;
		}
	}
	return true;
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
	server->client_created.notify = client_created;
	wl_display_add_client_created_listener(server->display,
		&server->client_created);
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
		" inserts", (unsigned)wl_list_length(&server->origins),
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
	for (int i = 0; i < server->nrealms; i++) {
		realm_unlisten(&server->realms[i]);
	}
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
	wl_list_remove(&server->client_created.link);
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
		"as PNG.\n", DEFAULT_REALM, DEFAULT_REALM);
}

static bool
add_realm_socket(struct server *server, char *arg)
{
	char *colon = strchr(arg, ':');
	struct realm_socket *rs;

	if (colon == NULL || colon == arg || colon[1] == '\0' ||
			memchr(arg, '/', (size_t)(colon - arg)) != NULL) {
		say("--realm-socket wants NAME:REALM, got \"%s\"", arg);
		return false;
	}
	if (server->nrealms == MAX_REALM_SOCKETS) {
		say("at most %d realm sockets", MAX_REALM_SOCKETS);
		return false;
	}
	rs = &server->realms[server->nrealms];
	rs->realm = strdup(colon + 1);
	if (rs->realm == NULL) {
		say("out of memory");
		return false;
	}
	*colon = '\0';
	rs->name = arg;
	rs->server = server;
	rs->fd = rs->lock_fd = -1;
	server->nrealms++;
	return true;
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
			ok = add_realm_socket(server, optarg);
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
	struct server server = { 0 };
	int ret;

	wl_list_init(&server.outputs);
	wl_list_init(&server.origins);
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
	for (int i = 0; i < server.nrealms; i++) {
		free(server.realms[i].realm);
	}
	return ret < 0 ? 0 : ret;
}
