#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "manager-private.h"
#include "server-harness.h"
#include "test-runner.h"

/* ---- the server ---- */

static bool
server_fail(void *data, const char *point)
{
	struct th_server *server = data;

	if (server->tracing && server->ntrace < 64) {
		snprintf(server->trace[server->ntrace++],
			sizeof(server->trace[0]), "%s", point);
	}
	if (server->fail_at == 0 || (server->fail_point != NULL &&
			strcmp(server->fail_point, point) != 0)) {
		return false;
	}
	server->points_seen++;
	if (server->points_seen == server->fail_at ||
			(server->fail_rest && server->points_seen > server->fail_at)) {
		server->failures++;
		return true;
	}
	return false;
}

void
th_config(struct pixcache_config *config)
{
	pixcache_config_init(config);
	config->budget = 1 << 20;
	config->table_capacity = 256;
	config->pool_size = 64 << 10;
	config->pool_max_pixmap = 16 << 10;
	config->max_width = 512;
	config->max_height = 512;
	config->max_bytes = 512 << 10;
	config->max_uploads = 4;
	config->max_leases = 16;
	config->max_fds_in_flight = 8;
	config->max_connections_per_uid = 4;
}

struct th_server *
th_server_create(const struct pixcache_config *config,
	const struct pixcache_policy *policy)
{
	struct th_server *server = calloc(1, sizeof(*server));
	struct pixcache_config defaults;
	struct pxc_faults faults = { server_fail, server };

	assert(server != NULL);
	if (config == NULL) {
		th_config(&defaults);
		config = &defaults;
	}
	server->display = wl_display_create();
	assert(server->display != NULL);
	server->manager = pxc_manager_create_internal(server->display, config,
		policy, &faults);
	assert(server->manager != NULL);
	return server;
}

void
th_server_destroy(struct th_server *server)
{
	/* Destroys the manager with it. */
	wl_display_destroy_clients(server->display);
	wl_display_destroy(server->display);
	free(server);
}

void
th_server_dispatch(struct th_server *server)
{
	wl_event_loop_dispatch(wl_display_get_event_loop(server->display), 0);
	wl_display_flush_clients(server->display);
}

/* ---- clients ---- */

static void
manager_instance(void *data, struct pixcache_manager_v1 *manager,
	uint32_t hi, uint32_t lo)
{
	struct th_client *client = data;

	client->instance = (uint64_t)hi << 32 | lo;
}

static void
manager_format(void *data, struct pixcache_manager_v1 *manager,
	uint32_t format)
{
	struct th_client *client = data;

	if (client->nformats < 8) {
		client->formats[client->nformats++] = format;
	}
}

static void
manager_limits(void *data, struct pixcache_manager_v1 *manager, uint32_t w,
	uint32_t h, uint32_t bytes, uint32_t uploads, uint32_t leases,
	uint32_t fds)
{
	struct th_client *client = data;
	const uint32_t limits[6] = { w, h, bytes, uploads, leases, fds };

	memcpy(client->limits, limits, sizeof(limits));
}

static void
manager_refused(void *data, struct pixcache_manager_v1 *manager,
	uint32_t reason)
{
	struct th_client *client = data;

	client->refused = reason;
}

static const struct pixcache_pool_v1_listener pool_listener;

/* Kept for the session; the first buffer_pool naming it claims it. */
static void
manager_pool(void *data, struct pixcache_manager_v1 *manager,
	struct pixcache_pool_v1 *pool, int fd, uint32_t size, uint32_t number)
{
	struct th_client *client = data;
	struct th_pool *state = calloc(1, sizeof(*state));

	assert(state != NULL);
	state->proxy = pool;
	state->fd = fd;
	state->size = size;
	state->number = number;
	state->next = client->pools;
	client->pools = state;
	pixcache_pool_v1_add_listener(pool, &pool_listener, state);
}

static const struct pixcache_manager_v1_listener manager_listener = {
	.instance = manager_instance,
	.format = manager_format,
	.limits = manager_limits,
	.refused = manager_refused,
	.pool = manager_pool,
};

