/*
 * Connection-break injection: every public function of pixcache-client.h
 * runs with the connection breaking at its Nth send, flush or read, for
 * N = 1, 2, ... until the call completes without reaching N, the way the
 * allocation-failure tests walk every fallible step. A break shuts the
 * socket down as a vanished peer leaves it (client-private.h,
 * pxcl_io_breaks). After each: the call returned success or a documented
 * errno, the library let go of the old connection before the call
 * returned (or, with its thread, by itself), a held pixmap kept its bytes
 * although the manager reused its space, fds are back where they were,
 * and on a connection of the library's own the next call reconnects.
 *
 * The same walk, over the points where a request makes an object
 * ("proxy": libwayland returns NULL and sends nothing when it cannot
 * allocate one), checks that each call then returns success or -ENOMEM,
 * keeps no fd and no memory, and that the next call works.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client-harness.h"
#include "client-private.h"
#include "test-runner.h"

#define NAMES 12
/* No call has anywhere near this many I/O steps. */
#define MAX_POINTS 400

enum mode {
	OWN,		/* pixcache_client_connect(), driven by its caller */
	OWN_THREAD,	/* ... with the library's thread */
	TWO_THREADS,	/* ... and another thread calling at the same time */
	SHARED,		/* the application's display */
};

static const char *const mode_names[] = {
	"own connection", "own connection, library thread",
	"two threads calling", "application display",
};

struct fixture {
	enum mode mode;
	struct ch_server *server;
	struct pixcache_client *other;	/* stores and replaces, never broken */
	struct pixcache_key keys[NAMES];
	char names[NAMES][8];
	uint32_t held_seed;

	/* One client per break point. */
	struct wl_display *display;	/* SHARED */
	struct pixcache_client *client;
	struct pixcache_pixmap *held;
	struct pixcache_pixmap *extra[NAMES];
	int fds_made;			/* kept by the call: the thread's pipe */
	uint64_t copies;		/* held pixmaps copied, before the call */
	/* Set by callbacks, which may run on the library's thread. */
	atomic_int callbacks, callback_result;
};

/* ---- the hook ---- */

static atomic_uint points, break_at;
/* Which points the walk counts: proxies made, or else I/O steps. */
static atomic_bool proxies;

static bool
at_point(void *data, const char *point)
{
	if ((strcmp(point, "proxy") == 0) != atomic_load(&proxies)) {
		return false;
	}
	return atomic_fetch_add(&points, 1) + 1 == atomic_load(&break_at);
}

static void
arm(unsigned n)
{
	/* 0: a read reads the end of the file; a write fails EPIPE. */
	static const int errors[] = { 0, EPIPE, ECONNRESET };

	/* The hook itself is set once, before any thread: the break point
	 * is stored last, so a thread that reaches it sees the error. */
	atomic_store(&break_at, 0);
	atomic_store(&points, 0);
	pxcl_io_breaks.error = errors[n % 3];
	atomic_store(&break_at, n);
}

static void
disarm(void)
{
	atomic_store(&break_at, 0);
}

/* ---- helpers ---- */

/* What a call returns when the connection breaks under it, or when the
 * proxy walk takes an object from it. */
static bool
is_loss(int ret)
{
	return ret == (atomic_load(&proxies) ? -ENOMEM : -ECONNRESET);
}

static void
put_with(struct pixcache_client *client, const char *name, uint32_t size,
	uint32_t seed, struct pixcache_key *key)
{
	pixman_image_t *image = ch_image(size, size, seed);

	assert(pixcache_client_put(client, "default", name, image,
		DRM_FORMAT_ARGB8888, PIXCACHE_PUT_REPLACE, key) == 0);
	pixman_image_unref(image);
}

