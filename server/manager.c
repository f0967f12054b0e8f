#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "manager-private.h"
#include "name.h"

#define MANAGER_VERSION 2

static const struct pixcache_manager_v1_interface manager_impl;

/* ---- allocation ---- */

void *
pxc_zalloc(struct pixcache_manager *manager, size_t size)
{
	if (pxc_fault(&manager->faults, "alloc")) {
		return NULL;
	}
	return calloc(1, size);
}

char *
pxc_strdup(struct pixcache_manager *manager, const char *s)
{
	if (pxc_fault(&manager->faults, "alloc")) {
		return NULL;
	}
	return strdup(s);
}

struct wl_resource *
pxc_resource_create(struct pixcache_manager *manager,
	struct wl_client *wl_client, const struct wl_interface *interface,
	uint32_t version, uint32_t id, const void *impl,
	wl_resource_destroy_func_t destroy, size_t state_size)
{
	struct wl_resource *resource = NULL;
	void *state = NULL;

	if (manager == NULL || !pxc_fault(&manager->faults, "resource")) {
		resource = wl_resource_create(wl_client, interface,
			(int)version, id);
	}
	if (resource != NULL && manager != NULL && state_size > 0) {
		state = pxc_zalloc(manager, state_size);
		if (state == NULL) {
			wl_resource_destroy(resource);
			resource = NULL;
		}
	}
	if (resource == NULL) {
		if (id != 0) {
			wl_client_post_no_memory(wl_client);
		}
		return NULL;
	}
	wl_resource_set_implementation(resource, impl, state, destroy);
	return resource;
}

/* ---- sessions ---- */

void
pxc_manager_v1_destroy(struct pxc_manager_v1 *client)
{
	struct pixcache_manager *manager = client->manager;
	struct pxc_realm_v1 *realm, *tmp_realm;
	struct pxc_pool_v1 *pool, *tmp_pool;
	struct pxc_upload_v1 *upload, *tmp_upload;
	struct pxc_pixmap_v1 *lease, *tmp_lease;
	struct pxc_batch_v1 *batch, *tmp_batch;
	struct pxc_staging_v1 *staging, *tmp_staging;

	if (client->resource != NULL) {
		wl_resource_set_user_data(client->resource, NULL);
		client->resource = NULL;
	}
	wl_list_for_each_safe(batch, tmp_batch, &client->batches, link) {
		pxc_batch_v1_inert(batch);
	}
	wl_list_for_each_safe(lease, tmp_lease, &client->leases, client_link) {
		pxc_pixmap_v1_inert(lease);
	}
	wl_list_for_each_safe(upload, tmp_upload, &client->uploads,
			client_link) {
		pxc_upload_v1_inert(upload);
	}
	wl_list_for_each_safe(staging, tmp_staging, &client->stagings, link) {
		pxc_staging_v1_inert(staging);
	}
	wl_list_for_each_safe(pool, tmp_pool, &client->pools, client_link) {
		pxc_pool_v1_inert(pool);
	}
	wl_list_for_each_safe(realm, tmp_realm, &client->realms, link) {
		pxc_realm_v1_inert(realm);
	}
	wl_list_remove(&client->connection_link);
	client->conn->nsessions--;
	wl_list_remove(&client->link);
	free(client);
	pxc_manager_settle(manager);
}

/*
 * A session: the state of one manager object. A connection may have
 * several (two libraries of one process); they share the connection's
 * limits and owner id. NULL and *refusal set if refused, NULL and
 * *refusal 0 if out of memory.
 */
static struct pxc_manager_v1 *
client_create(struct pixcache_manager *manager, struct wl_client *wl_client,
	uint32_t *refusal)
{
	struct pxc_connection *conn;
	struct pxc_manager_v1 *client;

	*refusal = 0;
	conn = pxc_connection_get(manager, wl_client, refusal);
	if (conn == NULL) {
		return NULL;
	}
	client = pxc_zalloc(manager, sizeof(*client));
	if (client == NULL) {
		/* A connection made for it stays: it holds no resources. */
		return NULL;
	}
	client->manager = manager;
	client->client = wl_client;
	client->conn = conn;
	wl_list_init(&client->batches);
	wl_list_init(&client->realms);
	wl_list_init(&client->pools);
	wl_list_init(&client->uploads);
	wl_list_init(&client->stagings);
	wl_list_init(&client->leases);
	wl_list_insert(&conn->sessions, &client->connection_link);
	conn->nsessions++;
	wl_list_insert(&manager->clients, &client->link);
	return client;
}