static void
registry_global(void *data, struct wl_registry *registry, uint32_t name,
	const char *interface, uint32_t version)
{
	struct th_client *client = data;

	if (strcmp(interface, pixcache_manager_v1_interface.name) == 0) {
		client->global = name;
		/* The newest both speak, as the client library binds. */
		client->manager = wl_registry_bind(registry, name,
			&pixcache_manager_v1_interface,
			version < (uint32_t)pixcache_manager_v1_interface.version ?
			version : (uint32_t)pixcache_manager_v1_interface.version);
		pixcache_manager_v1_add_listener(client->manager,
			&manager_listener, client);
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

struct th_client *
th_client_connect_unchecked(struct th_server *server)
{
	struct th_client *client = calloc(1, sizeof(*client));
	int fds[2];

	assert(client != NULL);
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
	client->server = server;
	client->server_client = wl_client_create(server->display, fds[0]);
	assert(client->server_client != NULL);
	client->display = wl_display_connect_to_fd(fds[1]);
	assert(client->display != NULL);
	client->registry = wl_display_get_registry(client->display);
	wl_registry_add_listener(client->registry, &registry_listener, client);
	if (th_roundtrip(client)) {
		th_roundtrip(client);
	}
	return client;
}

struct th_client *
th_client_connect(struct th_server *server)
{
	struct th_client *client = th_client_connect_unchecked(server);

	assert(th_alive(client) && client->manager != NULL);
	return client;
}

bool
th_alive(struct th_client *client)
{
	return wl_display_get_error(client->display) == 0;
}

/* Closes the pools a session received, and ends the session. */
static void
end_session(struct th_client *client)
{
	while (client->pools != NULL) {
		struct th_pool *next = client->pools->next;

		close(client->pools->fd);
		pixcache_pool_v1_destroy(client->pools->proxy);
		free(client->pools);
		client->pools = next;
	}
	if (client->manager != NULL) {
		pixcache_manager_v1_destroy(client->manager);
	}
}

struct th_client *
th_session(struct th_client *client)
{
	struct th_client *session = calloc(1, sizeof(*session));

	assert(session != NULL && client->global != 0);
	session->server = client->server;
	session->display = client->display;
	session->server_client = client->server_client;
	session->global = client->global;
	session->session = true;
	session->manager = wl_registry_bind(client->registry, client->global,
		&pixcache_manager_v1_interface,
		wl_proxy_get_version((struct wl_proxy *)client->manager));
	pixcache_manager_v1_add_listener(session->manager, &manager_listener,
		session);
	assert(th_roundtrip(session));
	return session;
}

void
th_session_end(struct th_client *session)
{
	assert(session->session);
	end_session(session);
	assert(th_roundtrip(session));
	free(session);
}

void
th_client_disconnect(struct th_client *client)
{
	struct th_server *server = client->server;

	assert(!client->session);
	end_session(client);
	wl_registry_destroy(client->registry);
	wl_display_disconnect(client->display);
	free(client);
	/* The server notices the hang-up on its next dispatch. */
	th_server_dispatch(server);
	th_server_dispatch(server);
}

static void
client_pump(struct th_client *client)
{
	struct pollfd pfd = { .fd = wl_display_get_fd(client->display),
		.events = POLLIN };

	wl_display_flush(client->display);
	while (wl_display_prepare_read(client->display) != 0) {
		wl_display_dispatch_pending(client->display);
	}
	if (poll(&pfd, 1, 0) > 0) {
		wl_display_read_events(client->display);
	} else {
		wl_display_cancel_read(client->display);
	}
	wl_display_dispatch_pending(client->display);
}

static void
sync_done(void *data, struct wl_callback *callback, uint32_t serial)
{
	bool *done = data;

	*done = true;
}

static const struct wl_callback_listener sync_listener = { sync_done };

bool
th_roundtrip(struct th_client *client)
{
	struct wl_callback *callback;
	bool done = false;

	if (wl_display_get_error(client->display) != 0) {
		return false;
	}
	callback = wl_display_sync(client->display);
	wl_callback_add_listener(callback, &sync_listener, &done);
	for (long i = 0; !done; i++) {
		if (wl_display_get_error(client->display) != 0) {
			wl_callback_destroy(callback);
			return false;
		}
		if (i > 1000000) {
			test_fail("roundtrip never ended");
		}
		th_server_dispatch(client->server);
		client_pump(client);
	}
	wl_callback_destroy(callback);
	return true;
}

uint32_t
th_id(void *proxy)
{
	return wl_proxy_get_id(proxy);
}

/* "pixcache_batch_v1@5 error 3", for messages. */
static const char *
describe_error(char *buf, size_t size, const struct wl_interface *interface,
	uint32_t id, uint32_t code)
{
	snprintf(buf, size, "%s@%u error %u",
		interface != NULL ? interface->name : "(no interface)", id,
		code);
	return buf;
}

void
th_expect_protocol_error(struct th_client *client,
	const struct wl_interface *interface, uint32_t id, uint32_t code)
{
	const struct wl_interface *got_interface = NULL;
	char want[96], got[96];
	uint32_t got_id = 0, got_code;
	int err;

	describe_error(want, sizeof(want), interface, id, code);
	if (th_roundtrip(client)) {
		test_fail("expected %s, but the client is alive", want);
	}
	err = wl_display_get_error(client->display);
	got_code = wl_display_get_protocol_error(client->display,
		&got_interface, &got_id);
	/* Not EPROTO alone: an error on wl_display sets its own errno
	 * (ENOMEM for no_memory), and still names its object. */
	if (err != EPROTO && got_interface == NULL) {
		test_fail("expected %s, but the client died of %s, not of "
			"a protocol error", want, strerror(err));
	}
	/* The interface by pointer: two interfaces may share a name. */
	if (got_interface != interface || got_id != id || got_code != code) {
		test_fail("expected %s, got %s", want,
			describe_error(got, sizeof(got), got_interface,
				got_id, got_code));
	}
}

/* ---- realms ---- */

static void
realm_access(void *data, struct pixcache_realm_v1 *proxy, uint32_t access)
{
	struct th_realm *realm = data;

	realm->access = access;
}

static void
realm_denied(void *data, struct pixcache_realm_v1 *proxy, uint32_t reason)
{
	struct th_realm *realm = data;

	realm->denied = reason;
}

static void
realm_table(void *data, struct pixcache_realm_v1 *proxy, int fd,
	uint32_t capacity)
{
	struct th_realm *realm = data;

	if (realm->table_fd >= 0) {
		close(realm->table_fd);
	}
	realm->table_fd = fd;
	realm->capacity = capacity;
}

static const struct pixcache_realm_v1_listener realm_listener = {
	.access = realm_access,
	.denied = realm_denied,
	.generation_table = realm_table,
};

struct th_realm *
th_realm_get(struct th_client *client, const char *name)
{
	struct th_realm *realm = calloc(1, sizeof(*realm));

	assert(realm != NULL);
	realm->table_fd = -1;
	realm->proxy = pixcache_manager_v1_get_realm(client->manager, name);
	pixcache_realm_v1_add_listener(realm->proxy, &realm_listener, realm);
	th_roundtrip(client);
	return realm;
}

void
th_realm_destroy(struct th_realm *realm)
{
	if (realm->table_fd >= 0) {
		close(realm->table_fd);
	}
	pixcache_realm_v1_destroy(realm->proxy);
	free(realm);
}

/* ---- batches ---- */

static void
batch_entry(void *data, struct pixcache_batch_v1 *batch, const char *name,
	uint32_t width, uint32_t height, uint32_t format, uint32_t ih,
	uint32_t il, uint32_t slot, uint32_t gen, uint32_t th, uint32_t tl)
{
	struct th_batch_state *state = data;

	if (state->entries < 32) {
		snprintf(state->names[state->entries], 64, "%s",
			name ? name : "(anonymous)");
	}
	state->entries++;
}

static void
batch_stats(void *data, struct pixcache_batch_v1 *batch, uint32_t a0,
	uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5,
	uint32_t a6, uint32_t a7, uint32_t a8, uint32_t a9, uint32_t a10,
	uint32_t a11, uint32_t a12, uint32_t a13, uint32_t a14)
{
	struct th_batch_state *state = data;
	const uint32_t v[15] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10,
		a11, a12, a13, a14 };

	state->got_stats = true;
	memcpy(state->stats, v, sizeof(v));
}

static void
batch_done(void *data, struct pixcache_batch_v1 *batch, uint32_t serial,
	uint32_t token_hi, uint32_t token_lo)
{
	struct th_batch_state *state = data;

	state->serial = serial;
	state->token = (uint64_t)token_hi << 32 | token_lo;
	state->client->last_token = state->token;
}

static void
batch_listed(void *data, struct pixcache_batch_v1 *batch, uint32_t next)
{
	struct th_batch_state *state = data;

	state->listed++;
	state->next = next;
}

static void
batch_found(void *data, struct pixcache_batch_v1 *batch,
	struct wl_array *records)
{
	struct th_batch_state *state = data;
	const uint32_t *rec;

	assert(records->size % (13 * sizeof(uint32_t)) == 0);
	state->found_events++;
	for (rec = records->data; (const char *)rec <
			(const char *)records->data + records->size; rec += 13) {
		assert(state->nrecords < TH_RECORDS);
		memcpy(state->records[state->nrecords++], rec,
			13 * sizeof(uint32_t));
	}
}

static const struct pixcache_batch_v1_listener batch_listener = {
	.entry = batch_entry,
	.stats = batch_stats,
	.done = batch_done,
	.listed = batch_listed,
	.found = batch_found,
};

void
th_find(struct pixcache_batch_v1 *batch, struct th_realm *realm,
	uint32_t first, const char *const *names, int n)
{
	struct wl_array array;

	wl_array_init(&array);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(names[i]) + 1;
		void *p = wl_array_add(&array, len);

		assert(p != NULL);
		memcpy(p, names[i], len);
	}
	pixcache_batch_v1_find(batch, realm->proxy, first, &array);
	wl_array_release(&array);
}

