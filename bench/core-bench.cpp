// The core against Qt 5's QPixmapCache, in one process, on the same
// workloads: the same names, the same random orders, rounds of the two
// interleaved so that both see the same machine. Timings are medians of
// rounds; bench/core-bench.py adds callgrind instruction counts and prints
// the table of doc/performance.md.
//
//   core-bench time [SIZE...]       timings, one JSON object per line
//   core-bench callgrind SIZE       under valgrind --tool=callgrind
//                                   --instr-atstart=no: one dump per
//                                   operation and implementation

#include <QGuiApplication>
#include <QPixmap>
#include <QPixmapCache>
#include <QString>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <malloc.h>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <valgrind/callgrind.h>

#include "core.h"

namespace {

// A 48x48 ARGB32 pixmap: QPixmapCache charges width * height * depth / 8.
constexpr int kSide = 48;
constexpr uint64_t kCost = kSide * kSide * 4;
constexpr size_t kCallgrindOps = 10000;

double
now_ns()
{
	timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double
median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

uint32_t
capacity_for(size_t n)
{
	uint32_t c = 1024;

	while (c < n + n / 4) {
		c *= 2;
	}
	return c;
}

// The names, present and absent, and a random order to visit them in.
struct Workload {
	size_t n;
	std::vector<std::string> names;
	std::vector<std::string> absent;
	std::vector<QString> qnames;
	std::vector<QString> qabsent;
	std::vector<uint32_t> order;

	explicit Workload(size_t size) : n(size)
	{
		char buf[64];
		std::mt19937_64 rng(size);

		for (size_t i = 0; i < n; i++) {
			snprintf(buf, sizeof(buf),
				"icon/Adwaita/name-%07zu/48@1", i);
			names.emplace_back(buf);
			qnames.push_back(QString::fromLatin1(buf));
			snprintf(buf, sizeof(buf),
				"icon/Adwaita/none-%07zu/48@1", i);
			absent.emplace_back(buf);
			qabsent.push_back(QString::fromLatin1(buf));
		}
		order.resize(std::max<size_t>(n, 1000000));
		for (auto &o : order) {
			o = static_cast<uint32_t>(rng());
		}
	}

	// The i-th name of the random order, among the first `among` names.
	size_t pick(size_t i, size_t among) const
	{
		return order[i % order.size()] % among;
	}
};

// Counts what the core allocates, to report bookkeeping per entry.
struct CountingAllocator {
	pxc_allocator allocator;
	size_t live = 0;

	CountingAllocator()
	{
		allocator.realloc = [](void *data, void *ptr, size_t old_size,
				size_t new_size) -> void * {
			auto *self = static_cast<CountingAllocator *>(data);

			if (new_size == 0) {
				self->live -= old_size;
				free(ptr);
				return nullptr;
			}
			self->live += new_size;
			return malloc(new_size);
		};
		allocator.data = this;
	}
};

void
release_nothing(void *, void *)
{
}

int payload_cell;

struct Ours {
	CountingAllocator counting;
	pxc_cache *cache = nullptr;
	pxc_realm *realm = nullptr;
	std::vector<pxc_key> keys;

	void create(size_t n, uint64_t budget)
	{
		pxc_cache_options o = {};

		o.budget = budget;
		o.table_capacity = capacity_for(n);
		o.allocator = &counting.allocator;
		o.release = release_nothing;
		destroy();
		if (pxc_cache_create(&o, &cache) < 0 ||
				pxc_cache_realm_create(cache, "default",
					nullptr, &realm) < 0) {
			fprintf(stderr, "core-bench: cannot create a cache\n");
			exit(1);
		}
	}

	void destroy()
	{
		pxc_cache_destroy(cache);
		cache = nullptr;
	}

	// An empty name inserts an anonymous entry, reached by key only.
	bool insert(const std::string &name, pxc_key *key = nullptr)
	{
		pxc_insert ins = {};
		pxc_hit hit;

		ins.realm = realm;
		ins.name = name.empty() ? nullptr : name.data();
		ins.name_len = name.size();
		ins.payload = &payload_cell;
		ins.cost = kCost;
		if (pxc_cache_insert(cache, &ins, &hit) < 0) {
			return false;
		}
		if (key != nullptr) {
			*key = hit.key;
		}
		return true;
	}

	// A hit hands out a hold and lets it go, as a QPixmap copy does.
	bool find(const std::string &name, uint32_t flags = PXC_FIND_HOLD)
	{
		pxc_hit hit;

		if (pxc_cache_find(cache, realm, name.data(), name.size(),
				flags, &hit) < 0) {
			return false;
		}
		pxc_cache_release(cache, hit.hold);
		return true;
	}

	bool find_key(const pxc_key &key)
	{
		pxc_hit hit;

		if (pxc_cache_find_key(cache, &key, PXC_FIND_HOLD, &hit) < 0) {
			return false;
		}
		pxc_cache_release(cache, hit.hold);
		return true;
	}

	// With keys: anonymous entries, as Qt's keyed insert has no name.
	void fill(const Workload &w, bool with_keys)
	{
		static const std::string anonymous;

		create(w.n, UINT64_MAX);
		keys.resize(with_keys ? w.n : 0);
		for (size_t i = 0; i < w.n; i++) {
			if (with_keys) {
				insert(anonymous, &keys[i]);
			} else {
				insert(w.names[i]);
			}
		}
	}
};

// Every Qt entry has its own pixmap, as in a real cache: a QPixmap copy
// onto an equal QPixmap skips its reference counting, which would flatter
// Qt. They are 1x1 to keep a million of them affordable; QPixmapCache
// charges at least 1 KiB for each, so its limit is set in entries.
struct QtCache {
	std::vector<QPixmap> pixmaps;
	std::vector<QPixmapCache::Key> keys;

	explicit QtCache(size_t n) : pixmaps(n)
	{
		for (auto &p : pixmaps) {
			p = QPixmap(1, 1);
			p.fill(::Qt::transparent);
		}
	}

	static void reset(size_t entries)
	{
		QPixmapCache::clear();
		QPixmapCache::setCacheLimit(static_cast<int>(
			std::min<size_t>(entries, INT32_MAX)));
	}

	void fill(const Workload &w, bool with_keys)
	{
		reset(w.n + 16);
		keys.resize(with_keys ? w.n : 0);
		for (size_t i = 0; i < w.n; i++) {
			if (with_keys) {
				keys[i] = QPixmapCache::insert(pixmaps[i]);
			} else {
				QPixmapCache::insert(w.qnames[i], pixmaps[i]);
			}
		}
	}
};

// The operations, each written once and used both for the timings and for
// the instruction counts. Each runs operations [from, to): inserts take
// names in order, lookups pick them at random among the first `among`.
// Each returns the operations done (hits, for hits).

size_t
ours_insert_names(Ours &o, const Workload &w, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		o.insert(w.names[i]);
	}
	return to - from;
}

size_t
qt_insert_names(QtCache &q, const Workload &w, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		QPixmapCache::insert(w.qnames[i], q.pixmaps[i]);
	}
	return to - from;
}

