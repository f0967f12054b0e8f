// The client library against its anchors, each in the same run: Qt 5's
// QPixmapCache for a repeated hit, a bare Wayland round trip and libpng
// decoding for a batch of first hits, a fresh memfd for storing a large
// pixmap, private copies for memory shared by many processes. One JSON
// object per result on stdout; bench/client-bench.py runs it pinned and
// unpinned, adds callgrind counts and writes the report.
//
//   client-bench hit N...              repeated local hits vs QPixmapCache
//                                      (a manager on a thread of its own)
//   client-bench hit-callgrind N       under callgrind --instr-atstart=no
//   client-bench batch SOCKET PNG...   100 first hits in one batch: time,
//                                      and CPU of the client and pixcached
//   client-bench batch-callgrind PNG...  the same under callgrind, with a
//                                      manager on a thread of its own
//   client-bench store SOCKET          a 16 MiB pixmap vs a fresh memfd
//   client-bench share SOCKET N PNG... N processes sharing the icons
//   client-bench many SOCKET N K       N processes, K lookups each

#include <QGuiApplication>
#include <QPixmap>
#include <QPixmapCache>
#include <QString>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <dirent.h>
#include <drm_fourcc.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/callgrind.h>
#include <wayland-client.h>

extern "C" {
#include "client-harness.h"
#include "image-io.h"
}

