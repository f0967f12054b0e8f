// kde-workload: the main job's desktop client (tools/pixcache-workload.c)
// with KDE's own shared caches in place of pixcache, as benchmark anchors.
//
//   kde-workload --kind raw|image --list FILE [--worker I] [--start-at NS]
//                [--order same|shuffled] [--cache-name NAME]
//                [--cache-size BYTES]
//
// FILE has one icon per line: NAME, a tab, the PNG's path. The worker
// opens the cache (a file under $XDG_CACHE_HOME, mapped shared: point it at
// a tmpfs so that it is memory, as pixcache's memfds are), waits until
// CLOCK_REALTIME reaches NS so that N workers start together, then needs
// every icon once, in the list's order or in worker I's shuffle (the same
// shuffle as pixcache-workload's):
//
//   raw: KSharedDataCache holding premultiplied ARGB32 pixels behind a
//     small header; a miss decodes the PNG with the tools' pxt_image_load()
//     (the decoder pixcache-workload uses, so a decode costs the same) and
//     inserts it; a hit keeps the copy find() makes;
//   image: KImageCache as KDE's icon loading uses it: findImage() decodes
//     the PNG the cache holds; a miss decodes the file with QImage and
//     insertImage() encodes it to PNG for the cache.
//
// It keeps every icon, as an application does, draws them all into a
// canvas with pixman, prints one JSON line, then keeps its icons until its
// stdin closes so that the memory of all workers can be read. It exits 0,
// or 1 when an icon could not be obtained.

#include <KImageCache>
#include <KSharedDataCache>
#include <QByteArray>
#include <QCoreApplication>
#include <QImage>
#include <QString>

#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <getopt.h>
#include <pixman.h>
#include <unistd.h>

extern "C" {
#include "image-io.h"
}

