/*
 * libpixcache-qt: cached pixmaps as QImages over the cache's memory, and a
 * QPixmapCache-shaped class over libpixcache-client. Everything that
 * waits, locks or keeps state is libpixcache-client's: this file only
 * translates (key strings to names, pixmaps to images, errnos to
 * sentences), so it adds no lock and no state a thread could race on.
 */

#include "pixcache-qt.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <utility>

#include <drm_fourcc.h>
#include <pixman.h>

namespace pixcache {

namespace {

/* The longest name the cache stores, in bytes (doc/naming.md). */
constexpr int name_max = 255;

struct Unref {
	void operator()(struct pixcache_pixmap *pixmap) const
	{
		pixcache_pixmap_unref(pixmap);
	}
};

using Held = std::unique_ptr<struct pixcache_pixmap, Unref>;

struct PixmanUnref {
	void operator()(pixman_image_t *image) const
	{
		pixman_image_unref(image);
	}
};

using PixmanImage = std::unique_ptr<pixman_image_t, PixmanUnref>;

/* Fills error (if any) and returns false. */
bool
fail(Error *error, int code, const QString &message)
{
	if (error != nullptr) {
		error->code = code;
		error->message = message;
	}
	return false;
}

bool
failKey(Error *error, int code, const QString &key, const QString &what)
{
	if (error == nullptr) {
		return false;
	}
	return fail(error, code,
		QStringLiteral("pixcache: key \"%1\": %2").arg(key, what));
}

/* What a libpixcache-client errno means to whoever called us. */
QString
describe(int code)
{
	switch (-code) {
	case EINVAL:
		return QStringLiteral("invalid argument");
	case ENOENT:
		return QStringLiteral("not in the cache");
	case EACCES:
		return QStringLiteral("the compositor's policy does not "
			"allow it");
	case EEXIST:
		return QStringLiteral("another client's entry has this key, "
			"and may not be replaced");
	case EBUSY:
		return QStringLiteral("another client is storing it: find "
			"it instead");
	case EDQUOT:
		return QStringLiteral("over the realm's quota");
	case ENOSPC:
		return QStringLiteral("the cache's budget is full");
	case EFBIG:
		return QStringLiteral("too large for the cache");
	case ENOBUFS:
		return QStringLiteral("this client holds too many pixmaps");
	case EAGAIN:
		return QStringLiteral("too many requests in flight");
	case ETIMEDOUT:
		return QStringLiteral("the manager did not answer in time");
	case ENOTCONN:
		return QStringLiteral("no pixcache manager");
	case ECONNREFUSED:
		return QStringLiteral("the manager refused this client");
	case ECONNRESET:
		return QStringLiteral("the connection to the manager broke");
	case ENOMEM:
		return QStringLiteral("out of memory");
	default:
		return QString::fromLocal8Bit(strerror(-code));
	}
}

/*
 * key as a name the cache can store: 1 to 255 bytes of UTF-8 without
 * NUL. QString::toUtf8() would turn a lone surrogate into a replacement
 * character, so two different keys could name one entry: refused here.
 */
bool
toName(const QString &key, QByteArray *name, Error *error)
{
	if (key.isEmpty()) {
		return failKey(error, -EINVAL, key, QStringLiteral(
			"empty: a key is 1 to %1 bytes of UTF-8").arg(name_max));
	}
	for (int i = 0; i < key.size(); i++) {
		QChar c = key.at(i);

		if (c.isNull()) {
			return failKey(error, -EINVAL, key, QStringLiteral(
				"NUL at position %1: a key is UTF-8 without "
				"NUL").arg(i));
		}
		if (c.isHighSurrogate() && i + 1 < key.size() &&
				key.at(i + 1).isLowSurrogate()) {
			i++;
		} else if (c.isSurrogate()) {
			return failKey(error, -EILSEQ, key, QStringLiteral(
				"a lone surrogate at position %1 has no "
				"UTF-8").arg(i));
		}
	}
	*name = key.toUtf8();
	if (name->size() > name_max) {
		return failKey(error, -ENAMETOOLONG, key, QStringLiteral(
			"%1 bytes of UTF-8, longer than the cache's %2")
			.arg(name->size()).arg(name_max));
	}
	return true;
}

void
releasePixmap(void *pixmap)
{
	pixcache_pixmap_unref(static_cast<struct pixcache_pixmap *>(pixmap));
}

/* The QImage format with the fourcc's bytes, if there is one. */
QImage::Format
sharedFormat(uint32_t fourcc)
{
	switch (fourcc) {
	case DRM_FORMAT_ARGB8888:
		/* DRM formats are little-endian words; Qt's ARGB32 is the
		 * host's word. */
		return Q_BYTE_ORDER == Q_LITTLE_ENDIAN ?
			QImage::Format_ARGB32_Premultiplied :
			QImage::Format_Invalid;
	case DRM_FORMAT_ABGR8888:
		/* R, G, B, A in memory on every host. */
		return QImage::Format_RGBA8888_Premultiplied;
	case DRM_FORMAT_R8:
		return QImage::Format_Alpha8;
	default:
		return QImage::Format_Invalid;
	}
}

/*
 * A copy of pixmap in format (ARGB32_Premultiplied or RGB32), converted
 * by pixman: for the formats Qt has no twin of. pixman reads an X byte
 * as opaque, which Format_RGB32 requires.
 */
QImage
convertedCopy(struct pixcache_pixmap *pixmap, QImage::Format format,
	Error *error)
{
	int width = static_cast<int>(pixcache_pixmap_get_width(pixmap));
	int height = static_cast<int>(pixcache_pixmap_get_height(pixmap));
	QImage image(width, height, format);

	if (image.isNull()) {
		fail(error, -ENOMEM, QStringLiteral("pixcache: no memory for "
			"a %1x%2 image").arg(width).arg(height));
		return QImage();
	}
	PixmanImage source(pixcache_pixmap_create_pixman(pixmap));
	if (source == nullptr) {
		int code = -errno;

		fail(error, code, QStringLiteral("pixcache: no pixman image "
			"of the pixmap: %1").arg(describe(code)));
		return QImage();
	}
	PixmanImage target(pixman_image_create_bits(PIXMAN_a8r8g8b8, width,
		height, reinterpret_cast<uint32_t *>(image.bits()),
		static_cast<int>(image.bytesPerLine())));
	if (target == nullptr) {
		fail(error, -ENOMEM, QStringLiteral("pixcache: no memory"));
		return QImage();
	}
	pixman_image_composite32(PIXMAN_OP_SRC, source.get(), nullptr,
		target.get(), 0, 0, 0, 0, 0, 0, width, height);
	return image;
}

/* toImage() taking over the caller's reference. */
QImage
adopt(Held pixmap, Error *error)
{
	uint32_t width = pixcache_pixmap_get_width(pixmap.get());
	uint32_t height = pixcache_pixmap_get_height(pixmap.get());
	uint32_t stride = pixcache_pixmap_get_stride(pixmap.get());
	uint32_t fourcc = pixcache_pixmap_get_format(pixmap.get());

	if (width > INT_MAX || height > INT_MAX || stride > INT_MAX) {
		fail(error, -EFBIG, QStringLiteral("pixcache: a %1x%2 pixmap "
			"is larger than a QImage can be").arg(width).arg(height));
		return QImage();
	}
	QImage::Format format = sharedFormat(fourcc);
	if (format != QImage::Format_Invalid) {
		QImage image(static_cast<const uchar *>(
			pixcache_pixmap_get_data(pixmap.get())),
			static_cast<int>(width), static_cast<int>(height),
			static_cast<int>(stride), format, releasePixmap,
			pixmap.get());

		if (image.isNull()) {
			/* Qt kept no cleanup: the reference is still ours. */
			fail(error, -ENOMEM, QStringLiteral("pixcache: no memory "
				"for a QImage"));
			return QImage();
		}
		pixmap.release();	/* the image's now */
		return image;
	}
	switch (fourcc) {
	case DRM_FORMAT_ARGB8888:
		return convertedCopy(pixmap.get(),
			QImage::Format_ARGB32_Premultiplied, error);
	case DRM_FORMAT_XRGB8888:
	case DRM_FORMAT_XBGR8888:
		return convertedCopy(pixmap.get(), QImage::Format_RGB32, error);
	default:
		fail(error, -EINVAL, QStringLiteral("pixcache: format 0x%1 has "
			"no QImage format").arg(fourcc, 8, 16, QLatin1Char('0')));
		return QImage();
	}
}

/* What insert() stores: a pixman view of image (or of Qt's conversion of
 * it, kept in image), and the cache's format for it. */
struct Source {
	QImage image;
	PixmanImage pixman;
	uint32_t fourcc = 0;
};

bool
toSource(const QImage &image, Source *source)
{
	pixman_format_code_t format = PIXMAN_a8r8g8b8;

	switch (image.format()) {
	case QImage::Format_Alpha8:
		source->image = image;
		format = PIXMAN_a8;
		source->fourcc = DRM_FORMAT_R8;
		break;
	case QImage::Format_ARGB32_Premultiplied:
	case QImage::Format_RGB32:
		source->image = image;
		break;
	default:
		source->image = image.convertToFormat(image.hasAlphaChannel() ?
			QImage::Format_ARGB32_Premultiplied :
			QImage::Format_RGB32);
		break;
	}
	if (source->fourcc == 0) {
		/* Colour is stored premultiplied ARGB8888 (doc/naming.md);
		 * pixman reads RGB32's X byte as opaque. */
		format = source->image.format() == QImage::Format_RGB32 ?
			PIXMAN_x8r8g8b8 : PIXMAN_a8r8g8b8;
		source->fourcc = DRM_FORMAT_ARGB8888;
	}
	/* pixman takes strides in 32-bit words; Qt's own images have such. */
	if (source->image.bytesPerLine() % 4 != 0) {
		source->image = source->image.copy();
	}
	if (source->image.isNull()) {
		return false;
	}
	/* Read only: pixman's view is a source, never a destination. */
	source->pixman.reset(pixman_image_create_bits(format,
		source->image.width(), source->image.height(),
		reinterpret_cast<uint32_t *>(const_cast<uchar *>(
			source->image.constBits())),
		static_cast<int>(source->image.bytesPerLine())));
	return source->pixman != nullptr;
}

} // namespace

QImage
toImage(struct pixcache_pixmap *pixmap, Error *error)
{
	if (pixmap == nullptr) {
		fail(error, -EINVAL, QStringLiteral("pixcache: no pixmap"));
		return QImage();
	}
	return adopt(Held(pixcache_pixmap_ref(pixmap)), error);
}

/* ---- keys ---- */

PixmapCache::Key::Key(const struct pixcache_key &key)
	: key_(key)
{
}

bool
PixmapCache::Key::isValid() const
{
	/* A manager's instance id is never 0. */
	return key_.instance != 0;
}

const struct pixcache_key &
PixmapCache::Key::key() const
{
	return key_;
}

QString
PixmapCache::Key::toString() const
{
	char text[64];

	if (!isValid()) {
		return QString();
	}
	pixcache_key_format(&key_, text, sizeof(text));
	return QString::fromLatin1(text);
}

PixmapCache::Key
PixmapCache::Key::fromString(const QString &text)
{
	struct pixcache_key key;

	if (pixcache_key_parse(text.toUtf8().constData(), &key) < 0) {
		return Key();
	}
	return Key(key);
}

bool
PixmapCache::Key::operator==(const Key &other) const
{
	return key_.instance == other.key_.instance &&
		key_.slot == other.key_.slot &&
		key_.generation == other.key_.generation &&
		key_.tag == other.key_.tag;
}

bool
PixmapCache::Key::operator!=(const Key &other) const
{
	return !(*this == other);
}

/* ---- the cache ---- */

namespace {

/* The library's options, and whether realm is a name; error if not. */
bool
prepare(const PixmapCache::Options &options, QByteArray *realm,
	struct pixcache_client_options *client_options, Error *error)
{
	Error why;