const uint32_t *
th_record(struct pixcache_batch_v1 *batch, uint32_t number)
{
	struct th_batch_state *state = th_batch_state(batch);

	for (int i = state->nrecords - 1; i >= 0; i--) {
		if (state->records[i][0] == number) {
			return state->records[i];
		}
	}
	return NULL;
}

void
th_release(struct pixcache_batch_v1 *batch, uint32_t lease)
{
	struct wl_array array;
	uint32_t *p;

	wl_array_init(&array);
	p = wl_array_add(&array, sizeof(*p));
	assert(p != NULL);
	*p = lease;
	pixcache_batch_v1_release(batch, &array);
	wl_array_release(&array);
}

struct pixcache_batch_v1 *
th_batch(struct th_client *client)
{
	struct pixcache_batch_v1 *batch =
		pixcache_manager_v1_create_batch(client->manager);
	struct th_batch_state *state = calloc(1, sizeof(*state));

	assert(state != NULL);
	state->client = client;
	pixcache_batch_v1_add_listener(batch, &batch_listener, state);
	return batch;
}

void
th_batch_destroy(struct pixcache_batch_v1 *batch)
{
	free(pixcache_batch_v1_get_user_data(batch));
	pixcache_batch_v1_destroy(batch);
}

void
th_ack(struct th_client *client, uint64_t token)
{
	pixcache_manager_v1_ack(client->manager, (uint32_t)(token >> 32),
		(uint32_t)token);
}