namespace {

constexpr int canvas_size = 1024;
constexpr uint64_t default_cache_size = 512u << 20;
// KSharedDataCache sizes itself in 32 bits, tables included.
constexpr uint64_t max_cache_size = 2048u << 20;
constexpr uint32_t raw_magic = 0x4b524157;	// "KRAW"

// What precedes the pixels of a raw entry. Sixteen bytes keep the pixels
// 8-aligned inside the QByteArray that find() fills, so pixman can use them
// where they are.
struct RawHeader {
	uint32_t magic;
	uint32_t width;
	uint32_t height;
	uint32_t stride;
};
static_assert(sizeof(RawHeader) == 16, "pixels must stay aligned");

enum class Kind { raw, image };

struct Icon {
	std::string name;
	std::string path;
	QByteArray raw;			// raw, a hit: our copy of the entry
	pixman_image_t *pixels = nullptr;	// raw: over raw, or our decode
	QImage image;			// image
};

struct Counts {
	unsigned hits = 0;
	unsigned misses = 0;
	unsigned decodes = 0;
	unsigned inserts = 0;
	unsigned failures = 0;
};

struct Workload {
	Kind kind = Kind::raw;
	const char *list = nullptr;
	unsigned worker = 0;
	uint64_t start_at = 0;
	bool shuffled = true;
	QString cache_name;
	uint64_t cache_size = default_cache_size;
	std::vector<Icon> icons;
	std::unique_ptr<KSharedDataCache> raw_cache;
	std::unique_ptr<KImageCache> image_cache;
	pixman_image_t *canvas = nullptr;
	Counts n;
};

[[noreturn]] __attribute__((format(printf, 1, 2))) void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kde-workload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

uint64_t
clock_ns(clockid_t id)
{
	timespec t;

	clock_gettime(id, &t);
	return static_cast<uint64_t>(t.tv_sec) * 1000000000u +
		static_cast<uint64_t>(t.tv_nsec);
}

// Our own proportional share of memory, shared mappings split among the
// processes that map them (the cache file counts once in the sum).
long
own_pss_kib()
{
	FILE *file = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kib = -1;

	if (file == nullptr) {
		return -1;
	}
	while (fgets(line, sizeof(line), file) != nullptr) {
		if (strncmp(line, "Pss:", 4) == 0) {
			kib = strtol(line + 4, nullptr, 10);
			break;
		}
	}
	fclose(file);
	return kib;
}

// ---- the icon list ----

void
read_list(Workload &w)
{
	FILE *file = fopen(w.list, "r");
	char *line = nullptr;
	size_t cap = 0;
	ssize_t len;

	if (file == nullptr) {
		die("cannot open %s", w.list);
	}
	while ((len = getline(&line, &cap, file)) > 0) {
		char *tab = strchr(line, '\t');

		if (tab == nullptr) {
			continue;
		}
		if (line[len - 1] == '\n') {
			line[len - 1] = '\0';
		}
		*tab = '\0';
		w.icons.push_back(Icon());
		w.icons.back().name = line;
		w.icons.back().path = tab + 1;
	}
	free(line);
	fclose(file);
	if (w.icons.empty()) {
		die("no icons in %s", w.list);
	}
}

// Worker I's order of need: pixcache-workload's Fisher-Yates shuffle with
// its seed and xorshift, so that both programs ask in the same order.
void
shuffle(Workload &w)
{
	uint64_t x = 0x9e3779b97f4a7c15u * (w.worker + 1);

	for (size_t i = w.icons.size() - 1; i > 0; i--) {
		size_t j;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = static_cast<size_t>(x % (i + 1));
		std::swap(w.icons[i], w.icons[j]);
	}
}

// ---- raw: pixels in KSharedDataCache ----

// A pixman image over the pixels of an entry, or null when the entry is
// not one of ours. The image borrows bytes, which must outlive it.
pixman_image_t *
wrap_raw(QByteArray &bytes)
{
	RawHeader h;

	if (static_cast<size_t>(bytes.size()) < sizeof(h)) {
		return nullptr;
	}
	memcpy(&h, bytes.constData(), sizeof(h));
	if (h.magic != raw_magic || h.width > INT_MAX / 4 ||
			h.height > INT_MAX || h.stride < h.width * 4 ||
			h.stride > INT_MAX || h.stride % 4 != 0 ||
			static_cast<uint64_t>(h.stride) * h.height !=
			static_cast<size_t>(bytes.size()) - sizeof(h)) {
		return nullptr;
	}
	// data() does not copy: bytes is the only owner (see raw_hit).
	return pixman_image_create_bits(PIXMAN_a8r8g8b8,
		static_cast<int>(h.width), static_cast<int>(h.height),
		reinterpret_cast<uint32_t *>(bytes.data() + sizeof(h)),
		static_cast<int>(h.stride));
}

QByteArray
serialize_raw(pixman_image_t *image)
{
	RawHeader h = {
		raw_magic,
		static_cast<uint32_t>(pixman_image_get_width(image)),
		static_cast<uint32_t>(pixman_image_get_height(image)),
		static_cast<uint32_t>(pixman_image_get_stride(image)),
	};
	size_t pixels = static_cast<size_t>(h.stride) * h.height;
	QByteArray bytes(static_cast<int>(sizeof(h) + pixels),
		Qt::Uninitialized);

	memcpy(bytes.data(), &h, sizeof(h));
	memcpy(bytes.data() + sizeof(h), pixman_image_get_data(image),
		pixels);
	return bytes;
}

bool
raw_hit(Workload &w, Icon &icon)
{
	QByteArray bytes;

	if (!w.raw_cache->find(QString::fromStdString(icon.name), &bytes)) {
		return false;
	}
	// Moved, not shared, so that wrap_raw's data() does not detach.
	icon.raw = std::move(bytes);
	icon.pixels = wrap_raw(icon.raw);
	if (icon.pixels == nullptr) {
		fprintf(stderr, "kde-workload: %s: not a raw entry\n",
			icon.name.c_str());
		icon.raw = QByteArray();
		return false;
	}
	return true;
}

void
raw_miss(Workload &w, Icon &icon)
{
	char error[256];

	w.n.decodes++;
	icon.pixels = pxt_image_load(icon.path.c_str(), error, sizeof(error));
	if (icon.pixels == nullptr) {
		fprintf(stderr, "kde-workload: %s\n", error);
		w.n.failures++;
		return;
	}
	// Another worker may have inserted it meanwhile: insert() replaces it
	// (KSharedDataCache has no insert-if-absent), as KDE's callers do.
	if (w.raw_cache->insert(QString::fromStdString(icon.name),
			serialize_raw(icon.pixels))) {
		w.n.inserts++;
	}
}

// ---- image: PNG in KImageCache ----

bool
image_hit(Workload &w, Icon &icon)
{
	// findImage() says yes for an entry it then cannot decode.
	if (!w.image_cache->findImage(QString::fromStdString(icon.name),
			&icon.image)) {
		return false;
	}
	if (icon.image.isNull()) {
		fprintf(stderr, "kde-workload: %s: cached PNG unreadable\n",
			icon.name.c_str());
		return false;
	}
	return true;
}

void
image_miss(Workload &w, Icon &icon)
{
	w.n.decodes++;
	icon.image = QImage(QString::fromStdString(icon.path));
	if (icon.image.isNull()) {
		fprintf(stderr, "kde-workload: cannot decode %s\n",
			icon.path.c_str());
		w.n.failures++;
		return;
	}
	if (w.image_cache->insertImage(QString::fromStdString(icon.name),
			icon.image)) {
		w.n.inserts++;
	}
}

// ---- the work ----

// Looks one icon up; on a miss decodes it and offers it to the cache.
// "decodes" counts decodes of the icon's file, the work a cache saves
// (an image hit decodes the cached PNG too, inside findImage()).
void
need(Workload &w, Icon &icon)
{
	bool hit = w.kind == Kind::raw ? raw_hit(w, icon) :
		image_hit(w, icon);

	if (hit) {
		w.n.hits++;
		return;
	}
	w.n.misses++;
	if (w.kind == Kind::raw) {
		raw_miss(w, icon);
	} else {
		image_miss(w, icon);
	}
}

void
draw_image(Workload &w, pixman_image_t *image, unsigned i)
{
	int per_row = canvas_size / 64;
	int x = static_cast<int>(i % static_cast<unsigned>(per_row)) * 64;
	int y = static_cast<int>(i / static_cast<unsigned>(per_row) %
		(canvas_size / 64)) * 64;

	pixman_image_composite32(PIXMAN_OP_OVER, image, nullptr, w.canvas,
		0, 0, 0, 0, x, y, pixman_image_get_width(image),
		pixman_image_get_height(image));
}

// Draws as pixcache-workload does; a QImage is first brought to the
// layout pixman reads (QImage's ARGB32 premultiplied is a8r8g8b8).
void
draw(Workload &w, Icon &icon, unsigned i)
{
	if (icon.pixels != nullptr) {
		draw_image(w, icon.pixels, i);
		return;
	}
	if (icon.image.isNull()) {
		return;
	}
	QImage argb = icon.image.convertToFormat(
		QImage::Format_ARGB32_Premultiplied);
	// The source of a composite is only read.
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		argb.width(), argb.height(),
		reinterpret_cast<uint32_t *>(const_cast<uchar *>(
		argb.constBits())), argb.bytesPerLine());

