/*
 * libpixcache-qt against a manager on a socket: QImages over the cache's
 * memory that outlive their client, their entry and its space; the
 * QPixmapCache-shaped class, with bad keys and without a manager; two
 * processes holding one copy of a large pixmap.
 */

#include <QGuiApplication>
#include <QImage>
#include <QPixmap>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <drm_fourcc.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wayland-client-core.h>

#include "pixcache-qt.h"

extern "C" {
#include "client-harness.h"
#include "test-runner.h"
}

using pixcache::Error;
using pixcache::PixmapCache;

namespace {

/*
 * A pattern made from seed, in straight-alpha ARGB32 with every alpha
 * value, so that premultiplying on insert shows; then in format.
 */
QImage
pattern(int width, int height, uint32_t seed,
	QImage::Format format = QImage::Format_ARGB32)
{
	QImage image(width, height, QImage::Format_ARGB32);

	assert(!image.isNull());
	for (int y = 0; y < height; y++) {
		QRgb *row = reinterpret_cast<QRgb *>(image.scanLine(y));

		for (int x = 0; x < width; x++) {
			row[x] = (seed * 2654435761u) ^ (static_cast<uint32_t>(x) *
				40503u + static_cast<uint32_t>(y) * 65599u);
		}
	}
	return image.convertToFormat(format);
}

/* Whether a and b show the same premultiplied pixels; says where not. */
bool
samePixels(const QImage &a, const QImage &b)
{
	if (a.size() != b.size()) {
		fprintf(stderr, "%dx%d against %dx%d\n", a.width(), a.height(),
			b.width(), b.height());
		return false;
	}
	QImage pa = a.convertToFormat(QImage::Format_ARGB32_Premultiplied);
	QImage pb = b.convertToFormat(QImage::Format_ARGB32_Premultiplied);

	for (int y = 0; y < pa.height(); y++) {
		const QRgb *ra = reinterpret_cast<const QRgb *>(
			pa.constScanLine(y));
		const QRgb *rb = reinterpret_cast<const QRgb *>(
			pb.constScanLine(y));

		for (int x = 0; x < pa.width(); x++) {
			if (ra[x] != rb[x]) {
				fprintf(stderr, "pixel %d,%d: %08x against %08x\n",
					x, y, ra[x], rb[x]);
				return false;
			}
		}
	}
	return true;
}

PixmapCache::Options
optionsFor(struct ch_server *server)
{
	PixmapCache::Options options;

	options.socket = ch_server_socket(server);
	return options;
}

/* Stores a new pattern as name from a connection of its own, so that
 * space the manager freed meanwhile goes to it. */
void
putFromAnother(struct ch_server *server, const char *name, int size,
	uint32_t seed)
{
	PixmapCache other(optionsFor(server));
	Error error;

	if (!other.insert(QString::fromUtf8(name),
			pattern(size, size, seed), &error)) {
		test_fail("%s", qPrintable(error.message));
	}
}

} // namespace

TEST(found_image_shows_the_cache_memory_without_a_copy)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	struct pixcache_pixmap *pixmap;
	QImage source = pattern(48, 48, 1), found;

	assert(cache->isValid());
	assert(cache->insert(QStringLiteral("icon/Test/a/48@1"), source));
	assert(cache->find(QStringLiteral("icon/Test/a/48@1"), &found));
	assert(found.format() == QImage::Format_ARGB32_Premultiplied);
	assert(samePixels(found, source));
	/* The library's handle of the name: the image is over its bytes. */
	assert(pixcache_client_find(cache->client(), "default",
		"icon/Test/a/48@1", &pixmap) == 0);
	assert(found.constBits() == pixcache_pixmap_get_data(pixmap));
	assert(found.bytesPerLine() ==
		static_cast<int>(pixcache_pixmap_get_stride(pixmap)));
	pixcache_pixmap_unref(pixmap);
	found = QImage();
	cache.reset();
	ch_server_stop(server);
}

TEST(image_outlives_the_cache_and_its_connection)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage source = pattern(40, 30, 2), found;

	assert(cache->insert(QStringLiteral("a"), source));
	assert(cache->find(QStringLiteral("a"), &found));
	cache.reset();
	/* The entry stays; its space is another's once removed. */
	assert(ch_server_remove(server, "default", "a") == 0);
	putFromAnother(server, "b", 40, 3);
	assert(samePixels(found, source));
	ch_server_stop(server);
	assert(samePixels(found, source));
}