size_t
ours_find_names(Ours &o, const Workload &w,
	const std::vector<std::string> &names, size_t among, size_t from,
	size_t to)
{
	size_t hits = 0;

	for (size_t i = from; i < to; i++) {
		hits += o.find(names[w.pick(i, among)]);
	}
	return hits;
}

size_t
qt_find_names(const Workload &w, const std::vector<QString> &names,
	size_t among, size_t from, size_t to)
{
	QPixmap out;
	size_t hits = 0;

	for (size_t i = from; i < to; i++) {
		hits += QPixmapCache::find(names[w.pick(i, among)], &out);
	}
	return hits;
}

size_t
ours_remove_names(Ours &o, const Workload &w, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		pxc_cache_remove(o.cache, o.realm, w.names[i].data(),
			w.names[i].size());
	}
	return to - from;
}

size_t
qt_remove_names(const Workload &w, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		QPixmapCache::remove(w.qnames[i]);
	}
	return to - from;
}

size_t
ours_insert_keys(Ours &o, size_t from, size_t to)
{
	static const std::string anonymous;

	for (size_t i = from; i < to; i++) {
		o.insert(anonymous, &o.keys[i]);
	}
	return to - from;
}

size_t
qt_insert_keys(QtCache &q, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		q.keys[i] = QPixmapCache::insert(q.pixmaps[i]);
	}
	return to - from;
}