namespace {

double
now_ns()
{
	timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double
quantile(std::vector<double> v, double q)
{
	std::sort(v.begin(), v.end());
	return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

double
median(const std::vector<double> &v)
{
	return quantile(v, 0.5);
}

[[noreturn]] void
die(const char *what, int error = 0)
{
	fprintf(stderr, "client-bench: %s%s%s\n", what, error ? ": " : "",
		error ? strerror(error) : "");
	exit(1);
}

// Qt 5.15 leaves the upper halves of the AVX registers dirty (see
// core-bench.cpp): each timed round starts clean.
void
clean_vector_state()
{
#if defined(__x86_64__) || defined(__i386__)
	static const bool avx = __builtin_cpu_supports("avx");

	if (avx) {
		__asm__ volatile("vzeroupper" ::: "memory");
	}
#endif
}

struct pixcache_client *
connect_to(const char *socket, uint32_t local_entries = 1024)
{
	struct pixcache_client_options options;
	struct pixcache_client *client;

	pixcache_client_options_init(&options);
	options.local_entries = local_entries;
	options.max_outstanding = 1024;
	options.timeout_ms = 60000;
	client = pixcache_client_connect(socket, &options);
	if (client == nullptr) {
		die("cannot connect", errno);
	}
	return client;
}

// ---- repeated hits, against QPixmapCache ----

struct Names {
	std::vector<std::string> names;
	std::vector<QString> qnames;
	std::vector<uint32_t> order;

	explicit Names(size_t n)
	{
		char buf[64];
		std::mt19937_64 rng(n);

		for (size_t i = 0; i < n; i++) {
			snprintf(buf, sizeof(buf),
				"icon/Adwaita/name-%07zu/48@1", i);
			names.emplace_back(buf);
			qnames.push_back(QString::fromLatin1(buf));
		}
		order.resize(std::max<size_t>(n, 1000000));
		for (auto &o : order) {
			o = static_cast<uint32_t>(rng() % n);
		}
	}
};

struct InsertAll {
	const Names *names;
	int failures;
};

// On the manager's thread: what a compositor inserts itself.
void
insert_all(struct pixcache_manager *manager, void *data)
{
	auto *all = static_cast<InsertAll *>(data);
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8, 1,
		1, nullptr, 0);

	for (const auto &name : all->names->names) {
		all->failures += pixcache_manager_insert(manager, "default",
			name.c_str(), image, DRM_FORMAT_ARGB8888, 0,
			nullptr) < 0;
	}
	pixman_image_unref(image);
}

// A client that has every name of the set mapped, and served locally.
struct Mapped {
	struct ch_server *server;
	struct pixcache_client *client;

	Mapped(const Names &names)
	{
		size_t n = names.names.size();
		struct pixcache_config config;
		InsertAll all = { &names, 0 };

		ch_config(&config);
		config.budget = UINT64_C(64) << 30;
		config.table_capacity = static_cast<uint32_t>(
			std::max<size_t>(n + n / 2, 1024));
		config.max_leases = static_cast<uint32_t>(3 * n + 1024);
		config.max_fds_in_flight = 1 << 20;
		server = ch_server_start(&config, nullptr, nullptr);
		ch_server_call(server, insert_all, &all);
		if (all.failures) {
			die("cannot fill the cache");
		}
		client = connect_to(ch_server_socket(server),
			static_cast<uint32_t>(n));
		map_all(names);
	}

	void map_all(const Names &names)
	{
		const size_t chunk = 1024;
		std::vector<const char *> batch(chunk);
		std::vector<struct pixcache_pixmap *> pixmaps(chunk);
		std::vector<int> results(chunk);

		for (size_t i = 0; i < names.names.size(); i += chunk) {
			size_t k = std::min(chunk, names.names.size() - i);

			for (size_t j = 0; j < k; j++) {
				batch[j] = names.names[i + j].c_str();
			}
			if (pixcache_client_find_many(client, "default",
					batch.data(), static_cast<unsigned>(k),
					results.data(), pixmaps.data()) < 0) {
				die("lookups failed");
			}
			for (size_t j = 0; j < k; j++) {
				if (results[j] < 0) {
					die("a lookup failed", -results[j]);
				}
				pixcache_pixmap_unref(pixmaps[j]);
			}
		}
	}

	~Mapped()
	{
		pixcache_client_destroy(client);
		ch_server_stop(server);
	}
};

// A repeated hit: the borrowed handle, let go at once.
size_t
local_hits(struct pixcache_client *client, const Names &names, size_t from,
	size_t count)
{
	size_t hits = 0;

	for (size_t i = from; i < from + count; i++) {
		const std::string &name =
			names.names[names.order[i % names.order.size()]];
		struct pixcache_pixmap *pixmap;

		if (pixcache_client_find_local(client, "default",
				name.c_str(), &pixmap) == 0) {
			hits++;
			pixcache_pixmap_unref(pixmap);
		}
	}
	return hits;
}

// Every Qt entry has its own 1x1 pixmap (see core-bench.cpp).
struct QtCache {
	std::vector<QPixmap> pixmaps;

	explicit QtCache(const Names &names)
	{
		QPixmapCache::clear();
		QPixmapCache::setCacheLimit(static_cast<int>(std::min<size_t>(
			(names.names.size() + 16) * 64, INT32_MAX)));
		pixmaps.resize(names.names.size());
		for (size_t i = 0; i < pixmaps.size(); i++) {
			pixmaps[i] = QPixmap(1, 1);
			pixmaps[i].fill(QColor::fromRgb(static_cast<QRgb>(i)));
			QPixmapCache::insert(names.qnames[i], pixmaps[i]);
		}
	}

	~QtCache()
	{
		QPixmapCache::clear();
	}
};

size_t
qt_hits(const Names &names, size_t from, size_t count)
{
	size_t hits = 0;
	QPixmap out;

	for (size_t i = from; i < from + count; i++) {
		hits += QPixmapCache::find(
			names.qnames[names.order[i % names.order.size()]], &out);
	}
	return hits;
}

void
hit(size_t n)
{
	const size_t round = 200000;
	const int rounds = 9;
	Names names(n);
	Mapped mapped(names);
	QtCache qt(names);
	std::vector<double> ours, theirs;

	for (int r = 0; r < rounds; r++) {
		for (int side = 0; side < 2; side++) {
			bool our_turn = (r + side) % 2 == 0;
			double t0;
			size_t hits;

			clean_vector_state();
			t0 = now_ns();
			hits = our_turn ?
				local_hits(mapped.client, names, r * round,
					round) :
				qt_hits(names, r * round, round);
			(our_turn ? ours : theirs).push_back(
				(now_ns() - t0) / round);
			if (hits != round) {
				die(our_turn ? "a local hit missed" :
					"a Qt hit missed");
			}
		}
	}
	printf("{\"bench\": \"hit\", \"size\": %zu, \"ours_ns\": %.1f, "
		"\"ours_p99_ns\": %.1f, \"qt_ns\": %.1f, \"qt_p99_ns\": %.1f}\n",
		n, median(ours), quantile(ours, 0.99), median(theirs),
		quantile(theirs, 0.99));
	fflush(stdout);
}

void
hit_callgrind(size_t n)
{
	const size_t k = 10000;
	Names names(n);
	Mapped mapped(names);
	QtCache qt(names);
	char label[64];

	snprintf(label, sizeof(label), "ours:hit:%zu", n);
	clean_vector_state();
	CALLGRIND_START_INSTRUMENTATION;
	CALLGRIND_ZERO_STATS;
	local_hits(mapped.client, names, 0, k);
	CALLGRIND_DUMP_STATS_AT(label);
	CALLGRIND_STOP_INSTRUMENTATION;
	snprintf(label, sizeof(label), "qt:hit:%zu", n);
	clean_vector_state();
	CALLGRIND_START_INSTRUMENTATION;
	CALLGRIND_ZERO_STATS;
	qt_hits(names, 0, k);
	CALLGRIND_DUMP_STATS_AT(label);
	CALLGRIND_STOP_INSTRUMENTATION;
}

// ---- icons from files ----

struct Icon {
	std::string name;
	std::string path;
};

std::vector<Icon>
icons_of(int argc, char **argv)
{
	std::vector<Icon> icons;

	for (int i = 0; i < argc; i++) {
		const char *base = strrchr(argv[i], '/');
		std::string file = base ? base + 1 : argv[i];

		icons.push_back({ "icon/bench/" + file + "/48@1", argv[i] });
	}
	return icons;
}

pixman_image_t *
decode(const Icon &icon)
{
	char error[256];
	pixman_image_t *image = pxt_image_load(icon.path.c_str(), error,
		sizeof(error));

	if (image == nullptr) {
		die(error);
	}
	return image;
}

void
put_all(const char *socket, const std::vector<Icon> &icons)
{
	struct pixcache_client *client = connect_to(socket);

	for (const Icon &icon : icons) {
		pixman_image_t *image = decode(icon);
		int ret = pixcache_client_put(client, "default",
			icon.name.c_str(), image, DRM_FORMAT_ARGB8888, 0,
			nullptr);

		pixman_image_unref(image);
		if (ret < 0 && ret != -EEXIST) {
			die("cannot store an icon", -ret);
		}
	}
	pixcache_client_destroy(client);
}

// ---- 100 first hits in one batch ----

double
cpu_ns(clockid_t clock)
{
	timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// CPU time of pixcached so far, in ns (one thread: its schedstat).
double
process_cpu_ns(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f != nullptr) {
		if (fscanf(f, "%llu", &ns) != 1) {
			ns = 0;
		}
		fclose(f);
	}
	return static_cast<double>(ns);
}

// The process at the other end of a Wayland connection: the manager.
pid_t
peer_pid(struct wl_display *display)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(wl_display_get_fd(display), SOL_SOCKET, SO_PEERCRED,
			&cred, &len) < 0) {
		die("SO_PEERCRED", errno);
	}
	return cred.pid;
}