static void
setup(struct fixture *f, enum mode mode)
{
	*f = (struct fixture){ .mode = mode, .held_seed = 100 };
	pxcl_io_breaks.fail = at_point;
	f->server = ch_server_start(NULL, NULL, NULL);
	f->other = ch_connect(f->server);
	for (int i = 0; i < NAMES; i++) {
		snprintf(f->names[i], sizeof(f->names[i]), "n%d", i);
		put_with(f->other, f->names[i], 8, (uint32_t)i, &f->keys[i]);
	}
	put_with(f->other, "held", 32, f->held_seed, NULL);
}

static void
teardown(struct fixture *f)
{
	pixcache_client_destroy(f->other);
	ch_server_stop(f->server);
}

static void
make_client(struct fixture *f)
{
	if (f->mode == SHARED) {
		f->display = wl_display_connect(ch_server_socket(f->server));
		assert(f->display != NULL);
		f->client = pixcache_client_create(f->display, NULL);
	} else {
		f->client = ch_connect(f->server);
	}
	assert(f->client != NULL);
	if (f->mode == OWN_THREAD || f->mode == TWO_THREADS) {
		assert(pixcache_client_start_thread(f->client) == 0);
	}
	assert(pixcache_client_find(f->client, "default", "held",
		&f->held) == 0);
	assert(ch_has_pattern(f->held, f->held_seed));
}

/* Held pixmaps the library copied as it let go of a connection. */
static uint64_t
held_copies(struct pixcache_client *client)
{
	uint64_t n;

	pthread_mutex_lock(&client->lock);
	n = client->stats.held_copies + client->stats.held_copy_failures;
	pthread_mutex_unlock(&client->lock);
	return n;
}

static bool
settled(struct pixcache_client *client)
{
	bool stale;

	pthread_mutex_lock(&client->lock);
	stale = client->stale;
	pthread_mutex_unlock(&client->lock);
	return !stale;
}

/*
 * The manager puts another pixmap where the held one lay: had the library
 * released the lease without keeping the bytes, the holder would see it.
 */
static void
reuse_held_space(struct fixture *f, const char *call, unsigned n)
{
	assert(ch_server_remove(f->server, "default", "held") == 0);
	put_with(f->other, "held", 32, ++f->held_seed, NULL);
	if (!ch_has_pattern(f->held, f->held_seed - 1)) {
		test_fail("%s, break at %u: a held pixmap changed", call, n);
	}
}

/*
 * The fds of the clients' side, once the manager has let go of the
 * connections that closed: the server holds stats.fds, and two for each
 * connection it serves (the socket, and the duplicate libwayland's event
 * loop makes of it).
 */
static int
client_side_fds(struct fixture *f, uint32_t connections)
{
	struct pixcache_stats stats;

	for (int i = 0; i < 2000; i++) {
		ch_server_stats(f->server, &stats);
		if (stats.clients == connections) {
			break;
		}
		usleep(1000);
	}
	assert(stats.clients == connections);
	return test_count_fds() - (int)stats.fds - 2 * (int)connections;
}

/* ---- the calls ---- */

static void
called_back(struct fixture *f, int result)
{
	atomic_store(&f->callback_result, result);
	atomic_fetch_add(&f->callbacks, 1);
}

static void
lookup_done(void *data, int result, struct pixcache_pixmap *pixmap)
{
	struct fixture *f = data;

	assert((result == 0) == (pixmap != NULL));
	assert(result == 0 || is_loss(result));
	assert(pixmap == NULL || ch_has_pattern(pixmap, 4));
	pixcache_pixmap_unref(pixmap);
	called_back(f, result);
}

static void
upload_done(void *data, int result, const struct pixcache_key *key)
{
	assert((result == 0) == (key != NULL));
	called_back(data, result);
}

/*
 * Runs the library until an asynchronous request is called back, as a
 * toolkit would: it flushes and dispatches; on the application's display
 * a blocking call reads for it. Returns the callback's result.
 */
static int
until_called_back(struct fixture *f)
{
	struct pixcache_client_stats stats;

	for (int i = 0; i < 5000 && atomic_load(&f->callbacks) == 0; i++) {
		pixcache_client_flush(f->client);
		if (f->mode == SHARED) {
			pixcache_client_get_stats(f->client, &stats);
		}
		pixcache_client_dispatch(f->client);
		if (atomic_load(&f->callbacks) == 0) {
			usleep(1000);
		}
	}
	assert(atomic_load(&f->callbacks) == 1);
	return atomic_load(&f->callback_result);
}

