#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client-private.h"
#include "wire.h"

void
pixcache_client_options_init(struct pixcache_client_options *options)
{
	*options = (struct pixcache_client_options){
		.local_entries = 1024,
		.max_outstanding = 256,
		.timeout_ms = 5000,
	};
}

/* ---- the manager ---- */

static void
manager_instance(void *data, struct pixcache_manager_v1 *manager,
	uint32_t hi, uint32_t lo)
{
	struct pixcache_client *client = data;

	client->instance = pxc_wire_join(hi, lo);
	pthread_cond_broadcast(&client->cond);
}

static void
manager_format(void *data, struct pixcache_manager_v1 *manager,
	uint32_t format)
{
	/* Formats are checked against the library's own table (format.c). */
}

static void
manager_limits(void *data, struct pixcache_manager_v1 *manager, uint32_t w,
	uint32_t h, uint32_t bytes, uint32_t uploads, uint32_t leases,
	uint32_t fds)
{
	struct pixcache_client *client = data;

	/* Keep the local map within the leases the manager allows. */
	if (client->options.local_entries > leases / 2) {
		client->options.local_entries = leases / 2;
	}
}

static void
manager_refused(void *data, struct pixcache_manager_v1 *manager,
	uint32_t reason)
{
	struct pixcache_client *client = data;

	client->refusal = reason;
	pthread_cond_broadcast(&client->cond);
}

/* Kept even if the answer it came for was given up: later ones use it. */
static void
manager_pool(void *data, struct pixcache_manager_v1 *manager,
	struct pixcache_pool_v1 *proxy, int fd, uint32_t size, uint32_t number)
{
	struct pixcache_client *client = data;

	if (pxcl_pool_create(client, proxy, fd, size, number) == NULL) {
		pixcache_pool_v1_destroy(proxy);
	}
}

/* The manager's user data is the client, which outlives it: a listener. */
static const struct pixcache_manager_v1_listener manager_listener = {
	.instance = manager_instance,
	.format = manager_format,
	.limits = manager_limits,
	.refused = manager_refused,
	.pool = manager_pool,
};

/*
 * Forgets every object of the manager; what callers hold stays valid and
 * keeps its bytes. Only pxcl_settle() and pixcache_client_destroy() call
 * it: nothing above them on the stack points into what it frees.
 */
static void
drop_manager_state(struct pixcache_client *client)
{
	struct pxcl_realm *realm, *tmp_realm;
	struct pxcl_pool *pool, *tmp_pool;

	pxcl_requests_fail_all(client, -ECONNRESET);
	pxcl_claims_clear(client);
	pxcl_names_clear(client);
	pxcl_pixmaps_detach(client);
	/* Last: what went above queued releases for the session gone. */
	pxcl_finds_forget(client);
	wl_list_for_each_safe(pool, tmp_pool, &client->pools, link) {
		pxcl_pool_forget(pool);
	}
	wl_list_for_each_safe(realm, tmp_realm, &client->realms, link) {
		pxcl_realm_destroy(realm);
	}
	if (client->batch != NULL) {
		pxcl_proxy_release(client, (struct wl_proxy *)client->batch);
		client->batch = NULL;
	}
	if (client->manager != NULL) {
		pxcl_proxy_release(client, (struct wl_proxy *)client->manager);
		client->manager = NULL;
	}
	client->manager_name = 0;
	client->instance = 0;
	client->refusal = 0;
	client->nusage = 0;
	client->queued = 0;
	client->done_serial = client->serial;
	client->last_realm = NULL;
	pthread_cond_broadcast(&client->cond);
}

void
pxcl_connection_broke(struct pixcache_client *client)
{
	if (client->broken) {
		return;
	}
	/* Only noted: whoever noticed may be deep in a loop over what the
	 * teardown frees. pxcl_settle() tears down when no call is left. */
	client->broken = true;
	client->stale = true;
	/* A local failure (libwayland out of memory) leaves the socket up:
	 * shut a connection of our own, so that the library's thread, in
	 * poll() on it, wakes and the reconnect need not wait for it. */
	if (client->own_display && client->display != NULL) {
		shutdown(wl_display_get_fd(client->display), SHUT_RDWR);
	}
	pthread_cond_broadcast(&client->cond);
}

