#define _GNU_SOURCE
#include <assert.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "client-harness.h"

struct ch_server {
	struct wl_display *display;
	struct wl_event_loop *loop;
	struct pixcache_manager *manager;
	char socket[64];
	pthread_t thread;
	int call_fd;			/* wakes the loop for a call */
	struct wl_event_source *call_source;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	void (*call)(struct pixcache_manager *manager, void *data);
	void *call_data;
	bool call_done;
	bool stopping;
	bool paused;
};

void
ch_config(struct pixcache_config *config)
{
	pixcache_config_init(config);
	config->budget = 64 << 20;
	config->table_capacity = 1024;
	config->max_connections_per_uid = 64;
}

/*
 * A runtime directory for the tests' sockets, whatever the environment
 * has: names carry the pid, so tests running at once never meet.
 */
static void
private_runtime_dir(void)
{
	char dir[64];
	struct stat st;

	snprintf(dir, sizeof(dir), "/tmp/pixcache-test-%u",
		(unsigned)getuid());
	if (mkdir(dir, 0700) < 0) {
		assert(errno == EEXIST);
	}
	assert(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
		st.st_uid == getuid());
	assert(setenv("XDG_RUNTIME_DIR", dir, 1) == 0);
}

static int
on_call(int fd, uint32_t mask, void *data)
{
	struct ch_server *server = data;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0) {
		/* Non-blocking and woken: nothing to do if empty. */
	}
	pthread_mutex_lock(&server->lock);
	if (server->call != NULL) {
		server->call(server->manager, server->call_data);
		server->call = NULL;
		server->call_done = true;
		pthread_cond_broadcast(&server->cond);
	}
	/* A pause holds the loop here, answering nothing. */
	while (server->paused && !server->stopping) {
		pthread_cond_wait(&server->cond, &server->lock);
	}
	pthread_mutex_unlock(&server->lock);
	return 0;
}

static void *
serve(void *data)
{
	struct ch_server *server = data;

	for (;;) {
		pthread_mutex_lock(&server->lock);
		if (server->stopping) {
			pthread_mutex_unlock(&server->lock);
			break;
		}
		pthread_mutex_unlock(&server->lock);
		wl_display_flush_clients(server->display);
		wl_event_loop_dispatch(server->loop, -1);
	}
	return NULL;
}

static struct ch_server *
start(const struct pixcache_config *config,
	const struct pixcache_policy *policy, const char *socket, bool bare)
{
	struct ch_server *server = calloc(1, sizeof(*server));
	struct pixcache_config defaults;
	static int count;

	assert(server != NULL);
	private_runtime_dir();
	if (config == NULL) {
		ch_config(&defaults);
		config = &defaults;
	}
	if (socket != NULL) {
		snprintf(server->socket, sizeof(server->socket), "%s", socket);
	} else {
		snprintf(server->socket, sizeof(server->socket),
			"pxc-test-%d-%d", getpid(), count++);
	}
	pthread_mutex_init(&server->lock, NULL);
	pthread_cond_init(&server->cond, NULL);
	server->display = wl_display_create();
	assert(server->display != NULL);
	server->loop = wl_display_get_event_loop(server->display);
	assert(wl_display_add_socket(server->display, server->socket) == 0);
	if (!bare) {
		server->manager = pixcache_manager_create(server->display,
			config, policy);
		assert(server->manager != NULL);
	}
	server->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert(server->call_fd >= 0);
	server->call_source = wl_event_loop_add_fd(server->loop,
		server->call_fd, WL_EVENT_READABLE, on_call, server);
	assert(server->call_source != NULL);
	assert(pthread_create(&server->thread, NULL, serve, server) == 0);
	return server;
}

struct ch_server *
ch_server_start(const struct pixcache_config *config,
	const struct pixcache_policy *policy, const char *socket)
{
	return start(config, policy, socket, false);
}

struct ch_server *
ch_server_start_bare(const char *socket)
{
	return start(NULL, NULL, socket, true);
}

static void
wake(struct ch_server *server)
{
	uint64_t one = 1;

	assert(write(server->call_fd, &one, sizeof(one)) == sizeof(one));
}

void
ch_server_stop(struct ch_server *server)
{
	pthread_mutex_lock(&server->lock);
	server->stopping = true;
	pthread_cond_broadcast(&server->cond);
	pthread_mutex_unlock(&server->lock);
	wake(server);
	assert(pthread_join(server->thread, NULL) == 0);
	wl_event_source_remove(server->call_source);
	close(server->call_fd);
	/* Destroys the manager with it. */
	wl_display_destroy_clients(server->display);
	wl_display_destroy(server->display);
	pthread_cond_destroy(&server->cond);
	pthread_mutex_destroy(&server->lock);
	free(server);
}

static void
kill_clients(struct pixcache_manager *manager, void *data)
{
	struct wl_list *clients = wl_display_get_client_list(data);

	while (!wl_list_empty(clients)) {
		wl_client_destroy(wl_client_from_link(clients->next));
	}
}