size_t
ours_find_keys(Ours &o, const Workload &w, size_t among, size_t from,
	size_t to)
{
	size_t hits = 0;

	for (size_t i = from; i < to; i++) {
		hits += o.find_key(o.keys[w.pick(i, among)]);
	}
	return hits;
}

size_t
qt_find_keys(const QtCache &q, const Workload &w, size_t among, size_t from,
	size_t to)
{
	QPixmap out;
	size_t hits = 0;

	for (size_t i = from; i < to; i++) {
		hits += QPixmapCache::find(q.keys[w.pick(i, among)], &out);
	}
	return hits;
}

// Churn: find, and insert on a miss.
size_t
ours_churn(Ours &o, const Workload &w, size_t among, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const std::string &name = w.names[w.pick(i, among)];

		if (!o.find(name)) {
			o.insert(name);
		}
	}
	return to - from;
}

size_t
qt_churn(QtCache &q, const Workload &w, size_t among, size_t from, size_t to)
{
	QPixmap out;

	for (size_t i = from; i < to; i++) {
		size_t j = w.pick(i, among);

		if (!QPixmapCache::find(w.qnames[j], &out)) {
			QPixmapCache::insert(w.qnames[j], q.pixmaps[j]);
		}
	}
	return to - from;
}

// Runs ours and Qt's round after round, alternating, and prints the
// medians as one JSON line. Each round repeats (prepare untimed, run
// timed) until it timed at least kRoundOps operations, so that small
// sizes are not a handful of microseconds of cold caches.
struct Pair {
	std::function<void()> prepare;
	std::function<size_t()> run;
};

constexpr size_t kRoundOps = 200000;

// Qt 5.15's QPixmap::fill leaves the upper halves of the AVX registers
// dirty; until a vzeroupper, every legacy-SSE instruction runs slower (our
// inserts took twice as long after it). Neither side may inherit the
// other's register state, so each timed run starts clean.
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

double
timed_round(const Pair &p)
{
	double ns = 0;
	size_t ops = 0;

	while (ops < kRoundOps) {
		double t0;

		p.prepare();
		clean_vector_state();
		t0 = now_ns();
		ops += p.run();
		ns += now_ns() - t0;
	}
	return ns / static_cast<double>(ops);
}

// PXC_BENCH_OPS=op,op,... runs only those operations (for profiling).
bool
selected(const char *op)
{
	const char *only = getenv("PXC_BENCH_OPS");
	std::string list = only ? std::string(",") + only + "," : "";

	return only == nullptr ||
		list.find(std::string(",") + op + ",") != std::string::npos;
}

void
compare(const char *op, size_t size, int rounds, const Pair &ours,
	const Pair &qt)
{
	std::vector<double> a, b;

	if (!selected(op)) {
		return;
	}
	for (int r = 0; r < rounds; r++) {
		for (int side = 0; side < 2; side++) {
			const Pair &p = (r + side) % 2 ? qt : ours;

			(&p == &ours ? a : b).push_back(timed_round(p));
		}
	}
	printf("{\"op\": \"%s\", \"size\": %zu, \"ours_ns\": %.1f, "
		"\"qt_ns\": %.1f}\n", op, size, median(a), median(b));
	fflush(stdout);
}

void bytes_per_entry(const Workload &w, Ours &ours, QtCache &qt);
void hits_threads(const Workload &w, Ours &ours, int rounds, size_t k);

size_t
lookups(size_t n)
{
	return std::max<size_t>(n, 1000000);
}

