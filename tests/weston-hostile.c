/*
 * Hostile clients against the pixcache manager inside Weston: each case
 * misbehaves on a connection of its own and checks the exact protocol
 * error it earns (or that it is simply dropped), then a well-behaved
 * client, through libpixcache-client, must still store and find an icon.
 * Weston itself must stay up: the calling script checks its process.
 *
 *   weston-hostile SOCKET
 */

#define _GNU_SOURCE
#include <assert.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wayland-client.h>

#include "pixcache-client.h"
#include "pixcache-v1-client-protocol.h"

static const char *socket_name;

struct conn {
	struct wl_display *display;
	struct wl_registry *registry;
	struct pixcache_manager_v1 *manager;
};

static void
global(void *data, struct wl_registry *registry, uint32_t name,
	const char *interface, uint32_t version)
{
	struct conn *c = data;

	if (strcmp(interface, pixcache_manager_v1_interface.name) == 0) {
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

static bool
conn_open(struct conn *c)
{
	*c = (struct conn){ wl_display_connect(socket_name), NULL, NULL };
	if (c->display == NULL) {
		return false;
	}
	c->registry = wl_display_get_registry(c->display);
	wl_registry_add_listener(c->registry, &registry_listener, c);
	wl_display_roundtrip(c->display);
	return c->manager != NULL;
}

/*
 * Whether the connection died of exactly this error: code, on the object
 * proxy of interface. Says what came otherwise.
 */
static bool
died_of(struct conn *c, const struct wl_interface *interface, void *proxy,
	uint32_t code)
{
	const struct wl_interface *got = NULL;
	uint32_t id = wl_proxy_get_id(proxy), got_id = 0, got_code;
	int err;

	wl_display_roundtrip(c->display);
	err = wl_display_get_error(c->display);
	if (err != EPROTO) {
		fprintf(stderr, "expected %s@%u error %u, got %s\n",
			interface->name, id, code,
			err ? strerror(err) : "no error");
		return false;
	}
	got_code = wl_display_get_protocol_error(c->display, &got, &got_id);
	/* The interface by pointer: two interfaces may share a name. */
	if (got != interface || got_id != id || got_code != code) {
		fprintf(stderr, "expected %s@%u error %u, got %s@%u error %u\n",
			interface->name, id, code,
			got ? got->name : "(no interface)", got_id, got_code);
		return false;
	}
	return true;
}

/* Proxies are the client's memory, even on a dead connection. */
static void
conn_close(struct conn *c)
{
	if (c->manager != NULL) {
		pixcache_manager_v1_destroy(c->manager);
	}
	wl_registry_destroy(c->registry);
	wl_display_disconnect(c->display);
}

/* ---- the misbehaviours ---- */

static bool
odd_usage_report(void)
{
	struct conn c;
	struct pixcache_batch_v1 *batch;
	struct wl_array keys;
	bool ok;

	if (!conn_open(&c)) {
		return false;
	}
	batch = pixcache_manager_v1_create_batch(c.manager);
	wl_array_init(&keys);
	*(uint32_t *)wl_array_add(&keys, sizeof(uint32_t)) = 7;
	pixcache_batch_v1_used(batch, &keys);
	wl_array_release(&keys);
	ok = died_of(&c, &pixcache_batch_v1_interface, batch,
		PIXCACHE_BATCH_V1_ERROR_BAD_USAGE);
	pixcache_batch_v1_destroy(batch);
	conn_close(&c);
	return ok;
}

static bool
realm_twice(void)
{
	struct pixcache_realm_v1 *first, *second;
	struct conn c;
	bool ok;

	if (!conn_open(&c)) {
		return false;
	}
	first = pixcache_manager_v1_get_realm(c.manager, "default");
	second = pixcache_manager_v1_get_realm(c.manager, "default");
	ok = died_of(&c, &pixcache_manager_v1_interface, c.manager,
		PIXCACHE_MANAGER_V1_ERROR_REALM_BOUND);
	pixcache_realm_v1_destroy(first);
	pixcache_realm_v1_destroy(second);
	conn_close(&c);
	return ok;
}

static bool
unknown_upload_flags(void)
{
	struct conn c;
	struct pixcache_batch_v1 *batch;
	struct pixcache_realm_v1 *realm;
	struct pixcache_upload_v1 *upload;
	bool ok;

	if (!conn_open(&c)) {
		return false;
	}
	batch = pixcache_manager_v1_create_batch(c.manager);
	realm = pixcache_manager_v1_get_realm(c.manager, "default");
	upload = pixcache_batch_v1_upload(batch, realm, "x", 4, 4,
		DRM_FORMAT_ARGB8888, 0x40);
	ok = died_of(&c, &pixcache_batch_v1_interface, batch,
		PIXCACHE_BATCH_V1_ERROR_BAD_FLAGS);
	pixcache_upload_v1_destroy(upload);
	pixcache_realm_v1_destroy(realm);
	pixcache_batch_v1_destroy(batch);
	conn_close(&c);
	return ok;
}

static void
target(void *data, struct pixcache_upload_v1 *upload, int fd,
	uint32_t stride, uint32_t size)
{
	int *out = data;

	*out = fd;
}

static void
upload_failed(void *data, struct pixcache_upload_v1 *upload, uint32_t r)
{
}

static void
stored(void *data, struct pixcache_upload_v1 *upload, uint32_t a,
	uint32_t b, uint32_t c, uint32_t d, uint32_t e, uint32_t f)
{
	(void)data, (void)upload, (void)a, (void)b, (void)c, (void)d;
	(void)e, (void)f;
}

static const struct pixcache_upload_v1_listener upload_listener = {
	target, upload_failed, stored,
};

/* Starts an upload and waits for its target; the target fd, or -1. */
struct upload_objects {
	struct pixcache_batch_v1 *batch;
	struct pixcache_realm_v1 *realm;
	struct pixcache_upload_v1 *upload;
};

static void
upload_objects_destroy(struct upload_objects *o)
{
	pixcache_upload_v1_destroy(o->upload);
	pixcache_realm_v1_destroy(o->realm);
	pixcache_batch_v1_destroy(o->batch);
}

static int
start_upload(struct conn *c, const char *name, struct upload_objects *o)
{
	int fd = -1;

	o->batch = pixcache_manager_v1_create_batch(c->manager);
	o->realm = pixcache_manager_v1_get_realm(c->manager, "default");
	o->upload = pixcache_batch_v1_upload(o->batch, o->realm, name, 16, 16,
		DRM_FORMAT_ARGB8888, 0);
	pixcache_upload_v1_add_listener(o->upload, &upload_listener, &fd);
	pixcache_batch_v1_commit(o->batch, 1);
	wl_display_roundtrip(c->display);
	return fd;
}

static bool
commit_without_sealing(void)
{
	struct upload_objects o;
	struct conn c;
	bool ok = false;
	int fd;

	if (!conn_open(&c)) {
		return false;
	}
	fd = start_upload(&c, "hostile/unsealed", &o);
	if (fd >= 0) {
		/* Not sealed against writing: it could change later. */
		pixcache_upload_v1_commit(o.upload);
		ok = died_of(&c, &pixcache_upload_v1_interface, o.upload,
			PIXCACHE_UPLOAD_V1_ERROR_NOT_SEALED);
		close(fd);
	}
	upload_objects_destroy(&o);
	conn_close(&c);
	return ok;
}

/* A child that takes a target and is killed holding it, mid-write. */
static bool
killed_mid_upload(void)
{
	int status, ready[2];
	char byte;
	pid_t pid;

	if (pipe(ready) < 0) {
		return false;
	}
	pid = fork();
	if (pid == 0) {
		struct upload_objects o;
		struct conn c;
		int fd;

		/* It waits to be killed: never longer than its parent. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		if (!conn_open(&c)) {
			_exit(1);
		}
		fd = start_upload(&c, "hostile/abandoned", &o);
		if (fd >= 0) {
			void *map = mmap(NULL, 16 * 64, PROT_READ | PROT_WRITE,
				MAP_SHARED, fd, 0);

			if (map != MAP_FAILED) {
				memset(map, 0x55, 64);
			}
		}
		if (write(ready[1], fd >= 0 ? "y" : "n", 1) != 1) {
			_exit(1);
		}
		pause();
		_exit(0);
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &byte, 1) != 1) {
		close(ready[0]);
		return false;
	}
	close(ready[0]);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return byte == 'y';
}

/* Thousands of lookups from a client that never reads, then death. */
static bool
flood_without_reading(void)
{
	enum { FLOOD = 20000 };
	struct pixcache_pixmap_v1 **pixmaps = calloc(FLOOD, sizeof(*pixmaps));
	struct pixcache_batch_v1 *batch;
	struct pixcache_realm_v1 *realm;
	struct conn c;
	char name[32];
	int n = 0;

	if (pixmaps == NULL || !conn_open(&c)) {
		free(pixmaps);
		return false;
	}
	batch = pixcache_manager_v1_create_batch(c.manager);
	realm = pixcache_manager_v1_get_realm(c.manager, "default");
	for (int i = 0; i < FLOOD; i++) {
		snprintf(name, sizeof(name), "hostile/flood/%d", i);
		pixmaps[n++] = pixcache_batch_v1_lookup(batch, realm, name);
		if (i % 100 == 99) {
			pixcache_batch_v1_commit(batch, (uint32_t)i);
			/* Never read: flush what the socket takes. */
			if (wl_display_flush(c.display) < 0 &&
					errno != EAGAIN) {
				break;
			}
		}
	}
	for (int i = 0; i < n; i++) {
		pixcache_pixmap_v1_destroy(pixmaps[i]);
	}
	free(pixmaps);
	pixcache_realm_v1_destroy(realm);
	pixcache_batch_v1_destroy(batch);
	conn_close(&c);
	return true;
}

/* ---- the well-behaved client ---- */

static bool
served(const char *name)
{
	struct pixcache_client *client = pixcache_client_connect(socket_name,
		NULL);
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8, 8,
		8, NULL, 0);
	struct pixcache_pixmap *pixmap = NULL;
	bool ok;

	if (client == NULL || image == NULL) {
		return false;
	}
	memset(pixman_image_get_data(image), 0xc8, 8 * 8 * 4);
	ok = pixcache_client_put(client, "default", name, image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0 &&
		pixcache_client_find(client, "default", name, &pixmap) == 0 &&
		((const uint8_t *)pixcache_pixmap_get_data(pixmap))[5] == 0xc8;
	pixcache_pixmap_unref(pixmap);
	pixman_image_unref(image);
	pixcache_client_destroy(client);
	return ok;
}

int
main(int argc, char *argv[])
{
	static const struct {
		const char *name;
		bool (*run)(void);
	} cases[] = {
		{ "odd_usage_report_is_bad_usage", odd_usage_report },
		{ "a_realm_twice_is_realm_bound", realm_twice },
		{ "unknown_upload_flags_are_bad_flags", unknown_upload_flags },
		{ "commit_without_sealing_is_not_sealed",
			commit_without_sealing },
		{ "killed_mid_upload", killed_mid_upload },
		{ "flood_without_reading", flood_without_reading },
	};
	int passed = 0, failed = 0;
	char name[64];

	if (argc != 2) {
		fprintf(stderr, "usage: weston-hostile SOCKET\n");
		return 2;
	}
	socket_name = argv[1];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool misbehaved = cases[i].run();
		bool ok;

		/* Then the well-behaved are served as before. */
		snprintf(name, sizeof(name), "after/%zu", i);
		ok = misbehaved && served(name);
		printf("test \"%s_then_weston_serves_others\":\t%s\n",
			cases[i].name, ok ? "pass" : misbehaved ?
			"FAIL (not served after)" : "FAIL (no such error)");
		ok ? passed++ : failed++;
	}
	printf("%d passed, %d failed, 0 skipped\n", passed, failed);
	return failed ? 1 : 0;
}