/* ---- the manager object ---- */

static struct pxc_manager_v1 *
manager_v1_from_resource(struct wl_resource *resource)
{
	assert(wl_resource_instance_of(resource, &pixcache_manager_v1_interface,
		&manager_impl));
	return wl_resource_get_user_data(resource);
}

static void
manager_handle_destroy(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	wl_resource_destroy(resource);
}

static void
manager_handle_get_realm(struct wl_client *wl_client,
	struct wl_resource *resource, uint32_t id, const char *name)
{
	struct pxc_manager_v1 *client = manager_v1_from_resource(resource);
	struct pxc_realm_v1 *realm;

	if (client != NULL) {
		wl_list_for_each(realm, &client->realms, link) {
			if (strcmp(realm->name, name) == 0) {
				wl_resource_post_error(resource,
					PIXCACHE_MANAGER_V1_ERROR_REALM_BOUND,
					"realm '%s' is already bound", name);
				return;
			}
		}
	}
	pxc_realm_v1_create(wl_client, client,
		wl_resource_get_version(resource), id, name);
}

static void
manager_handle_create_batch(struct wl_client *wl_client,
	struct wl_resource *resource, uint32_t id)
{
	pxc_batch_v1_create(wl_client,
		manager_v1_from_resource(resource),
		wl_resource_get_version(resource), id);
}

static void
manager_handle_ack(struct wl_client *wl_client, struct wl_resource *resource,
	uint32_t token_hi, uint32_t token_lo)
{
	struct pxc_manager_v1 *client = manager_v1_from_resource(resource);

	if (client != NULL) {
		pxc_connection_ack(client->conn,
			pxc_wire_join(token_hi, token_lo));
	}
}

static const struct pixcache_manager_v1_interface manager_impl = {
	.destroy = manager_handle_destroy,
	.get_realm = manager_handle_get_realm,
	.create_batch = manager_handle_create_batch,
	.ack = manager_handle_ack,
};

/* The session ends with its manager object. */
static void
manager_resource_destroy(struct wl_resource *resource)
{
	struct pxc_manager_v1 *client = manager_v1_from_resource(resource);

	if (client != NULL) {
		client->resource = NULL;
		pxc_manager_v1_destroy(client);
	}
}

static void
send_hello(struct pixcache_manager *manager, struct wl_resource *resource)
{
	const struct pixcache_config *c = &manager->config;
	uint64_t instance = pxc_cache_instance(manager->cache);
	const struct pxc_format *formats;
	unsigned count;

	pixcache_manager_v1_send_instance(resource, pxc_wire_hi(instance),
		pxc_wire_lo(instance));
	formats = pxc_formats(&count);
	for (unsigned i = 0; i < count; i++) {
		pixcache_manager_v1_send_format(resource, formats[i].fourcc);
	}
	pixcache_manager_v1_send_limits(resource, c->max_width, c->max_height,
		c->max_bytes, c->max_uploads, c->max_leases,
		c->max_fds_in_flight);
}

static void
manager_bind(struct wl_client *wl_client, void *data, uint32_t version,
	uint32_t id)
{
	struct pixcache_manager *manager = data;
	struct wl_resource *resource = pxc_resource_create(manager, wl_client,
		&pixcache_manager_v1_interface, version, id, &manager_impl,
		manager_resource_destroy, 0);
	struct pxc_manager_v1 *client;
	uint32_t refusal;

	if (resource == NULL) {
		return;
	}
	client = client_create(manager, wl_client, &refusal);
	if (client == NULL && refusal == 0) {
		wl_resource_destroy(resource);
		wl_client_post_no_memory(wl_client);
		return;
	}
	wl_resource_set_user_data(resource, client);
	if (client == NULL) {
		/* Inert: every request ignored. */
		pixcache_manager_v1_send_refused(resource, refusal);
		pxc_manager_refused(manager, wl_client, NULL, refusal);
		return;
	}
	client->resource = resource;
	send_hello(manager, resource);
}

