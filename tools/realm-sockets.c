/*
 * A realm per socket (realm-sockets.h): the sockets are listened on here
 * rather than by libwayland, so that each client's socket is known when
 * its wl_client is made.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "pixcache-server.h"
#include "realm-sockets.h"

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* A socket of one realm. */
struct realm_socket {
	struct pxt_realm_sockets *owner;
	char *name;
	char *realm;
	char path[SUN_PATH_SIZE];
	char lock_path[SUN_PATH_SIZE + 5];
	int fd;
	int lock_fd;
	struct wl_event_source *source;
};

/* Where a client came from, and what it may therefore do. */
struct origin {
	struct wl_list link;		/* pxt_realm_sockets.origins */
	struct pxt_realm_sockets *owner;
	struct wl_client *client;
	const struct realm_socket *socket;	/* NULL: the display's */
	struct wl_listener destroy;
	struct pxt_realm_client info;
};

struct pxt_realm_sockets {
	struct pxt_realm_sockets_hooks hooks;
	struct realm_socket sockets[PXT_MAX_REALM_SOCKETS];
	int nsockets;
	/* Set while listening. */
	struct wl_display *display;
	const char *display_socket;
	struct wl_listener client_created;
	/* The socket of the client being created, for client_created. */
	const struct realm_socket *accepting;
	struct wl_list origins;
	unsigned next_id;
};

static void
note(struct pxt_realm_sockets *rs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
note(struct pxt_realm_sockets *rs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rs->hooks.log(rs->hooks.data, fmt, ap);
	va_end(ap);
}

static struct origin *
origin_of(struct pxt_realm_sockets *rs, struct wl_client *client)
{
	struct origin *origin;

	wl_list_for_each(origin, &rs->origins, link) {
		if (origin->client == client) {
			return origin;
		}
	}
	return NULL;
}

uint32_t
pxt_realm_access(void *data, struct wl_client *client, const char *realm)
{
	const uint32_t all = PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_WRITE |
		PIXCACHE_ACCESS_TABLE;
	struct origin *origin = origin_of(data, client);

	if (origin == NULL) {
		/* Not one we could note: nothing. */
		return 0;
	}
	if (origin->socket == NULL) {
		return strcmp(realm, PXT_DEFAULT_REALM) == 0 ? all : 0;
	}
	if (strcmp(realm, origin->socket->realm) == 0) {
		return all;
	}
	if (strcmp(realm, PXT_DEFAULT_REALM) == 0) {
		return PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_TABLE;
	}
	return 0;
}

bool
pxt_realm_may_replace(void *data, struct wl_client *client,
	const char *realm, uint64_t owner)
{
	return pxt_realm_access(data, client, realm) & PIXCACHE_ACCESS_WRITE;
}

/* ---- clients ---- */

static void
origin_free(struct origin *origin)
{
	wl_list_remove(&origin->link);
	wl_list_remove(&origin->destroy.link);
	free(origin);
}

static void
client_gone(struct wl_listener *listener, void *data)
{
	struct origin *origin = wl_container_of(listener, origin, destroy);
	struct pxt_realm_sockets *rs = origin->owner;

	note(rs, "disconnect client %u pid %d", origin->info.id,
		(int)origin->info.pid);
	origin_free(origin);
	if (wl_list_empty(&rs->origins) && rs->hooks.idle != NULL) {
		rs->hooks.idle(rs->hooks.data);
	}
}

/* Runs inside wl_client_create(), for every socket's clients. */
static void
client_created(struct wl_listener *listener, void *data)
{
	struct pxt_realm_sockets *rs =
		wl_container_of(listener, rs, client_created);
	struct wl_client *client = data;
	struct origin *origin = calloc(1, sizeof(*origin));
	const struct realm_socket *sock = rs->accepting;
	gid_t gid;

	if (origin == NULL) {
		/* Unknown to the policy, it may do nothing anyway. */
		note(rs, "out of memory: a new client gets no access");
		return;
	}
	origin->owner = rs;
	origin->client = client;
	origin->socket = sock;
	origin->info.id = ++rs->next_id;
	wl_client_get_credentials(client, &origin->info.pid,
		&origin->info.uid, &gid);
	origin->destroy.notify = client_gone;
	wl_client_add_destroy_listener(client, &origin->destroy);
	wl_list_insert(&rs->origins, &origin->link);
	note(rs, "connect client %u pid %d uid %d on %s (realm %s)",
		origin->info.id, (int)origin->info.pid, (int)origin->info.uid,
		sock ? sock->name : rs->display_socket,
		sock ? sock->realm : PXT_DEFAULT_REALM);
}

const struct pxt_realm_client *
pxt_realm_sockets_client(struct pxt_realm_sockets *rs,
	struct wl_client *client)
{
	struct origin *origin = origin_of(rs, client);

	return origin ? &origin->info : NULL;
}

unsigned
pxt_realm_sockets_connections(struct pxt_realm_sockets *rs)
{
	return rs->next_id;
}

unsigned
pxt_realm_sockets_clients(struct pxt_realm_sockets *rs)
{
	return (unsigned)wl_list_length(&rs->origins);
}

/* ---- the sockets ---- */

static int
socket_accept(int fd, uint32_t mask, void *data)
{
	struct realm_socket *sock = data;
	struct pxt_realm_sockets *rs = sock->owner;
	int client_fd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (client_fd < 0) {
		note(rs, "accept on %s: %s", sock->name, strerror(errno));
		return 0;
	}
	rs->accepting = sock;
	if (wl_client_create(rs->display, client_fd) == NULL) {
		note(rs, "cannot create a client on %s: %s", sock->name,
			strerror(errno));
		close(client_fd);
	}
	rs->accepting = NULL;
	return 0;
}

/*
 * $XDG_RUNTIME_DIR/NAME, taken as libwayland takes its sockets: whoever
 * holds the lock file owns the name and may replace a stale socket.
 */
static bool
socket_listen(struct pxt_realm_sockets *rs, struct realm_socket *sock)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
	} addr = { .un.sun_family = AF_UNIX };

	if (snprintf(sock->path, sizeof(sock->path), "%s/%s", dir,
			sock->name) >= (int)sizeof(sock->path)) {
		note(rs, "socket path too long: %s/%s", dir, sock->name);
		return false;
	}
	snprintf(sock->lock_path, sizeof(sock->lock_path), "%s.lock",
		sock->path);
	sock->lock_fd = open(sock->lock_path,
		O_CREAT | O_CLOEXEC | O_RDWR, 0660);
	if (sock->lock_fd < 0 ||
			flock(sock->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		note(rs, "socket %s is in use: %s", sock->name,
			strerror(errno));
		return false;
	}
	unlink(sock->path);
	memcpy(addr.un.sun_path, sock->path, strlen(sock->path) + 1);
	sock->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock->fd < 0 ||
			bind(sock->fd, &addr.sa, sizeof(addr.un)) < 0 ||
			listen(sock->fd, 128) < 0) {
		note(rs, "cannot listen on %s: %s", sock->path,
			strerror(errno));
		return false;
	}
	sock->source = wl_event_loop_add_fd(
		wl_display_get_event_loop(rs->display), sock->fd,
		WL_EVENT_READABLE, socket_accept, sock);
	if (sock->source == NULL) {
		note(rs, "cannot watch %s", sock->path);
		return false;
	}
	return true;
}