TEST(image_outlives_removal_of_its_entry)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage source = pattern(32, 32, 4), found, again;
	Error error;

	assert(cache->insert(QStringLiteral("a"), source));
	assert(cache->find(QStringLiteral("a"), &found));
	assert(cache->remove(QStringLiteral("a")));
	assert(!cache->find(QStringLiteral("a"), &again, &error));
	assert(error.code == -ENOENT && again.isNull());
	assert(cache->abandon(QStringLiteral("a")));
	putFromAnother(server, "b", 32, 5);
	assert(samePixels(found, source));
	/* The lease goes with the connection: the space may be reused. */
	cache.reset();
	putFromAnother(server, "c", 32, 6);
	assert(samePixels(found, source));
	ch_server_stop(server);
}

TEST(image_outlives_eviction_of_its_entry)
{
	struct pixcache_config config;
	struct pixcache_stats stats;
	struct ch_server *server;
	QImage source = pattern(64, 64, 7), found;
	char name[16];

	ch_config(&config);
	config.budget = 16 * 64 * 64 * 4;	/* sixteen 64x64 pixmaps */
	server = ch_server_start(&config, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	assert(cache->insert(QStringLiteral("a"), source));
	assert(cache->find(QStringLiteral("a"), &found));
	/* Held entries are never evicted: the lease goes with the cache. */
	cache.reset();
	/* Twice the budget: every entry before the last sixteen goes. */
	for (int i = 0; i < 32; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		putFromAnother(server, name, 64, static_cast<uint32_t>(100 + i));
	}
	ch_server_stats(server, &stats);
	assert(stats.evictions >= 17);
	assert(ch_server_remove(server, "default", "a") == -ENOENT);
	assert(samePixels(found, source));
	ch_server_stop(server);
}

/* ---- the QPixmapCache-shaped class ---- */

TEST(insert_then_find_gives_equal_pixels_in_every_format)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	const QImage::Format formats[] = {
		QImage::Format_ARGB32,		/* straight alpha */
		QImage::Format_ARGB32_Premultiplied,
		QImage::Format_RGB32,
		QImage::Format_RGBA8888,
		QImage::Format_RGB888,
		QImage::Format_Indexed8,
	};

	for (QImage::Format format : formats) {
		QString key = QStringLiteral("f%1").arg(format);
		QImage source = pattern(21, 13, format, format), found;
		Error error;

		if (!cache->insert(key, source, &error)) {
			test_fail("%s", qPrintable(error.message));
		}
		assert(cache->find(key, &found));
		/* Colour is stored as premultiplied ARGB8888. */
		assert(found.format() == QImage::Format_ARGB32_Premultiplied);
		assert(samePixels(found, source));
	}
	cache.reset();
	ch_server_stop(server);
}

TEST(alpha8_is_stored_as_a_mask_and_found_without_a_copy)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage source = pattern(30, 9, 8, QImage::Format_Alpha8), found;
	struct pixcache_pixmap *pixmap;

	assert(cache->insert(QStringLiteral("mask"), source));
	assert(cache->find(QStringLiteral("mask"), &found));
	assert(found.format() == QImage::Format_Alpha8);
	for (int y = 0; y < source.height(); y++) {
		assert(memcmp(found.constScanLine(y), source.constScanLine(y),
			static_cast<size_t>(source.width())) == 0);
	}
	assert(pixcache_client_find(cache->client(), "default", "mask",
		&pixmap) == 0);
	assert(pixcache_pixmap_get_format(pixmap) == DRM_FORMAT_R8);
	assert(found.constBits() == pixcache_pixmap_get_data(pixmap));
	pixcache_pixmap_unref(pixmap);
	cache.reset();
	ch_server_stop(server);
}

/*
 * The cache's formats that Qt has no twin of (an X byte Qt would read as
 * alpha) come as converted copies; ABGR8888 is Qt's RGBA8888.
 */