/* ---- pixmaps that left, told on the loop's thread ---- */

bool
pxc_on_loop_thread(const struct pixcache_manager *manager)
{
	return pthread_equal(pthread_self(), manager->loop_thread);
}

void
pxc_manager_settle(struct pixcache_manager *manager)
{
	struct pxc_buffer *list;
	struct pxc_realm_shm *realm;

	pthread_mutex_lock(&manager->notify_lock);
	list = manager->notify;
	manager->notify = NULL;
	pthread_mutex_unlock(&manager->notify_lock);

	while (list != NULL) {
		struct pxc_buffer *next = list->notify_next;

		pxc_pixmap_v1_evict_all(list);
		pxc_buffer_unref(list);
		list = next;
	}
	pthread_mutex_lock(&manager->realms_lock);
	wl_list_for_each(realm, &manager->realms, link) {
		pxc_realm_shm_retire_pools(realm);
	}
	pthread_mutex_unlock(&manager->realms_lock);
}

static int
handle_notify(int fd, uint32_t mask, void *data)
{
	struct pixcache_manager *manager = data;
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
		return 0;
	}
	pxc_manager_settle(manager);
	return 0;
}

/* ---- creation and destruction ---- */

static void
handle_display_destroy(struct wl_listener *listener, void *data)
{
	struct pixcache_manager *manager =
		wl_container_of(listener, manager, display_destroy);

	pixcache_manager_destroy(manager);
}

static void
manager_free(struct pixcache_manager *manager)
{
	struct pxc_realm_shm *realm, *tmp;

	pxc_cache_destroy(manager->cache);
	/* The cache released every pixmap: tell no one, free them. */
	while (manager->notify != NULL) {
		struct pxc_buffer *next = manager->notify->notify_next;

		pxc_buffer_unref(manager->notify);
		manager->notify = next;
	}
	wl_list_for_each_safe(realm, tmp, &manager->realms, link) {
		pxc_realm_shm_destroy(realm);
	}
	if (manager->notify_source != NULL) {
		wl_event_source_remove(manager->notify_source);
	}
	if (manager->timers != NULL) {
		wl_event_source_remove(manager->timers);
	}
	if (manager->flush_idle != NULL) {
		wl_event_source_remove(manager->flush_idle);
	}
	if (manager->notify_fd >= 0) {
		close(manager->notify_fd);
	}
	/* Last: every pixmap's dumb buffer was destroyed on it. */
	if (manager->drm_fd >= 0) {
		close(manager->drm_fd);
	}
	pxc_fills_destroy(manager);
	pxc_dmabuf_reader_destroy(manager);
	pxc_random_finish(&manager->rng);
	pthread_mutex_destroy(&manager->notify_lock);
	pthread_mutex_destroy(&manager->shm_lock);
	pthread_mutex_destroy(&manager->realms_lock);
	free(manager);
}

/* The anchor timer never fires. */
static int
no_timer(void *data)
{
	return 0;
}

/*
 * The fds the manager may open for clients' pixmaps: half of the
 * process's soft limit, as it is when the manager is made. The rest is
 * the compositor's own: its clients' sockets, their buffers, keymaps.
 */
static uint32_t
fd_room(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) < 0 ||
			limit.rlim_cur == RLIM_INFINITY ||
			limit.rlim_cur / 2 > UINT32_MAX) {
		return UINT32_MAX;
	}
	return (uint32_t)(limit.rlim_cur / 2);
}