bool
th_commit(struct th_client *client, struct pixcache_batch_v1 *batch)
{
	struct th_batch_state *state = pixcache_batch_v1_get_user_data(batch);
	static uint32_t serial;

	pixcache_batch_v1_commit(batch, ++serial);
	if (!th_roundtrip(client)) {
		return false;
	}
	assert(state->serial == serial);
	th_ack(client, state->token);
	return true;
}

/* ---- pixmaps ---- */

static void
pixmap_key(void *data, struct pixcache_pixmap_v1 *proxy, uint32_t ih,
	uint32_t il, uint32_t slot, uint32_t gen, uint32_t th, uint32_t tl)
{
	struct th_pixmap *pixmap = data;
	const uint32_t key[6] = { ih, il, slot, gen, th, tl };

	assert(pixmap->events == 0);
	pixmap->got_key = true;
	memcpy(pixmap->key, key, sizeof(key));
	pixmap->events++;
}

static void
pool_retired(void *data, struct pixcache_pool_v1 *proxy)
{
	struct th_pool *pool = data;

	pool->retired = true;
}

static const struct pixcache_pool_v1_listener pool_listener = {
	.retired = pool_retired,
};

static void
pixmap_buffer_pool(void *data, struct pixcache_pixmap_v1 *proxy,
	struct pixcache_pool_v1 *pool, uint32_t offset, uint32_t width,
	uint32_t height, uint32_t stride, uint32_t format)
{
	struct th_pixmap *pixmap = data;
	struct th_pool *state;

	assert(pixmap->got_key && pixmap->events == 1);
	pixmap->buffer = true;
	pixmap->pool = pool;
	/* The pool came for this answer if no answer named it before. */
	state = pool ? pixcache_pool_v1_get_user_data(pool) : NULL;
	if (state != NULL && !state->claimed) {
		state->claimed = true;
		pixmap->pool_fd = state->fd;
		pixmap->pool_size = state->size;
	}
	pixmap->offset = offset;
	pixmap->width = width;
	pixmap->height = height;
	pixmap->stride = stride;
	pixmap->format = format;
	pixmap->events++;
}

