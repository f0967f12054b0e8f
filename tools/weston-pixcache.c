/*
 * pixcache.so: the pixcache manager inside Weston 10.
 *
 *   weston --modules=pixcache.so
 *
 * Creates the manager on Weston's display with the settings of the
 * [pixcache] section of weston.ini (sizes take K, M and G):
 *
 *   [pixcache]
 *   budget=256M
 *   realm-quota=0
 *   table-capacity=65536
 *   pool-size=4M
 *   pool-max-pixmap=128K
 *   max-width=16384
 *   max-height=16384
 *   max-bytes=64M
 *   max-uploads=64
 *   max-leases=4096
 *   max-fds-in-flight=64
 *   max-connections-per-uid=32
 *   max-objects=1024
 *   drm-device=/dev/dri/card0
 *
 * drm-device (none by default) gives the manager a DRM device for GPU
 * pixmaps (pixcache_manager_set_drm_device()): a primary node that makes
 * dumb buffers. One that cannot serves stops Weston with the reason.
 *
 * Weston 10 never raises its fd limit, and the kernel counts fds in
 * flight to clients against it: the plugin raises the soft limit to the
 * hard one. It logs what it got, each refusal, and its statistics when
 * Weston exits, and goes with the compositor.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <libweston/config-parser.h>
#include <libweston/libweston.h>
#include <weston/weston.h>

#include "pixcache-server.h"
#include "pixcache-v1-server-protocol.h"
#include "drm-device.h"
#include "size.h"

struct pixcache_weston {
	struct weston_compositor *compositor;
	struct pixcache_manager *manager;
	struct wl_listener compositor_destroy;
	struct wl_listener refused;
};

/* ---- weston.ini ---- */

static int
get_size(struct weston_config_section *section, const char *key,
	uint64_t *value)
{
	char *text = NULL;
	int ret = 0;

	weston_config_section_get_string(section, key, &text, NULL);
	if (text != NULL && pxc_parse_size(text, value) < 0) {
		weston_log("pixcache: [pixcache] %s=%s is not a size\n", key,
			text);
		ret = -1;
	}
	free(text);
	return ret;
}

static int
get_size32(struct weston_config_section *section, const char *key,
	uint32_t *value)
{
	uint64_t v = *value;

	if (get_size(section, key, &v) < 0) {
		return -1;
	}
	if (v > UINT32_MAX) {
		weston_log("pixcache: [pixcache] %s is too large\n", key);
		return -1;
	}
	*value = (uint32_t)v;
	return 0;
}

/* weston.ini's [pixcache] section, or NULL. */
static struct weston_config_section *
pixcache_section(struct weston_compositor *compositor)
{
	struct weston_config *wc = wet_get_config(compositor);

	return wc ? weston_config_get_section(wc, "pixcache", NULL, NULL) :
		NULL;
}

/* The defaults, overridden by what the [pixcache] section says. */
static int
read_config(struct weston_config_section *s, struct pixcache_config *config)
{
	int ret = 0;

	pixcache_config_init(config);
	if (s == NULL) {
		return 0;
	}
	ret |= get_size(s, "budget", &config->budget);
	ret |= get_size(s, "realm-quota", &config->realm_quota);
	ret |= get_size32(s, "table-capacity", &config->table_capacity);
	ret |= get_size32(s, "pool-size", &config->pool_size);
	ret |= get_size32(s, "pool-max-pixmap", &config->pool_max_pixmap);
	ret |= get_size32(s, "max-width", &config->max_width);
	ret |= get_size32(s, "max-height", &config->max_height);
	ret |= get_size32(s, "max-bytes", &config->max_bytes);
	ret |= get_size32(s, "max-uploads", &config->max_uploads);
	ret |= get_size32(s, "max-leases", &config->max_leases);
	ret |= get_size32(s, "max-fds-in-flight",
		&config->max_fds_in_flight);
	ret |= get_size32(s, "max-connections-per-uid",
		&config->max_connections_per_uid);
	ret |= get_size32(s, "max-sessions-per-connection",
		&config->max_sessions_per_connection);
	ret |= get_size32(s, "upload-timeout-ms", &config->upload_timeout_ms);
	ret |= get_size32(s, "max-objects", &config->max_objects);
	return ret;
}

/*
 * The [pixcache] section's drm-device, if any, given to the manager: 0,
 * or -1 with the reason logged.
 */