int
pxcl_lost(const struct pixcache_client *client)
{
	return client->stale || client->broken ? -ECONNRESET : 0;
}

void
pxcl_settle(struct pixcache_client *client)
{
	if (!client->stale || client->calls > 0) {
		return;
	}
	while (client->stale) {
		client->stale = false;
		drop_manager_state(client);
	}
	/* The library's thread calls back what the teardown failed. */
	pthread_cond_broadcast(&client->cond);
}

void
pxcl_last_call_left(struct pixcache_client *client)
{
	pxcl_settle(client);
	if (client->closing) {
		pthread_cond_broadcast(&client->cond);
	}
}

/* ---- the registry ---- */

/*
 * Registry events only record what they tell: the manager is bound by the
 * next call that needs it, and a manager that went is let go by
 * pxcl_settle(), never from inside a dispatch.
 */
static void
registry_global(void *data, struct wl_registry *registry, uint32_t name,
	const char *interface, uint32_t version)
{
	struct pixcache_client *client = data;

	if (strcmp(interface, pixcache_manager_v1_interface.name) == 0) {
		client->global = name;
		client->global_version = version;
		pthread_cond_broadcast(&client->cond);
	}
}

static void
registry_global_remove(void *data, struct wl_registry *registry,
	uint32_t name)
{
	struct pixcache_client *client = data;

	if (name == client->global) {
		client->global = 0;
	}
	/* The manager went: a new one, if any, is a new instance. */
	if (client->manager != NULL && name == client->manager_name &&
			!client->stale) {
		client->stale = true;
		client->stats.reconnects++;
		pthread_cond_broadcast(&client->cond);
	}
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_global_remove,
};

/* The newest version both speak: the one the library was built with. */
static uint32_t
bind_version(const struct pixcache_client *client)
{
	uint32_t ours = (uint32_t)pixcache_manager_v1_interface.version;

	return client->global_version < ours ? client->global_version : ours;
}

/*
 * Binds the manager the registry announced, and the library's batch:
 * both, or neither and -ENOMEM (the next call binds again).
 */
static int
bind_manager(struct pixcache_client *client)
{
	client->manager = pxcl_proxy_fails() ? NULL :
		wl_registry_bind(client->registry, client->global,
		&pixcache_manager_v1_interface, bind_version(client));
	if (client->manager == NULL) {
		return -ENOMEM;
	}
	client->batch = pxcl_proxy_fails() ? NULL :
		pixcache_manager_v1_create_batch(client->manager);
	if (client->batch == NULL) {
		pixcache_manager_v1_destroy(client->manager);
		client->manager = NULL;
		return -ENOMEM;
	}
	client->manager_name = client->global;
	pixcache_manager_v1_add_listener(client->manager, &manager_listener,
		client);
	pixcache_batch_v1_add_listener(client->batch, &pxcl_batch_listener,
		client);
	return 0;
}

/* ---- connections ---- */

static int
attach(struct pixcache_client *client, struct wl_display *display)
{
	client->display = display;
	client->queue = wl_display_create_queue(display);
	client->wrapper = client->queue ? wl_proxy_create_wrapper(display) :
		NULL;
	if (client->wrapper == NULL) {
		return -ENOMEM;
	}
	wl_proxy_set_queue((struct wl_proxy *)client->wrapper, client->queue);
	client->registry = wl_display_get_registry(client->wrapper);
	if (client->registry == NULL) {
		return -ENOMEM;
	}
	wl_registry_add_listener(client->registry, &registry_listener, client);
	return 0;
}

static void
detach(struct pixcache_client *client)
{
	if (client->registry != NULL) {
		wl_registry_destroy(client->registry);
		client->registry = NULL;
	}
	if (client->wrapper != NULL) {
		wl_proxy_wrapper_destroy(client->wrapper);
		client->wrapper = NULL;
	}
	if (client->queue != NULL) {
		wl_event_queue_destroy(client->queue);
		client->queue = NULL;
	}
	if (client->own_display && client->display != NULL) {
		wl_display_disconnect(client->display);
	}
	client->display = NULL;
}

static const char *
default_socket(void)
{
	const char *name = getenv("PIXCACHE_SOCKET");

	return name != NULL ? name : getenv("WAYLAND_DISPLAY");
}

