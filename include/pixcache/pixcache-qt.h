/*
 * libpixcache-qt: the pixmap cache for Qt 5 applications.
 *
 * pixcache::toImage() shows a cached pixmap as a QImage over the cache's
 * read-only memory, without a copy; pixcache::PixmapCache is shaped like
 * QPixmapCache (find, insert, remove by a key string), with the cache's
 * names and keys underneath. doc/qt.md has the details.
 *
 * Threads. Every PixmapCache function taking or giving a QImage may be
 * called from any thread, at once (libpixcache-client is thread-safe and
 * the object holds nothing else that changes). The QPixmap overloads are
 * for the GUI thread only, as QPixmap is, and need a QGuiApplication. The
 * PixmapCache is destroyed when no call is in flight, like any object;
 * images it gave out stay valid after, on any thread.
 *
 * Images. A QImage from the cache holds a reference on the pixmap until
 * Qt frees its last copy (on any thread). Its bytes never change
 * meanwhile, whatever becomes of the entry (removed, evicted, replaced),
 * of the PixmapCache, or of the manager. The memory is read-only: Qt
 * copies the image before anything writes to it (QImage::bits(),
 * QPainter on it), as it does for any QImage made over const data.
 *
 * Failures. Functions that can fail return false (a null Key, a null
 * QImage) and, when given an Error, fill it with a negative errno of
 * libpixcache-client and a sentence naming the key and what went wrong.
 * Without a manager (none on the display, none listening, or it went)
 * every find misses and every insert fails: nothing crashes, nothing
 * waits past the timeout.
 */

#ifndef PIXCACHE_QT_H
#define PIXCACHE_QT_H

#include <QtGui/QImage>
#include <QtGui/QPixmap>
#include <QtCore/QByteArray>
#include <QtCore/QString>

#include "pixcache-client.h"

#if defined(__GNUC__) && __GNUC__ >= 4
#define PIXCACHE_QT_EXPORT __attribute__((visibility("default")))
#else
#define PIXCACHE_QT_EXPORT
#endif

struct wl_display;

namespace pixcache {

/** Why a call failed: a negative errno and a sentence saying so. */
struct Error {
	int code = 0;
	QString message;
};

/**
 * The pixmap as a QImage over its pixels, without copying them, holding
 * a reference of its own (the caller keeps its own). Formats:
 * ARGB8888 (on little-endian hosts) is Format_ARGB32_Premultiplied,
 * ABGR8888 is Format_RGBA8888_Premultiplied, R8 (a coverage mask) is
 * Format_Alpha8: all without a copy. XRGB8888 and XBGR8888, whose fourth
 * byte Qt would read as alpha, come as a converted copy in Format_RGB32
 * (as does ARGB8888 on big-endian hosts, in Format_ARGB32_Premultiplied).
 * Returns a null image, filling error, if the pixmap is NULL, larger than
 * a QImage can be, or there was no memory.
 */
PIXCACHE_QT_EXPORT QImage toImage(struct pixcache_pixmap *pixmap,
	Error *error = nullptr);

/**
 * A cache shaped like QPixmapCache, over libpixcache-client. Key strings
 * are the cache's names (doc/naming.md): 1 to 255 bytes of UTF-8 without
 * NUL, in the realm given at construction. Keys in the realm "default"
 * are shared with every application: follow doc/naming.md there (the same
 * name for the same pixels); an application's own pixmaps go in the realm
 * the compositor's policy gives it, or under names of its own.
 */
class PIXCACHE_QT_EXPORT PixmapCache {
public:
	/** A cached pixmap's key (QPixmapCache::Key's place). */
	class PIXCACHE_QT_EXPORT Key {
	public:
		Key() = default;
		explicit Key(const struct pixcache_key &key);

		/** False for a default-constructed or failed key. */
		bool isValid() const;
		const struct pixcache_key &key() const;
		/** As one token, to hand to another process. */
		QString toString() const;
		/** Parses toString()'s token; an invalid Key if it is not. */
		static Key fromString(const QString &text);

