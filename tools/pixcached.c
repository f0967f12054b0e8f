/*
 * pixcached: the pixcache manager on a Wayland display of its own, for
 * trying pixcache without a compositor, and for tests and benchmarks.
 *
 * Clients of the main socket use realm "default". Each --realm-socket
 * NAME:REALM listens on a socket whose clients read and write REALM and
 * only read "default", as a compositor would give sandboxed clients a
 * socket of their own.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "pixcache-server.h"
#include "pixcache-v1-server-protocol.h"
#include "size.h"

#define MAX_REALM_SOCKETS 16
#define DEFAULT_SOCKET "pixcache-0"
#define DEFAULT_REALM "default"

/* A socket of one realm, listened on by pixcached itself. */
struct realm_socket {
	struct daemon *daemon;
	char *name;
	char *realm;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lock_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 5];
	int fd;
	int lock_fd;
	struct wl_event_source *source;
};

/* Where a client came from, and what it may therefore do. */
struct origin {
	struct wl_list link;		/* daemon->origins */
	struct daemon *daemon;
	struct wl_client *client;
	const struct realm_socket *rs;	/* NULL: the main socket */
	struct wl_listener destroy;
	pid_t pid;
	uid_t uid;
	unsigned id;
};

struct daemon {
	struct wl_display *display;
	struct pixcache_manager *manager;
	const char *socket;
	const char *drm_device;		/* NULL: no dma-bufs */
	struct realm_socket realms[MAX_REALM_SOCKETS];
	int nrealms;
	/* The socket of the client being created, for its created signal. */
	const struct realm_socket *accepting;
	struct wl_list origins;
	struct wl_listener client_created;
	struct wl_listener refused;
	struct wl_event_source *signals[2];
	unsigned next_id;
	unsigned connections, refusals;
	struct timespec start;
};