static void
pixmap_buffer_fd(void *data, struct pixcache_pixmap_v1 *proxy, int fd,
	uint32_t width, uint32_t height, uint32_t stride, uint32_t format)
{
	struct th_pixmap *pixmap = data;

	assert(pixmap->got_key && pixmap->events == 1);
	pixmap->buffer = true;
	pixmap->fd = fd;
	pixmap->width = width;
	pixmap->height = height;
	pixmap->stride = stride;
	pixmap->format = format;
	pixmap->events++;
}

static void
pixmap_missing(void *data, struct pixcache_pixmap_v1 *proxy)
{
	struct th_pixmap *pixmap = data;

	pixmap->missing = true;
	pixmap->events++;
}

static void
pixmap_pending(void *data, struct pixcache_pixmap_v1 *proxy)
{
	struct th_pixmap *pixmap = data;

	pixmap->pending = true;
	/* A pending lookup starts over when its upload ends. */
	pixmap->events = 0;
}

static void
pixmap_failed(void *data, struct pixcache_pixmap_v1 *proxy, uint32_t reason)
{
	struct th_pixmap *pixmap = data;

	pixmap->failed = reason;
	pixmap->events++;
}

static void
pixmap_evicted(void *data, struct pixcache_pixmap_v1 *proxy)
{
	struct th_pixmap *pixmap = data;

	pixmap->evicted = true;
}

static void
pixmap_claimed(void *data, struct pixcache_pixmap_v1 *proxy)
{
	struct th_pixmap *pixmap = data;

	pixmap->claimed = true;
	pixmap->pending = false;
	pixmap->events++;
}

static void
pixmap_dmabuf(void *data, struct pixcache_pixmap_v1 *proxy, int fd,
	uint32_t offset, uint32_t stride, uint32_t format,
	uint32_t modifier_hi, uint32_t modifier_lo)
{
	struct th_pixmap *pixmap = data;

	if (pixmap->dmabuf_fd >= 0) {
		close(pixmap->dmabuf_fd);
	}
	pixmap->dmabuf_fd = fd;
	pixmap->dmabuf_offset = offset;
	pixmap->dmabuf_stride = stride;
	pixmap->dmabuf_format = format;
	pixmap->dmabuf_modifier = (uint64_t)modifier_hi << 32 | modifier_lo;
	pixmap->dmabufs++;
}