static int
connect_own(struct pixcache_client *client)
{
	struct wl_display *display =
		wl_display_connect(client->socket_name);

	if (display == NULL) {
		return errno != 0 ? -errno : -ECONNREFUSED;
	}
	return attach(client, display);
}

/*
 * An own connection broke, and its state is settled: close it and open
 * a new one. Only the one call in flight does this, so nobody else holds
 * a proxy of the old display.
 */
static int
reconnect(struct pixcache_client *client)
{
	int ret;

	/* The library's thread may still poll the old display: it finds it
	 * hung up at once. */
	while (client->readers > 0) {
		pthread_cond_wait(&client->cond, &client->lock);
	}
	detach(client);
	client->global = 0;
	ret = connect_own(client);
	if (ret < 0) {
		/* Still broken: the next call tries again. */
		detach(client);
		return ret;
	}
	client->broken = false;
	client->stats.reconnects++;
	/* The library's thread reads the new display. */
	pthread_cond_broadcast(&client->cond);
	return 0;
}

static struct pixcache_client *
client_new(const struct pixcache_client_options *options)
{
	struct pixcache_client *client = calloc(1, sizeof(*client));
	pthread_condattr_t attr;

	if (client == NULL) {
		return NULL;
	}
	if (options != NULL) {
		client->options = *options;
	} else {
		pixcache_client_options_init(&client->options);
	}
	if (client->options.max_outstanding == 0 ||
			client->options.timeout_ms <= 0) {
		free(client);
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_init(&client->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&client->cond, &attr);
	pthread_condattr_destroy(&attr);
	atomic_init(&client->refs, 1);
	wl_list_init(&client->realms);
	wl_list_init(&client->pools);
	wl_list_init(&client->pixmaps);
	wl_list_init(&client->outstanding);
	wl_list_init(&client->completed);
	wl_list_init(&client->fills);
	wl_list_init(&client->claims);
	wl_list_init(&client->staged);
	wl_list_init(&client->lru);
	client->wake[0] = client->wake[1] = -1;
	if (getrandom(client->hash_key, sizeof(client->hash_key), 0) !=
			sizeof(client->hash_key)) {
		/* Names come from the application itself: any key will do. */
		client->hash_key[0] = (uint64_t)(uintptr_t)client;
	}
	if (pxcl_finds_init(client) < 0) {
		pthread_cond_destroy(&client->cond);
		pthread_mutex_destroy(&client->lock);
		free(client);
		errno = ENOMEM;
		return NULL;
	}
	return client;
}

void
pxcl_client_unref(struct pixcache_client *client)
{
	if (atomic_fetch_sub(&client->refs, 1) != 1) {
		return;
	}
	pxcl_names_finish(client);
	pxcl_finds_finish(client);
	free(client->socket_name);
	pthread_cond_destroy(&client->cond);
	pthread_mutex_destroy(&client->lock);
	free(client);
}

/* The new client if ret is 0; else it goes, and NULL with errno set. */
static struct pixcache_client *
made(struct pixcache_client *client, int ret)
{
	if (ret < 0) {
		detach(client);
		pxcl_client_unref(client);
		errno = -ret;
		return NULL;
	}
	return client;
}

struct pixcache_client *
pixcache_client_create(struct wl_display *display,
	const struct pixcache_client_options *options)
{
	struct pixcache_client *client;

	if (display == NULL) {
		errno = EINVAL;
		return NULL;
	}
	client = client_new(options);
	if (client == NULL) {
		return NULL;
	}
	return made(client, attach(client, display));
}

struct pixcache_client *
pixcache_client_connect(const char *socket_name,
	const struct pixcache_client_options *options)
{
	struct pixcache_client *client = client_new(options);

	if (client == NULL) {
		return NULL;
	}
	client->own_display = true;
	if (socket_name == NULL) {
		socket_name = default_socket();
	}
	client->socket_name = socket_name ? strdup(socket_name) : NULL;
	return made(client, connect_own(client));
}

/* ---- reading and dispatching ---- */

struct pxcl_io_breaks pxcl_io_breaks;

bool
pxcl_proxy_fails(void)
{
	return pxcl_io_breaks.fail != NULL &&
		pxcl_io_breaks.fail(pxcl_io_breaks.data, "proxy");
}

/*
 * The test hook: when it breaks the connection at point, the socket is
 * shut down both ways, as a peer that vanished leaves it, and the step
 * fails with the errno the hook chose. With none chosen, a write fails
 * EPIPE, and a read runs and finds the end of the file: what the peer
 * sent before is dropped, as if it had vanished before sending it (fds in
 * it are closed by the kernel).
 */
static int
io_break(struct pixcache_client *client, const char *point)
{
	int fd = client->display != NULL ?
		wl_display_get_fd(client->display) : -1;
	char buf[4096];

	if (pxcl_io_breaks.fail == NULL || fd < 0 ||
			!pxcl_io_breaks.fail(pxcl_io_breaks.data, point)) {
		return 0;
	}
	shutdown(fd, SHUT_RDWR);
	if (pxcl_io_breaks.error != 0) {
		return -pxcl_io_breaks.error;
	}
	if (strcmp(point, "read") != 0) {
		return -EPIPE;
	}
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
		/* Dropped. */
	}
	return 0;
}

