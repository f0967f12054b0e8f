/*
 * pixcache-workload: one desktop client needing a set of icons, as the
 * main job runs it, N at once.
 *
 *   pixcache-workload (--socket NAME | --no-cache) --list FILE
 *                     [--worker I] [--batch N] [--start-at NS]
 *                     [--order same|shuffled]
 *
 * FILE has one icon per line: NAME, a tab, the PNG's path. The worker
 * waits until CLOCK_REALTIME reaches NS (so N workers start together),
 * then needs every icon once, in the list's order (same: as at a login,
 * when every application asks for the same common icons first) or in an
 * order of its own (shuffled, the default: worker I's shuffle):
 *
 *   with the cache: looks names up BATCH at a time; decodes the PNGs of
 *     the names it claimed (its lookup missed first) and uploads them
 *     together, asynchronously; names other clients fill are waited for,
 *     not decoded; then draws every icon into a canvas with pixman, and
 *     needs every icon again (a repeated hit);
 *   without: decodes every PNG itself and draws it, keeping its copies as
 *     an application does.
 *
 * Icon CPU and time run from the start until every icon is held (before
 * drawing); memory (PSS) is read at the start and then.
 *
 * It prints one JSON line (what it did and what it took), then keeps its
 * icons until its stdin closes, so the memory of all workers can be read.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image-io.h"
#include "pixcache-client.h"

#define CANVAS 1024
#define MAX_BATCH 1024
/* Repeated hits are timed this many at a time. */
#define LOCAL_CHUNK 64
/* Rounds of filling and asking again before a batch gives up. */
#define ROUNDS_MAX 16

struct icon {
	char *name;
	char *path;
	pixman_image_t *decoded;	/* without the cache: our copy */
	struct pixcache_pixmap *pixmap;	/* with: the cache's */
};

struct report {
	unsigned icons, hits, misses, uploads, lost_races, failures, decodes;
	/* From the start until every icon is held, before drawing. */
	uint64_t icon_ns, icon_cpu_ns;
	unsigned pss_before_kib, pss_ready_kib;
	uint64_t lookup_ns, decode_ns, upload_ns, draw_ns;
	double local_ns;			/* per hit, median of chunks */
	unsigned local_hits;
	uint64_t elapsed_ns;
};

struct workload {
	const char *socket;
	bool no_cache;
	const char *list;
	bool same_order;
	unsigned worker;
	unsigned batch;
	uint64_t start_at;
	struct icon *icons;
	unsigned count;
	struct pixcache_client *client;
	pixman_image_t *canvas;
	double *local_chunks;
	unsigned nlocal_chunks;
	struct report r;
};

static uint64_t
clock_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t
now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* This process's proportional memory, in KiB. */
static unsigned
pss_kib(void)
{
	FILE *file = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	unsigned kib = 0;

	while (file != NULL && fgets(line, sizeof(line), file) != NULL) {
		if (sscanf(line, "Pss: %u kB", &kib) == 1) {
			break;
		}
	}
	if (file != NULL) {
		fclose(file);
	}
	return kib;
}

/* Every icon is held: how long it took, in time and CPU. */
static void
icons_ready(struct workload *w, uint64_t t0, uint64_t cpu0)
{
	w->r.icon_ns = now_ns() - t0;
	w->r.icon_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	w->r.pss_ready_kib = pss_kib();
}

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pixcache-workload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---- the icon list ---- */

static void
read_list(struct workload *w)
{
	FILE *file = fopen(w->list, "r");
	char *line = NULL;
	size_t cap = 0, alloc = 0;

	if (file == NULL) {
		die("cannot open %s", w->list);
	}
	while (getline(&line, &cap, file) > 0) {
		char *tab = strchr(line, '\t');
		char *nl = strchr(line, '\n');

		if (tab == NULL) {
			continue;
		}
		if (nl != NULL) {
			*nl = '\0';
		}
		*tab = '\0';
		if (w->count == alloc) {
			alloc = alloc ? alloc * 2 : 256;
			w->icons = realloc(w->icons, alloc * sizeof(*w->icons));
			if (w->icons == NULL) {
				die("%s", "out of memory");
			}
		}
		w->icons[w->count++] = (struct icon){
			.name = strdup(line),
			.path = strdup(tab + 1),
		};
	}
	free(line);
	fclose(file);
	if (w->count == 0) {
		die("no icons in %s", w->list);
	}
}