TEST(formats_of_other_writers_are_shown_or_converted)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	const struct {
		uint32_t fourcc;
		QImage::Format format;
		bool shared;
	} cases[] = {
		{ DRM_FORMAT_ABGR8888, QImage::Format_RGBA8888_Premultiplied,
			true },
		{ DRM_FORMAT_XRGB8888, QImage::Format_RGB32, false },
		{ DRM_FORMAT_XBGR8888, QImage::Format_RGB32, false },
	};
	/* Opaque: an X format keeps no alpha to compare. */
	QImage source = pattern(17, 11, 9, QImage::Format_RGB32);
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_x8r8g8b8,
		source.width(), source.height(),
		reinterpret_cast<uint32_t *>(source.bits()),
		source.bytesPerLine());

	for (const auto &c : cases) {
		char name[16];
		struct pixcache_pixmap *pixmap;
		QImage found;

		snprintf(name, sizeof(name), "x%08x", c.fourcc);
		assert(pixcache_client_put(cache->client(), "default", name,
			image, c.fourcc, 0, NULL) == 0);
		assert(cache->find(QString::fromLatin1(name), &found));
		assert(found.format() == c.format);
		assert(samePixels(found, source));
		assert(pixcache_client_find(cache->client(), "default", name,
			&pixmap) == 0);
		assert((found.constBits() == pixcache_pixmap_get_data(pixmap)) ==
			c.shared);
		pixcache_pixmap_unref(pixmap);
	}
	pixman_image_unref(image);
	cache.reset();
	ch_server_stop(server);
}

TEST(remove_then_find_misses)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage image = pattern(8, 8, 10), found;
	Error error;

	assert(cache->insert(QStringLiteral("a"), image));
	assert(cache->remove(QStringLiteral("a")));
	assert(!cache->find(QStringLiteral("a"), &found, &error));
	assert(error.code == -ENOENT && found.isNull());
	assert(error.message.contains(QStringLiteral("\"a\"")));
	/* The miss made this process the filler: it gives up. */
	assert(cache->abandon(QStringLiteral("a")));
	assert(!cache->abandon(QStringLiteral("a"), &error));
	assert(error.code == -ENOENT);
	assert(!cache->remove(QStringLiteral("a"), &error));
	assert(error.code == -ENOENT);
	/* A miss, then the insert that fills it. */
	assert(!cache->find(QStringLiteral("a"), &found));
	assert(cache->insert(QStringLiteral("a"), image));
	assert(cache->find(QStringLiteral("a"), &found));
	assert(samePixels(found, image));
	cache.reset();
	ch_server_stop(server);
}

TEST(insert_replaces_its_own_entry)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage first = pattern(8, 8, 11), second = pattern(8, 8, 12), found;

	assert(cache->insert(QStringLiteral("a"), first));
	assert(cache->find(QStringLiteral("a"), &found));
	assert(cache->insert(QStringLiteral("a"), second));
	QImage held = found;
	assert(cache->find(QStringLiteral("a"), &found));
	assert(samePixels(found, second));
	/* The replaced pixmap's image is unchanged. */
	assert(samePixels(held, first));
	cache.reset();
	ch_server_stop(server);
}

TEST(insert_does_not_replace_another_clients_entry)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage theirs = pattern(8, 8, 19), found;
	Error error;

	putFromAnother(server, "a", 8, 19);
	assert(!cache->insert(QStringLiteral("a"), pattern(8, 8, 20),
		&error));
	if (error.code != -EEXIST && error.code != -EACCES) {
		test_fail("%d: %s", error.code, qPrintable(error.message));
	}
	assert(error.message.contains(QStringLiteral("\"a\"")));
	assert(cache->find(QStringLiteral("a"), &found));
	assert(samePixels(found, theirs));
	cache.reset();
	ch_server_stop(server);
}