void
time_size(size_t n)
{
	Workload w(n);
	Ours ours;
	QtCache qt(n);
	int rounds = n >= 1000000 ? 3 : 7;
	size_t k = lookups(n);
	size_t tenth = std::max<size_t>(n / 10, 1);

	compare("insert_name", n, rounds,
		{ [&] { ours.create(n, UINT64_MAX); },
		  [&] { return ours_insert_names(ours, w, 0, n); } },
		{ [&] { QtCache::reset(n + 16); },
		  [&] { return qt_insert_names(qt, w, 0, n); } });

	ours.fill(w, false);
	qt.fill(w, false);
	compare("find_name_hit", n, rounds,
		{ [] {}, [&] { return ours_find_names(ours, w, w.names, n, 0, k); } },
		{ [] {}, [&] { return qt_find_names(w, w.qnames, n, 0, k); } });
	compare("find_name_miss", n, rounds,
		{ [] {}, [&] {
			ours_find_names(ours, w, w.absent, n, 0, k);
			return k;
		  } },
		{ [] {}, [&] {
			qt_find_names(w, w.qabsent, n, 0, k);
			return k;
		  } });

	compare("remove_name", n, rounds,
		{ [&] { ours.fill(w, false); },
		  [&] { return ours_remove_names(ours, w, 0, n); } },
		{ [&] { qt.fill(w, false); },
		  [&] { return qt_remove_names(w, 0, n); } });

	compare("insert_key", n, rounds,
		{ [&] { ours.create(n, UINT64_MAX); ours.keys.resize(n); },
		  [&] { return ours_insert_keys(ours, 0, n); } },
		{ [&] { QtCache::reset(n + 16); qt.keys.resize(n); },
		  [&] { return qt_insert_keys(qt, 0, n); } });
	ours.fill(w, true);
	qt.fill(w, true);
	compare("find_key", n, rounds,
		{ [] {}, [&] { return ours_find_keys(ours, w, n, 0, k); } },
		{ [] {}, [&] { return qt_find_keys(qt, w, n, 0, k); } });

	compare("churn_10pct", n, rounds,
		{ [&] { ours.create(n, tenth * kCost); },
		  [&] { return ours_churn(ours, w, n, 0, k); } },
		{ [&] { QtCache::reset(tenth); },
		  [&] { return qt_churn(qt, w, n, 0, k); } });

	if (selected("bytes_per_entry")) {
		bytes_per_entry(w, ours, qt);
	}
	if (selected("hits_threads")) {
		hits_threads(w, ours, rounds, k);
	}
}

void
bytes_per_entry(const Workload &w, Ours &ours, QtCache &qt)
{
	size_t n = w.n;
	size_t name_bytes = 0;

	for (const auto &name : w.names) {
		name_bytes += name.size() + 1;
	}
	QtCache::reset(0);
	ours.destroy();
	size_t before = mallinfo2().uordblks;
	ours.fill(w, false);
	size_t ours_malloc = mallinfo2().uordblks - before;
	size_t ours_asked = ours.counting.live;
	ours.destroy();
	before = mallinfo2().uordblks;
	qt.fill(w, false);
	size_t qt_malloc = mallinfo2().uordblks - before;
	QtCache::reset(0);
	printf("{\"op\": \"bytes_per_entry\", \"size\": %zu, "
		"\"ours_asked\": %.1f, \"ours_malloc\": %.1f, "
		"\"name\": %.1f, \"qt_malloc\": %.1f}\n", n,
		static_cast<double>(ours_asked) / n,
		static_cast<double>(ours_malloc) / n,
		static_cast<double>(name_bytes) / n,
		static_cast<double>(qt_malloc) / n);
}

// Hits from 1 and 2 threads (Qt's cache is for the GUI thread only).
void
hits_threads(const Workload &w, Ours &ours, int rounds, size_t k)
{
	size_t n = w.n;

	ours.fill(w, false);
	for (int mode = 0; mode < 4; mode++) {
		int threads = 1 + mode % 2;
		uint32_t flags = mode < 2 ? PXC_FIND_HOLD : 0;
		std::vector<double> rates;

		for (int r = 0; r < rounds; r++) {
			std::atomic<int> ready{ 0 };
			std::vector<std::thread> pool;
			double t0 = 0, t1;

			for (int t = 0; t < threads; t++) {
				pool.emplace_back([&, t] {
					clean_vector_state();
					ready++;
					while (ready.load() < threads) {
					}
					for (size_t i = 0; i < k; i++) {
						ours.find(w.names[w.pick(
							i + t * k / 2, n)],
							flags);
					}
				});
			}
			t0 = now_ns();
			for (auto &th : pool) {
				th.join();
			}
			t1 = now_ns();
			rates.push_back(threads * k / ((t1 - t0) / 1e9));
		}
		printf("{\"op\": \"hits_threads\", \"size\": %zu, "
			"\"threads\": %d, \"hold\": %s, \"ours_per_s\": %.0f}\n",
			n, threads, flags ? "true" : "false", median(rates));
	}
	ours.destroy();
	fflush(stdout);
}