	draw_image(w, image, i);
	pixman_image_unref(image);
}

// ---- options ----

void
usage()
{
	die("%s", "usage: kde-workload --kind raw|image --list FILE "
		"[--worker I] [--start-at NS] [--order same|shuffled] "
		"[--cache-name NAME] [--cache-size BYTES]");
}

void
parse_kind(Workload &w, const char *arg)
{
	if (strcmp(arg, "raw") == 0) {
		w.kind = Kind::raw;
	} else if (strcmp(arg, "image") == 0) {
		w.kind = Kind::image;
	} else {
		usage();
	}
}

void
parse_order(Workload &w, const char *arg)
{
	if (strcmp(arg, "same") == 0) {
		w.shuffled = false;
	} else if (strcmp(arg, "shuffled") == 0) {
		w.shuffled = true;
	} else {
		usage();
	}
}

void
parse(int argc, char *argv[], Workload &w)
{
	static const option options[] = {
		{ "kind", required_argument, nullptr, 'k' },
		{ "list", required_argument, nullptr, 'l' },
		{ "worker", required_argument, nullptr, 'w' },
		{ "start-at", required_argument, nullptr, 't' },
		{ "order", required_argument, nullptr, 'o' },
		{ "cache-name", required_argument, nullptr, 'n' },
		{ "cache-size", required_argument, nullptr, 's' },
		{ nullptr, 0, nullptr, 0 },
	};
	const char *kind = nullptr;
	int c;

	while ((c = getopt_long(argc, argv, "", options, nullptr)) != -1) {
		switch (c) {
		case 'k':
			kind = optarg;
			parse_kind(w, optarg);
			break;
		case 'l':
			w.list = optarg;
			break;
		case 'w':
			w.worker = static_cast<unsigned>(
				strtoul(optarg, nullptr, 10));
			break;
		case 't':
			w.start_at = strtoull(optarg, nullptr, 10);
			break;
		case 'o':
			parse_order(w, optarg);
			break;
		case 'n':
			w.cache_name = QString::fromLocal8Bit(optarg);
			break;
		case 's':
			w.cache_size = strtoull(optarg, nullptr, 10);
			break;
		default:
			usage();
		}
	}
	if (kind == nullptr || w.list == nullptr || optind != argc) {
		usage();
	}
	if (w.cache_size < 4096 || w.cache_size > max_cache_size) {
		die("--cache-size: 4096 to %" PRIu64 " bytes", max_cache_size);
	}
	if (w.cache_name.isEmpty()) {
		w.cache_name = w.kind == Kind::raw ?
			QStringLiteral("kde-workload-raw") :
			QStringLiteral("kde-workload-image");
	}
}