static const struct pixcache_pixmap_v1_listener pixmap_listener = {
	.key = pixmap_key,
	.buffer_pool = pixmap_buffer_pool,
	.buffer_fd = pixmap_buffer_fd,
	.missing = pixmap_missing,
	.pending = pixmap_pending,
	.failed = pixmap_failed,
	.evicted = pixmap_evicted,
	.claimed = pixmap_claimed,
	.dmabuf = pixmap_dmabuf,
};

static struct th_pixmap *
pixmap_new(struct th_client *client, struct pixcache_pixmap_v1 *proxy)
{
	struct th_pixmap *pixmap = calloc(1, sizeof(*pixmap));

	assert(pixmap != NULL);
	pixmap->client = client;
	pixmap->proxy = proxy;
	pixmap->fd = -1;
	pixmap->pool_fd = -1;
	pixmap->dmabuf_fd = -1;
	pixcache_pixmap_v1_add_listener(proxy, &pixmap_listener, pixmap);
	return pixmap;
}

struct th_pixmap *
th_lookup(struct th_client *client, struct pixcache_batch_v1 *batch,
	struct th_realm *realm, const char *name)
{
	return pixmap_new(client, pixcache_batch_v1_lookup(batch,
		realm->proxy, name));
}

struct th_pixmap *
th_lookup_key(struct th_client *client, struct pixcache_batch_v1 *batch,
	const uint32_t key[6])
{
	return pixmap_new(client, pixcache_batch_v1_lookup_key(batch, key[0],
		key[1], key[2], key[3], key[4], key[5]));
}

struct pixcache_stats
th_server_stats(struct th_server *server)
{
	struct pixcache_stats stats;

	th_server_dispatch(server);
	pixcache_manager_get_stats(server->manager, &stats);
	return stats;
}

struct th_pixmap *
th_lookup_now(struct th_client *client, struct th_realm *realm,
	const char *name)
{
	struct pixcache_batch_v1 *batch = th_batch(client);
	struct th_pixmap *pixmap = th_lookup(client, batch, realm, name);

	th_commit(client, batch);
	th_batch_destroy(batch);
	return pixmap;
}

void
th_pixmap_destroy(struct th_pixmap *pixmap)
{
	if (pixmap->fd >= 0) {
		close(pixmap->fd);
	}
	if (pixmap->dmabuf_fd >= 0) {
		close(pixmap->dmabuf_fd);
	}
	pixcache_pixmap_v1_destroy(pixmap->proxy);
	free(pixmap);
}

void
th_pixmap_forget(struct th_pixmap *pixmap)
{
	if (pixmap->fd >= 0) {
		close(pixmap->fd);
	}
	if (pixmap->dmabuf_fd >= 0) {
		close(pixmap->dmabuf_fd);
	}
	wl_proxy_destroy((struct wl_proxy *)pixmap->proxy);
	free(pixmap);
}

const uint8_t *
th_pixmap_map(struct th_pixmap *pixmap, size_t *size)
{
	const struct th_pool *pool;
	uint8_t *map;

	assert(pixmap->buffer);
	if (pixmap->pool == NULL) {
		*size = (size_t)pixmap->stride * pixmap->height;
		map = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, pixmap->fd, 0);
		assert(map != MAP_FAILED);
		return map;
	}
	pool = pixcache_pool_v1_get_user_data(pixmap->pool);
	assert(pool != NULL);
	*size = pool->size;
	map = mmap(NULL, pool->size, PROT_READ, MAP_PRIVATE, pool->fd, 0);
	assert(map != MAP_FAILED);
	return map;
}

void
th_pixmap_unmap(const uint8_t *data, size_t size)
{
	munmap((void *)data, size);
}

static uint8_t
pattern(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

void
th_pattern_fill(uint8_t *dst, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		dst[i] = pattern(seed, i);
	}
}

bool
th_pattern_is(const uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != pattern(seed, i)) {
			return false;
		}
	}
	return true;
}