// The first hits of one batch, and the release of their leases.
void
first_hits(struct pixcache_client *client, std::vector<const char *> &names,
	std::vector<struct pixcache_pixmap *> &pixmaps, std::vector<int> &results)
{
	if (pixcache_client_find_many(client, "default", names.data(),
			static_cast<unsigned>(names.size()), results.data(),
			pixmaps.data()) < 0) {
		die("batch failed");
	}
	for (size_t i = 0; i < names.size(); i++) {
		if (results[i] < 0) {
			die("a first hit failed", -results[i]);
		}
		pixcache_pixmap_unref(pixmaps[i]);
	}
	// The releases go.
	pixcache_client_flush(client);
}

void
batch(const char *socket, const std::vector<Icon> &icons)
{
	const int rounds = 41;
	std::vector<const char *> names;
	std::vector<double> batch_ns, rt_ns, decode_ns, client_ns, manager_ns;
	std::vector<struct pixcache_pixmap *> pixmaps(icons.size());
	std::vector<int> results(icons.size());
	struct wl_display *display = wl_display_connect(socket);

	if (display == nullptr) {
		die("cannot connect", errno);
	}
	pid_t manager = peer_pid(display);

	put_all(socket, icons);
	for (const Icon &icon : icons) {
		names.push_back(icon.name.c_str());
	}
	// One more, stored first: it brings the realm and the pool in.
	const char *opener = names.back();
	names.pop_back();
	pixmaps.pop_back();
	results.pop_back();
	wl_display_roundtrip(display);
	for (int r = 0; r < rounds; r++) {
		// A fresh client: its session bound, the realm and the pool
		// mapped (what every later batch finds), no name known.
		struct pixcache_client *client = connect_to(socket);
		struct pixcache_pixmap *first;
		double t0, c0, m0;

		if (pixcache_client_find(client, "default", opener, &first) < 0) {
			die("no manager");
		}
		pixcache_pixmap_unref(first);
		usleep(2000);
		m0 = process_cpu_ns(manager);
		c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
		t0 = now_ns();
		first_hits(client, names, pixmaps, results);
		batch_ns.push_back(now_ns() - t0);
		client_ns.push_back(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - c0);
		// The manager reads the releases meanwhile: no CPU while idle.
		usleep(2000);
		manager_ns.push_back(process_cpu_ns(manager) - m0);
		pixcache_client_destroy(client);

		t0 = now_ns();
		wl_display_roundtrip(display);
		rt_ns.push_back(now_ns() - t0);

		t0 = now_ns();
		for (size_t i = 0; i < names.size(); i++) {
			pixman_image_unref(decode(icons[i]));
		}
		decode_ns.push_back(now_ns() - t0);
	}
	wl_display_disconnect(display);
	printf("{\"bench\": \"batch\", \"pixmaps\": %zu, "
		"\"batch_us\": %.1f, \"batch_p99_us\": %.1f, "
		"\"roundtrip_us\": %.1f, \"roundtrip_p99_us\": %.1f, "
		"\"decode_us\": %.1f, \"decode_p99_us\": %.1f, "
		"\"client_cpu_us\": %.1f, \"manager_cpu_us\": %.1f}\n",
		names.size(), median(batch_ns) / 1e3,
		quantile(batch_ns, 0.99) / 1e3, median(rt_ns) / 1e3,
		quantile(rt_ns, 0.99) / 1e3, median(decode_ns) / 1e3,
		quantile(decode_ns, 0.99) / 1e3, median(client_ns) / 1e3,
		median(manager_ns) / 1e3);
}