bool
pxc_manager_may_open_fds(struct pixcache_manager *manager, uint32_t count)
{
	uint64_t open = (uint64_t)atomic_load(&manager->pixmap_fds) +
		manager->uploads - manager->dmabuf_uploads +
		pxc_dmabuf_reader_fds(manager);

	return open + count <= manager->fd_room;
}

struct pixcache_manager *
pxc_manager_create_internal(struct wl_display *display,
	const struct pixcache_config *config,
	const struct pixcache_policy *policy, const struct pxc_faults *faults)
{
	struct pixcache_manager *manager;
	struct pxc_cache_options options = { 0 };
	int ret;

	if (faults != NULL && pxc_fault(faults, "alloc")) {
		errno = ENOMEM;
		return NULL;
	}
	manager = calloc(1, sizeof(*manager));
	if (manager == NULL) {
		return NULL;
	}
	manager->display = display;
	manager->loop = wl_display_get_event_loop(display);
	manager->loop_thread = pthread_self();
	manager->notify_fd = -1;
	manager->drm_fd = -1;
	manager->fd_room = fd_room();
	if (config != NULL) {
		manager->config = *config;
	} else {
		pixcache_config_init(&manager->config);
	}
	pxc_policy_init(&manager->policy, policy);
	if (faults != NULL) {
		manager->faults = *faults;
	}
	pthread_mutex_init(&manager->realms_lock, NULL);
	pthread_mutex_init(&manager->shm_lock, NULL);
	pthread_mutex_init(&manager->notify_lock, NULL);
	wl_list_init(&manager->realms);
	wl_list_init(&manager->connections);
	wl_list_init(&manager->deferred);
	wl_list_init(&manager->clients);
	wl_signal_init(&manager->events.destroy);
	wl_signal_init(&manager->events.refused);
	atomic_init(&manager->pixmaps, 0);
	atomic_init(&manager->pixmap_fds, 0);
	atomic_init(&manager->dmabufs, 0);
	atomic_init(&manager->copy_bytes, 0);

	if (!pxc_config_valid(&manager->config)) {
		ret = -EINVAL;
		goto fail;
	}
	ret = pxc_random_init(&manager->rng);
	if (ret == 0) {
		ret = pxc_fills_create(manager);
	}
	if (ret < 0) {
		goto fail;
	}
	options.budget = manager->config.budget;
	options.table_capacity = manager->config.table_capacity;
	options.release = pxc_buffer_release_cb;
	options.leave = pxc_buffer_leave_cb;
	options.data = manager;
	ret = pxc_cache_create(&options, &manager->cache);
	if (ret < 0) {
		goto fail;
	}
	/* The table's capacity is the core's, a power of two. */
	manager->config.table_capacity =
		pxc_cache_table_capacity(manager->cache);

	manager->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (manager->notify_fd < 0) {
		ret = -errno;
		goto fail;
	}
	manager->notify_source = wl_event_loop_add_fd(manager->loop,
		manager->notify_fd, WL_EVENT_READABLE, handle_notify, manager);
	manager->timers = manager->notify_source == NULL ? NULL :
		wl_event_loop_add_timer(manager->loop, no_timer, NULL);
	manager->global = manager->timers == NULL ? NULL :
		wl_global_create(display, &pixcache_manager_v1_interface,
			MANAGER_VERSION, manager, manager_bind);
	if (manager->global == NULL) {
		ret = -ENOMEM;
		goto fail;
	}
	manager->display_destroy.notify = handle_display_destroy;
	wl_display_add_destroy_listener(display, &manager->display_destroy);
	return manager;

fail:
	manager_free(manager);
	errno = -ret;
	return NULL;
}

int
pxc_manager_set_version(struct pixcache_manager *manager, uint32_t version)
{
	struct wl_global *global;

	if (version == 0 || version > MANAGER_VERSION) {
		return -EINVAL;
	}
	global = wl_global_create(manager->display,
		&pixcache_manager_v1_interface, (int)version, manager,
		manager_bind);
	if (global == NULL) {
		return -ENOMEM;
	}
	wl_global_destroy(manager->global);
	manager->global = global;
	return 0;
}