		bool operator==(const Key &other) const;
		bool operator!=(const Key &other) const;

	private:
		struct pixcache_key key_ = {};
	};

	struct Options {
		/** The realm every key string is looked up in. */
		QString realm = QStringLiteral("default");
		/**
		 * The socket of a connection of the cache's own (empty:
		 * $PIXCACHE_SOCKET, else $WAYLAND_DISPLAY); unused with
		 * an application's wl_display.
		 */
		QByteArray socket;
		/** How long a call waits for the manager, in ms. */
		int timeoutMs = 5000;
		/**
		 * Starts libpixcache-client's thread, which reads the
		 * connection so that the application's event loop need not
		 * (pixcache_client_start_thread()).
		 */
		bool thread = true;
	};

	/**
	 * Opens a connection of the cache's own (see Options::socket). If
	 * none can be opened, the cache is not valid: every find misses and
	 * every insert fails, with the reason, until it is made again.
	 */
	PixmapCache();
	explicit PixmapCache(const Options &options);
	/**
	 * Uses the manager of the application's own display (which must
	 * outlive the cache).
	 */
	explicit PixmapCache(struct wl_display *display);
	PixmapCache(struct wl_display *display, const Options &options);
	/** Closes the connection; images given out stay valid. */
	~PixmapCache();

	PixmapCache(const PixmapCache &) = delete;
	PixmapCache &operator=(const PixmapCache &) = delete;

	/** Whether the connection could be made (the manager may still be
	 * missing: calls then fail with -ENOTCONN). */
	bool isValid() const;
	/** The reason the cache is not valid (code 0 if it is). */
	Error constructionError() const;
	/** libpixcache-client's handle, for what this class does not do;
	 * NULL if not valid. */
	struct pixcache_client *client() const;
	QString realm() const;

	/**
	 * Finds key and sets *image to it, without a copy; leaves *image
	 * alone on a miss. A miss (-ENOENT) makes this process the key's
	 * filler: others asking for it wait until this one inserts it, so
	 * insert() it, or abandon() it if it cannot be made (else they wait
	 * for the manager's upload timeout). -EINPROGRESS: another process
	 * fills it while this thread fills keys of its own: insert those,
	 * then ask again.
	 */
	bool find(const QString &key, QImage *image,
		Error *error = nullptr) const;
	/**
	 * As find() into a QImage, then QPixmap::fromImage(): on raster
	 * platforms (Wayland, xcb, minimal, offscreen) the pixmap shares
	 * the pixels of an ARGB8888 entry, else Qt converts them. GUI
	 * thread only.
	 */
	bool find(const QString &key, QPixmap *pixmap,
		Error *error = nullptr) const;
	/** Finds a Key from insert(image) (or another process's). */
	bool find(const Key &key, QImage *image, Error *error = nullptr) const;

	/**
	 * Stores image as key, replacing this connection's own entry of
	 * that key. Alpha8 images are stored as masks (R8), every other
	 * format as premultiplied ARGB8888 (Qt converts first if needed).
	 * Fails with -EEXIST or -EACCES if another client's entry has the
	 * key, -EBUSY if another client is storing it (find it then), and
	 * with the manager's refusals (-EDQUOT, -ENOSPC, -EFBIG).
	 */
	bool insert(const QString &key, const QImage &image,
		Error *error = nullptr);
	/** As insert() of pixmap.toImage(). GUI thread only. */
	bool insert(const QString &key, const QPixmap &pixmap,
		Error *error = nullptr);
	/**
	 * Stores image without a name: only its Key reaches it. Returns an
	 * invalid Key on failure. Such entries leave the cache by eviction
	 * only.
	 */
	Key insert(const QImage &image, Error *error = nullptr);

	/** Removes key (if this client may). -ENOENT if it is not there. */
	bool remove(const QString &key, Error *error = nullptr);
	/** Gives up filling key after find() missed it (see find()). */
	bool abandon(const QString &key, Error *error = nullptr);

private:
	struct pixcache_client *client_ = nullptr;
	QByteArray realm_;
	Error constructionError_;
};

} // namespace pixcache

#endif