void
ch_server_kill_clients(struct ch_server *server)
{
	ch_server_call(server, kill_clients, server->display);
}

const char *
ch_server_socket(const struct ch_server *server)
{
	return server->socket;
}

void
ch_server_call(struct ch_server *server,
	void (*fn)(struct pixcache_manager *manager, void *data), void *data)
{
	pthread_mutex_lock(&server->lock);
	assert(server->call == NULL && !server->paused);
	server->call = fn;
	server->call_data = data;
	server->call_done = false;
	pthread_mutex_unlock(&server->lock);
	wake(server);
	pthread_mutex_lock(&server->lock);
	while (!server->call_done) {
		pthread_cond_wait(&server->cond, &server->lock);
	}
	pthread_mutex_unlock(&server->lock);
}

static void
get_stats(struct pixcache_manager *manager, void *data)
{
	pixcache_manager_get_stats(manager, data);
}

void
ch_server_stats(struct ch_server *server, struct pixcache_stats *stats)
{
	ch_server_call(server, get_stats, stats);
}

struct remove_call {
	const char *realm, *name;
	int result;
};

static void
do_remove(struct pixcache_manager *manager, void *data)
{
	struct remove_call *call = data;

	call->result = pixcache_manager_remove(manager, call->realm,
		call->name);
}

int
ch_server_remove(struct ch_server *server, const char *realm,
	const char *name)
{
	struct remove_call call = { realm, name, 0 };

	ch_server_call(server, do_remove, &call);
	return call.result;
}

struct drm_call {
	int fd;
	int result;
};

static void
do_set_drm_device(struct pixcache_manager *manager, void *data)
{
	struct drm_call *call = data;

	call->result = pixcache_manager_set_drm_device(manager, call->fd);
}

int
ch_server_set_drm_device(struct ch_server *server, int fd)
{
	struct drm_call call = { fd, 0 };

	ch_server_call(server, do_set_drm_device, &call);
	return call.result;
}

void
ch_server_pause(struct ch_server *server)
{
	pthread_mutex_lock(&server->lock);
	server->paused = true;
	pthread_mutex_unlock(&server->lock);
	wake(server);
}

void
ch_server_resume(struct ch_server *server)
{
	pthread_mutex_lock(&server->lock);
	server->paused = false;
	pthread_cond_broadcast(&server->cond);
	pthread_mutex_unlock(&server->lock);
}

struct pixcache_client *
ch_connect(struct ch_server *server)
{
	struct pixcache_client_options options;
	struct pixcache_client *client;

	pixcache_client_options_init(&options);
	options.timeout_ms = 5000;
	client = pixcache_client_connect(server->socket, &options);
	assert(client != NULL);
	return client;
}

static uint32_t
pixel(uint32_t seed, uint32_t x, uint32_t y)
{
	uint32_t v = seed * 2654435761u ^ (x * 40503u + y * 65599u);

	/* Opaque, so premultiplied and straight alpha agree. */
	return 0xff000000u | (v & 0xffffffu);
}

pixman_image_t *
ch_image(uint32_t width, uint32_t height, uint32_t seed)
{
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		(int)width, (int)height, NULL, 0);
	uint32_t *bits = pixman_image_get_data(image);
	int stride = pixman_image_get_stride(image) / 4;

	assert(image != NULL);
	for (uint32_t y = 0; y < height; y++) {
		for (uint32_t x = 0; x < width; x++) {
			bits[y * (uint32_t)stride + x] = pixel(seed, x, y);
		}
	}
	return image;
}

bool
ch_has_pattern(const struct pixcache_pixmap *pixmap, uint32_t seed)
{
	const uint8_t *data = pixcache_pixmap_get_data(pixmap);
	uint32_t stride = pixcache_pixmap_get_stride(pixmap);

	if (pixcache_pixmap_get_format(pixmap) != DRM_FORMAT_ARGB8888) {
		return false;
	}
	for (uint32_t y = 0; y < pixcache_pixmap_get_height(pixmap); y++) {
		const uint32_t *row = (const uint32_t *)(data + y * stride);

		for (uint32_t x = 0; x < pixcache_pixmap_get_width(pixmap);
				x++) {
			if (row[x] != pixel(seed, x, y)) {
				return false;
			}
		}
	}
	return true;
}

uint64_t
ch_checksum(const struct pixcache_pixmap *pixmap)
{
	const uint8_t *data = pixcache_pixmap_get_data(pixmap);
	uint32_t stride = pixcache_pixmap_get_stride(pixmap);
	uint32_t row_bytes = pixcache_pixmap_get_width(pixmap) * 4;
	uint64_t sum = 1469598103934665603u;

	for (uint32_t y = 0; y < pixcache_pixmap_get_height(pixmap); y++) {
		for (uint32_t i = 0; i < row_bytes; i++) {
			sum = (sum ^ data[y * stride + i]) * 1099511628211u;
		}
	}
	return sum;
}