	pixcache_client_options_init(client_options);
	client_options->timeout_ms = options.timeoutMs;
	if (!toName(options.realm, realm, &why)) {
		return fail(error, why.code, QStringLiteral("realm \"%1\" is "
			"not a name of the cache").arg(options.realm));
	}
	return true;
}

} // namespace

PixmapCache::PixmapCache()
	: PixmapCache(Options())
{
}

PixmapCache::PixmapCache(const Options &options)
{
	struct pixcache_client_options client_options;
	const char *socket = options.socket.isEmpty() ? nullptr :
		options.socket.constData();

	if (!prepare(options, &realm_, &client_options,
			&constructionError_)) {
		return;
	}
	client_ = pixcache_client_connect(socket, &client_options);
	if (client_ == nullptr) {
		int code = errno;

		fail(&constructionError_, -code, QStringLiteral(
			"cannot connect to %1: %2").arg(socket != nullptr ?
			QString::fromLocal8Bit(options.socket) :
			QStringLiteral("$PIXCACHE_SOCKET or $WAYLAND_DISPLAY"),
			QString::fromLocal8Bit(strerror(code))));
		return;
	}
	/* Without the thread, blocking calls still read for themselves. */
	if (options.thread) {
		pixcache_client_start_thread(client_);
	}
}

PixmapCache::PixmapCache(struct wl_display *display)
	: PixmapCache(display, Options())
{
}

PixmapCache::PixmapCache(struct wl_display *display, const Options &options)
{
	struct pixcache_client_options client_options;

	if (!prepare(options, &realm_, &client_options,
			&constructionError_)) {
		return;
	}
	if (display == nullptr) {
		fail(&constructionError_, -EINVAL,
			QStringLiteral("no wl_display"));
		return;
	}
	client_ = pixcache_client_create(display, &client_options);
	if (client_ == nullptr) {
		int code = errno;

		fail(&constructionError_, -code, QStringLiteral(
			"cannot use the display: %1").arg(
			QString::fromLocal8Bit(strerror(code))));
		return;
	}
	if (options.thread) {
		pixcache_client_start_thread(client_);
	}
}

PixmapCache::~PixmapCache()
{
	pixcache_client_destroy(client_);
}

bool
PixmapCache::isValid() const
{
	return client_ != nullptr;
}

Error
PixmapCache::constructionError() const
{
	Error error = constructionError_;

	if (error.code != 0) {
		error.message.prepend(QStringLiteral("pixcache: "));
	}
	return error;
}

struct pixcache_client *
PixmapCache::client() const
{
	return client_;
}

QString
PixmapCache::realm() const
{
	return QString::fromUtf8(realm_);
}

/*
 * Whether a call can go: the cache is connected and key is a name. A
 * cache that never connected answers every call as a missing manager.
 */
static bool
ready(struct pixcache_client *client, const Error &construction,
	const QString &key, QByteArray *name, Error *error)
{
	if (client == nullptr) {
		return failKey(error, -ENOTCONN, key, QStringLiteral(
			"no pixcache manager (%1)").arg(construction.message));
	}
	return toName(key, name, error);
}

bool
PixmapCache::find(const QString &key, QImage *image, Error *error) const
{
	struct pixcache_pixmap *pixmap = nullptr;
	QByteArray name;
	int ret;

	if (!ready(client_, constructionError_, key, &name, error)) {
		return false;
	}
	ret = pixcache_client_find(client_, realm_.constData(),
		name.constData(), &pixmap);
	if (ret == -ENOENT) {
		return failKey(error, ret, key, QStringLiteral("not in the "
			"cache; this process fills it now: insert() or "
			"abandon() it"));
	} else if (ret == -EINPROGRESS) {
		return failKey(error, ret, key, QStringLiteral("another "
			"client fills it while this thread fills keys of its "
			"own: insert those, then find it again"));
	} else if (ret < 0) {
		return failKey(error, ret, key, describe(ret));
	}
	QImage found = adopt(Held(pixmap), error);
	if (found.isNull()) {
		return false;
	}
	*image = std::move(found);
	return true;
}

bool
PixmapCache::find(const QString &key, QPixmap *pixmap, Error *error) const
{
	QImage image;

	if (!find(key, &image, error)) {
		return false;
	}
	/* Moved, so that a raster pixmap keeps the image's pixels. */
	QPixmap found = QPixmap::fromImage(std::move(image));
	if (found.isNull()) {
		return failKey(error, -ENOMEM, key,
			QStringLiteral("Qt made no pixmap of it"));
	}
	*pixmap = std::move(found);
	return true;
}

bool
PixmapCache::find(const Key &key, QImage *image, Error *error) const
{
	struct pixcache_pixmap *pixmap = nullptr;
	int ret;

	if (client_ == nullptr) {
		return failKey(error, -ENOTCONN, key.toString(), QStringLiteral(
			"no pixcache manager (%1)").arg(
			constructionError_.message));
	}
	if (!key.isValid()) {
		return fail(error, -EINVAL, QStringLiteral("pixcache: an "
			"invalid Key"));
	}
	ret = pixcache_client_find_key(client_, &key.key(), &pixmap);
	if (ret < 0) {
		return failKey(error, ret, key.toString(), describe(ret));
	}
	QImage found = adopt(Held(pixmap), error);
	if (found.isNull()) {
		return false;
	}
	*image = std::move(found);
	return true;
}

/* Stores image as name in realm (name NULL: by key only). */
static int
put(struct pixcache_client *client, const QByteArray &realm,
	const char *name, const QImage &image, struct pixcache_key *key)
{
	Source source;

	if (image.isNull()) {
		return -EINVAL;
	}
	if (!toSource(image, &source)) {
		return -ENOMEM;
	}
	return pixcache_client_put(client, realm.constData(), name,
		source.pixman.get(), source.fourcc,
		name != nullptr ? PIXCACHE_PUT_REPLACE : 0, key);
}

bool
PixmapCache::insert(const QString &key, const QImage &image, Error *error)
{
	QByteArray name;
	int ret;

	if (!ready(client_, constructionError_, key, &name, error)) {
		return false;
	}
	if (image.isNull()) {
		return failKey(error, -EINVAL, key,
			QStringLiteral("the image is null"));
	}
	ret = put(client_, realm_, name.constData(), image, nullptr);
	if (ret < 0) {
		return failKey(error, ret, key, describe(ret));
	}
	return true;
}

bool
PixmapCache::insert(const QString &key, const QPixmap &pixmap, Error *error)
{
	return insert(key, pixmap.toImage(), error);
}

PixmapCache::Key
PixmapCache::insert(const QImage &image, Error *error)
{
	struct pixcache_key key;
	int ret;

	if (client_ == nullptr) {
		fail(error, -ENOTCONN, QStringLiteral("pixcache: no pixcache "
			"manager (%1)").arg(constructionError_.message));
		return Key();
	}
	if (image.isNull()) {
		fail(error, -EINVAL, QStringLiteral("pixcache: the image is "
			"null"));
		return Key();
	}
	ret = put(client_, realm_, nullptr, image, &key);
	if (ret < 0) {
		fail(error, ret, QStringLiteral("pixcache: an image by key: "
			"%1").arg(describe(ret)));
		return Key();
	}
	return Key(key);
}

bool
PixmapCache::remove(const QString &key, Error *error)
{
	QByteArray name;
	int ret;

	if (!ready(client_, constructionError_, key, &name, error)) {
		return false;
	}
	ret = pixcache_client_remove(client_, realm_.constData(),
		name.constData());
	if (ret < 0) {
		return failKey(error, ret, key, describe(ret));
	}
	return true;
}

bool
PixmapCache::abandon(const QString &key, Error *error)
{
	QByteArray name;
	int ret;

	if (!ready(client_, constructionError_, key, &name, error)) {
		return false;
	}
	ret = pixcache_client_abandon(client_, realm_.constData(),
		name.constData());
	if (ret == -ENOENT) {
		return failKey(error, ret, key, QStringLiteral("this process "
			"was not filling it"));
	} else if (ret < 0) {
		return failKey(error, ret, key, describe(ret));
	}
	return true;
}

} // namespace pixcache