/* One line on stderr, stamped with the seconds since start. */
static void
say(struct daemon *daemon, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
say(struct daemon *daemon, const char *fmt, ...)
{
	struct timespec now;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	fprintf(stderr, "pixcached: [%8.3f] ", (double)(now.tv_sec -
		daemon->start.tv_sec) + (now.tv_nsec - daemon->start.tv_nsec) /
		1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- the policy ---- */

static struct origin *
origin_of(struct daemon *daemon, struct wl_client *client)
{
	struct origin *origin;

	wl_list_for_each(origin, &daemon->origins, link) {
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
		/* Not one we know of: nothing. */
		return 0;
	}
	if (origin->rs == NULL) {
		return strcmp(realm, DEFAULT_REALM) == 0 ? all : 0;
	}
	if (strcmp(realm, origin->rs->realm) == 0) {
		return all;
	}
	if (strcmp(realm, DEFAULT_REALM) == 0) {
		return PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_TABLE;
	}
	return 0;
}

/*
 * pixcached is a host for trying pixcache and for tests: whoever may
 * write a realm may replace and remove what others put there. A
 * compositor that needs more keeps the default (only the owner).
 */
static bool
may_replace(void *data, struct wl_client *client, const char *realm,
	uint64_t owner)
{
	return realm_access(data, client, realm) & PIXCACHE_ACCESS_WRITE;
}

/* ---- clients ---- */

static void
client_gone(struct wl_listener *listener, void *data)
{
	struct origin *origin = wl_container_of(listener, origin, destroy);
	struct daemon *daemon = origin->daemon;

	say(origin->daemon, "disconnect client %u pid %d", origin->id,
		(int)origin->pid);
	wl_list_remove(&origin->link);
	wl_list_remove(&origin->destroy.link);
	free(origin);
	if (wl_list_empty(&daemon->origins)) {
		/* Idle: give what the clients' state took back to the
		 * system, so a long-running daemon's memory follows its
		 * load. */
		malloc_trim(0);
	}
}

static void
client_created(struct wl_listener *listener, void *data)
{
	struct daemon *daemon =
		wl_container_of(listener, daemon, client_created);
	struct wl_client *client = data;
	struct origin *origin = calloc(1, sizeof(*origin));
	const struct realm_socket *rs = daemon->accepting;
	gid_t gid;

	if (origin == NULL) {
		/* Unknown to the policy, it may do nothing anyway. */
		say(daemon, "out of memory: a new client gets no access");
		return;
	}
	origin->daemon = daemon;
	origin->client = client;
	origin->rs = rs;
	origin->id = ++daemon->next_id;
	wl_client_get_credentials(client, &origin->pid, &origin->uid, &gid);
	origin->destroy.notify = client_gone;
	wl_client_add_destroy_listener(client, &origin->destroy);
	wl_list_insert(&daemon->origins, &origin->link);
	daemon->connections++;
	say(daemon, "connect client %u pid %d uid %d on %s (realm %s)",
		origin->id, (int)origin->pid, (int)origin->uid,
		rs ? rs->name : daemon->socket, rs ? rs->realm : DEFAULT_REALM);
}

static const char *
refusal_text(const struct pixcache_refusal *refusal)
{
	if (refusal->realm == NULL) {
		switch (refusal->reason) {
		case PIXCACHE_MANAGER_V1_REFUSAL_CONNECTIONS:
			return "too many connections of its user";
		case PIXCACHE_MANAGER_V1_REFUSAL_SESSIONS:
			return "too many sessions on its connection";
		default:
			return "the policy";
		}
	}
	return refusal->reason == PIXCACHE_BATCH_V1_FAILURE_NAME ?
		"not a valid realm name" : "not allowed by the policy";
}

static void
client_refused(struct wl_listener *listener, void *data)
{
	struct daemon *daemon = wl_container_of(listener, daemon, refused);
	const struct pixcache_refusal *refusal = data;
	struct origin *origin = origin_of(daemon, refusal->client);
	unsigned id = origin ? origin->id : 0;
	int pid = origin ? (int)origin->pid : 0;

	daemon->refusals++;
	if (refusal->realm == NULL) {
		say(daemon, "refuse client %u pid %d: %s", id, pid,
			refusal_text(refusal));
	} else {
		say(daemon, "deny client %u pid %d realm \"%s\": %s", id, pid,
			refusal->realm, refusal_text(refusal));
	}
}

/* ---- realm sockets ---- */

static int
realm_accept(int fd, uint32_t mask, void *data)
{
	struct realm_socket *rs = data;
	struct daemon *daemon = rs->daemon;
	int client_fd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (client_fd < 0) {
		say(daemon, "accept on %s: %s", rs->name, strerror(errno));
		return 0;
	}
	/* Its created signal runs inside wl_client_create(). */
	daemon->accepting = rs;
	if (wl_client_create(daemon->display, client_fd) == NULL) {
		say(daemon, "cannot create a client on %s: %s", rs->name,
			strerror(errno));
		close(client_fd);
	}
	daemon->accepting = NULL;
	return 0;
}

/*
 * Listens on $XDG_RUNTIME_DIR/NAME the way libwayland does for its own
 * sockets: the lock file says the name is ours, and then a stale socket
 * of that name may be replaced.
 */
static int
realm_listen(struct daemon *daemon, struct realm_socket *rs)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
	} addr = { .un.sun_family = AF_UNIX };

	if (snprintf(rs->path, sizeof(rs->path), "%s/%s", dir, rs->name) >=
			(int)sizeof(rs->path)) {
		fprintf(stderr, "pixcached: socket path too long: %s/%s\n",
			dir, rs->name);
		return -1;
	}
	snprintf(rs->lock_path, sizeof(rs->lock_path), "%s.lock", rs->path);
	rs->lock_fd = open(rs->lock_path, O_CREAT | O_CLOEXEC | O_RDWR,
		0660);
	if (rs->lock_fd < 0 || flock(rs->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "pixcached: socket %s is in use: %s\n",
			rs->name, strerror(errno));
		return -1;
	}
	unlink(rs->path);
	memcpy(addr.un.sun_path, rs->path, strlen(rs->path) + 1);
	rs->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rs->fd < 0 || bind(rs->fd, &addr.sa, sizeof(addr.un)) < 0 || listen(rs->fd, 128) < 0) {
		fprintf(stderr, "pixcached: cannot listen on %s: %s\n",
			rs->path, strerror(errno));
		return -1;
	}
	rs->source = wl_event_loop_add_fd(
		wl_display_get_event_loop(daemon->display), rs->fd,
		WL_EVENT_READABLE, realm_accept, rs);
	if (rs->source == NULL) {
		fprintf(stderr, "pixcached: cannot watch %s\n", rs->path);
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

/* ---- setup ---- */

/* More fds than the default 1024: the kernel counts fds in flight to
 * clients against the sender's limit (doc/security.md). */
static void
raise_fd_limit(struct daemon *daemon)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) < 0) {
		say(daemon, "getrlimit: %s", strerror(errno));
		return;
	}
	if (limit.rlim_cur < limit.rlim_max) {
		rlim_t old = limit.rlim_cur;

		limit.rlim_cur = limit.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
			say(daemon, "cannot raise the fd limit: %s",
				strerror(errno));
			return;
		}
		say(daemon, "fd limit raised from %llu to %llu",
			(unsigned long long)old,
			(unsigned long long)limit.rlim_cur);
	}
}

