/*
 * libFuzzer target: arbitrary request bytes and fds from one client to a
 * manager in-process, as a compositor hosts it.
 *
 * Each input makes a display, a manager with small limits and a client on
 * a socketpair that has bound the manager (wl_display.get_registry, then
 * wl_registry.bind of global 1 as object 3). fuzz/seeds.py writes the seed
 * corpus. After its first byte, the input is segments split
 * by SEPARATOR: each is written to the socket as raw wire bytes (the
 * first with as many extra fds as its first byte says, modulo 4), then the
 * manager dispatches, and the client side drains what it was sent,
 * sealing every fd it received against writing (as a cooperative client
 * seals an upload's target) before closing it. Then the client hangs up.
 * After each input: the core's consistency checker passes, the manager
 * holds nothing of the client (no session, lease or upload), and the
 * process has exactly the fds it had before.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "fuzz-util.h"
#include "manager-private.h"

static const uint8_t SEPARATOR[4] = { 0xff, 0xfe, 0xfd, 0xfc };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string argument: length with its NUL, the bytes, padding to 4. */
static size_t
put_string(uint32_t *words, const char *s)
{
	size_t len = strlen(s) + 1;

	words[0] = (uint32_t)len;
	memset(&words[1], 0, (len + 3) / 4 * 4);
	memcpy(&words[1], s, len);
	return 1 + (len + 3) / 4;
}

/* get_registry as object 2, then bind the manager (global 1) as 3. */
static void
send_prefix(int fd)
{
	uint32_t msg[32];
	size_t n = 0;

	msg[n++] = 1;
	msg[n++] = 12u << 16 | 1;	/* wl_display.get_registry */
	msg[n++] = 2;
	msg[n++] = 2;
	n++;				/* the size, below */
	msg[n++] = 1;			/* name */
	n += put_string(&msg[n], "pixcache_manager_v1");
	msg[n++] = 1;			/* version */
	msg[n++] = 3;			/* new id */
	msg[4] = (uint32_t)((n - 3) * 4) << 16 | 0;	/* wl_registry.bind */
	assert(write(fd, msg, n * 4) == (ssize_t)(n * 4));
}

/* Reads what the client was sent; seals each fd it got, then closes it. */
static void
drain(int fd)
{
	char buf[65536];
	char control[CMSG_SPACE(sizeof(int) * 28)];

	for (;;) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr hdr = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control,
			.msg_controllen = sizeof(control),
		};
		struct cmsghdr *cmsg;

		if (recvmsg(fd, &hdr, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0) {
			return;
		}
		for (cmsg = CMSG_FIRSTHDR(&hdr); cmsg != NULL;
				cmsg = CMSG_NXTHDR(&hdr, cmsg)) {
			int n = (int)((cmsg->cmsg_len - CMSG_LEN(0)) /
				sizeof(int));
			int *got = (int *)CMSG_DATA(cmsg);

			if (cmsg->cmsg_type != SCM_RIGHTS) {
				continue;
			}
			for (int i = 0; i < n; i++) {
				fcntl(got[i], F_ADD_SEALS, F_SEAL_WRITE);
				close(got[i]);
			}
		}
	}
}

static void
dispatch(struct wl_display *display, int client_fd)
{
	struct wl_event_loop *loop = wl_display_get_event_loop(display);

	for (int i = 0; i < 4; i++) {
		wl_event_loop_dispatch(loop, 0);
		wl_display_flush_clients(display);
		drain(client_fd);
	}
}

static void
check(struct pixcache_manager *manager)
{
	struct pixcache_stats stats;
	char why[256];

	if (!pxc_cache_check(manager->cache, why, sizeof(why))) {
		fprintf(stderr, "cache inconsistent: %s\n", why);
		abort();
	}
	pixcache_manager_get_stats(manager, &stats);
	assert(stats.clients == 0 && stats.sessions == 0);
	assert(stats.leases == 0 && stats.uploads == 0);
}

/* libwayland's complaints about malformed requests are expected here. */
static void
quiet(const char *fmt, va_list ap)
{
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int before = test_count_fds();
	struct pixcache_manager *manager;
	struct pixcache_config config;
	struct wl_display *display;
	const uint8_t *end = data + size;
	int fds[2], nfds = 0;

	/* The first byte: how many fds go with the first segment. */
	if (size > 0) {
		nfds = *data++ % 4;
	}
	wl_log_set_handler_server(quiet);
	pixcache_config_init(&config);
	config.budget = 4 << 20;
	config.table_capacity = 256;
	config.pool_size = 64 << 10;
	config.pool_max_pixmap = 16 << 10;
	config.max_width = config.max_height = 256;
	config.max_bytes = 256 << 10;
	config.max_fds_in_flight = 16;
	display = wl_display_create();
	manager = pixcache_manager_create(display, &config, NULL);
	assert(display != NULL && manager != NULL);
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
	assert(wl_client_create(display, fds[0]) != NULL);
	send_prefix(fds[1]);
	dispatch(display, fds[1]);
	while (data < end) {
		const uint8_t *next = memmem(data, (size_t)(end - data),
			SEPARATOR, sizeof(SEPARATOR));
		size_t n = next != NULL ? (size_t)(next - data) :
			(size_t)(end - data);

		/* The manager may have hung up already: an outcome too. */
		(void)fuzz_send(fds[1], data, n, nfds);
		nfds = 0;
		dispatch(display, fds[1]);
		data += n + (next != NULL ? sizeof(SEPARATOR) : 0);
	}
	/* The client hangs up; the manager frees everything of it. */
	close(fds[1]);
	wl_event_loop_dispatch(wl_display_get_event_loop(display), 0);
	wl_display_destroy_clients(display);
	check(manager);
	wl_display_destroy(display);
	if (test_count_fds() != before) {
		fprintf(stderr, "%d fds before, %d after\n", before,
			test_count_fds());
		abort();
	}
	return 0;
}