/* Worker I's order of need: a Fisher-Yates shuffle seeded by I. */
static void
shuffle(struct workload *w)
{
	uint64_t x = 0x9e3779b97f4a7c15u * (w->worker + 1);

	for (unsigned i = w->count - 1; i > 0; i--) {
		unsigned j;
		struct icon t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (unsigned)(x % (i + 1));
		t = w->icons[i];
		w->icons[i] = w->icons[j];
		w->icons[j] = t;
	}
}

/* ---- drawing ---- */

static void
draw(struct workload *w, pixman_image_t *image, unsigned i)
{
	int size = pixman_image_get_width(image);
	int per_row = CANVAS / 64;
	int x = (int)(i % (unsigned)per_row) * 64;
	int y = (int)(i / (unsigned)per_row % (CANVAS / 64)) * 64;

	pixman_image_composite32(PIXMAN_OP_OVER, image, NULL, w->canvas, 0, 0,
		0, 0, x, y, size, pixman_image_get_height(image));
}

static pixman_image_t *
decode(struct workload *w, struct icon *icon)
{
	char error[256];
	uint64_t t0 = now_ns();
	pixman_image_t *image = pxt_image_load(icon->path, error,
		sizeof(error));

	w->r.decode_ns += now_ns() - t0;
	w->r.decodes++;
	if (image == NULL) {
		fprintf(stderr, "pixcache-workload: %s\n", error);
		w->r.failures++;
	}
	return image;
}

/* ---- without the cache ---- */

static void
run_without(struct workload *w, uint64_t t0, uint64_t cpu0)
{
	for (unsigned i = 0; i < w->count; i++) {
		w->icons[i].decoded = decode(w, &w->icons[i]);
		w->r.misses += w->icons[i].decoded != NULL;
	}
	icons_ready(w, t0, cpu0);
	for (unsigned i = 0; i < w->count; i++) {
		uint64_t t = now_ns();

		if (w->icons[i].decoded != NULL) {
			draw(w, w->icons[i].decoded, i);
		}
		w->r.draw_ns += now_ns() - t;
	}
}

/* ---- with the cache ---- */

/* The uploads of one batch, answered on the library's thread. */
struct uploads {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;
	int results[MAX_BATCH];
};

struct upload_slot {
	struct uploads *uploads;
	unsigned index;
};