/* Keys that are no name are refused before anything is sent. */
TEST(invalid_keys_are_refused_with_a_reason)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage image = pattern(4, 4, 13), found;
	struct pixcache_stats before, after;
	const struct {
		QString key;
		int code;
		const char *says;
	} cases[] = {
		{ QString(), -EINVAL, "empty" },
		{ QStringLiteral(""), -EINVAL, "empty" },
		{ QString(QChar(0xe9)).repeated(128), -ENAMETOOLONG,
			"256 bytes" },
		{ QStringLiteral("a") + QChar(0) + QStringLiteral("b"), -EINVAL,
			"NUL at position 1" },
		{ QStringLiteral("x") + QChar(0xd800), -EILSEQ,
			"lone surrogate at position 1" },
		{ QChar(0xdc00) + QStringLiteral("x"), -EILSEQ,
			"lone surrogate at position 0" },
	};

	ch_server_stats(server, &before);
	for (const auto &c : cases) {
		Error error;

		assert(!cache->find(c.key, &found, &error));
		assert(found.isNull());
		if (error.code != c.code || !error.message.contains(
				QString::fromUtf8(c.says))) {
			test_fail("%d: %s", error.code,
				qPrintable(error.message));
		}
		error = Error();
		assert(!cache->insert(c.key, image, &error));
		assert(error.code == c.code);
		error = Error();
		assert(!cache->remove(c.key, &error));
		assert(error.code == c.code);
		assert(!cache->abandon(c.key));
	}
	ch_server_stats(server, &after);
	assert(after.misses == before.misses && after.inserts == 0);
	/* At the limit: 255 bytes, and a pair of surrogates. */
	QString longest = QString(QChar(0xe9)).repeated(127) +
		QStringLiteral("x");
	QString pair = QStringLiteral("emoji/") + QChar(0xd83d) + QChar(0xde00);
	assert(cache->insert(longest, image));
	assert(cache->insert(pair, image));
	assert(cache->find(longest, &found) && samePixels(found, image));
	assert(cache->find(pair, &found) && samePixels(found, image));
	/* A null image is no pixmap either. */
	Error error;
	assert(!cache->insert(QStringLiteral("null"), QImage(), &error));
	assert(error.code == -EINVAL);
	cache.reset();
	ch_server_stop(server);
}

TEST(realm_that_is_no_name_makes_an_invalid_cache)
{
	PixmapCache::Options options;
	QImage found;
	Error error;

	options.realm = QString();
	options.socket = "pxc-qt-test-never-used";
	PixmapCache cache(options);
	assert(!cache.isValid() && cache.client() == nullptr);
	assert(cache.constructionError().code == -EINVAL);
	assert(cache.constructionError().message.contains(
		QStringLiteral("realm")));
	assert(!cache.find(QStringLiteral("a"), &found, &error));
	assert(error.code == -ENOTCONN);
}

/* ---- the application's display ---- */

TEST(on_the_applications_display)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	struct wl_display *display =
		wl_display_connect(ch_server_socket(server));
	QImage source = pattern(12, 12, 21), found;

	assert(display != nullptr);
	auto cache = std::make_unique<PixmapCache>(display);
	assert(cache->isValid());
	assert(cache->insert(QStringLiteral("a"), source));
	assert(cache->find(QStringLiteral("a"), &found));
	assert(samePixels(found, source));
	/* The display outlives the cache; the image outlives both. */
	cache.reset();
	wl_display_disconnect(display);
	assert(samePixels(found, source));
	ch_server_stop(server);
}

TEST(no_display_makes_an_invalid_cache)
{
	PixmapCache cache(static_cast<struct wl_display *>(nullptr));
	QImage found;
	Error error;

	assert(!cache.isValid());
	assert(cache.constructionError().code == -EINVAL);
	assert(!cache.find(QStringLiteral("a"), &found, &error));
	assert(error.code == -ENOTCONN);
}

/* ---- without a manager ---- */

TEST(no_socket_then_finds_miss_and_inserts_fail)
{
	PixmapCache::Options options;
	QImage found;
	Error error;

	setenv("XDG_RUNTIME_DIR", "/tmp", 1);
	options.socket = "pxc-qt-test-no-such-socket";
	PixmapCache cache(options);
	assert(!cache.isValid());
	assert(cache.constructionError().code < 0);
	assert(cache.constructionError().message.contains(
		QStringLiteral("pxc-qt-test-no-such-socket")));
	assert(!cache.find(QStringLiteral("a"), &found, &error));
	assert(error.code == -ENOTCONN && found.isNull());
	assert(error.message.contains(QStringLiteral("no pixcache manager")));
	assert(!cache.insert(QStringLiteral("a"), pattern(4, 4, 1), &error));
	assert(error.code == -ENOTCONN);
	assert(!cache.remove(QStringLiteral("a"), &error));
	assert(error.code == -ENOTCONN);
	assert(!cache.insert(pattern(4, 4, 1), &error).isValid());
	assert(error.code == -ENOTCONN);
	assert(!cache.find(PixmapCache::Key(), &found, &error));
	assert(error.code == -ENOTCONN);
}