struct pixcache_manager *
pixcache_manager_create(struct wl_display *display,
	const struct pixcache_config *config,
	const struct pixcache_policy *policy)
{
	return pxc_manager_create_internal(display, config, policy, NULL);
}

void
pixcache_manager_destroy(struct pixcache_manager *manager)
{
	struct pxc_connection *conn, *tmp;

	if (manager == NULL) {
		return;
	}
	wl_signal_emit(&manager->events.destroy, manager);
	wl_list_remove(&manager->display_destroy.link);
	wl_global_destroy(manager->global);
	wl_list_for_each_safe(conn, tmp, &manager->connections, link) {
		pxc_connection_destroy(conn);
	}
	manager_free(manager);
}

void
pixcache_manager_add_refused_listener(struct pixcache_manager *manager,
	struct wl_listener *listener)
{
	wl_signal_add(&manager->events.refused, listener);
}

/*
 * A client's realm name as text safe to log: printable ASCII as it is,
 * but for '\\' and '"', every other byte as \xNN. out holds
 * 4 * PXC_NAME_MAX + 1 bytes; a longer name (refused for that) is cut.
 */
static const char *
log_safe(const char *realm, char *out)
{
	size_t o = 0;

	for (size_t i = 0; realm[i] != '\0' && i < PXC_NAME_MAX; i++) {
		unsigned char b = (unsigned char)realm[i];

		if (b < 0x20 || b > 0x7e || b == '\\' || b == '"') {
			o += (size_t)snprintf(out + o, 5, "\\x%02x", b);
		} else {
			out[o++] = (char)b;
		}
	}
	out[o] = '\0';
	return out;
}

void
pxc_manager_refused(struct pixcache_manager *manager,
	struct wl_client *client, const char *realm, uint32_t reason)
{
	char text[4 * PXC_NAME_MAX + 1];
	struct pixcache_refusal refusal = {
		client, realm != NULL ? log_safe(realm, text) : NULL, reason,
	};

	wl_signal_emit(&manager->events.refused, &refusal);
}

void
pixcache_manager_add_destroy_listener(struct pixcache_manager *manager,
	struct wl_listener *listener)
{
	wl_signal_add(&manager->events.destroy, listener);
}

uint64_t
pixcache_manager_instance(const struct pixcache_manager *manager)
{
	return pxc_cache_instance(manager->cache);
}

void
pixcache_manager_get_stats(struct pixcache_manager *manager,
	struct pixcache_stats *stats)
{
	struct pxc_connection *conn;
	struct pxc_cache_stats core;

	pxc_cache_get_stats(manager->cache, &core);
	*stats = (struct pixcache_stats){
		.budget = manager->config.budget,
		.entries = core.entries,
		.indexed_bytes = core.indexed_bytes,
		.held_only_bytes = core.held_only_bytes,
		.hits = core.hits,
		.misses = core.misses,
		.inserts = core.inserts,
		.evictions = core.evictions,
		.realms = core.realms,
		.pixmaps = atomic_load(&manager->pixmaps),
		.copy_bytes = atomic_load(&manager->copy_bytes),
		.dmabufs = atomic_load(&manager->dmabufs),
		.dmabuf_bytes = manager->side_bytes -
			atomic_load(&manager->copy_bytes),
	};
	pthread_mutex_lock(&manager->shm_lock);
	stats->pools = manager->pools;
	pthread_mutex_unlock(&manager->shm_lock);
	wl_list_for_each(conn, &manager->connections, link) {
		stats->clients += conn->nsessions > 0;
		stats->sessions += conn->nsessions;
		stats->uploads += conn->uploads_in_flight;
		stats->leases += conn->holding;
		stats->claims += conn->claims;
		stats->found_leases += conn->found_leases;
	}
	/* A dma-buf's upload has no target: its fds are the reader's. */
	stats->fds = stats->pools + stats->realms + stats->uploads -
		manager->dmabuf_uploads + 1 +
		atomic_load(&manager->pixmap_fds) + (manager->drm_fd >= 0) +
		pxc_dmabuf_reader_fds(manager);
}