static void
on_stored(void *data, int result, const struct pixcache_key *key)
{
	struct upload_slot *slot = data;
	struct uploads *u = slot->uploads;

	pthread_mutex_lock(&u->lock);
	u->results[slot->index] = result;
	u->pending--;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

/*
 * The names this client claimed: decode each, upload them all at once and
 * wait for their answers together. A name that cannot be decoded is
 * abandoned, so that another client may fill it. Returns how many are
 * worth asking for again (stored, or stored first by another).
 */
static unsigned
fill(struct workload *w, struct icon **icons, unsigned n)
{
	static struct uploads u = {
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, { 0 },
	};
	struct upload_slot slots[MAX_BATCH];
	unsigned kept = 0;

	for (unsigned i = 0; i < n; i++) {
		pixman_image_t *image = decode(w, icons[i]);
		int ret;

		slots[i] = (struct upload_slot){ &u, i };
		if (image == NULL) {
			pixcache_client_abandon(w->client, "default",
				icons[i]->name);
			u.results[i] = -EINVAL;
			continue;
		}
		pthread_mutex_lock(&u.lock);
		u.pending++;
		pthread_mutex_unlock(&u.lock);
		ret = pixcache_client_upload(w->client, "default",
			icons[i]->name, image, DRM_FORMAT_ARGB8888, 0,
			on_stored, &slots[i]);
		pixman_image_unref(image);
		if (ret < 0) {
			on_stored(&slots[i], ret, NULL);
		}
	}
	pixcache_client_flush(w->client);
	pthread_mutex_lock(&u.lock);
	while (u.pending > 0) {
		pthread_cond_wait(&u.cond, &u.lock);
	}
	pthread_mutex_unlock(&u.lock);
	for (unsigned i = 0; i < n; i++) {
		if (u.results[i] == 0) {
			w->r.uploads++;
		} else if (u.results[i] == -EBUSY || u.results[i] == -EEXIST) {
			/* Someone else stored it first: our decode was wasted. */
			w->r.lost_races++;
		} else if (u.results[i] != -EINVAL) {
			fprintf(stderr, "pixcache-workload: upload %s: %s\n",
				icons[i]->name, strerror(-u.results[i]));
		}
		if (u.results[i] != -EINVAL) {
			icons[kept++] = icons[i];
		}
	}
	return kept;
}

/*
 * One round of asking: found names are kept, claimed ones (ours to fill)
 * go to mine, names another client fills while we hold claims go to
 * later. Returns how many were found.
 */
static unsigned
ask(struct workload *w, struct icon **icons, unsigned n, struct icon **mine,
	unsigned *nmine, struct icon **later, unsigned *nlater)
{
	const char *names[MAX_BATCH] = { NULL };
	struct pixcache_pixmap *pixmaps[MAX_BATCH];
	int results[MAX_BATCH];
	unsigned found = 0;
	int ret;

	for (unsigned i = 0; i < n; i++) {
		names[i] = icons[i]->name;
	}
	ret = pixcache_client_find_many(w->client, "default", names, n,
		results, pixmaps);
	if (ret < 0) {
		fprintf(stderr, "pixcache-workload: lookups: %s\n",
			strerror(-ret));
	}
	*nmine = *nlater = 0;
	for (unsigned i = 0; i < n; i++) {
		if (results[i] == 0) {
			icons[i]->pixmap = pixmaps[i];
			found++;
		} else if (results[i] == -ENOENT) {
			mine[(*nmine)++] = icons[i];
		} else if (results[i] == -EINPROGRESS) {
			later[(*nlater)++] = icons[i];
		} else {
			fprintf(stderr, "pixcache-workload: find %s: %s\n",
				names[i], strerror(-results[i]));
			w->r.failures++;
		}
	}
	return found;
}

/*
 * A batch of needed icons: asked for, then (while any are left) this
 * client fills the names it claimed and asks again for those and for the
 * names others were filling meanwhile: those are waited for then.
 */
static void
need_batch(struct workload *w, unsigned first, unsigned n)
{
	struct icon *asking[MAX_BATCH], *mine[MAX_BATCH], *later[MAX_BATCH];
	unsigned nasking = n, nmine, nlater;
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < n; i++) {
		asking[i] = &w->icons[first + i];
	}
	w->r.hits += ask(w, asking, nasking, mine, &nmine, later, &nlater);
	w->r.misses += nmine + nlater;
	w->r.lookup_ns += now_ns() - t0;
	for (int round = 0; nmine + nlater > 0; round++) {
		if (round == ROUNDS_MAX) {
			fprintf(stderr, "pixcache-workload: %u icons not found "
				"after %d rounds\n", nmine + nlater, round);
			w->r.failures += nmine + nlater;
			for (unsigned i = 0; i < nmine; i++) {
				pixcache_client_abandon(w->client, "default",
					mine[i]->name);
			}
			return;
		}
		nasking = fill(w, mine, nmine);
		memcpy(asking, mine, nasking * sizeof(*mine));
		memcpy(asking + nasking, later, nlater * sizeof(*later));
		nasking += nlater;
		t0 = now_ns();
		(void)ask(w, asking, nasking, mine, &nmine, later, &nlater);
		w->r.upload_ns += now_ns() - t0;
	}
}