TEST(display_without_manager_then_finds_miss_and_inserts_fail)
{
	struct ch_server *server = ch_server_start_bare(NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage found;
	Error error;

	assert(cache->isValid());
	assert(!cache->find(QStringLiteral("a"), &found, &error));
	if (error.code != -ENOTCONN || !found.isNull()) {
		test_fail("%d: %s", error.code, qPrintable(error.message));
	}
	assert(error.message.contains(QStringLiteral("no pixcache manager")));
	assert(!cache->insert(QStringLiteral("a"), pattern(4, 4, 1), &error));
	assert(error.code == -ENOTCONN);
	cache.reset();
	ch_server_stop(server);
}

TEST(manager_gone_then_calls_fail_and_images_stay)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage source = pattern(24, 24, 14), found, again;
	Error error;

	assert(cache->insert(QStringLiteral("a"), source));
	assert(cache->find(QStringLiteral("a"), &found));
	ch_server_stop(server);
	/* Whichever call meets the break: none succeeds, none hangs. */
	for (int i = 0; i < 3; i++) {
		assert(!cache->find(QStringLiteral("a"), &again, &error));
		assert(again.isNull());
		assert(error.code == -ECONNRESET || error.code == -ENOENT ||
			error.code == -ECONNREFUSED || error.code == -ENOTCONN);
		assert(!cache->insert(QStringLiteral("b"), source, &error));
		assert(error.code < 0 && !error.message.isEmpty());
	}
	assert(samePixels(found, source));
	cache.reset();
	assert(samePixels(found, source));
}

/* ---- keys ---- */

TEST(image_by_key_is_found_by_key_and_its_text)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage source = pattern(16, 16, 15), found;
	Error error;

	PixmapCache::Key key = cache->insert(source, &error);
	if (!key.isValid()) {
		test_fail("%s", qPrintable(error.message));
	}
	assert(cache->find(key, &found));
	assert(samePixels(found, source));
	/* Handed on as text, to another client. */
	PixmapCache::Key parsed = PixmapCache::Key::fromString(key.toString());
	assert(parsed.isValid() && parsed == key);
	PixmapCache other(optionsFor(server));
	QImage there;
	assert(other.find(parsed, &there));
	assert(samePixels(there, source));
	assert(!PixmapCache::Key::fromString(QStringLiteral("junk"))
		.isValid());
	assert(!cache->find(PixmapCache::Key(), &found, &error));
	assert(error.code == -EINVAL);
	cache.reset();
	ch_server_stop(server);
}

/* ---- QPixmap, on the GUI thread ---- */

TEST(pixmap_overloads_share_the_pixels_on_a_raster_platform)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	int argc = 1;
	char arg0[] = "qt-test";
	char *argv[] = { arg0, nullptr };
	struct pixcache_pixmap *pixmap;

	/* Raster, like Wayland's and xcb's pixmaps; unlike offscreen's, its
	 * screen does not leak past the application (LeakSanitizer). */
	setenv("QT_QPA_PLATFORM", "minimal", 1);
	/* GLib's default main context keeps its wake-up eventfd for the
	 * life of the process; Qt's own event dispatcher closes its fds. */
	setenv("QT_NO_GLIB", "1", 1);
	auto app = std::make_unique<QGuiApplication>(argc, argv);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage source = pattern(32, 32, 16);
	QPixmap found;

	assert(cache->insert(QStringLiteral("a"),
		QPixmap::fromImage(source)));
	assert(cache->find(QStringLiteral("a"), &found));
	assert(found.size() == source.size());
	QImage back = found.toImage();
	assert(samePixels(back, source));
	assert(pixcache_client_find(cache->client(), "default", "a",
		&pixmap) == 0);
	assert(back.constBits() == pixcache_pixmap_get_data(pixmap));
	pixcache_pixmap_unref(pixmap);
	back = QImage();
	found = QPixmap();
	cache.reset();
	app.reset();
	ch_server_stop(server);
}