/* wl_display_flush(), 0 or a negative errno; a break is noted. */
static int
flush_display(struct pixcache_client *client)
{
	int ret = io_break(client, "flush");

	if (ret == 0 && wl_display_flush(client->display) < 0) {
		ret = -errno;
	}
	if (ret < 0 && ret != -EAGAIN) {
		pxcl_connection_broke(client);
		ret = -ECONNRESET;
	}
	return ret;
}

/* Dispatches the library's queue; a display error is noted as a break. */
static int
dispatch_locked(struct pixcache_client *client)
{
	int n = wl_display_dispatch_queue_pending(client->display,
		client->queue);

	if (n < 0) {
		n = -errno;
		pxcl_connection_broke(client);
	}
	return n;
}

/*
 * Reads the display once and dispatches the library's queue. The lock is
 * held, and dropped only while it polls and reads: every dispatch of the
 * queue happens under the lock, so handlers run one at a time and in
 * order, and never meet a proxy half made (requests are marshalled and
 * their proxies given dispatchers under the lock). Several threads may
 * read at once: libwayland's prepare/read protocol has the last reader
 * read for all.
 */
static int
read_once(struct pixcache_client *client, int timeout_ms, int wake_fd)
{
	struct wl_display *display = client->display;
	struct pollfd pfd[2] = {
		{ .fd = wl_display_get_fd(display), .events = POLLIN },
		{ .fd = wake_fd, .events = POLLIN },
	};
	int n, ret = 0;

	if (wl_display_prepare_read_queue(display, client->queue) != 0) {
		/* Events are queued already: someone read for us. */
		ret = dispatch_locked(client);
		return ret < 0 ? ret : 0;
	}
	ret = flush_display(client);
	if (ret < 0 && ret != -EAGAIN) {
		wl_display_cancel_read(display);
		return ret;
	}
	client->readers++;
	pthread_mutex_unlock(&client->lock);
	n = poll(pfd, wake_fd >= 0 ? 2 : 1, timeout_ms);
	ret = 0;
	if (n <= 0 || !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
		wl_display_cancel_read(display);
		ret = n < 0 && errno != EINTR ? -errno : 0;
	} else if ((ret = io_break(client, "read")) < 0) {
		wl_display_cancel_read(display);
	} else if (wl_display_read_events(display) < 0) {
		ret = -errno;
	}
	pthread_mutex_lock(&client->lock);
	client->readers--;
	pthread_cond_broadcast(&client->cond);
	if (ret == 0) {
		ret = dispatch_locked(client);
	}
	if (ret < 0) {
		pxcl_connection_broke(client);
	}
	return ret;
}

static bool
on_thread(const struct pixcache_client *client)
{
	return client->thread_running &&
		pthread_equal(pthread_self(), client->thread);
}

/* Runs the callbacks of what completed, without the lock; lock held. */
static void
run_completions_unlocked(struct pixcache_client *client)
{
	if (!wl_list_empty(&client->completed) ||
			!wl_list_empty(&client->fills)) {
		pthread_mutex_unlock(&client->lock);
		pxcl_run_completions(client);
		pthread_mutex_lock(&client->lock);
	}
}

