/*
 * libFuzzer target: arbitrary events to the client library.
 *
 * A thread plays the manager on a socketpair: it answers the library's
 * sync with the pixcache_manager_v1 global and done, its bind with the
 * manager's instance, a format and limits, and each batch commit with the
 * next segment of the input (segments split by SEPARATOR) as raw events to
 * any object, the first with as many sealed memfds as the input's first
 * byte says (modulo 8); after the last segment it hangs up. Meanwhile
 * every public call runs: find_many, find_key, list, get_stats, lookup,
 * flush and dispatch, find_local, destroy; the pixmaps it hands out are
 * read whole, again after the client is destroyed, then unref'd. After
 * each input: no sanitizer report, and the fds the process had.
 * fuzz/seeds.py writes the seed corpus.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <drm_fourcc.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client-private.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t SEPARATOR[4] = { 0xff, 0xfe, 0xfd, 0xfc };

/* The manager's side: answers the greeting, then sends the input. */
struct fake {
	int fd;
	const uint8_t *input, *end;	/* segments still to send */
	int nfds;			/* with the first */
	uint32_t registry, manager;
	uint32_t batches[16];		/* ids of batch objects */
	int nbatches;
};

static void
send_words(int fd, const uint32_t *words, size_t n)
{
	/* The library may be gone: nothing to answer then. */
	if (send(fd, words, n * 4, MSG_NOSIGNAL) < 0) {
		return;
	}
}

static void
event(int fd, uint32_t object, uint16_t opcode, const uint32_t *args,
	size_t nargs)
{
	uint32_t msg[16];

	msg[0] = object;
	msg[1] = (uint32_t)((2 + nargs) * 4) << 16 | opcode;
	memcpy(&msg[2], args, nargs * 4);
	send_words(fd, msg, 2 + nargs);
}

/* wl_callback.done, after the registry's global on the first sync. */
static void
answer_sync(struct fake *f, uint32_t callback)
{
	uint32_t global[8] = { 1, 20 };
	const uint32_t serial = 1;

	if (f->registry != 0) {
		memcpy(&global[2], "pixcache_manager_v1", 20);
		global[7] = 1;
		event(f->fd, f->registry, 0, global, 8);
	}
	event(f->fd, callback, 0, &serial, 1);
}

/* The manager's hello: instance, a format, limits. */
static void
answer_bind(struct fake *f, uint32_t manager)
{
	const uint32_t instance[2] = { 0x12345678, 0x9abcdef0 };
	const uint32_t format = DRM_FORMAT_ARGB8888;
	const uint32_t limits[6] = { 4096, 4096, 1 << 24, 64, 4096, 64 };

	f->manager = manager;
	event(f->fd, manager, 0, instance, 2);
	event(f->fd, manager, 1, &format, 1);
	event(f->fd, manager, 2, limits, 6);
}

/* The next segment of the input, with the fds; the last hangs up. */
static void
send_segment(struct fake *f)
{
	const uint8_t *next = memmem(f->input, (size_t)(f->end - f->input),
		SEPARATOR, sizeof(SEPARATOR));
	size_t n = next ? (size_t)(next - f->input) :
		(size_t)(f->end - f->input);

	/* The library may have hung up first: an outcome too. */
	(void)fuzz_send(f->fd, f->input, n, f->nfds);
	f->nfds = 0;
	f->input += n + (next != NULL ? sizeof(SEPARATOR) : 0);
	if (next == NULL) {
		/* Nothing more: the manager is gone. */
		shutdown(f->fd, SHUT_WR);
		f->input = f->end = NULL;
	}
}

static bool
is_batch(const struct fake *f, uint32_t id)
{
	for (int i = 0; i < f->nbatches; i++) {
		if (f->batches[i] == id) {
			return true;
		}
	}
	return false;
}

/* One request of the library's: what the manager answers to it. */
static void
request(struct fake *f, const uint32_t *msg)
{
	uint32_t object = msg[0], opcode = msg[1] & 0xffff;
	uint32_t size = msg[1] >> 16;

	if (object == 1 && opcode == 1) {		/* get_registry */
		f->registry = msg[2];
	} else if (object == 1 && opcode == 0) {	/* sync */
		answer_sync(f, msg[2]);
	} else if (object == f->registry && f->registry != 0 &&
			opcode == 0) {			/* bind */
		answer_bind(f, msg[size / 4 - 1]);
	} else if (object == f->manager && opcode == 2 &&
			f->nbatches < 16) {		/* create_batch */
		f->batches[f->nbatches++] = msg[2];
	} else if (is_batch(f, object) && opcode == 8 &&
			f->input != NULL) {		/* commit */
		send_segment(f);
	}
}