/* ---- threads ---- */

/* Threads find at once; images go on threads other than their own. */
TEST(threads_find_at_once_and_drop_images_anywhere)
{
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	auto cache = std::make_unique<PixmapCache>(optionsFor(server));
	QImage source = pattern(20, 20, 17);
	std::vector<QImage> kept(4 * 50);
	std::vector<std::thread> threads;
	std::atomic<int> failures{0};

	assert(cache->insert(QStringLiteral("a"), source));
	for (int t = 0; t < 4; t++) {
		threads.emplace_back([&, t] {
			for (int i = 0; i < 50; i++) {
				QImage found;

				if (!cache->find(QStringLiteral("a"), &found) ||
						!samePixels(found, source)) {
					failures++;
				}
				kept[static_cast<size_t>(t * 50 + i)] = found;
			}
		});
	}
	for (auto &thread : threads) {
		thread.join();
	}
	assert(failures == 0);
	/* Dropped on this thread, half before the cache goes. */
	kept.resize(100);
	cache.reset();
	for (const QImage &image : kept) {
		assert(samePixels(image, source));
	}
	kept.clear();
	ch_server_stop(server);
}

/* ---- two processes, one copy ---- */

namespace {

constexpr int big = 1024;		/* pixels a side: 4 MiB */
constexpr uint32_t big_seed = 18;

/*
 * The big pattern, opaque so that it is premultiplied as made: Qt
 * converts an image this large on threads of its pool (which keep fds
 * open a while), and this test's process checks its fds.
 */
QImage
bigPattern()
{
	QImage image(big, big, QImage::Format_ARGB32_Premultiplied);

	assert(!image.isNull());
	for (int y = 0; y < big; y++) {
		QRgb *row = reinterpret_cast<QRgb *>(image.scanLine(y));

		for (int x = 0; x < big; x++) {
			row[x] = 0xff000000u | ((big_seed * 2654435761u) ^
				(static_cast<uint32_t>(x) * 40503u +
				static_cast<uint32_t>(y) * 65599u));
		}
	}
	return image;
}

/*
 * A process forked before the test starts a thread (the server comes
 * after): it reads the socket's path from go, finds the big pixmap
 * through the adapter, checks every pixel against a copy it makes, and
 * writes where both lie; it holds them until go closes.
 */
struct Worker {
	pid_t pid;
	int go;				/* the socket's path, then EOF */
	int result;			/* two addresses */
};

void
readAll(int fd, void *buf, size_t size)
{
	char *p = static_cast<char *>(buf);

	while (size > 0) {
		ssize_t n = read(fd, p, size);

		assert(n > 0);
		p += n;
		size -= static_cast<size_t>(n);
	}
}

void
holdBigImage(int go, int out)
{
	char socket[256];
	PixmapCache::Options options;
	QImage found;
	Error error;
	char c;

	readAll(go, socket, sizeof(socket));
	socket[sizeof(socket) - 1] = '\0';
	options.socket = socket;
	PixmapCache cache(options);
	if (!cache.find(QStringLiteral("big"), &found, &error)) {
		test_fail("%s", qPrintable(error.message));
	}
	/* Every pixel read, so every page of the mapping is resident. */
	QImage copy = bigPattern();
	assert(found.format() == QImage::Format_ARGB32_Premultiplied);
	assert(samePixels(found, copy));
	uintptr_t where[2] = {
		reinterpret_cast<uintptr_t>(found.constBits()),
		reinterpret_cast<uintptr_t>(copy.constBits()),
	};
	assert(write(out, where, sizeof(where)) == sizeof(where));
	assert(read(go, &c, 1) == 0);
}

/* A worker; earlier is the one spawned before, if any, whose ends of the
 * pipes this one must not hold (its go would never reach EOF). */
Worker
spawn(const Worker *earlier = nullptr)
{
	int go[2], out[2];
	Worker w;

	assert(pipe(go) == 0 && pipe(out) == 0);
	w.pid = test_fork();
	if (w.pid == 0) {
		if (earlier != nullptr) {
			close(earlier->go);
			close(earlier->result);
		}
		close(go[1]);
		close(out[0]);
		holdBigImage(go[0], out[1]);
		close(go[0]);
		close(out[1]);
		exit(0);
	}
	close(go[0]);
	close(out[1]);
	w.go = go[1];
	w.result = out[0];
	return w;
}

/* The mapping of pid that holds addr: its Rss and Pss, in KiB. */
struct Mapping {
	long rss = -1, pss = -1;
	char name[256] = "";
};

Mapping
mappingOf(pid_t pid, uintptr_t addr)
{
	char path[64], line[512];
	bool inside = false;
	Mapping m;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", static_cast<int>(pid));
	f = fopen(path, "re");
	assert(f != nullptr);
	while (fgets(line, sizeof(line), f) != nullptr) {
		unsigned long start, end;
		int used = 0;
		long kib;

		/* A mapping's header: "start-end perms offset dev inode path". */
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s%n", &start, &end,
				&used) == 2 && used > 0) {
			inside = start <= addr && addr < end;
			if (inside) {
				snprintf(m.name, sizeof(m.name), "%s",
					line + used + strspn(line + used, " "));
				m.name[strcspn(m.name, "\n")] = '\0';
			}
		} else if (inside && sscanf(line, "Rss: %ld kB", &kib) == 1) {
			m.rss = kib;
		} else if (inside && sscanf(line, "Pss: %ld kB", &kib) == 1) {
			m.pss = kib;
		}
	}
	fclose(f);
	assert(m.rss >= 0 && m.pss >= 0);
	return m;
}

} // namespace