bool
th_pixmap_has_pattern(struct th_pixmap *pixmap, uint32_t seed)
{
	size_t size, n = (size_t)pixmap->stride * pixmap->height;
	const uint8_t *map = th_pixmap_map(pixmap, &size);
	const uint8_t *p = map + (pixmap->pool ? pixmap->offset : 0);
	bool same = true;

	for (size_t i = 0; i < n && same; i++) {
		same = p[i] == pattern(seed, i);
	}
	th_pixmap_unmap(map, size);
	return same;
}

/* ---- uploads ---- */

static void
upload_target(void *data, struct pixcache_upload_v1 *proxy, int fd,
	uint32_t stride, uint32_t size)
{
	struct th_upload *upload = data;

	upload->fd = fd;
	upload->stride = stride;
	upload->size = size;
}

static void
upload_failed(void *data, struct pixcache_upload_v1 *proxy, uint32_t reason)
{
	struct th_upload *upload = data;

	upload->failed = reason;
}

static void
upload_stored(void *data, struct pixcache_upload_v1 *proxy, uint32_t ih,
	uint32_t il, uint32_t slot, uint32_t gen, uint32_t th, uint32_t tl)
{
	struct th_upload *upload = data;
	const uint32_t key[6] = { ih, il, slot, gen, th, tl };

	upload->stored = true;
	memcpy(upload->key, key, sizeof(key));
}

static const struct pixcache_upload_v1_listener upload_listener = {
	.target = upload_target,
	.failed = upload_failed,
	.stored = upload_stored,
};

struct th_upload *
th_upload(struct th_client *client, struct pixcache_batch_v1 *batch,
	struct th_realm *realm, const char *name, uint32_t width,
	uint32_t height, uint32_t format, uint32_t flags)
{
	struct th_upload *upload = calloc(1, sizeof(*upload));

	assert(upload != NULL);
	upload->fd = -1;
	upload->proxy = pixcache_batch_v1_upload(batch, realm->proxy, name,
		width, height, format, flags);
	pixcache_upload_v1_add_listener(upload->proxy, &upload_listener,
		upload);
	return upload;
}

struct th_upload *
th_upload_staged(struct th_client *client,
	struct pixcache_staging_v1 *staging, struct th_realm *realm,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	uint32_t offset)
{
	struct th_upload *upload = calloc(1, sizeof(*upload));

	assert(upload != NULL);
	upload->fd = -1;
	upload->proxy = pixcache_staging_v1_upload(staging, realm->proxy,
		name, width, height, format, 0, offset);
	pixcache_upload_v1_add_listener(upload->proxy, &upload_listener,
		upload);
	return upload;
}

struct th_upload *
th_upload_dmabuf(struct th_client *client, struct pixcache_batch_v1 *batch,
	struct th_realm *realm, const char *name, uint32_t width,
	uint32_t height, uint32_t format, int fd, uint32_t offset,
	uint32_t stride, uint64_t modifier)
{
	struct th_upload *upload = calloc(1, sizeof(*upload));

	assert(upload != NULL);
	upload->fd = -1;
	upload->proxy = pixcache_batch_v1_upload_dmabuf(batch, realm->proxy,
		name, width, height, format, 0, fd, offset, stride,
		(uint32_t)(modifier >> 32), (uint32_t)modifier);
	pixcache_upload_v1_add_listener(upload->proxy, &upload_listener,
		upload);
	return upload;
}

bool
th_upload_wait(struct th_client *client, struct th_upload *upload)
{
	/* 20 s: a dma-buf's reader may wait on a fence meanwhile. */
	for (int i = 0; !upload->stored && upload->failed == 0; i++) {
		if (i > 20000 || !th_roundtrip(client)) {
			return false;
		}
		if (!upload->stored && upload->failed == 0) {
			usleep(1000);
		}
	}
	return true;
}