/* Times n repeated hits in a row; per hit, in ns. */
static double
local_chunk(struct workload *w, unsigned first, unsigned n)
{
	uint64_t t0 = now_ns();

	for (unsigned i = first; i < first + n; i++) {
		struct pixcache_pixmap *again;

		if (pixcache_client_find_local(w->client, "default",
				w->icons[i].name, &again) == 0) {
			w->r.local_hits++;
			pixcache_pixmap_unref(again);
		}
	}
	return (double)(now_ns() - t0) / n;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The median over chunks: a chunk during which the scheduler ran another
 * client (eight share a CPU when pinned) says nothing of the hit itself.
 */
static double
median_per_hit(double *chunks, unsigned n)
{
	qsort(chunks, n, sizeof(*chunks), compare_double);
	return n == 0 ? 0 : n % 2 ? chunks[n / 2] :
		(chunks[n / 2 - 1] + chunks[n / 2]) / 2;
}

static void
run_with(struct workload *w, uint64_t t0, uint64_t cpu0)
{
	for (unsigned i = 0; i < w->count; i += w->batch) {
		unsigned n = w->count - i < w->batch ? w->count - i : w->batch;

		need_batch(w, i, n);
	}
	icons_ready(w, t0, cpu0);
	for (unsigned i = 0; i < w->count; i++) {
		uint64_t t = now_ns();
		pixman_image_t *image = w->icons[i].pixmap ?
			pixcache_pixmap_create_pixman(w->icons[i].pixmap) :
			NULL;

		if (image != NULL) {
			draw(w, image, i);
			pixman_image_unref(image);
		}
		w->r.draw_ns += now_ns() - t;
	}
	/* Needed again (a redraw): answered locally, with no round trip. */
	for (unsigned i = 0; i < w->count; i += LOCAL_CHUNK) {
		unsigned n = w->count - i < LOCAL_CHUNK ? w->count - i :
			LOCAL_CHUNK;

		w->local_chunks[w->nlocal_chunks++] = local_chunk(w, i, n);
	}
	w->r.local_ns = median_per_hit(w->local_chunks, w->nlocal_chunks);
}

/* ---- reporting ---- */

static unsigned
count_entries(const char *path)
{
	DIR *dir = opendir(path);
	unsigned n = 0;

	if (dir == NULL) {
		return 0;
	}
	while (readdir(dir) != NULL) {
		n++;
	}
	closedir(dir);
	/* ".", ".." and the fd of the directory itself. */
	return n - 3;
}

static unsigned
count_lines(const char *path)
{
	FILE *file = fopen(path, "r");
	unsigned n = 0;
	int c;

	if (file == NULL) {
		return 0;
	}
	while ((c = getc(file)) != EOF) {
		n += c == '\n';
	}
	fclose(file);
	return n;
}

static double
per(uint64_t ns, unsigned n)
{
	return n ? (double)ns / n : 0;
}

static void
report(struct workload *w)
{
	struct pixcache_client_usage usage = { 0 };

	if (w->client != NULL) {
		pixcache_client_get_usage(w->client, &usage);
	}
	printf("{\"mode\": \"%s\", \"worker\": %u, \"icons\": %u, "
		"\"hits\": %u, \"misses\": %u, \"uploads\": %u, "
		"\"lost_races\": %u, \"failures\": %u, "
		"\"lookup_ns_per_icon\": %.0f, \"local_hit_ns\": %.1f, "
		"\"local_hits\": %u, \"decode_ns_per_icon\": %.0f, "
		"\"upload_ns_per_icon\": %.0f, \"draw_ns_per_icon\": %.0f, "
		"\"elapsed_ms\": %.1f, \"fds\": %u, \"mappings\": %u, "
		"\"library_mappings\": %u, \"pools\": %u, \"leases\": %u, "
		"\"decodes\": %u, \"icon_ns\": %" PRIu64 ", "
		"\"icon_cpu_ns\": %" PRIu64 ", \"pss_before_kib\": %u, "
		"\"pss_ready_kib\": %u}\n",
		w->no_cache ? "nocache" : "cache", w->worker, w->count,
		w->r.hits, w->r.misses, w->r.uploads, w->r.lost_races,
		w->r.failures, per(w->r.lookup_ns, w->count),
		w->r.local_ns, w->r.local_hits,
		per(w->r.decode_ns, w->r.misses),
		per(w->r.upload_ns, w->r.misses), per(w->r.draw_ns, w->count),
		w->r.elapsed_ns / 1e6, count_entries("/proc/self/fd"),
		count_lines("/proc/self/maps"), usage.mappings, usage.pools,
		usage.leases, w->r.decodes, w->r.icon_ns, w->r.icon_cpu_ns,
		w->r.pss_before_kib, w->r.pss_ready_kib);
	fflush(stdout);
}

/* ---- main ---- */

static void
parse(int argc, char *argv[], struct workload *w)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "list", required_argument, NULL, 'l' },
		{ "worker", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },
		{ "start-at", required_argument, NULL, 't' },
		{ "order", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 's':
			w->socket = optarg;
			break;
		case 'n':
			w->no_cache = true;
			break;
		case 'l':
			w->list = optarg;
			break;
		case 'w':
			w->worker = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			w->batch = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			w->start_at = strtoull(optarg, NULL, 10);
			break;
		case 'o':
			if (strcmp(optarg, "same") != 0 &&
					strcmp(optarg, "shuffled") != 0) {
				die("%s", "--order is same or shuffled");
			}
			w->same_order = strcmp(optarg, "same") == 0;
			break;
		default:
			die("%s", "usage: pixcache-workload (--socket NAME | "
				"--no-cache) --list FILE [--worker I] "
				"[--batch N] [--start-at NS] "
				"[--order same|shuffled]");
		}
	}
	if (w->list == NULL || (w->socket == NULL) == !w->no_cache ||
			w->batch == 0 || w->batch > MAX_BATCH) {
		die("%s", "need --list, and --socket or --no-cache; "
			"--batch 1 to 1024");
	}
}