static int
call_find(struct fixture *f)
{
	struct pixcache_pixmap *pixmap;
	int ret = pixcache_client_find(f->client, "default", "n3", &pixmap);

	assert(ret != 0 || ch_has_pattern(pixmap, 3));
	pixcache_pixmap_unref(pixmap);
	return ret;
}

static int
call_find_many(struct fixture *f)
{
	struct pixcache_pixmap *pixmaps[NAMES];
	const char *names[NAMES];
	int results[NAMES];
	int ret;

	for (int i = 0; i < NAMES; i++) {
		names[i] = f->names[i];
	}
	ret = pixcache_client_find_many(f->client, "default", names, NAMES,
		results, pixmaps);
	for (int i = 0; i < NAMES; i++) {
		assert(results[i] == 0 || is_loss(results[i]));
		assert((results[i] == 0) == (pixmaps[i] != NULL));
		assert(pixmaps[i] == NULL ||
			ch_has_pattern(pixmaps[i], (uint32_t)i));
		pixcache_pixmap_unref(pixmaps[i]);
	}
	return ret;
}

static int
call_find_key(struct fixture *f)
{
	struct pixcache_pixmap *pixmap;
	int ret = pixcache_client_find_key(f->client, &f->keys[1], &pixmap);

	assert(ret != 0 || ch_has_pattern(pixmap, 1));
	pixcache_pixmap_unref(pixmap);
	return ret;
}

static void
prepare_local_hit(struct fixture *f)
{
	assert(call_find(f) == 0);
}

/* A local hit notes its use; the flush reports it. */
static int
call_find_local_and_flush(struct fixture *f)
{
	struct pixcache_pixmap *pixmap;
	int ret = pixcache_client_find_local(f->client, "default", "n3",
		&pixmap);

	if (ret == 0) {
		assert(ch_has_pattern(pixmap, 3));
		pixcache_pixmap_unref(pixmap);
	} else {
		/* The other thread met the break first: no local hit. */
		assert(ret == -EAGAIN && f->mode == TWO_THREADS &&
			atomic_load(&points) >= atomic_load(&break_at));
	}
	return pixcache_client_flush(f->client);
}

static int
call_flush(struct fixture *f)
{
	return pixcache_client_flush(f->client);
}

static int
call_lookup(struct fixture *f)
{
	int ret = pixcache_client_lookup(f->client, "default", "n4",
		lookup_done, f);

	return ret < 0 ? ret : until_called_back(f);
}

static void
prepare_lookup_sent(struct fixture *f)
{
	assert(pixcache_client_lookup(f->client, "default", "n4",
		lookup_done, f) == 0);
	assert(pixcache_client_flush(f->client) == 0);
}

static int
call_dispatch(struct fixture *f)
{
	return until_called_back(f);
}

/* Each client is an owner of its own: the name is nobody's before. */
static void
prepare_unowned(struct fixture *f)
{
	ch_server_remove(f->server, "default", "p");
}

static int
call_put(struct fixture *f)
{
	pixman_image_t *image = ch_image(16, 16, 7);
	int ret = pixcache_client_put(f->client, "default", "p", image,
		DRM_FORMAT_ARGB8888, PIXCACHE_PUT_REPLACE, NULL);

	pixman_image_unref(image);
	return ret;
}

static int
call_upload(struct fixture *f)
{
	pixman_image_t *image = ch_image(16, 16, 8);
	int ret = pixcache_client_upload(f->client, "default", "p", image,
		DRM_FORMAT_ARGB8888, PIXCACHE_PUT_REPLACE, upload_done, f);

	pixman_image_unref(image);
	return ret < 0 ? ret : until_called_back(f);
}

static void
prepare_own_entry(struct fixture *f)
{
	prepare_unowned(f);
	put_with(f->client, "p", 8, 9, NULL);
}