// Callgrind zeroes and dumps the calling thread's counts: the manager's
// thread does its own.
void
manager_zero(struct pixcache_manager *manager, void *data)
{
	(void)manager;
	(void)data;
	CALLGRIND_ZERO_STATS;
}

void
manager_dump(struct pixcache_manager *manager, void *data)
{
	(void)manager;
	(void)data;
	CALLGRIND_DUMP_STATS_AT("batch-manager");
}

// Instructions of the same, client and manager apart: the manager runs on
// a thread of its own here, counted in its own callgrind dump.
void
batch_callgrind(const std::vector<Icon> &icons)
{
	struct ch_server *server = ch_server_start(nullptr, nullptr, nullptr);
	const char *socket = ch_server_socket(server);
	std::vector<const char *> names;
	std::vector<struct pixcache_pixmap *> pixmaps(icons.size());
	std::vector<int> results(icons.size());

	put_all(socket, icons);
	for (const Icon &icon : icons) {
		names.push_back(icon.name.c_str());
	}
	const char *opener = names.back();
	names.pop_back();
	pixmaps.pop_back();
	results.pop_back();
	for (int r = 0; r < 2; r++) {
		struct pixcache_client *client = connect_to(socket);
		struct pixcache_pixmap *first;

		if (pixcache_client_find(client, "default", opener, &first) < 0) {
			die("no manager");
		}
		pixcache_pixmap_unref(first);
		usleep(20000);
		// The first round warms libwayland and the allocator.
		if (r == 1) {
			CALLGRIND_START_INSTRUMENTATION;
			ch_server_call(server, manager_zero, nullptr);
			CALLGRIND_ZERO_STATS;
		}
		first_hits(client, names, pixmaps, results);
		// Under valgrind the manager's thread is slow to read.
		usleep(200000);
		if (r == 1) {
			CALLGRIND_DUMP_STATS_AT("batch");
			ch_server_call(server, manager_dump, nullptr);
			CALLGRIND_STOP_INSTRUMENTATION;
		}
		pixcache_client_destroy(client);
	}
	ch_server_stop(server);
}

// ---- a 16 MiB pixmap ----