static void
wait_for_start(uint64_t at)
{
	struct timespec t;

	if (at == 0) {
		return;
	}
	t.tv_sec = (time_t)(at / 1000000000u);
	t.tv_nsec = (long)(at % 1000000000u);
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, NULL) ==
			EINTR) {
		/* Again, to the same instant. */
	}
}

int
main(int argc, char *argv[])
{
	struct workload w = { .batch = 64 };
	char buf[64];
	uint64_t t0, cpu0;

	parse(argc, argv, &w);
	read_list(&w);
	if (!w.same_order) {
		shuffle(&w);
	}
	w.local_chunks = calloc(w.count / LOCAL_CHUNK + 1,
		sizeof(*w.local_chunks));
	w.canvas = pixman_image_create_bits(PIXMAN_a8r8g8b8, CANVAS, CANVAS,
		NULL, 0);
	if (!w.no_cache) {
		w.client = pixcache_client_connect(w.socket, NULL);
		if (w.client == NULL) {
			die("cannot connect to %s", w.socket);
		}
		/* Upload callbacks run there, as in a toolkit with a loop. */
		if (pixcache_client_start_thread(w.client) < 0) {
			die("%s", "cannot start the library's thread");
		}
	}
	wait_for_start(w.start_at);
	w.r.pss_before_kib = pss_kib();
	t0 = now_ns();
	cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (w.no_cache) {
		run_without(&w, t0, cpu0);
	} else {
		run_with(&w, t0, cpu0);
	}
	w.r.elapsed_ns = now_ns() - t0;
	report(&w);
	/* Keep the icons until told: the memory is read meanwhile. */
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
		/* Nothing is expected; the end of input is the signal. */
	}
	for (unsigned i = 0; i < w.count; i++) {
		if (w.icons[i].decoded != NULL) {
			pixman_image_unref(w.icons[i].decoded);
		}
		pixcache_pixmap_unref(w.icons[i].pixmap);
		free(w.icons[i].name);
		free(w.icons[i].path);
	}
	free(w.icons);
	free(w.local_chunks);
	pixcache_client_destroy(w.client);
	pixman_image_unref(w.canvas);
	return w.r.failures ? 1 : 0;
}