static int
on_signal(int signal_number, void *data)
{
	struct daemon *daemon = data;

	say(daemon, "%s: shutting down", strsignal(signal_number));
	wl_display_terminate(daemon->display);
	return 0;
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: pixcached [--socket NAME] [--budget SIZE] "
		"[--quota SIZE] [--max-connections N]\n"
		"                 [--max-leases N] [--table-capacity N]\n"
		"                 [--realm-socket NAME:REALM]... "
		"[--drm-device PATH]\n"
		"\n"
		"Serves the pixcache manager on $XDG_RUNTIME_DIR/NAME (default "
		"%s, realm \"%s\").\n"
		"  --budget SIZE     bytes of pixmaps held at most "
		"(K, M, G suffixes)\n"
		"  --quota SIZE      bytes one realm may hold at most\n"
		"  --max-connections N, --max-leases N, --table-capacity N\n"
		"                    connections per user, pixmaps held per "
		"connection, slots\n"
		"                    per realm (doc/server.md)\n"
		"  --realm-socket NAME:REALM\n"
		"                    a socket whose clients read and write "
		"REALM, and only\n"
		"                    read \"%s\"; may be repeated\n"
		"  --drm-device PATH a DRM primary node (/dev/dri/card0) whose "
		"dumb buffers\n"
		"                    give clients pixmaps as dma-bufs\n",
		DEFAULT_SOCKET, DEFAULT_REALM, DEFAULT_REALM);
}

static int
add_realm_socket(struct daemon *daemon, const char *arg)
{
	const char *colon = strchr(arg, ':');
	struct realm_socket *rs;

	if (colon == NULL || colon == arg || colon[1] == '\0' ||
			strchr(arg, '/') != NULL) {
		fprintf(stderr, "pixcached: --realm-socket wants NAME:REALM, "
			"got \"%s\"\n", arg);
		return -1;
	}
	if (daemon->nrealms == MAX_REALM_SOCKETS) {
		fprintf(stderr, "pixcached: at most %d realm sockets\n",
			MAX_REALM_SOCKETS);
		return -1;
	}
	rs = &daemon->realms[daemon->nrealms++];
	rs->daemon = daemon;
	rs->fd = rs->lock_fd = -1;
	rs->name = strndup(arg, (size_t)(colon - arg));
	rs->realm = strdup(colon + 1);
	if (rs->name == NULL || rs->realm == NULL) {
		fprintf(stderr, "pixcached: out of memory\n");
		return -1;
	}
	return 0;
}

/* --max-connections, --max-leases, --table-capacity: 1 to 2^30. */
static int
parse_count(int option, const char *arg, struct pixcache_config *config)
{
	uint64_t n;

	if (pxc_parse_size(arg, &n) < 0 || n == 0 || n > (1u << 30)) {
		fprintf(stderr, "pixcached: bad count \"%s\"\n", arg);
		return -1;
	}
	if (option == 'C') {
		config->max_connections_per_uid = (uint32_t)n;
	} else if (option == 'L') {
		config->max_leases = (uint32_t)n;
	} else {
		config->table_capacity = (uint32_t)n;
	}
	return 0;
}