static void
socket_unlisten(struct realm_socket *sock)
{
	if (sock->source != NULL) {
		wl_event_source_remove(sock->source);
		sock->source = NULL;
	}
	if (sock->fd >= 0) {
		close(sock->fd);
		unlink(sock->path);
		sock->fd = -1;
	}
	if (sock->lock_fd >= 0) {
		unlink(sock->lock_path);
		close(sock->lock_fd);
		sock->lock_fd = -1;
	}
}

struct pxt_realm_sockets *
pxt_realm_sockets_create(const struct pxt_realm_sockets_hooks *hooks)
{
	struct pxt_realm_sockets *rs = calloc(1, sizeof(*rs));

	if (rs == NULL) {
		return NULL;
	}
	rs->hooks = *hooks;
	wl_list_init(&rs->origins);
	return rs;
}

bool
pxt_realm_sockets_add(struct pxt_realm_sockets *rs, const char *arg)
{
	const char *colon = strchr(arg, ':');
	struct realm_socket *sock;

	if (colon == NULL || colon == arg || colon[1] == '\0' ||
			memchr(arg, '/', (size_t)(colon - arg)) != NULL) {
		note(rs, "--realm-socket wants NAME:REALM, got \"%s\"", arg);
		return false;
	}
	if (rs->nsockets == PXT_MAX_REALM_SOCKETS) {
		note(rs, "at most %d realm sockets", PXT_MAX_REALM_SOCKETS);
		return false;
	}
	sock = &rs->sockets[rs->nsockets];
	sock->name = strndup(arg, (size_t)(colon - arg));
	sock->realm = strdup(colon + 1);
	if (sock->name == NULL || sock->realm == NULL) {
		note(rs, "out of memory");
		free(sock->name);
		free(sock->realm);
		*sock = (struct realm_socket){ 0 };
		return false;
	}
	sock->owner = rs;
	sock->fd = sock->lock_fd = -1;
	rs->nsockets++;
	return true;
}

bool
pxt_realm_sockets_listen(struct pxt_realm_sockets *rs,
	struct wl_display *display, const char *display_socket)
{
	rs->display = display;
	rs->display_socket = display_socket;
	rs->client_created.notify = client_created;
	wl_display_add_client_created_listener(display, &rs->client_created);
	for (int i = 0; i < rs->nsockets; i++) {
		if (!socket_listen(rs, &rs->sockets[i])) {
			return false;
		}
	}
	return true;
}

void
pxt_realm_sockets_stop(struct pxt_realm_sockets *rs)
{
	if (rs->display == NULL) {
		return;
	}
	for (int i = 0; i < rs->nsockets; i++) {
		socket_unlisten(&rs->sockets[i]);
	}
	wl_list_remove(&rs->client_created.link);
	rs->display = NULL;
}

void
pxt_realm_sockets_destroy(struct pxt_realm_sockets *rs)
{
	struct origin *origin, *tmp;

	if (rs == NULL) {
		return;
	}
	pxt_realm_sockets_stop(rs);
	/* Clients still there are known no longer, quietly. */
	wl_list_for_each_safe(origin, tmp, &rs->origins, link) {
		origin_free(origin);
	}
	for (int i = 0; i < rs->nsockets; i++) {
		free(rs->sockets[i].name);
		free(rs->sockets[i].realm);
	}
	free(rs);
}

void
pxt_realm_sockets_log_sockets(struct pxt_realm_sockets *rs)
{
	for (int i = 0; i < rs->nsockets; i++) {
		note(rs, "listening on %s (realm %s, reads %s)",
			rs->sockets[i].name, rs->sockets[i].realm,
			PXT_DEFAULT_REALM);
	}
}
