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
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "pixcache-server.h"
#include "pixcache-v1-server-protocol.h"
#include "drm-device.h"
#include "realm-sockets.h"
#include "size.h"

#define DEFAULT_SOCKET "pixcache-0"

struct daemon {
	struct wl_display *display;
	struct pixcache_manager *manager;
	const char *socket;
	const char *drm_device;		/* NULL: no dma-bufs */
	struct pxt_realm_sockets *realms;
	struct wl_listener refused;
	struct wl_event_source *signals[2];
	unsigned refusals;
	struct timespec start;
};

/* One line on stderr, stamped with the seconds since start. */
static void vsay(void *data, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
vsay(void *data, const char *fmt, va_list ap)
{
	struct daemon *daemon = data;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	fprintf(stderr, "pixcached: [%8.3f] ", (double)(now.tv_sec -
		daemon->start.tv_sec) + (now.tv_nsec - daemon->start.tv_nsec) /
		1e9);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void
say(struct daemon *daemon, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
say(struct daemon *daemon, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(daemon, fmt, ap);
	va_end(ap);
}

/*
 * No client left: give what the clients' state took back to the system,
 * so a long-running daemon's memory follows its load.
 */
static void
idle(void *data)
{
	malloc_trim(0);
}

/* ---- refusals (the policy: realm-sockets.h) ---- */

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
	const struct pxt_realm_client *origin =
		pxt_realm_sockets_client(daemon->realms, refusal->client);
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
		DEFAULT_SOCKET, PXT_DEFAULT_REALM, PXT_DEFAULT_REALM);
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
			if (!pxt_realm_sockets_add(daemon->realms, optarg)) {
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

static int
use_drm_device(struct daemon *daemon)
{
	int ret = pxt_drm_device_use(daemon->manager, daemon->drm_device);

	if (ret < 0) {
		fprintf(stderr, "pixcached: cannot use %s: %s\n",
			daemon->drm_device, pxt_drm_device_why(ret));
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
		.realm_access = pxt_realm_access,
		.may_replace = pxt_realm_may_replace,
		.data = daemon->realms,
	};

	daemon->display = wl_display_create();
	if (daemon->display == NULL) {
		fprintf(stderr, "pixcached: cannot create a display\n");
		return -1;
	}
	loop = wl_display_get_event_loop(daemon->display);
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
	if (!pxt_realm_sockets_listen(daemon->realms, daemon->display,
			daemon->socket)) {
		return -1;
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
		pxt_realm_sockets_connections(daemon->realms),
		daemon->refusals, stats.entries,
		stats.indexed_bytes, stats.hits, stats.misses, stats.inserts,
		stats.evictions);
}

/* Serves until a signal: 0, or 1 if it could not start. */
static int
serve(struct daemon *daemon, const struct pixcache_config *config)
{
	int ret;

	raise_fd_limit(daemon);
	ret = start(daemon, config) < 0 ? 1 : 0;
	if (ret == 0) {
		say(daemon, "listening on %s (realm %s), budget %" PRIu64
			" bytes, realm quota %" PRIu64, daemon->socket,
			PXT_DEFAULT_REALM, config->budget, config->realm_quota);
		pxt_realm_sockets_log_sockets(daemon->realms);
		wl_display_run(daemon->display);
		report(daemon);
	}
	pxt_realm_sockets_stop(daemon->realms);
	for (int i = 0; i < 2; i++) {
		if (daemon->signals[i] != NULL) {
			wl_event_source_remove(daemon->signals[i]);
		}
	}
	if (daemon->display != NULL) {
		/* Clients first: their destroy listeners log and free. */
		wl_display_destroy_clients(daemon->display);
		wl_display_destroy(daemon->display);
	}
	return ret;
}

int
main(int argc, char *argv[])
{
	struct daemon daemon = { .socket = DEFAULT_SOCKET };
	const struct pxt_realm_sockets_hooks hooks = {
		.log = vsay,
		.idle = idle,
		.data = &daemon,
	};
	struct pixcache_config config;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &daemon.start);
	daemon.realms = pxt_realm_sockets_create(&hooks);
	if (daemon.realms == NULL) {
		fprintf(stderr, "pixcached: out of memory\n");
		return 1;
	}
	pixcache_config_init(&config);
	ret = parse(argc, argv, &daemon, &config);
	if (ret == 0 && getenv("XDG_RUNTIME_DIR") == NULL) {
		fprintf(stderr, "pixcached: XDG_RUNTIME_DIR is not set\n");
		ret = 1;
	}
	if (ret == 0) {
		ret = serve(&daemon, &config);
	}
	/* After the manager, which went with the display. */
	pxt_realm_sockets_destroy(daemon.realms);
	return ret < 0 ? 0 : ret;
}