/* Parses the command line into daemon and config; 0, or an exit status. */
static int
parse(int argc, char *argv[], struct daemon *daemon,
	struct pixcache_config *config)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "budget", required_argument, NULL, 'b' },
		{ "quota", required_argument, NULL, 'q' },
		{ "realm-socket", required_argument, NULL, 'r' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "max-leases", required_argument, NULL, 'L' },
		{ "table-capacity", required_argument, NULL, 'T' },
		{ "drm-device", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			daemon->socket = optarg;
			break;
		case 'b':
			if (pxc_parse_size(optarg, &config->budget) < 0 ||
					config->budget == 0) {
				fprintf(stderr, "pixcached: bad --budget "
					"\"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'q':
			if (pxc_parse_size(optarg, &config->realm_quota) < 0) {
				fprintf(stderr, "pixcached: bad --quota "
					"\"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'r':
			if (add_realm_socket(daemon, optarg) < 0) {
				return 2;
			}
			break;
		case 'C':
		case 'L':
		case 'T':
			if (parse_count(c, optarg, config) < 0) {
				return 2;
			}
			break;
		case 'D':
			daemon->drm_device = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pixcached: unexpected argument \"%s\"\n",
			argv[optind]);
		return 2;
	}
	return 0;
}

/* The manager keeps a duplicate of the device's fd: ours is closed. */
static int
use_drm_device(struct daemon *daemon)
{
	int fd = open(daemon->drm_device, O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		fprintf(stderr, "pixcached: cannot open %s: %s\n",
			daemon->drm_device, strerror(errno));
		return -1;
	}
	ret = pixcache_manager_set_drm_device(daemon->manager, fd);
	close(fd);
	if (ret < 0) {
		fprintf(stderr, "pixcached: cannot use %s: %s\n",
			daemon->drm_device, strerror(-ret));
		return -1;
	}
	say(daemon, "pixmaps as dma-bufs of %s", daemon->drm_device);
	return 0;
}

static int
start(struct daemon *daemon, const struct pixcache_config *config)
{
	struct wl_event_loop *loop;
	struct pixcache_policy policy = {
		.realm_access = realm_access,
		.may_replace = may_replace,
		.data = daemon,
	};

	daemon->display = wl_display_create();
	if (daemon->display == NULL) {
		fprintf(stderr, "pixcached: cannot create a display\n");
		return -1;
	}
	loop = wl_display_get_event_loop(daemon->display);
	daemon->client_created.notify = client_created;
	wl_display_add_client_created_listener(daemon->display,
		&daemon->client_created);
	daemon->manager = pixcache_manager_create(daemon->display, config,
		&policy);
	if (daemon->manager == NULL) {
		fprintf(stderr, "pixcached: cannot create the manager: %s\n",
			strerror(errno));
		return -1;
	}
	if (daemon->drm_device != NULL && use_drm_device(daemon) < 0) {
		return -1;
	}
	daemon->refused.notify = client_refused;
	pixcache_manager_add_refused_listener(daemon->manager,
		&daemon->refused);
	if (wl_display_add_socket(daemon->display, daemon->socket) < 0) {
		fprintf(stderr, "pixcached: cannot listen on %s: %s\n",
			daemon->socket, strerror(errno));
		return -1;
	}
	for (int i = 0; i < daemon->nrealms; i++) {
		if (realm_listen(daemon, &daemon->realms[i]) < 0) {
			return -1;
		}
	}
	daemon->signals[0] = wl_event_loop_add_signal(loop, SIGINT, on_signal,
		daemon);
	daemon->signals[1] = wl_event_loop_add_signal(loop, SIGTERM,
		on_signal, daemon);
	if (daemon->signals[0] == NULL || daemon->signals[1] == NULL) {
		fprintf(stderr, "pixcached: cannot watch signals\n");
		return -1;
	}
	return 0;
}

static void
report(struct daemon *daemon)
{
	struct pixcache_stats stats;

	pixcache_manager_get_stats(daemon->manager, &stats);
	say(daemon, "served %u connections, refused %u; %" PRIu64
		" entries, %" PRIu64 " bytes indexed, %" PRIu64 " hits, %"
		PRIu64 " misses, %" PRIu64 " inserts, %" PRIu64 " evictions",
		daemon->connections, daemon->refusals, stats.entries,
		stats.indexed_bytes, stats.hits, stats.misses, stats.inserts,
		stats.evictions);
}

int
main(int argc, char *argv[])
{
	struct daemon daemon = { .socket = DEFAULT_SOCKET };
	struct pixcache_config config;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &daemon.start);
	wl_list_init(&daemon.origins);
	pixcache_config_init(&config);
	ret = parse(argc, argv, &daemon, &config);
	if (ret != 0) {
		return ret < 0 ? 0 : ret;
	}
	if (getenv("XDG_RUNTIME_DIR") == NULL) {
		fprintf(stderr, "pixcached: XDG_RUNTIME_DIR is not set\n");
		return 1;
	}
	raise_fd_limit(&daemon);
	ret = start(&daemon, &config) < 0 ? 1 : 0;
	if (ret == 0) {
		say(&daemon, "listening on %s (realm %s), budget %" PRIu64
			" bytes, realm quota %" PRIu64, daemon.socket,
			DEFAULT_REALM, config.budget, config.realm_quota);
		for (int i = 0; i < daemon.nrealms; i++) {
			say(&daemon, "listening on %s (realm %s, reads %s)",
				daemon.realms[i].name, daemon.realms[i].realm,
				DEFAULT_REALM);
		}
		wl_display_run(daemon.display);
		report(&daemon);
	}
	for (int i = 0; i < daemon.nrealms; i++) {
		realm_unlisten(&daemon.realms[i]);
		free(daemon.realms[i].name);
		free(daemon.realms[i].realm);
	}
	for (int i = 0; i < 2; i++) {
		if (daemon.signals[i] != NULL) {
			wl_event_source_remove(daemon.signals[i]);
		}
	}
	if (daemon.display != NULL) {
		/* Clients first: their destroy listeners log and free. */
		wl_display_destroy_clients(daemon.display);
		wl_list_remove(&daemon.client_created.link);
		wl_display_destroy(daemon.display);
	}
	return ret;
}
