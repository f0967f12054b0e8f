/*
 * pixcache-wlroots, the wlroots compositor with the manager inside, run
 * headless with the pixman renderer. Each test starts it in a 0700
 * XDG_RUNTIME_DIR of its own, with a realm socket for a sandbox, drives
 * real clients against it, and stops it with a signal: it must exit 0,
 * which under AddressSanitizer also means LeakSanitizer found nothing.
 *
 * $PXC_WLROOTS names the compositor (meson sets it).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include "image-io.h"
#include "pixcache-client.h"
#include "pixcache-v1-client-protocol.h"
#include "shm-buffer.h"
#include "test-runner.h"
#include "xdg-shell-client-protocol.h"

#define SOCKET "pixcache-wlr-test"
#define SANDBOX_SOCKET "pixcache-wlr-sandbox"
#define SANDBOX_REALM "sandbox"
#define OUTPUT_SIZE "320x240"
#define OUTPUT_WIDTH 320
#define OUTPUT_HEIGHT 240

/* ---- the compositor ---- */

struct compositor {
	pid_t pid;
	char dir[64];
	char log[128];
	char shot[128];
};

static void
slurp(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, out, size - 1);

	out[n > 0 ? n : 0] = '\0';
	if (fd >= 0) {
		close(fd);
	}
}

/* Fails the test, with the compositor's log. */
static void
compositor_fail(struct compositor *c, const char *why)
{
	static char log[1 << 16];

	slurp(c->log, log, sizeof(log));
	fprintf(stderr, "compositor log:\n%s\n", log);
	test_fail("%s", why);
}

static bool
compositor_alive(struct compositor *c)
{
	return waitpid(c->pid, NULL, WNOHANG) == 0;
}

/*
 * Waits until the log has had text count times. The test's timeout
 * bounds the wait; a compositor that died fails at once.
 */
static void
compositor_wait_log(struct compositor *c, const char *text, int count)
{
	static char log[1 << 16];
	const struct timespec tick = { 0, 5 * 1000 * 1000 };

	for (;;) {
		const char *p = log;
		int seen = 0;

		slurp(c->log, log, sizeof(log));
		while ((p = strstr(p, text)) != NULL) {
			seen++;
			p++;
		}
		if (seen >= count) {
			return;
		}
		if (!compositor_alive(c)) {
			compositor_fail(c, "the compositor died");
		}
		nanosleep(&tick, NULL);
	}
}

/*
 * Under AddressSanitizer, LeakSanitizer needs whole stacks to tell
 * wlroots' leak (tests/lsan.supp) from ours: libwayland has no frame
 * pointers for the fast unwinder.
 */
static void
exec_compositor(const char *path, struct compositor *c, int log_fd)
{
	const char *asan = getenv("ASAN_OPTIONS");
	char options[1024];

	dup2(log_fd, STDERR_FILENO);
	setenv("WLR_BACKENDS", "headless", 1);
	setenv("WLR_RENDERER", "pixman", 1);
	setenv("WLR_LIBINPUT_NO_DEVICES", "1", 1);
	setenv("WLR_HEADLESS_OUTPUTS", "1", 1);
	snprintf(options, sizeof(options), "%s%sfast_unwind_on_malloc=0",
		asan ? asan : "", asan ? ":" : "");
	setenv("ASAN_OPTIONS", options, 1);
	execl(path, path, "--socket", SOCKET, "--realm-socket",
		SANDBOX_SOCKET ":" SANDBOX_REALM, "--screenshot", c->shot,
		"--output", OUTPUT_SIZE, (char *)NULL);
	fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

static void
compositor_start(struct compositor *c)
{
	const char *path = getenv("PXC_WLROOTS");
	int log_fd;

	if (path == NULL) {
		test_skip("PXC_WLROOTS does not name the compositor");
	}
	strcpy(c->dir, "/tmp/pixcache-wlr-XXXXXX");
	assert(mkdtemp(c->dir) != NULL);
	snprintf(c->log, sizeof(c->log), "%s/log", c->dir);
	snprintf(c->shot, sizeof(c->shot), "%s/shot.png", c->dir);
	/* The clients of this test find the sockets there. */
	assert(setenv("XDG_RUNTIME_DIR", c->dir, 1) == 0);
	unsetenv("WAYLAND_DISPLAY");
	unsetenv("PIXCACHE_SOCKET");
	log_fd = open(c->log, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert(log_fd >= 0);
	c->pid = test_fork();
	if (c->pid == 0) {
		exec_compositor(path, c, log_fd);
	}
	close(log_fd);
	compositor_wait_log(c, "pixcache-wlroots: ready on " SOCKET
		", renderer pixman", 1);
}

static void
remove_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;

	assert(dir != NULL);
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 &&
				strcmp(e->d_name, "..") != 0) {
			assert(unlinkat(dirfd(dir), e->d_name, 0) == 0);
		}
	}
	closedir(dir);
	assert(rmdir(path) == 0);
}