static int
call_remove(struct fixture *f)
{
	return pixcache_client_remove(f->client, "default", "p");
}

static void
count_entry(void *data, const struct pixcache_entry_info *info)
{
	assert(info->name == NULL || info->name[0] != '\0');
	++*(int *)data;
}

static int
call_list(struct fixture *f)
{
	int n = 0;
	int ret = pixcache_client_list(f->client, "default", count_entry, &n);

	assert(ret != 0 || n >= NAMES + 1);
	return ret;
}

static int
call_get_stats(struct fixture *f)
{
	struct pixcache_client_stats stats;
	int ret = pixcache_client_get_stats(f->client, &stats);

	assert(ret != 0 || stats.entries >= NAMES + 1);
	return ret;
}

static int
call_start_thread(struct fixture *f)
{
	int ret = pixcache_client_start_thread(f->client);

	/* The thread modes have one already. */
	assert(ret == 0 || ret == -EALREADY);
	f->fds_made = ret == 0 ? 2 : 0;
	return call_find(f);
}

/* Pixmaps by key: not in the local map, so each unref releases a lease. */
static void
prepare_held_by_key(struct fixture *f)
{
	for (int i = 0; i < NAMES; i++) {
		assert(pixcache_client_find_key(f->client, &f->keys[i],
			&f->extra[i]) == 0);
	}
}

static int
call_unref(struct fixture *f)
{
	for (int i = 0; i < NAMES; i++) {
		pixcache_pixmap_unref(f->extra[i]);
		f->extra[i] = NULL;
	}
	return 0;
}

/* A full local map: destroy releases a lease for each entry. */
static void
prepare_local_map(struct fixture *f)
{
	assert(call_find_many(f) == 0);
}

static int
call_destroy(struct fixture *f)
{
	pixcache_client_destroy(f->client);
	f->client = NULL;
	return 0;
}

/* What does no I/O: it must not reach a break point at all. */
static int
call_without_io(struct fixture *f)
{
	struct pixcache_client_options options;
	struct pixcache_client_usage usage;
	struct pixcache_pixmap *pixmap;
	struct pixcache_client *extra;
	struct pixcache_key key;
	pixman_image_t *image;
	char text[64];

	pixcache_client_options_init(&options);
	extra = pixcache_client_connect(ch_server_socket(f->server), &options);
	assert(extra != NULL);
	pixcache_client_destroy(extra);
	extra = pixcache_client_create(f->display != NULL ? f->display :
		f->client->display, &options);
	assert(extra != NULL);
	pixcache_client_destroy(extra);
	(void)pixcache_client_instance(f->client);
	pixcache_client_get_usage(f->client, &usage);
	assert(pixcache_client_find_local(f->client, "default", "none",
		&pixmap) == -EAGAIN);
	pixmap = pixcache_pixmap_ref(f->held);
	pixcache_pixmap_get_key(pixmap, &key);
	pixcache_key_format(&key, text, sizeof(text));
	assert(pixcache_key_parse(text, &key) == 0);
	assert(pixcache_pixmap_get_width(pixmap) == 32 &&
		pixcache_pixmap_get_height(pixmap) == 32 &&
		pixcache_pixmap_get_stride(pixmap) >= 128 &&
		pixcache_pixmap_get_format(pixmap) == DRM_FORMAT_ARGB8888 &&
		pixcache_pixmap_get_data(pixmap) != NULL);
	image = pixcache_pixmap_create_pixman(pixmap);
	assert(image != NULL);
	pixman_image_unref(image);
	pixcache_pixmap_unref(pixmap);
	return 0;
}

struct scenario {
	const char *name;
	void (*prepare)(struct fixture *f);
	int (*call)(struct fixture *f);
	bool destroys;			/* no other thread may call meanwhile */
	/*
	 * What a break may also bring: a new session owns nothing (-EACCES),
	 * or the break came before the scenario's last call, which then
	 * finds the application's display broken (-ENOTCONN).
	 */
	int also;
	bool no_io;			/* must reach no break point */
};