static int
set_drm_device(struct weston_config_section *section,
	struct pixcache_manager *manager)
{
	char *path = NULL;
	int ret;

	weston_config_section_get_string(section, "drm-device", &path, NULL);
	if (path == NULL) {
		return 0;
	}
	ret = pxt_drm_device_use(manager, path);
	if (ret < 0) {
		weston_log("pixcache: drm-device %s: %s\n", path,
			pxt_drm_device_why(ret));
	} else {
		weston_log("pixcache: GPU pixmaps on %s\n", path);
	}
	free(path);
	return ret < 0 ? -1 : 0;
}

/* ---- the fd limit ---- */

static void
raise_fd_limit(void)
{
	struct rlimit limit;
	rlim_t old;

	if (getrlimit(RLIMIT_NOFILE, &limit) < 0) {
		weston_log("pixcache: getrlimit: %s\n", strerror(errno));
		return;
	}
	old = limit.rlim_cur;
	if (limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
			weston_log("pixcache: cannot raise the fd limit from "
				"%llu: %s\n", (unsigned long long)old,
				strerror(errno));
			return;
		}
	}
	weston_log("pixcache: fd limit %llu (was %llu, hard limit %llu)\n",
		(unsigned long long)limit.rlim_cur, (unsigned long long)old,
		(unsigned long long)limit.rlim_max);
}

/* ---- lifetime ---- */

static void
on_refused(struct wl_listener *listener, void *data)
{
	const struct pixcache_refusal *refusal = data;
	pid_t pid;

	wl_client_get_credentials(refusal->client, &pid, NULL, NULL);
	if (refusal->realm == NULL) {
		weston_log("pixcache: refused client pid %d (reason %u: too "
			"many clients of its user)\n", (int)pid,
			refusal->reason);
	} else {
		weston_log("pixcache: denied client pid %d realm \"%s\" "
			"(reason %u)\n", (int)pid, refusal->realm,
			refusal->reason);
	}
}

static void
on_compositor_destroy(struct wl_listener *listener, void *data)
{
	struct pixcache_weston *pw =
		wl_container_of(listener, pw, compositor_destroy);
	struct pixcache_stats stats;

	pixcache_manager_get_stats(pw->manager, &stats);
	weston_log("pixcache: stopping: %" PRIu64 " entries, %" PRIu64
		" bytes indexed, %" PRIu64 " hits, %" PRIu64 " misses, %"
		PRIu64 " inserts, %" PRIu64 " evictions\n", stats.entries,
		stats.indexed_bytes, stats.hits, stats.misses, stats.inserts,
		stats.evictions);
	wl_list_remove(&pw->compositor_destroy.link);
	wl_list_remove(&pw->refused.link);
	pixcache_manager_destroy(pw->manager);
	free(pw);
}

WL_EXPORT int
wet_module_init(struct weston_compositor *compositor, int *argc,
	char *argv[])
{
	struct pixcache_config config;
	struct pixcache_weston *pw;

	if (read_config(pixcache_section(compositor), &config) < 0) {
		return -1;
	}
	raise_fd_limit();
	pw = calloc(1, sizeof(*pw));
	if (pw == NULL) {
		weston_log("pixcache: out of memory\n");
		return -1;
	}
	pw->compositor = compositor;
	pw->manager = pixcache_manager_create(compositor->wl_display, &config,
		NULL);
	if (pw->manager == NULL) {
		weston_log("pixcache: cannot create the manager: %s\n",
			strerror(errno));
		free(pw);
		return -1;
	}
	if (set_drm_device(pixcache_section(compositor), pw->manager) < 0) {
		pixcache_manager_destroy(pw->manager);
		free(pw);
		return -1;
	}
	pw->refused.notify = on_refused;
	pixcache_manager_add_refused_listener(pw->manager, &pw->refused);
	pw->compositor_destroy.notify = on_compositor_destroy;
	wl_signal_add(&compositor->destroy_signal, &pw->compositor_destroy);
	weston_log("pixcache: manager ready, instance %016" PRIx64 ", budget %"
		PRIu64 " bytes, realm quota %" PRIu64 ", table capacity %u, "
		"pools of %u bytes\n", pixcache_manager_instance(pw->manager),
		config.budget, config.realm_quota, config.table_capacity,
		config.pool_size);
	return 0;
}