void
th_upload_fill(struct th_upload *upload, uint32_t seed)
{
	uint8_t *map;

	assert(upload->fd >= 0);
	map = mmap(NULL, upload->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		upload->fd, 0);
	assert(map != MAP_FAILED);
	for (size_t i = 0; i < upload->size; i++) {
		map[i] = pattern(seed, i);
	}
	assert(munmap(map, upload->size) == 0);
	assert(fcntl(upload->fd, F_ADD_SEALS, F_SEAL_WRITE) == 0);
}

void
th_upload_destroy(struct th_upload *upload)
{
	if (upload->fd >= 0) {
		close(upload->fd);
	}
	pixcache_upload_v1_destroy(upload->proxy);
	free(upload);
}

struct th_upload *
th_put(struct th_client *client, struct th_realm *realm, const char *name,
	uint32_t width, uint32_t height, uint32_t seed)
{
	struct pixcache_batch_v1 *batch = th_batch(client);
	struct th_upload *upload = th_upload(client, batch, realm, name,
		width, height, DRM_FORMAT_ARGB8888, 0);

	if (th_commit(client, batch) && upload->fd >= 0) {
		th_upload_fill(upload, seed);
		pixcache_upload_v1_commit(upload->proxy);
		th_roundtrip(client);
	}
	th_batch_destroy(batch);
	return upload;
}

/* ---- removals ---- */

static void
removal_removed(void *data, struct pixcache_removal_v1 *removal)
{
	*(int *)data = 1;
}

static void
removal_missing(void *data, struct pixcache_removal_v1 *removal)
{
	*(int *)data = 0;
}

static void
removal_failed(void *data, struct pixcache_removal_v1 *removal,
	uint32_t reason)
{
	*(int *)data = -(int)reason;
}

static const struct pixcache_removal_v1_listener removal_listener = {
	.removed = removal_removed,
	.missing = removal_missing,
	.failed = removal_failed,
};

int
th_remove(struct th_client *client, struct th_realm *realm, const char *name)
{
	struct pixcache_batch_v1 *batch = th_batch(client);
	struct pixcache_removal_v1 *removal;
	int result = 99;

	removal = pixcache_batch_v1_remove(batch, realm->proxy, name);
	pixcache_removal_v1_add_listener(removal, &removal_listener, &result);
	assert(th_commit(client, batch));
	assert(result != 99);
	pixcache_removal_v1_destroy(removal);
	th_batch_destroy(batch);
	return result;
}

/* ---- raw messages ---- */

void
th_send_raw(struct th_client *client, uint32_t id, uint16_t opcode,
	const uint32_t *words, int nwords, const int *fds, int nfds)
{
	uint32_t msg[64];
	int size = (2 + nwords) * 4;

	assert(nwords <= 62 && nfds <= 8);
	wl_display_flush(client->display);
	msg[0] = id;
	msg[1] = (uint32_t)size << 16 | opcode;
	memcpy(&msg[2], words, (size_t)nwords * 4);
	assert(test_send_with_fds(wl_display_get_fd(client->display), msg,
		(size_t)size, fds, nfds, 0) == size);
}

int
th_count_fds(void)
{
	return test_count_fds();
}

static int
pools_of(const struct th_client *client)
{
	int n = 0;

	for (const struct th_pool *p = client->pools; p != NULL; p = p->next) {
		n++;
	}
	return n;
}

struct th_fds
th_fds_now(struct th_server *server, struct th_client *keep)
{
	struct pixcache_stats stats;

	pixcache_manager_get_stats(server->manager, &stats);
	return (struct th_fds){
		.process = th_count_fds(),
		.manager = stats.fds,
		.pools = pools_of(keep),
	};
}

void
th_assert_fds(const struct th_fds *before, struct th_server *server,
	struct th_client *keep)
{
	struct th_fds now = th_fds_now(server, keep);
	int expected = before->process + (int)(now.manager - before->manager) +
		(now.pools - before->pools);

	if (now.process != expected) {
		test_fail("%d fds, expected %d: %d before, manager %u -> %u, "
			"pools %d -> %d", now.process, expected,
			before->process, before->manager, now.manager,
			before->pools, now.pools);
	}
}