static const struct scenario scenarios[] = {
	{ "find", NULL, call_find },
	{ "find_many", NULL, call_find_many },
	{ "find_key", NULL, call_find_key },
	{ "find_local, flush", prepare_local_hit, call_find_local_and_flush },
	{ "flush", NULL, call_flush },
	{ "lookup", NULL, call_lookup },
	{ "dispatch", prepare_lookup_sent, call_dispatch },
	{ "put", prepare_unowned, call_put },
	{ "upload", prepare_unowned, call_upload },
	{ "remove", prepare_own_entry, call_remove, false, -EACCES },
	{ "list", NULL, call_list },
	{ "get_stats", NULL, call_get_stats },
	/* The thread it starts reads: it may meet the break first. */
	{ "start_thread", NULL, call_start_thread, false, -ENOTCONN },
	{ "pixmap_unref", prepare_held_by_key, call_unref },
	{ "destroy", prepare_local_map, call_destroy, true },
	{ "calls without I/O", NULL, call_without_io, false, 0, true },
};

/* ---- another thread, calling while the call under test runs ---- */

static void *
buddy(void *data)
{
	struct fixture *f = data;

	for (int i = 0; i < 20; i++) {
		struct pixcache_pixmap *pixmap;
		int ret = pixcache_client_find(f->client, "default", "n0",
			&pixmap);

		if (ret != 0 && !is_loss(ret)) {
			test_fail("another thread's find returned %d (%s)",
				ret, strerror(-ret));
		}
		assert(ret != 0 || ch_has_pattern(pixmap, 0));
		pixcache_pixmap_unref(pixmap);
	}
	return NULL;
}

/* ---- the walk ---- */

/* After the call: checks, recovers, frees. Returns whether it broke. */
static bool
check_after(struct fixture *f, const struct scenario *s, unsigned n,
	int ret, int fds)
{
	bool broke = atomic_load(&points) >= n;
	/* Only a break takes the application's display. */
	bool lost_display = f->mode == SHARED && broke &&
		!atomic_load(&proxies);
	struct pixcache_pixmap *pixmap;

	if (s->no_io && atomic_load(&points) > 0) {
		test_fail("%s: %u I/O steps", s->name, atomic_load(&points));
	}
	if (!broke && ret != 0) {
		test_fail("%s: no break (%u points), returned %d (%s)", s->name,
			atomic_load(&points), ret, strerror(-ret));
	} else if (ret != 0 && !is_loss(ret) && ret != s->also) {
		test_fail("%s: break at %u returned %d (%s)", s->name, n, ret,
			strerror(-ret));
	}
	if (f->client != NULL && broke && !atomic_load(&proxies)) {
		/*
		 * The break shut the socket, and the manager let go of the
		 * held lease at once: its space may be reused as soon as the
		 * library copied the held pixmap. The library's thread may
		 * meet the break just before the call's end, and note it a
		 * moment after: wait for the copy, as no application can
		 * reuse the manager's space at will.
		 */
		for (int i = 0; i < 2000 &&
				held_copies(f->client) == f->copies; i++) {
			assert(f->mode == OWN_THREAD || f->mode == TWO_THREADS);
			usleep(1000);
		}
		if (held_copies(f->client) == f->copies) {
			/* Rare (once in some hundred walks): what the library
			 * was at, for whoever meets it next. */
			pthread_mutex_lock(&f->client->lock);
			test_fail("%s, break at %u: the held pixmap was never "
				"copied (broken %d, stale %d, calls %u, held "
				"lease %d number %u pool %d)", s->name, n,
				f->client->broken, f->client->stale,
				f->client->calls, f->held->lease != NULL,
				f->held->lease_number, f->held->pool != NULL);
		}
	}
	if (f->client != NULL) {
		/* Let go of before the call returned; by the library's
		 * thread, a moment later, if it found the break. */
		for (int i = 0; i < 2000 && !settled(f->client); i++) {
			assert(f->mode == OWN_THREAD || f->mode == TWO_THREADS);
			usleep(1000);
		}
		assert(settled(f->client));
	}
	reuse_held_space(f, s->name, n);
	if (f->client != NULL) {
		ret = pixcache_client_find(f->client, "default", "n0", &pixmap);
		if (lost_display) {
			/* Only the application can reconnect its display. */
			assert(ret == -ENOTCONN);
		} else {
			assert(ret == 0 && ch_has_pattern(pixmap, 0));
			pixcache_pixmap_unref(pixmap);
		}
		int now = client_side_fds(f, lost_display ? 1 : 2) -
			f->fds_made;

		/* A staging buffer's fd may lie in the output of the dead
		 * display, which only the application disconnects: counted
		 * after it does, below. */
		if (now != fds && !lost_display) {
			test_fail("%s, break at %u: %d fds before, %d after",
				s->name, n, fds, now);
		}
	}
	pixcache_pixmap_unref(f->held);
	pixcache_client_destroy(f->client);
	if (f->display != NULL) {
		wl_display_disconnect(f->display);
	}
	f->display = NULL;
	f->client = NULL;
	f->held = NULL;
	return broke;
}