/* Reads the library's requests until it hangs up, answering them. */
static void *
responder(void *data)
{
	struct fake *f = data;
	uint32_t buf[4096];
	size_t have = 0;
	ssize_t n;

	while ((n = recv(f->fd, (uint8_t *)buf + have,
			sizeof(buf) - have, 0)) > 0) {
		size_t off = 0;

		have += (size_t)n;
		while (have - off >= 8) {
			uint32_t size = buf[off / 4 + 1] >> 16;

			if (size < 8 || size % 4 != 0 || have - off < size) {
				break;
			}
			request(f, &buf[off / 4]);
			off += size;
		}
		memmove(buf, (uint8_t *)buf + off, have - off);
		have -= off;
	}
	return NULL;
}

/* Reads every byte, as a toolkit drawing it would. */
static uint32_t
read_whole(const struct pixcache_pixmap *pixmap)
{
	const uint8_t *p = pixcache_pixmap_get_data(pixmap);
	size_t bytes = (size_t)pixcache_pixmap_get_stride(pixmap) *
		pixcache_pixmap_get_height(pixmap);
	uint32_t sum = 0;

	for (size_t i = 0; i < bytes; i++) {
		sum += p[i];
	}
	return sum;
}

static struct pixcache_pixmap *held[8];
static int nheld;

static void
hold(struct pixcache_pixmap *pixmap)
{
	if (pixmap == NULL) {
		return;
	}
	read_whole(pixmap);
	if (nheld < 8) {
		held[nheld++] = pixmap;
	} else {
		pixcache_pixmap_unref(pixmap);
	}
}

static void
looked_up(void *data, int result, struct pixcache_pixmap *pixmap)
{
	hold(pixmap);
}

static void
listed(void *data, const struct pixcache_entry_info *info)
{
	assert(info->name == NULL || strlen(info->name) < 4096);
}

static void
run_calls(struct pixcache_client *client)
{
	const char *names[3] = { "icon/a/16@1", "icon/b/16@1", "c" };
	struct pixcache_key key = { 0x123456789abcdef0, 1, 1, 1 };
	struct pixcache_client_stats stats;
	struct pixcache_pixmap *pixmaps[3], *pixmap;
	int results[3];

	pixcache_client_find_many(client, "default", names, 3, results,
		pixmaps);
	for (int i = 0; i < 3; i++) {
		hold(pixmaps[i]);
	}
	pixmap = NULL;
	pixcache_client_find_key(client, &key, &pixmap);
	hold(pixmap);
	pixcache_client_list(client, "default", listed, NULL);
	pixcache_client_get_stats(client, &stats);
	pixcache_client_lookup(client, "default", "d", looked_up, NULL);
	pixcache_client_flush(client);
	pixcache_client_dispatch(client);
	pixmap = NULL;
	pixcache_client_find_local(client, "default", "icon/a/16@1", &pixmap);
	hold(pixmap);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pixcache_client_options options;
	struct pixcache_client *client;
	struct wl_display *display;
	int before = test_count_fds();
	struct fake f = { 0 };
	pthread_t thread;
	int fds[2];

	if (size > 0) {
		f.nfds = *data++ % 8;
		size--;
	}
	f.input = data;
	f.end = data + size;
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
	f.fd = fds[0];
	display = wl_display_connect_to_fd(fds[1]);
	assert(display != NULL);
	assert(pthread_create(&thread, NULL, responder, &f) == 0);
	pixcache_client_options_init(&options);
	options.timeout_ms = 10;
	client = pixcache_client_create(display, &options);
	assert(client != NULL);
	run_calls(client);
	pixcache_client_destroy(client);
	/* Held pixmaps outlive the client, bytes and all. */
	for (int i = 0; i < nheld; i++) {
		read_whole(held[i]);
		pixcache_pixmap_unref(held[i]);
	}
	nheld = 0;
	wl_display_disconnect(display);
	assert(pthread_join(thread, NULL) == 0);
	close(fds[0]);
	if (test_count_fds() != before) {
		fprintf(stderr, "%d fds before, %d after\n", before,
			test_count_fds());
		abort();
	}
	return 0;
}