void
store(const char *socket)
{
	const int side = 2048, rounds = 15;
	const size_t bytes = static_cast<size_t>(side) * side * 4;
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		side, side, nullptr, 0);
	struct pixcache_client *client = connect_to(socket);
	std::vector<double> put_ns, memfd_ns;

	memset(pixman_image_get_data(image), 0x7f, bytes);
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		int fd;
		void *map;
		int ret = pixcache_client_put(client, "default", "bench/large",
			image, DRM_FORMAT_ARGB8888, PIXCACHE_PUT_REPLACE,
			nullptr);

		put_ns.push_back(now_ns() - t0);
		if (ret < 0) {
			die("cannot store 16 MiB", -ret);
		}
		// The anchor: the same bytes into a fresh memfd of one's own.
		t0 = now_ns();
		fd = memfd_create("bench", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, static_cast<off_t>(bytes)) < 0) {
			die("memfd", errno);
		}
		map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			fd, 0);
		if (map == MAP_FAILED) {
			die("mmap", errno);
		}
		memcpy(map, pixman_image_get_data(image), bytes);
		munmap(map, bytes);
		close(fd);
		memfd_ns.push_back(now_ns() - t0);
	}
	pixcache_client_remove(client, "default", "bench/large");
	pixcache_client_destroy(client);
	pixman_image_unref(image);
	printf("{\"bench\": \"store\", \"bytes\": %zu, \"put_ms\": %.2f, "
		"\"put_p99_ms\": %.2f, \"memfd_ms\": %.2f, "
		"\"memfd_p99_ms\": %.2f}\n", bytes, median(put_ns) / 1e6,
		quantile(put_ns, 0.99) / 1e6, median(memfd_ns) / 1e6,
		quantile(memfd_ns, 0.99) / 1e6);
}

// ---- many processes ----

struct Smaps {
	long pss_kib = 0;		// the whole process
	long pixcache_pss_kib = 0;	// mappings of the cache's memfds
	int pixcache_mappings = 0;
};

Smaps
smaps_of(pid_t pid)
{
	char path[64], line[512];
	Smaps s;
	bool ours = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", static_cast<int>(pid));
	f = fopen(path, "r");
	if (f == nullptr) {
		die("cannot read smaps", errno);
	}
	while (fgets(line, sizeof(line), f) != nullptr) {
		long kib;

		// A mapping's header starts with its address range in
		// lower-case hex; its fields with a capitalised name.
		if ((isdigit(static_cast<unsigned char>(line[0])) ||
				(line[0] >= 'a' && line[0] <= 'f')) &&
				strchr(line, '-') != nullptr &&
				strchr(line, '-') < strchr(line, ' ')) {
			ours = strstr(line, "memfd:pixcache") != nullptr;
			s.pixcache_mappings += ours;
		} else if (sscanf(line, "Pss: %ld kB", &kib) == 1) {
			s.pss_kib += kib;
			if (ours) {
				s.pixcache_pss_kib += kib;
			}
		}
	}
	fclose(f);
	return s;
}

// Runs fn in n children started together; each writes its result and
// waits for the parent to have read every child's memory.
// With smaps, also reads the memory of also (when > 0), at the same time.
template <typename F>
std::vector<std::string>
in_children(int n, F fn, std::vector<Smaps> *smaps, pid_t also = 0)
{
	std::vector<pid_t> pids;
	std::vector<int> outs, holds;
	std::vector<std::string> results;
	int go[2];

	if (pipe(go) < 0) {
		die("pipe", errno);
	}
	for (int i = 0; i < n; i++) {
		int out[2], hold[2];
		pid_t pid;

		if (pipe(out) < 0 || pipe(hold) < 0) {
			die("pipe", errno);
		}
		pid = fork();
		if (pid < 0) {
			die("fork", errno);
		}
		if (pid == 0) {
			char c;
			std::string r;

			close(go[1]);
			close(out[0]);
			close(hold[1]);
			// Not the ends of the children before: their EOFs.
			for (size_t j = 0; j < outs.size(); j++) {
				close(outs[j]);
				close(holds[j]);
			}
			if (read(go[0], &c, 1) < 0) {
				_exit(1);
			}
			r = fn(i) + "\n";
			if (write(out[1], r.data(), r.size()) < 0 ||
					read(hold[0], &c, 1) < 0) {
				_exit(1);
			}
			_exit(0);
		}
		close(out[1]);
		close(hold[0]);
		pids.push_back(pid);
		outs.push_back(out[0]);
		holds.push_back(hold[1]);
	}
	close(go[0]);
	close(go[1]);	// everyone starts now
	for (int i = 0; i < n; i++) {
		std::string r;
		char buf[4096];
		ssize_t k;

		while ((k = read(outs[i], buf, sizeof(buf))) > 0) {
			r.append(buf, static_cast<size_t>(k));
			if (r.back() == '\n') {
				break;
			}
		}
		results.push_back(r);
	}
	if (smaps != nullptr) {
		for (pid_t pid : pids) {
			smaps->push_back(smaps_of(pid));
		}
		if (also > 0) {
			smaps->push_back(smaps_of(also));
		}
	}
	for (int i = 0; i < n; i++) {
		int status;

		close(holds[i]);
		close(outs[i]);
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			die("a child failed");
		}
	}
	return results;
}