int
pxcl_wait_once(struct pixcache_client *client, int timeout_ms)
{
	int ret;

	if ((ret = pxcl_lost(client)) < 0) {
		return ret;
	}
	if (client->thread_running && !on_thread(client)) {
		/* The library's thread reads: wait for it to say something. */
		struct timespec ts = pxcl_deadline_after(timeout_ms);

		pthread_cond_timedwait(&client->cond, &client->lock, &ts);
		return pxcl_lost(client);
	}
	ret = read_once(client, timeout_ms, -1);
	run_completions_unlocked(client);
	return pxcl_lost(client);
}

int
pxcl_remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 +
		(deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)ms : 0;
}

struct timespec
pxcl_deadline_after(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

int
pxcl_wait_flag(struct pixcache_client *client, const bool *flag,
	const struct timespec *deadline)
{
	int ret = 0;

	while (!*flag && ret == 0) {
		if (pxcl_remaining_ms(deadline) == 0) {
			return -ETIMEDOUT;
		}
		ret = pxcl_wait_once(client, pxcl_remaining_ms(deadline));
	}
	return *flag ? 0 : ret;
}

/* A roundtrip's callback, on its caller's stack. */
struct pxcl_sync {
	struct pixcache_client *client;
	bool done;
};

static void
sync_done(void *data, struct wl_callback *callback, uint32_t serial)
{
	struct pxcl_sync *sync = data;

	sync->done = true;
	pthread_cond_broadcast(&sync->client->cond);
}

const struct wl_callback_listener pxcl_sync_events = {
	.done = sync_done,
};

/* A roundtrip on our queue: brings the globals, and the manager's hello. */
static int
roundtrip(struct pixcache_client *client, const struct timespec *deadline)
{
	struct wl_callback *callback = pxcl_proxy_fails() ? NULL :
		wl_display_sync(client->wrapper);
	struct pxcl_sync sync = { .client = client };
	int ret;

	if (callback == NULL) {
		return -ENOMEM;
	}
	pxcl_proxy_bind((struct wl_proxy *)callback, PXCL_PROXY_SYNC, &sync);
	/* Out now: the library's thread may be polling already, and on a
	 * display whose globals it has read, nothing else wakes it. */
	ret = pxcl_flush_some(client, true);
	if (ret == 0) {
		ret = pxcl_wait_flag(client, &sync.done, deadline);
	}
	pxcl_proxy_orphan((struct wl_proxy *)callback);
	wl_callback_destroy(callback);
	return ret;
}

/*
 * A connection to use: a broken one of our own is replaced, by the only
 * call in flight (another one may still hold proxies of the old one).
 */
static int
connection_ready(struct pixcache_client *client)
{
	if (client->stale) {
		/* Being let go of once no call is left. */
		return -ECONNRESET;
	}
	if (!client->broken) {
		return client->display != NULL ? 0 : -ENOTCONN;
	}
	if (!client->own_display) {
		/* The application's display: only it can reconnect. */
		return -ENOTCONN;
	}
	return client->calls == 1 ? reconnect(client) : -ECONNRESET;
}

int
pxcl_connect_manager(struct pixcache_client *client)
{
	struct timespec deadline;
	int ret;

	if (client->destroyed) {
		return -EINVAL;
	}
	if ((ret = connection_ready(client)) < 0) {
		return ret;
	}
	if (client->manager != NULL && client->instance != 0) {
		return 0;
	}
	if (client->refusal != 0) {
		return -ECONNREFUSED;
	}
	deadline = pxcl_deadline_after(client->options.timeout_ms);
	if (client->manager == NULL && client->global == 0) {
		ret = roundtrip(client, &deadline);
	}
	if (ret < 0) {
		/* -ETIMEDOUT, or -ECONNRESET for a break. */
		return ret;
	}
	if (client->manager == NULL && client->global == 0) {
		/* The display has no pixcache manager. */
		return -ENOTCONN;
	}
	if (client->manager == NULL && (ret = bind_manager(client)) == 0) {
		/* Out now: the library's thread may be polling already. */
		ret = pxcl_flush_some(client, true);
	}
	/* The hello follows the bind: one more roundtrip at most. */
	while (client->instance == 0 && client->refusal == 0 && ret == 0 &&
			pxcl_remaining_ms(&deadline) > 0) {
		ret = pxcl_wait_once(client, pxcl_remaining_ms(&deadline));
	}
	if (ret < 0) {
		return ret;
	}
	if (client->refusal != 0) {
		return -ECONNREFUSED;
	}
	return client->instance != 0 ? 0 : -ETIMEDOUT;
}

/*
 * libwayland 1.21 buffers 4 KiB of requests and kills the connection if
 * it must flush while the socket is full (EAGAIN). That connection may be
 * the application's: so after every few requests the library flushes, and
 * when the socket is full it waits for room rather than marshal more.
 */
int
pxcl_flush_some(struct pixcache_client *client, bool force)
{
	struct timespec deadline;
	struct pollfd pfd;
	int ret;

	if (client->broken || client->display == NULL) {
		return -ECONNRESET;
	}
	if (io_break(client, "send") < 0) {
		pxcl_connection_broke(client);
		return -ECONNRESET;
	}
	if (!force && ++client->unflushed < PXCL_FLUSH_EVERY) {
		return 0;
	}
	client->unflushed = 0;
	deadline = pxcl_deadline_after(client->options.timeout_ms);
	pfd = (struct pollfd){ wl_display_get_fd(client->display), POLLOUT, 0 };
	while ((ret = flush_display(client)) == -EAGAIN) {
		if (pxcl_remaining_ms(&deadline) == 0) {
			return -ETIMEDOUT;
		}
		poll(&pfd, 1, pxcl_remaining_ms(&deadline));
	}
	return ret < 0 ? ret : 0;
}

int
pxcl_send_words(struct pixcache_client *client, pxcl_send_array_fn send,
	uint32_t *words, uint32_t n)
{
	struct wl_array array = {
		.size = n * sizeof(uint32_t),
		.alloc = n * sizeof(uint32_t),
		.data = words,
	};
	int ret;

	/* Or libwayland may have to flush into a full socket. */
	if ((ret = pxcl_flush_some(client, true)) < 0) {
		return ret;
	}
	send(client->batch, &array);
	return 0;
}

int
pxcl_send_usage(struct pixcache_client *client)
{
	int ret = pxcl_send_words(client, pixcache_batch_v1_used,
		client->usage, 2 * client->nusage);

	if (ret < 0) {
		return ret;
	}
	client->nusage = 0;
	client->commits++;
	return 0;
}

int
pxcl_commit(struct pixcache_client *client)
{
	int ret = pxcl_lost(client);

	if (ret == 0 && client->batch == NULL) {
		ret = -ENOTCONN;
	}
	if (ret == 0 && client->nusage > 0) {
		ret = pxcl_send_usage(client);
	}
	if (ret == 0) {
		ret = pxcl_send_releases(client);
	}
	if (ret == 0) {
		ret = pxcl_send_staged(client);
	}
	if (ret < 0) {
		return ret;
	}
	pixcache_batch_v1_commit(client->batch, ++client->serial);
	client->queued = 0;
	ret = pxcl_flush_some(client, true);
	/* A full socket is not a failure: the rest goes with the next. */
	return ret == -ETIMEDOUT ? 0 : ret;
}

int
pxcl_wait_done(struct pixcache_client *client)
{
	struct timespec deadline = pxcl_deadline_after(client->options.timeout_ms);
	uint32_t serial = client->serial;
	int ret = 0;

	while ((int32_t)(client->done_serial - serial) < 0 && ret == 0) {
		if (pxcl_remaining_ms(&deadline) == 0) {
			return -ETIMEDOUT;
		}
		ret = pxcl_wait_once(client, pxcl_remaining_ms(&deadline));
	}
	return ret;
}

int
pixcache_client_dispatch(struct pixcache_client *client)
{
	int n = -ENOTCONN;

	pxcl_enter(client);
	/* A connection of our own is replaced here too: no round trip. */
	n = connection_ready(client);
	if (n == 0 && client->own_display && !client->thread_running) {
		/* Nobody else reads a connection of our own: read,
		 * unblocked. */
		n = read_once(client, 0, -1);
	}
	if (n >= 0) {
		int more = dispatch_locked(client);

		n = more < 0 ? more : n + more;
	}
	if (n < 0) {
		n = pxcl_lost(client) < 0 ? -ECONNRESET : n;
	}
	pxcl_leave(client);
	pxcl_run_completions(client);
	return n;
}

int
pixcache_client_flush(struct pixcache_client *client)
{
	int ret;

	pxcl_enter(client);
	ret = pxcl_connect_manager(client);
	if (ret == 0) {
		ret = pxcl_commit(client);
	}
	pxcl_leave(client);
	return ret;
}

uint64_t
pixcache_client_instance(struct pixcache_client *client)
{
	uint64_t instance;

	pthread_mutex_lock(&client->lock);
	instance = client->instance;
	pthread_mutex_unlock(&client->lock);
	return instance;
}

void
pixcache_client_get_usage(struct pixcache_client *client,
	struct pixcache_client_usage *usage)
{
	struct pixcache_pixmap *pixmap;

	pthread_mutex_lock(&client->lock);
	*usage = client->stats;
	usage->pools = (uint32_t)wl_list_length(&client->pools);
	usage->leases = client->leases;
	usage->local_entries = client->nentries;
	/* Pools mapped, plus pixmaps with a mapping of their own. */
	usage->mappings = usage->pools;
	wl_list_for_each(pixmap, &client->pixmaps, link) {
		usage->mappings += pixmap->pool == NULL;
	}
	pthread_mutex_unlock(&client->lock);
}

/* ---- the library's thread ---- */

static void *
thread_main(void *data)
{
	struct pixcache_client *client = data;

	pthread_mutex_lock(&client->lock);
	while (!client->stopping) {
		if (client->display == NULL || client->broken) {
			/* What the teardown failed is called back now; then
			 * wait until the next call reconnects, or we stop. */
			if (!wl_list_empty(&client->completed)) {
				run_completions_unlocked(client);
			} else {
				pthread_cond_wait(&client->cond, &client->lock);
			}
			continue;
		}
		read_once(client, -1, client->wake[0]);
		/* A break it found is settled here if no call is in flight,
		 * else by the last call to leave. */
		pxcl_settle(client);
		pthread_cond_broadcast(&client->cond);
		run_completions_unlocked(client);
	}
	pthread_mutex_unlock(&client->lock);
	return NULL;
}

int
pixcache_client_start_thread(struct pixcache_client *client)
{
	int ret;

	pthread_mutex_lock(&client->lock);
	if (client->thread_running) {
		pthread_mutex_unlock(&client->lock);
		return -EALREADY;
	}
	if (pipe2(client->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		pthread_mutex_unlock(&client->lock);
		return ret;
	}
	client->thread_running = true;
	ret = pthread_create(&client->thread, NULL, thread_main, client);
	if (ret != 0) {
		client->thread_running = false;
		close(client->wake[0]);
		close(client->wake[1]);
		client->wake[0] = client->wake[1] = -1;
	}
	pthread_mutex_unlock(&client->lock);
	return -ret;
}

static void
stop_thread(struct pixcache_client *client)
{
	pthread_mutex_lock(&client->lock);
	if (!client->thread_running) {
		pthread_mutex_unlock(&client->lock);
		return;
	}
	client->stopping = true;
	pthread_cond_broadcast(&client->cond);
	pthread_mutex_unlock(&client->lock);
	if (write(client->wake[1], "x", 1) < 0) {
		/* The pipe is non-blocking and was empty: cannot fail. */
	}
	pthread_join(client->thread, NULL);
	pthread_mutex_lock(&client->lock);
	client->thread_running = false;
	/* Calls waiting for the thread to read read for themselves now. */
	pthread_cond_broadcast(&client->cond);
	close(client->wake[0]);
	close(client->wake[1]);
	client->wake[0] = client->wake[1] = -1;
	pthread_mutex_unlock(&client->lock);
}

void
pixcache_client_destroy(struct pixcache_client *client)
{
	if (client == NULL) {
		return;
	}
	stop_thread(client);
	pthread_mutex_lock(&client->lock);
	/* Calls still in flight on other threads end within their timeout. */
	client->closing = true;
	while (client->calls > 0) {
		pthread_cond_wait(&client->cond, &client->lock);
	}
	/* A connection of our own closes next: no need to tell the server
	 * of each object (it frees them all, and would only answer with a
	 * delete_id for each, which nobody reads). */
	client->silent = client->own_display;
	client->destroyed = true;
	client->stale = false;
	drop_manager_state(client);
	detach(client);
	pthread_mutex_unlock(&client->lock);
	pxcl_run_completions(client);
	pxcl_client_unref(client);
}