/*
 * Two processes find one 1024x1024 pixmap through the adapter and hold
 * it as a QImage: the pages of its mapping are one copy, shared, so the
 * summed PSS of the two mappings is at most about one copy. Each also
 * holds a private copy it made, measured the same way, which sums to two
 * copies: the measure tells one copy from two.
 */
TEST(two_processes_holding_a_large_image_share_one_copy)
{
	const long one_copy = static_cast<long>(big) * big * 4 / 1024;
	Worker workers[2];
	workers[0] = spawn();
	workers[1] = spawn(&workers[0]);
	struct ch_server *server = ch_server_start(NULL, NULL, NULL);
	char socket[256] = { 0 };
	long shared_pss = 0, private_pss = 0;

	{
		PixmapCache cache(optionsFor(server));
		Error error;

		if (!cache.insert(QStringLiteral("big"), bigPattern(),
				&error)) {
			test_fail("%s", qPrintable(error.message));
		}
	}
	snprintf(socket, sizeof(socket), "%s/%s", getenv("XDG_RUNTIME_DIR"),
		ch_server_socket(server));
	for (Worker &w : workers) {
		assert(write(w.go, socket, sizeof(socket)) == sizeof(socket));
	}
	uintptr_t where[2][2];
	for (int i = 0; i < 2; i++) {
		readAll(workers[i].result, where[i], sizeof(where[i]));
	}
	/* Both hold their image and their copy now. */
	for (int i = 0; i < 2; i++) {
		Mapping pixmap = mappingOf(workers[i].pid, where[i][0]);
		Mapping copy = mappingOf(workers[i].pid, where[i][1]);

		printf("process %d: pixmap mapping (%s) Rss %ld KiB Pss %ld "
			"KiB; its own copy's mapping Rss %ld KiB Pss %ld KiB\n",
			i + 1, pixmap.name, pixmap.rss, pixmap.pss, copy.rss,
			copy.pss);
		/* Every page of the pixmap is resident in each. */
		assert(pixmap.rss >= one_copy);
		shared_pss += pixmap.pss;
		private_pss += copy.pss;
	}
	printf("one copy %ld KiB; summed Pss of the pixmap's mappings %ld KiB "
		"(%.2f copies), of the private copies' %ld KiB (%.2f copies)\n",
		one_copy, shared_pss, static_cast<double>(shared_pss) / one_copy,
		private_pss, static_cast<double>(private_pss) / one_copy);
	assert(shared_pss * 2 < one_copy * 3);
	assert(private_pss * 10 >= one_copy * 19);
	for (Worker &w : workers) {
		int status;

		close(w.go);
		close(w.result);
		assert(waitpid(w.pid, &status, 0) == w.pid);
		assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ch_server_stop(server);
}