// ---- main ----

QtMessageHandler qt_handler;

// Qt's PNG writer warns of every iCCP profile insertImage() re-encodes:
// thousands of identical lines would bury anything that matters.
void
quiet_libpng(QtMsgType type, const QMessageLogContext &context,
	const QString &message)
{
	if (type == QtWarningMsg &&
			message.startsWith(QLatin1String("libpng warning"))) {
		return;
	}
	qt_handler(type, context, message);
}

// Opened before the start so that, as pixcache-workload's connection,
// mapping the cache is not counted in the icons' time.
void
open_cache(Workload &w)
{
	unsigned size = static_cast<unsigned>(w.cache_size);

	if (w.kind == Kind::raw) {
		w.raw_cache = std::make_unique<KSharedDataCache>(w.cache_name,
			size);
	} else {
		w.image_cache = std::make_unique<KImageCache>(w.cache_name,
			size);
	}
}

void
wait_for_start(uint64_t at)
{
	timespec t;

	if (at == 0) {
		return;
	}
	t.tv_sec = static_cast<time_t>(at / 1000000000u);
	t.tv_nsec = static_cast<long>(at % 1000000000u);
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, nullptr) ==
			EINTR) {
		// Again, to the same instant.
	}
}

struct Times {
	uint64_t cpu0, mono0, cpu1, mono1, end;
	long pss_before, pss_ready;
};

void
report(const Workload &w, const Times &t)
{
	unsigned count = static_cast<unsigned>(w.icons.size());
	uint64_t icon_ns = t.mono1 - t.mono0;

	printf("{\"mode\": \"%s\", \"worker\": %u, \"icons\": %u, "
		"\"hits\": %u, \"misses\": %u, \"decodes\": %u, "
		"\"inserts\": %u, \"failures\": %u, "
		"\"icon_cpu_ns\": %" PRIu64 ", \"icon_ns\": %" PRIu64 ", "
		"\"per_icon_ns\": %.0f, \"pss_before_kib\": %ld, "
		"\"pss_ready_kib\": %ld, \"elapsed_ms\": %.1f}\n",
		w.kind == Kind::raw ? "kde-raw" : "kde-image", w.worker, count,
		w.n.hits, w.n.misses, w.n.decodes, w.n.inserts, w.n.failures,
		t.cpu1 - t.cpu0, icon_ns, static_cast<double>(icon_ns) / count,
		t.pss_before, t.pss_ready, (t.end - t.mono0) / 1e6);
	fflush(stdout);
}

void
run(Workload &w, Times &t)
{
	t.pss_before = own_pss_kib();
	t.cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	t.mono0 = clock_ns(CLOCK_MONOTONIC);
	for (Icon &icon : w.icons) {
		need(w, icon);
	}
	t.cpu1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	t.mono1 = clock_ns(CLOCK_MONOTONIC);
	t.pss_ready = own_pss_kib();
	for (size_t i = 0; i < w.icons.size(); i++) {
		draw(w, w.icons[i], static_cast<unsigned>(i));
	}
	t.end = clock_ns(CLOCK_MONOTONIC);
}

void
release(Workload &w)
{
	for (Icon &icon : w.icons) {
		if (icon.pixels != nullptr) {
			pixman_image_unref(icon.pixels);
		}
	}
	w.icons.clear();
	pixman_image_unref(w.canvas);
}

} // namespace

int
main(int argc, char *argv[])
{
	Workload w;
	Times t = {};
	char buf[64];

	parse(argc, argv, w);
	// KImageCache watches the application's end, as in any KDE program.
	QCoreApplication app(argc, argv);
	qt_handler = qInstallMessageHandler(quiet_libpng);
	read_list(w);
	if (w.shuffled) {
		shuffle(w);
	}
	w.canvas = pixman_image_create_bits(PIXMAN_a8r8g8b8, canvas_size,
		canvas_size, nullptr, 0);
	open_cache(w);
	wait_for_start(w.start_at);
	run(w, t);
	report(w, t);
	// Keep the icons until told: the memory is read meanwhile.
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
		// Nothing is expected; the end of input is the signal.
	}
	release(w);
	return w.n.failures ? 1 : 0;
}