// pixcached's pid, which the driver passes; 0 if it did not.
pid_t
manager_pid()
{
	const char *pid = getenv("PIXCACHED_PID");

	return pid ? static_cast<pid_t>(atoi(pid)) : 0;
}

void
share(const char *socket, int n, const std::vector<Icon> &icons)
{
	std::vector<const char *> names;
	std::vector<Smaps> cached;
	size_t one_copy = 0;
	Smaps manager;

	put_all(socket, icons);
	for (const Icon &icon : icons) {
		pixman_image_t *image = decode(icon);

		names.push_back(icon.name.c_str());
		one_copy += static_cast<size_t>(pixman_image_get_width(image)) *
			pixman_image_get_height(image) * 4;
		pixman_image_unref(image);
	}
	in_children(n, [&](int) {
		struct pixcache_client *client = connect_to(socket);
		std::vector<struct pixcache_pixmap *> pixmaps(names.size());
		std::vector<int> results(names.size());

		if (pixcache_client_find_many(client, "default", names.data(),
				static_cast<unsigned>(names.size()),
				results.data(), pixmaps.data()) < 0) {
			_exit(1);
		}
		uint64_t sum = 0;

		for (size_t i = 0; i < names.size(); i++) {
			const uint8_t *p;
			size_t bytes;

			if (results[i] < 0) {
				_exit(1);
			}
			// Drawn: every byte read, as compositing would.
			p = static_cast<const uint8_t *>(
				pixcache_pixmap_get_data(pixmaps[i]));
			bytes = static_cast<size_t>(
				pixcache_pixmap_get_stride(pixmaps[i])) *
				pixcache_pixmap_get_height(pixmaps[i]);
			for (size_t b = 0; b < bytes; b += 64) {
				sum += p[b];
			}
		}
		// Held: they stay mapped while the parent reads the memory.
		return std::to_string(sum);
	}, &cached, manager_pid());
	if (manager_pid() > 0) {
		// The manager's, read while the clients held theirs.
		manager = cached.back();
		cached.pop_back();
	}
	// The anchor: each process decodes and keeps its own copies.
	auto copies = in_children(n, [&](int) {
		static std::vector<pixman_image_t *> kept;
		Smaps before = smaps_of(getpid());

		for (const Icon &icon : icons) {
			kept.push_back(decode(icon));
		}
		return std::to_string(smaps_of(getpid()).pss_kib -
			before.pss_kib);
	}, nullptr);
	long cached_kib = manager.pixcache_pss_kib, copies_kib = 0;
	int max_mappings = 0;

	for (const Smaps &s : cached) {
		cached_kib += s.pixcache_pss_kib;
		max_mappings = std::max(max_mappings, s.pixcache_mappings);
	}
	for (const std::string &r : copies) {
		copies_kib += atol(r.c_str());
	}
	printf("{\"bench\": \"share\", \"clients\": %d, \"icons\": %zu, "
		"\"one_copy_kib\": %.1f, \"cached_pss_kib\": %ld, "
		"\"manager_pixcache_pss_kib\": %ld, "
		"\"copies_pss_kib\": %ld, "
		"\"max_pixcache_mappings_per_client\": %d}\n",
		n, icons.size(), one_copy / 1024.0, cached_kib,
		manager.pixcache_pss_kib, copies_kib, max_mappings);
	fflush(stdout);
}

long
fds_of(pid_t pid)
{
	char path[64];
	long n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", static_cast<int>(pid));
	dir = opendir(path);
	if (dir == nullptr) {
		return -1;
	}
	while (readdir(dir) != nullptr) {
		n++;
	}
	closedir(dir);
	return n - 2;
}