// One callgrind dump per operation: instruction counts do not depend on
// what else the machine is doing.
template <typename F>
void
count_instructions(const char *impl, const char *op, size_t n, F body)
{
	char name[96];

	snprintf(name, sizeof(name), "%s:%s:%zu", impl, op, n);
	clean_vector_state();
	CALLGRIND_START_INSTRUMENTATION;
	CALLGRIND_ZERO_STATS;
	body();
	CALLGRIND_DUMP_STATS_AT(name);
	CALLGRIND_STOP_INSTRUMENTATION;
}

void
callgrind_size(size_t n)
{
	const size_t k = kCallgrindOps;
	size_t tenth = std::max<size_t>(n / 10, 1);
	Workload w(n + k);
	Ours ours;
	QtCache qt(n + k);

	// k more names into a cache of n
	ours.create(n + k, UINT64_MAX);
	ours_insert_names(ours, w, 0, n);
	count_instructions("ours", "insert_name", n,
		[&] { ours_insert_names(ours, w, n, n + k); });
	QtCache::reset(n + k + 16);
	qt_insert_names(qt, w, 0, n);
	count_instructions("qt", "insert_name", n,
		[&] { qt_insert_names(qt, w, n, n + k); });

	count_instructions("ours", "find_name_hit", n,
		[&] { ours_find_names(ours, w, w.names, n, 0, k); });
	count_instructions("qt", "find_name_hit", n,
		[&] { qt_find_names(w, w.qnames, n, 0, k); });
	count_instructions("ours", "find_name_miss", n,
		[&] { ours_find_names(ours, w, w.absent, n, 0, k); });
	count_instructions("qt", "find_name_miss", n,
		[&] { qt_find_names(w, w.qabsent, n, 0, k); });
	count_instructions("ours", "remove_name", n,
		[&] { ours_remove_names(ours, w, 0, k); });
	count_instructions("qt", "remove_name", n,
		[&] { qt_remove_names(w, 0, k); });

	// Churn in steady state, after a warm-up of twice the budget's
	// entries: the first inserts after freeing a big cache send malloc
	// through its free lists.
	ours.create(n, tenth * kCost);
	ours_churn(ours, w, n, k, k + 2 * tenth);
	count_instructions("ours", "churn_10pct", n,
		[&] { ours_churn(ours, w, n, 0, k); });
	ours.destroy();
	QtCache::reset(tenth);
	qt_churn(qt, w, n, k, k + 2 * tenth);
	count_instructions("qt", "churn_10pct", n,
		[&] { qt_churn(qt, w, n, 0, k); });

	// k more anonymous entries into a cache of n, then lookups by key
	ours.fill(w, true);
	qt.fill(w, true);
	ours.keys.resize(n + k);
	qt.keys.resize(n + k);
	count_instructions("ours", "insert_key", n,
		[&] { ours_insert_keys(ours, n, n + k); });
	count_instructions("qt", "insert_key", n,
		[&] { qt_insert_keys(qt, n, n + k); });
	count_instructions("ours", "find_key", n,
		[&] { ours_find_keys(ours, w, n, 0, k); });
	count_instructions("qt", "find_key", n,
		[&] { qt_find_keys(qt, w, n, 0, k); });
	ours.destroy();
	QtCache::reset(0);
}

} // namespace

int
main(int argc, char *argv[])
{
	std::vector<size_t> sizes = { 1000, 100000, 1000000 };

	qputenv("QT_QPA_PLATFORM", "offscreen");
	QGuiApplication app(argc, argv);

	if (argc >= 2 && strcmp(argv[1], "callgrind") == 0 && argc == 3) {
		callgrind_size(strtoul(argv[2], nullptr, 10));
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "time") == 0) {
		if (argc > 2) {
			sizes.clear();
			for (int i = 2; i < argc; i++) {
				sizes.push_back(strtoul(argv[i], nullptr, 10));
			}
		}
		for (size_t n : sizes) {
			time_size(n);
		}
		return 0;
	}
	fprintf(stderr, "usage: core-bench time [SIZE...] | "
		"core-bench callgrind SIZE\n");
	return 2;
}