/* Runs s with a break at n; returns whether the break was reached. */
static bool
run_once(struct fixture *f, const struct scenario *s, unsigned n)
{
	int before = client_side_fds(f, 1), fds, now, ret;
	pthread_t thread;
	bool broke;

	make_client(f);
	atomic_store(&f->callbacks, 0);
	f->fds_made = 0;
	if (s->prepare != NULL) {
		s->prepare(f);
	}
	f->copies = held_copies(f->client);
	fds = client_side_fds(f, 2);
	arm(n);
	/* Nobody may call a client being destroyed; and the other thread's
	 * I/O would not be the call's. */
	if (f->mode == TWO_THREADS && !s->destroys && !s->no_io) {
		assert(pthread_create(&thread, NULL, buddy, f) == 0);
	}
	ret = s->call(f);
	if (f->mode == TWO_THREADS && !s->destroys && !s->no_io) {
		assert(pthread_join(thread, NULL) == 0);
	}
	disarm();
	broke = check_after(f, s, n, ret, fds);
	now = client_side_fds(f, 1);
	if (now != before) {
		test_fail("%s, break at %u: %d fds before, %d after", s->name,
			n, before, now);
	}
	return broke;
}

static void
walk(enum mode mode, bool proxy_points)
{
	unsigned total = 0;
	struct fixture f;

	atomic_store(&proxies, proxy_points);
	setup(&f, mode);
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]);
			i++) {
		unsigned n = 1;

		while (run_once(&f, &scenarios[i], n)) {
			assert(++n < MAX_POINTS);
		}
		total += n - 1;
	}
	teardown(&f);
	printf("report: %u %s points in %zu scenarios (%s)\n", total,
		proxy_points ? "proxy" : "break",
		sizeof(scenarios) / sizeof(scenarios[0]), mode_names[mode]);
}

TEST(every_call_survives_a_break_at_every_point)
{
	walk(OWN, false);
}

TEST(every_call_survives_a_break_at_every_point_with_the_library_thread)
{
	walk(OWN_THREAD, false);
}

TEST(every_call_survives_a_break_at_every_point_with_two_threads_calling)
{
	walk(TWO_THREADS, false);
}

TEST(every_call_survives_a_break_at_every_point_on_the_application_display)
{
	walk(SHARED, false);
}

TEST(every_call_survives_a_missing_proxy_at_every_point)
{
	walk(OWN, true);
}

TEST(every_call_survives_a_missing_proxy_at_every_point_with_the_library_thread)
{
	walk(OWN_THREAD, true);
}

TEST(every_call_survives_a_missing_proxy_at_every_point_with_two_threads_calling)
{
	walk(TWO_THREADS, true);
}

TEST(every_call_survives_a_missing_proxy_at_every_point_on_the_application_display)
{
	walk(SHARED, true);
}