static bool
exists(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* The log of the compositor compositor_stop() stopped last. */
static char stopped_log[1 << 16];

/*
 * Stops it with signal_number: it must exit 0 (LeakSanitizer makes it
 * fail otherwise) with no sanitizer report, its sockets gone.
 */
static void
compositor_stop(struct compositor *c, int signal_number)
{
	char *log = stopped_log;
	int status;

	assert(kill(c->pid, signal_number) == 0);
	assert(waitpid(c->pid, &status, 0) == c->pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		compositor_fail(c, "the compositor did not exit 0");
	}
	slurp(c->log, log, sizeof(stopped_log));
	if (strstr(log, "Sanitizer") != NULL) {
		compositor_fail(c, "a sanitizer reported");
	}
	if (strstr(log, "pixcache-wlroots: stopping: ") == NULL ||
			exists(c->dir, SOCKET) ||
			exists(c->dir, SANDBOX_SOCKET) ||
			exists(c->dir, SANDBOX_SOCKET ".lock")) {
		compositor_fail(c, "no last word, or a socket left behind");
	}
	remove_dir(c->dir);
}

/* ---- a client of the compositor, on the wire ---- */

struct conn {
	struct wl_display *display;
	struct wl_registry *registry;
	struct wl_compositor *compositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	struct pixcache_manager_v1 *manager;
};

static void
wm_base_ping(void *data, struct xdg_wm_base *wm_base, uint32_t serial)
{
	xdg_wm_base_pong(wm_base, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {
	.ping = wm_base_ping,
};

static void
global(void *data, struct wl_registry *registry, uint32_t name,
	const char *interface, uint32_t version)
{
	struct conn *c = data;

	if (strcmp(interface, wl_compositor_interface.name) == 0) {
		c->compositor = wl_registry_bind(registry, name,
			&wl_compositor_interface, 4);
	} else if (strcmp(interface, wl_shm_interface.name) == 0) {
		c->shm = wl_registry_bind(registry, name, &wl_shm_interface, 1);
	} else if (strcmp(interface, xdg_wm_base_interface.name) == 0) {
		c->wm_base = wl_registry_bind(registry, name,
			&xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(c->wm_base, &wm_base_listener, c);
	} else if (strcmp(interface,
			pixcache_manager_v1_interface.name) == 0) {
		c->manager = wl_registry_bind(registry, name,
			&pixcache_manager_v1_interface, 1);
	}
}

static void
global_remove(void *data, struct wl_registry *registry, uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
	global, global_remove,
};

static void
conn_open(struct conn *c, const char *socket)
{
	*c = (struct conn){ wl_display_connect(socket) };
	assert(c->display != NULL);
	c->registry = wl_display_get_registry(c->display);
	wl_registry_add_listener(c->registry, &registry_listener, c);
	assert(wl_display_roundtrip(c->display) >= 0);
	assert(c->compositor && c->shm && c->wm_base && c->manager);
}

/* Proxies are the client's memory, even on a dead connection. */
static void
conn_close(struct conn *c)
{
	pixcache_manager_v1_destroy(c->manager);
	xdg_wm_base_destroy(c->wm_base);
	wl_shm_destroy(c->shm);
	wl_compositor_destroy(c->compositor);
	wl_registry_destroy(c->registry);
	wl_display_disconnect(c->display);
}

/* Whether the connection died of exactly this error, on proxy. */
static bool
died_of(struct conn *c, const struct wl_interface *interface, void *proxy,
	uint32_t code)
{
	const struct wl_interface *got = NULL;
	uint32_t id = wl_proxy_get_id(proxy), got_id = 0, got_code;

	wl_display_roundtrip(c->display);
	if (wl_display_get_error(c->display) != EPROTO) {
		fprintf(stderr, "expected %s@%u error %u, got %s\n",
			interface->name, id, code,
			strerror(wl_display_get_error(c->display)));
		return false;
	}
	got_code = wl_display_get_protocol_error(c->display, &got, &got_id);
	if (got != interface || got_id != id || got_code != code) {
		fprintf(stderr, "expected %s@%u error %u, got %s@%u error %u\n",
			interface->name, id, code,
			got ? got->name : "(none)", got_id, got_code);
		return false;
	}
	return true;
}

/* ---- a window ---- */

struct window {
	struct conn *conn;
	struct wl_surface *surface;
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	struct wl_buffer *buffer;
	uint32_t serial;
	bool configured, shown;
};

static void
surface_configure(void *data, struct xdg_surface *xdg_surface,
	uint32_t serial)
{
	struct window *w = data;

	w->serial = serial;
	w->configured = true;
}

static const struct xdg_surface_listener surface_listener = {
	.configure = surface_configure,
};

static void
toplevel_configure(void *data, struct xdg_toplevel *toplevel, int32_t width,
	int32_t height, struct wl_array *states)
{
}

static void
toplevel_close(void *data, struct xdg_toplevel *toplevel)
{
}

static const struct xdg_toplevel_listener toplevel_listener = {
	.configure = toplevel_configure,
	.close = toplevel_close,
};

/* A toplevel, its first commit sent (without a buffer). */
static void
window_create(struct window *w, struct conn *conn, const char *app_id)
{
	*w = (struct window){ .conn = conn };
	w->surface = wl_compositor_create_surface(conn->compositor);
	w->xdg_surface = xdg_wm_base_get_xdg_surface(conn->wm_base,
		w->surface);
	xdg_surface_add_listener(w->xdg_surface, &surface_listener, w);
	w->toplevel = xdg_surface_get_toplevel(w->xdg_surface);
	xdg_toplevel_add_listener(w->toplevel, &toplevel_listener, w);
	xdg_toplevel_set_app_id(w->toplevel, app_id);
	wl_surface_commit(w->surface);
}

/* A wl_shm buffer holding image (a8r8g8b8, premultiplied). */
static struct wl_buffer *
shm_buffer(struct conn *conn, pixman_image_t *image)
{
	struct wl_buffer *buffer = pxt_shm_buffer(conn->shm, image);

	assert(buffer != NULL);
	return buffer;
}

static void
frame_done(void *data, struct wl_callback *callback, uint32_t time)
{
	struct window *w = data;

	wl_callback_destroy(callback);
	w->shown = true;
}

static const struct wl_callback_listener frame_listener = {
	.done = frame_done,
};

/* Shows image once configured; returns when a frame with it was shown. */
static void
window_show(struct window *w, pixman_image_t *image)
{
	struct wl_callback *frame;

	while (!w->configured) {
		assert(wl_display_dispatch(w->conn->display) >= 0);
	}
	xdg_surface_ack_configure(w->xdg_surface, w->serial);
	w->buffer = shm_buffer(w->conn, image);
	wl_surface_attach(w->surface, w->buffer, 0, 0);
	wl_surface_damage_buffer(w->surface, 0, 0, INT32_MAX, INT32_MAX);
	frame = wl_surface_frame(w->surface);
	wl_callback_add_listener(frame, &frame_listener, w);
	wl_surface_commit(w->surface);
	while (!w->shown) {
		assert(wl_display_dispatch(w->conn->display) >= 0);
	}
}

static void
window_destroy(struct window *w)
{
	xdg_toplevel_destroy(w->toplevel);
	xdg_surface_destroy(w->xdg_surface);
	wl_surface_destroy(w->surface);
	if (w->buffer != NULL) {
		wl_buffer_destroy(w->buffer);
	}
}

/* ---- pixels ---- */

/* An opaque pattern no two nearby pixels share. */
static uint32_t
pattern(int x, int y, uint32_t seed)
{
	return 0xff000000u | ((uint32_t)(x * 7 + y * 3 + seed) & 0xff) << 16 |
		((uint32_t)(x * 5 + seed) & 0xff) << 8 |
		((uint32_t)(y * 11 + seed) & 0xff);
}

static pixman_image_t *
pattern_image(int width, int height, uint32_t seed)
{
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		width, height, NULL, 0);
	uint32_t *p = pixman_image_get_data(image);
	int words = pixman_image_get_stride(image) / 4;

	for (int y = 0; y < height; y++) {
		for (int x = 0; x < width; x++) {
			p[y * words + x] = pattern(x, y, seed);
		}
	}
	return image;
}

/* Whether the pixmap holds pattern(seed), row by row at its stride. */
static bool
is_pattern(struct pixcache_pixmap *pixmap, uint32_t seed)
{
	const uint8_t *data = pixcache_pixmap_get_data(pixmap);
	uint32_t stride = pixcache_pixmap_get_stride(pixmap);

	for (uint32_t y = 0; y < pixcache_pixmap_get_height(pixmap); y++) {
		const uint32_t *row = (const uint32_t *)(data + y * stride);

		for (uint32_t x = 0; x < pixcache_pixmap_get_width(pixmap);
				x++) {
			if (row[x] != pattern((int)x, (int)y, seed)) {
				return false;
			}
		}
	}
	return true;
}

/* A well-behaved client stores a name and finds it, as before. */
static void
assert_served(const char *name, uint32_t seed)
{
	struct pixcache_client *client = pixcache_client_connect(SOCKET, NULL);
	pixman_image_t *image = pattern_image(16, 16, seed);
	struct pixcache_pixmap *pixmap = NULL;

	assert(client != NULL);
	assert(pixcache_client_put(client, "default", name, image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	pixcache_client_destroy(client);
	client = pixcache_client_connect(SOCKET, NULL);
	assert(client != NULL);
	assert(pixcache_client_find(client, "default", name, &pixmap) == 0);
	assert(is_pattern(pixmap, seed));
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
	pixman_image_unref(image);
}

/* ---- the tests ---- */

TEST(two_clients_share_an_icon_through_the_compositor)
{
	const char *name = "icon/test/shared/48@1";
	struct pixcache_pixmap *pixmap = NULL;
	struct pixcache_client *b;
	struct pixcache_key key;
	struct compositor c;
	char from_a[64] = "", from_b[64];
	int ready[2], status;
	pid_t a;

	compositor_start(&c);
	assert(pipe2(ready, O_CLOEXEC) == 0);
	a = test_fork();
	if (a == 0) {
		/* Client A: decodes (makes) the icon and uploads it. */
		struct pixcache_client *client =
			pixcache_client_connect(SOCKET, NULL);
		pixman_image_t *image = pattern_image(48, 48, 1);
		char token[64];

		assert(client != NULL);
		assert(pixcache_client_put(client, "default", name, image,
			DRM_FORMAT_ARGB8888, 0, &key) == 0);
		pixcache_key_format(&key, token, sizeof(token));
		assert(write(ready[1], token, strlen(token)) ==
			(ssize_t)strlen(token));
		pixcache_client_destroy(client);
		pixman_image_unref(image);
		exit(0);
	}
	close(ready[1]);
	assert(read(ready[0], from_a, sizeof(from_a) - 1) > 0);
	close(ready[0]);
	assert(waitpid(a, &status, 0) == a && WIFEXITED(status) &&
		WEXITSTATUS(status) == 0);

	/* Client B, another process and connection: the same pixmap. */
	b = pixcache_client_connect(SOCKET, NULL);
	assert(b != NULL);
	assert(pixcache_client_find(b, "default", name, &pixmap) == 0);
	pixcache_pixmap_get_key(pixmap, &key);
	pixcache_key_format(&key, from_b, sizeof(from_b));
	assert(strcmp(from_a, from_b) == 0);
	assert(pixcache_pixmap_get_width(pixmap) == 48);
	assert(is_pattern(pixmap, 1));
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(b);
	compositor_stop(&c, SIGTERM);
}

TEST(a_client_of_the_sandbox_socket_writes_its_realm_and_only_reads_default)
{
	struct pixcache_client *desktop, *sandbox;
	pixman_image_t *image = pattern_image(8, 8, 2);
	struct pixcache_pixmap *pixmap = NULL;
	struct compositor c;

	compositor_start(&c);
	desktop = pixcache_client_connect(SOCKET, NULL);
	sandbox = pixcache_client_connect(SANDBOX_SOCKET, NULL);
	assert(desktop != NULL && sandbox != NULL);
	assert(pixcache_client_put(desktop, "default", "shared", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);

	assert(pixcache_client_find(sandbox, "default", "shared",
		&pixmap) == 0);
	assert(is_pattern(pixmap, 2));
	pixcache_pixmap_unref(pixmap);
	assert(pixcache_client_put(sandbox, "default", "poison", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == -EACCES);
	assert(pixcache_client_put(sandbox, SANDBOX_REALM, "own", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);

	/* The desktop's clients have no business in the sandbox's realm. */
	assert(pixcache_client_find(desktop, SANDBOX_REALM, "own",
		&pixmap) == -EACCES);
	compositor_wait_log(&c, "deny client 1 realm \"" SANDBOX_REALM "\"",
		1);
	pixcache_client_destroy(sandbox);
	pixcache_client_destroy(desktop);
	pixman_image_unref(image);
	compositor_stop(&c, SIGTERM);
}

TEST(a_pipe_as_a_staging_buffer_is_bad_stage_and_others_are_served)
{
	struct pixcache_staging_v1 *staging;
	struct pixcache_batch_v1 *batch;
	struct compositor c;
	struct conn conn;
	int pipe_fds[2];

	compositor_start(&c);
	conn_open(&conn, SOCKET);
	assert(pipe2(pipe_fds, O_CLOEXEC) == 0);
	batch = pixcache_manager_v1_create_batch(conn.manager);
	staging = pixcache_batch_v1_stage(batch, pipe_fds[0], 4096);
	assert(died_of(&conn, &pixcache_batch_v1_interface, batch,
		PIXCACHE_BATCH_V1_ERROR_BAD_STAGE));
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	pixcache_staging_v1_destroy(staging);
	pixcache_batch_v1_destroy(batch);
	conn_close(&conn);

	assert(compositor_alive(&c));
	assert_served("after/bad-stage", 3);
	compositor_stop(&c, SIGTERM);
}

/*
 * A client that attaches a buffer before its window was ever configured
 * breaks xdg-shell: wlroots disconnects it, and the manager frees the
 * lease it held through the library on the same connection.
 */
TEST(a_client_breaking_xdg_shell_is_disconnected_and_loses_its_leases)
{
	pixman_image_t *image = pattern_image(32, 32, 4);
	struct pixcache_client_stats stats;
	struct pixcache_pixmap *pixmap = NULL;
	struct pixcache_client *cache, *other;
	struct compositor c;
	struct window w;
	struct conn conn;

	compositor_start(&c);
	conn_open(&conn, SOCKET);
	cache = pixcache_client_create(conn.display, NULL);
	assert(cache != NULL);
	assert(pixcache_client_put(cache, "default", "held", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	assert(pixcache_client_find(cache, "default", "held", &pixmap) == 0);
	/* Out of the index, its bytes are held by this lease alone. */
	assert(pixcache_client_remove(cache, "default", "held") == 0);
	other = pixcache_client_connect(SOCKET, NULL);
	assert(other != NULL);
	assert(pixcache_client_get_stats(other, &stats) == 0);
	if (stats.clients != 2 || stats.leased_bytes == 0) {
		test_fail("%" PRIu64 " clients, %" PRIu64 " bytes leased",
			stats.clients, stats.leased_bytes);
	}

	window_create(&w, &conn, "org.pixcache.Hostile");
	w.buffer = shm_buffer(&conn, image);
	wl_surface_attach(w.surface, w.buffer, 0, 0);
	wl_surface_commit(w.surface);
	assert(died_of(&conn, &xdg_surface_interface, w.xdg_surface,
		XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER));

	/* What it holds keeps its bytes; the manager holds nothing of it. */
	assert(is_pattern(pixmap, 4));
	assert(compositor_alive(&c));
	assert(pixcache_client_get_stats(other, &stats) == 0);
	if (stats.clients != 1 || stats.leased_bytes != 0) {
		test_fail("after: %" PRIu64 " clients, %" PRIu64 " bytes leased",
			stats.clients, stats.leased_bytes);
	}
	assert_served("after/xdg-shell", 5);

	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(other);
	pixcache_client_destroy(cache);
	window_destroy(&w);
	conn_close(&conn);
	pixman_image_unref(image);
	compositor_stop(&c, SIGTERM);
}

/* Maps a window, claims a name it never uploads, and waits to be killed. */
static void
claim_and_wait(int ready)
{
	pixman_image_t *image = pattern_image(24, 24, 6);
	struct pixcache_pixmap *pixmap = NULL;
	struct pixcache_client *cache;
	struct window w;
	struct conn conn;

	conn_open(&conn, SOCKET);
	cache = pixcache_client_create(conn.display, NULL);
	assert(cache != NULL);
	assert(pixcache_client_find(cache, "default", "claimed",
		&pixmap) == -ENOENT);
	window_create(&w, &conn, "org.pixcache.Killed");
	window_show(&w, image);
	assert(write(ready, "y", 1) == 1);
	pause();
	_exit(1);
}

TEST(a_client_killed_with_a_window_and_a_claim_is_cleaned_up)
{
	struct pixcache_pixmap *pixmap = NULL;
	struct pixcache_client *other;
	struct compositor c;
	int ready[2], status;
	char byte;
	pid_t pid;

	compositor_start(&c);
	assert(pipe2(ready, O_CLOEXEC) == 0);
	pid = test_fork();
	if (pid == 0) {
		close(ready[0]);
		claim_and_wait(ready[1]);
	}
	close(ready[1]);
	assert(read(ready[0], &byte, 1) == 1);
	close(ready[0]);
	compositor_wait_log(&c, "app_id \"org.pixcache.Killed\"", 1);
	kill(pid, SIGKILL);
	assert(waitpid(pid, &status, 0) == pid);
	compositor_wait_log(&c, "unmap toplevel 1", 1);
	compositor_wait_log(&c, "disconnect client 1 ", 1);

	/* The claim went with it: the next lookup claims the name at once
	 * instead of waiting out the manager's upload timeout. */
	other = pixcache_client_connect(SOCKET, NULL);
	assert(other != NULL);
	assert(pixcache_client_find(other, "default", "claimed",
		&pixmap) == -ENOENT);
	assert(pixcache_client_abandon(other, "default", "claimed") == 0);
	pixcache_client_destroy(other);
	assert_served("after/killed", 7);
	compositor_stop(&c, SIGTERM);
}

/* "map toplevel N app_id \"APP\" at X,Y size WxH" */
static void
find_window(struct compositor *c, const char *app_id, int *x, int *y,
	int *width, int *height)
{
	static char log[1 << 16];
	char needle[128];
	const char *p;

	slurp(c->log, log, sizeof(log));
	snprintf(needle, sizeof(needle), "app_id \"%s\" at ", app_id);
	p = strstr(log, needle);
	assert(p != NULL);
	assert(sscanf(p + strlen(needle), "%d,%d size %dx%d", x, y, width,
		height) == 4);
}

/* What the test's window should show: a background, the icon at 8,8. */
static uint32_t
expected_pixel(int x, int y)
{
	if (x >= 8 && x < 8 + 32 && y >= 8 && y < 8 + 32) {
		return pattern(x - 8, y - 8, 8);
	}
	return 0xff305070u;
}

TEST(a_window_drawn_from_the_cache_shows_on_the_output_pixel_for_pixel)
{
	pixman_image_t *icon = pattern_image(32, 32, 8), *content, *cached;
	pixman_image_t *shot;
	struct pixcache_pixmap *pixmap = NULL;
	struct pixcache_client *cache;
	int x, y, width, height, wrong = 0;
	struct compositor c;
	const uint32_t *p;
	struct window w;
	struct conn conn;
	char error[256];

	compositor_start(&c);
	conn_open(&conn, SOCKET);
	cache = pixcache_client_create(conn.display, NULL);
	assert(cache != NULL);
	assert(pixcache_client_put(cache, "default", "icon/test/drawn/32@1",
		icon, DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	assert(pixcache_client_find(cache, "default", "icon/test/drawn/32@1",
		&pixmap) == 0);

	/* Drawn as a toolkit draws a cached icon into its own buffer. */
	content = pixman_image_create_bits(PIXMAN_a8r8g8b8, 64, 48, NULL, 0);
	pxt_fill(content, 0xff305070u, 0, 0, 64, 48);
	cached = pixcache_pixmap_create_pixman(pixmap);
	assert(cached != NULL);
	pixman_image_composite32(PIXMAN_OP_OVER, cached, NULL, content, 0, 0,
		0, 0, 8, 8, 32, 32);
	pixman_image_unref(cached);
	window_create(&w, &conn, "org.pixcache.Drawn");
	window_show(&w, content);

	assert(kill(c.pid, SIGUSR1) == 0);
	compositor_wait_log(&c, "screenshot of HEADLESS-1 written", 1);
	shot = pxt_image_load(c.shot, error, sizeof(error));
	assert(shot != NULL);
	assert(pixman_image_get_width(shot) == OUTPUT_WIDTH &&
		pixman_image_get_height(shot) == OUTPUT_HEIGHT);
	find_window(&c, "org.pixcache.Drawn", &x, &y, &width, &height);
	assert(width == 64 && height == 48);
	assert(x + width <= OUTPUT_WIDTH && y + height <= OUTPUT_HEIGHT);
	p = pixman_image_get_data(shot);
	for (int j = 0; j < height; j++) {
		for (int i = 0; i < width; i++) {
			wrong += p[(y + j) * OUTPUT_WIDTH + x + i] !=
				expected_pixel(i, j);
		}
	}
	/* Around the window: the compositor's black. */
	assert(p[0] == 0xff000000u);
	assert(p[(y + height) * OUTPUT_WIDTH + x + width] == 0xff000000u);
	if (wrong != 0) {
		test_fail("%d of %d pixels differ", wrong, width * height);
	}

	pixman_image_unref(shot);
	pixman_image_unref(content);
	pixman_image_unref(icon);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(cache);
	window_destroy(&w);
	conn_close(&conn);
	compositor_stop(&c, SIGTERM);
}

/*
 * SIGINT with clients connected: one with a window and a lease, one of
 * the sandbox's socket. Each is disconnected; the manager goes first
 * (the compositor exits 0 and LeakSanitizer is quiet).
 */
TEST(sigint_stops_it_cleanly_with_clients_connected)
{
	pixman_image_t *image = pattern_image(16, 16, 9);
	struct pixcache_pixmap *pixmap = NULL, *shared = NULL;
	struct pixcache_client *cache, *sandbox;
	const char *stopping;
	struct compositor c;
	struct window w;
	struct conn conn;

	compositor_start(&c);
	conn_open(&conn, SOCKET);
	cache = pixcache_client_create(conn.display, NULL);
	assert(cache != NULL);
	assert(pixcache_client_put(cache, "default", "kept", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	assert(pixcache_client_find(cache, "default", "kept", &pixmap) == 0);
	window_create(&w, &conn, "org.pixcache.Stopped");
	window_show(&w, image);
	sandbox = pixcache_client_connect(SANDBOX_SOCKET, NULL);
	assert(sandbox != NULL);
	assert(pixcache_client_find(sandbox, "default", "kept",
		&shared) == 0);

	compositor_stop(&c, SIGINT);
	stopping = strstr(stopped_log, "stopping: 2 clients");
	assert(stopping != NULL);
	assert(strstr(stopping, "disconnect client 1 ") != NULL);
	assert(strstr(stopping, "disconnect client 2 ") != NULL);
	/* The window's client saw its connection end; what both hold kept
	 * its bytes. */
	assert(wl_display_roundtrip(conn.display) < 0);
	assert(is_pattern(pixmap, 9) && is_pattern(shared, 9));

	pixcache_pixmap_unref(shared);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(sandbox);
	pixcache_client_destroy(cache);
	window_destroy(&w);
	conn_close(&conn);
	pixman_image_unref(image);
}
