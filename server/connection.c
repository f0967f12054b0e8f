/*
 * Connections: what a wl_client's sessions (manager objects) share, and
 * what the per-client limits count: file descriptors in flight and their
 * acknowledgements, the uid's count of connections.
 */

#include <assert.h>
#include <stdlib.h>

#include "manager-private.h"

bool
pxc_connection_may_hold(const struct pxc_connection *conn)
{
	return conn->objects < conn->manager->config.max_objects;
}

/* Counted per connection: every session's fds share one socket. */
bool
pxc_connection_may_send_fds(struct pxc_connection *conn, uint32_t count)
{
	uint64_t in_flight = conn->fds_sent - conn->fds_acked;

	return in_flight + count <= conn->manager->config.max_fds_in_flight;
}

void
pxc_connection_sent_fds(struct pxc_connection *conn, uint32_t count)
{
	conn->fds_sent += count;
}

/*
 * 64 bits from the manager's ChaCha20 generator: with PXC_ACKS live per
 * connection, a client that does not read would need ~2^59 guesses on
 * average to lift its own cap.
 */
uint64_t
pxc_connection_done_token(struct pxc_connection *conn)
{
	uint64_t token = 0;

	/* 0 never goes out, so a client's zeroed state acks nothing. */
	while (token == 0) {
		if (pxc_random_bytes(&conn->manager->rng, &token,
				sizeof(token)) < 0) {
			return 0;
		}
	}
	conn->acks[conn->next_ack].token = token;
	conn->acks[conn->next_ack].fds_sent = conn->fds_sent;
	conn->next_ack = (conn->next_ack + 1) % PXC_ACKS;
	return token;
}

void
pxc_connection_ack(struct pxc_connection *conn, uint64_t token)
{
	if (token == 0) {
		return;
	}
	for (unsigned i = 0; i < PXC_ACKS; i++) {
		if (conn->acks[i].token == token) {
			if (conn->acks[i].fds_sent > conn->fds_acked) {
				conn->fds_acked = conn->acks[i].fds_sent;
			}
			return;
		}
	}
}

void
pxc_connection_destroy(struct pxc_connection *conn)
{
	struct pxc_manager_v1 *client, *tmp;

	wl_list_for_each_safe(client, tmp, &conn->sessions, connection_link) {
		pxc_manager_v1_destroy(client);
	}
	wl_list_remove(&conn->destroy.link);
	wl_list_remove(&conn->link);
	free(conn);
}

static void
connection_handle_destroy(struct wl_listener *listener, void *data)
{
	struct pxc_connection *conn = wl_container_of(listener, conn, destroy);

	pxc_connection_destroy(conn);
}

struct pxc_connection *
pxc_connection_find(struct pixcache_manager *manager,
	struct wl_client *wl_client)
{
	struct pxc_connection *conn;

	wl_list_for_each(conn, &manager->connections, link) {
		if (conn->client == wl_client) {
			return conn;
		}
	}
	return NULL;
}

/* Connections of uid with a session: the ones using the manager now. */
static uint32_t
connections_of_uid(struct pixcache_manager *manager, uid_t uid)
{
	struct pxc_connection *conn;
	uint32_t n = 0;

	wl_list_for_each(conn, &manager->connections, link) {
		n += conn->uid == uid && conn->nsessions > 0;
	}
	return n;
}

struct pxc_connection *
pxc_connection_get(struct pixcache_manager *manager,
	struct wl_client *wl_client,
	uint32_t *refusal)
{
	struct pxc_connection *conn = pxc_connection_find(manager, wl_client);
	uid_t uid;

	wl_client_get_credentials(wl_client, NULL, &uid, NULL);
	if (conn != NULL && conn->nsessions >=
			manager->config.max_sessions_per_connection) {
		*refusal = PIXCACHE_MANAGER_V1_REFUSAL_SESSIONS;
		return NULL;
	}
	if ((conn == NULL || conn->nsessions == 0) &&
			connections_of_uid(manager, uid) >=
			manager->config.max_connections_per_uid) {
		*refusal = PIXCACHE_MANAGER_V1_REFUSAL_CONNECTIONS;
		return NULL;
	}
	if (conn != NULL) {
		return conn;
	}
	conn = pxc_zalloc(manager, sizeof(*conn));
	if (conn == NULL) {
		return NULL;
	}
	conn->manager = manager;
	conn->client = wl_client;
	conn->uid = uid;
	conn->owner = ++manager->next_owner;
	wl_list_init(&conn->sessions);
	conn->destroy.notify = connection_handle_destroy;
	wl_client_add_destroy_listener(wl_client, &conn->destroy);
	wl_list_insert(&manager->connections, &conn->link);
	return conn;
}

uint64_t
pixcache_manager_client_owner(struct pixcache_manager *manager,
	struct wl_client *wl_client)
{
	struct pxc_connection *conn = pxc_connection_find(manager, wl_client);

	return conn != NULL ? conn->owner : 0;
}