long
rss_kib_of(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(pid));
	f = fopen(path, "r");
	while (f != nullptr && fgets(line, sizeof(line), f) != nullptr) {
		sscanf(line, "VmRSS: %ld kB", &kib);
	}
	if (f != nullptr) {
		fclose(f);
	}
	return kib;
}

void
many(const char *socket, int n, int k)
{
	const int names = 500;
	pid_t manager = manager_pid();
	std::vector<Icon> icons;
	std::vector<double> all;
	long fds_before = fds_of(manager), rss_before = rss_kib_of(manager);
	long failures = 0;
	struct pixcache_client *client = connect_to(socket);
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8, 16,
		16, nullptr, 0);

	for (int i = 0; i < names; i++) {
		std::string name = "bench/many/" + std::to_string(i);

		pixcache_client_put(client, "default", name.c_str(), image,
			DRM_FORMAT_ARGB8888, PIXCACHE_PUT_REPLACE, nullptr);
	}
	pixcache_client_destroy(client);
	pixman_image_unref(image);
	fds_before = fds_of(manager);
	rss_before = rss_kib_of(manager);
	auto results = in_children(n, [&](int i) {
		// Nothing kept locally: every lookup asks the manager.
		struct pixcache_client *c = connect_to(socket, 0);
		std::mt19937 rng(static_cast<unsigned>(i));
		std::string out;
		int failed = 0;

		for (int j = 0; j < k; j++) {
			std::string name = "bench/many/" +
				std::to_string(rng() % names);
			struct pixcache_pixmap *pixmap;
			double t0 = now_ns();
			int ret = pixcache_client_find(c, "default",
				name.c_str(), &pixmap);

			out += std::to_string(static_cast<long>(now_ns() - t0)) +
				" ";
			if (ret < 0) {
				failed++;
			} else {
				pixcache_pixmap_unref(pixmap);
			}
		}
		pixcache_client_destroy(c);
		return std::to_string(failed) + " " + out;
	}, nullptr);
	for (const std::string &r : results) {
		const char *p = r.c_str();
		char *end;

		failures += strtol(p, &end, 10);
		for (p = end; *p != '\0' && *p != '\n'; p = end) {
			long ns = strtol(p, &end, 10);

			if (end == p) {
				break;
			}
			all.push_back(static_cast<double>(ns));
		}
	}
	// Let the manager see every disconnection.
	usleep(200000);
	printf("{\"bench\": \"many\", \"clients\": %d, \"lookups\": %zu, "
		"\"failures\": %ld, \"p50_us\": %.1f, \"p99_us\": %.1f, "
		"\"manager_fds_before\": %ld, \"manager_fds_after\": %ld, "
		"\"manager_rss_kib_before\": %ld, "
		"\"manager_rss_kib_after\": %ld}\n", n, all.size(), failures,
		quantile(all, 0.5) / 1e3, quantile(all, 0.99) / 1e3, fds_before,
		fds_of(manager), rss_before, rss_kib_of(manager));
}

} // namespace

int
main(int argc, char *argv[])
{
	qputenv("QT_QPA_PLATFORM", "offscreen");
	QGuiApplication app(argc, argv);
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "hit") == 0 && argc > 2) {
		for (int i = 2; i < argc; i++) {
			hit(strtoul(argv[i], nullptr, 10));
		}
	} else if (strcmp(cmd, "hit-callgrind") == 0 && argc == 3) {
		hit_callgrind(strtoul(argv[2], nullptr, 10));
	} else if (strcmp(cmd, "batch") == 0 && argc > 3) {
		batch(argv[2], icons_of(argc - 3, argv + 3));
	} else if (strcmp(cmd, "batch-callgrind") == 0 && argc > 2) {
		batch_callgrind(icons_of(argc - 2, argv + 2));
	} else if (strcmp(cmd, "store") == 0 && argc == 3) {
		store(argv[2]);
	} else if (strcmp(cmd, "share") == 0 && argc > 4) {
		share(argv[2], atoi(argv[3]), icons_of(argc - 4, argv + 4));
	} else if (strcmp(cmd, "many") == 0 && argc == 5) {
		many(argv[2], atoi(argv[3]), atoi(argv[4]));
	} else {
		fprintf(stderr, "usage: see the comment at the top of "
			"bench/client-bench.cpp\n");
		return 2;
	}
	return 0;
}
