/*
 * libpixcache-client: a toolkit's side of the pixmap cache.
 *
 * The library talks to the compositor's pixcache manager on its own event
 * queue, so it never dispatches the application's. It can share the
 * application's wl_display (how a toolkit uses it) or open its own
 * connection by socket name (pixcached, tools).
 *
 * Driving it. Events for the library arrive when someone reads the
 * display. Either
 *  - the toolkit calls pixcache_client_dispatch() after each of its own
 *    reads of the display (wl_display_dispatch() or prepare/read), or
 *  - it calls pixcache_client_start_thread() once, and a library thread
 *    reads and dispatches the library's queue.
 * Blocking calls also read and dispatch the library's queue themselves
 * while they wait (libwayland's prepare_read protocol lets several threads
 * read one display safely), so they work in either setup.
 *
 * Callbacks (pixcache_lookup_fn, pixcache_upload_fn) run on the thread that
 * dispatched the library's queue: the toolkit's in pixcache_client_dispatch(),
 * the library's thread, or a thread blocked in a pixcache call. They run
 * without the library's lock and may call into the library.
 *
 * Every function is thread-safe. Functions that can fail return 0 or a
 * negative errno.
 *
 * A broken connection. A call in flight when the connection breaks, or
 * the manager's global goes, returns -ECONNRESET (or 0 if it had its
 * answer). The next call on a connection of the library's own reconnects;
 * on the application's display it returns -ENOTCONN. Held pixmaps keep
 * their bytes through all of it (doc/client.md: "When the manager goes").
 */

#ifndef PIXCACHE_CLIENT_H
#define PIXCACHE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pixman.h>
#include <wayland-client-core.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define PIXCACHE_CLIENT_EXPORT __attribute__((visibility("default")))
#else
#define PIXCACHE_CLIENT_EXPORT
#endif

struct pixcache_client;
struct pixcache_pixmap;

#ifndef PIXCACHE_KEY_DEFINED
#define PIXCACHE_KEY_DEFINED
/** A key: a capability for one pixmap, which may be handed on. */
struct pixcache_key {
	uint64_t instance;
	uint32_t slot;
	uint32_t generation;
	uint64_t tag;
};
#endif

/** Options; pixcache_client_options_init() fills in the defaults. */
struct pixcache_client_options {
	/** Pixmaps kept in the local map for repeated hits (default 1024). */
	uint32_t local_entries;
	/** Lookups and uploads awaiting their answer, at most (default 256). */
	uint32_t max_outstanding;
	/** How long a blocking call waits for the manager, in ms (5000). */
	int timeout_ms;
};

PIXCACHE_CLIENT_EXPORT void pixcache_client_options_init(
	struct pixcache_client_options *options);

/**
 * Uses the pixcache manager of the application's display. Does not read
 * or dispatch the display here: the manager is found at the first call
 * that needs it, or at the next pixcache_client_dispatch(). options may be
 * NULL. Returns NULL with errno set.
 */
PIXCACHE_CLIENT_EXPORT struct pixcache_client *pixcache_client_create(
	struct wl_display *display,
	const struct pixcache_client_options *options);

/**
 * Opens a connection of its own to the Wayland socket name (NULL:
 * $PIXCACHE_SOCKET, else $WAYLAND_DISPLAY), and reconnects to it if it
 * breaks. Returns NULL with errno set (ECONNREFUSED, ENOENT...).
 */
PIXCACHE_CLIENT_EXPORT struct pixcache_client *pixcache_client_connect(
	const char *socket_name, const struct pixcache_client_options *options);

/**
 * Stops the library's thread, releases every lease and mapping the
 * library holds, and frees the client. Pixmaps the caller still holds stay
 * valid, with the same bytes, until unref'd (held pixmaps in a pool are
 * copied to private memory first). Waits for calls in flight on other
 * threads; not to be called from a callback. Accepts NULL.
 */
PIXCACHE_CLIENT_EXPORT void pixcache_client_destroy(
	struct pixcache_client *client);

/**
 * Dispatches what the library's queue holds, and runs callbacks. Never
 * blocks. Call it after each of your reads of the display. On a
 * connection of the library's own (pixcache_client_connect()) without the
 * library's thread, it first reads what the socket holds. Returns the
 * number of events dispatched, or a negative errno if the connection is
 * broken.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_dispatch(
	struct pixcache_client *client);

/**
 * Starts a thread that reads the display and dispatches the library's
 * queue, so callbacks run without the toolkit calling
 * pixcache_client_dispatch(). Returns 0, -EALREADY or an errno of
 * pthread_create().
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_start_thread(
	struct pixcache_client *client);

/** The manager's instance id, once known (0 before). */
PIXCACHE_CLIENT_EXPORT uint64_t pixcache_client_instance(
	struct pixcache_client *client);

/**
 * A repeated hit, without a round trip: the pixmap if the library has
 * name of realm mapped and the realm's generation table (or, without a
 * table, the manager's last word) says it is current. The handle is the
 * same one every time: a reference is added, nothing is allocated.
 * Returns 0 and sets *pixmap, -EAGAIN if only the manager can answer, or
 * -EINVAL for a bad name.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_find_local(
	struct pixcache_client *client, const char *realm, const char *name,
	struct pixcache_pixmap **pixmap);

/**
 * Finds name in realm: locally, else by asking the manager and waiting
 * (waiting also for another client's fill of it, see below).
 * Returns 0 and sets *pixmap, -ENOENT (not there: this client now holds
 * the name's claim, upload it or call pixcache_client_abandon()),
 * -EINPROGRESS (another client fills it, and this client holds claims
 * of its own: upload those first, then ask again), -EACCES (the policy
 * does not allow it), -ETIMEDOUT, -ENOTCONN (no manager), or another
 * negative errno for a failure the manager reported.
 *
 * Claims: the first client whose lookup misses a name claims it; every
 * other client's lookup of the name waits until that client's upload is
 * stored (then they find it), so each name is decoded once however many
 * clients need it at once. The claim is handed to the upload when
 * pixcache_client_put() or pixcache_client_upload() sends it; a client
 * that will not upload (its decode failed) abandons it, and the claim
 * passes to a waiting client, as it does when this client disconnects or
 * the manager's upload timeout passes. A lookup never waits for another
 * client while the calling thread holds claims: two clients each waiting
 * for the other's claim would wait for the timeout.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_find(struct pixcache_client *client,
	const char *realm, const char *name, struct pixcache_pixmap **pixmap);

/**
 * Finds many names of realm with one round trip at most (split in
 * batches within the limits), plus a wait for names other clients fill.
 * results[i] gets 0 or a negative errno as pixcache_client_find() would
 * return (-ENOENT: this client's to fill; -EINPROGRESS: another's, ask
 * again after uploading this client's), pixmaps[i] the pixmap or NULL.
 * Returns 0, or a negative errno if the manager could not be asked.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_find_many(
	struct pixcache_client *client, const char *realm,
	const char *const *names, unsigned count, int *results,
	struct pixcache_pixmap **pixmaps);

/**
 * Gives up the claim of name in realm (a lookup of it returned -ENOENT),
 * so that another client fills it: sent at once (it waits for room in a
 * full socket, up to timeout_ms, as any request does). Returns 0,
 * -ENOENT if this client holds no such claim, -EINVAL.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_abandon(
	struct pixcache_client *client, const char *realm, const char *name);

/** As pixcache_client_find(), by key (from another client, say). */
PIXCACHE_CLIENT_EXPORT int pixcache_client_find_key(
	struct pixcache_client *client, const struct pixcache_key *key,
	struct pixcache_pixmap **pixmap);

/** Called once with the lookup's result; pixmap is the caller's to unref. */
typedef void (*pixcache_lookup_fn)(void *data, int result,
	struct pixcache_pixmap *pixmap);

/**
 * Asynchronous lookup: the request goes out with the next
 * pixcache_client_flush() (or blocking call), and callback runs once when
 * the answer is in (see "Callbacks" above), also for a local hit.
 * Returns 0, -EINVAL, -EBUSY when max_outstanding are in flight, or the
 * errno of a broken connection (see above); a request the connection's
 * break fails is called back with -ECONNRESET.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_lookup(
	struct pixcache_client *client, const char *realm, const char *name,
	pixcache_lookup_fn callback, void *data);

/** Sends what is queued (requests, usage reports) and asks for done. */
PIXCACHE_CLIENT_EXPORT int pixcache_client_flush(struct pixcache_client *client);

/** Insert flags. */
enum pixcache_put_flags {
	/** Replace an existing entry of this name, if allowed. */
	PIXCACHE_PUT_REPLACE = 1,
};

/**
 * Uploads image (any pixman format: pixman's are premultiplied) as name in
 * realm (NULL: an anonymous pixmap, reached by key), converted to format
 * (a DRM fourcc of the protocol's list), and waits until it is stored.
 * Fills *key (may be NULL). Returns 0, -EINVAL, -EEXIST (exists, and may
 * not be replaced), -EBUSY (another client is uploading it: find it),
 * -EACCES, -EDQUOT, -ENOSPC, -EFBIG, -ETIMEDOUT, -ENOTCONN.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_put(struct pixcache_client *client,
	const char *realm, const char *name, pixman_image_t *image,
	uint32_t format, uint32_t flags, struct pixcache_key *key);

/** Called once with an upload's result, and its key if it was stored. */
typedef void (*pixcache_upload_fn)(void *data, int result,
	const struct pixcache_key *key);

/**
 * Asynchronous upload, as pixcache_client_put() but without waiting: the
 * request goes out with the next pixcache_client_flush() (or blocking
 * call); the thread that next runs callbacks converts image into the
 * manager's target, and callback runs once with the result. The library
 * holds a reference on image until then: do not change it meanwhile, nor
 * ref or unref it on another thread (pixman's count is not atomic).
 * Returns 0, -EINVAL, -EBUSY when max_outstanding are in flight, or the
 * errno of a broken connection (see above); an upload the connection's
 * break fails is called back with -ECONNRESET.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_upload(
	struct pixcache_client *client, const char *realm, const char *name,
	pixman_image_t *image, uint32_t format, uint32_t flags,
	pixcache_upload_fn callback, void *data);

/** Removes name from realm (if this client may). 0, -ENOENT, -EACCES. */
PIXCACHE_CLIENT_EXPORT int pixcache_client_remove(
	struct pixcache_client *client, const char *realm, const char *name);

/** One entry of a listed realm. */
struct pixcache_entry_info {
	const char *name;		/* NULL: anonymous */
	uint32_t width, height, format;
	struct pixcache_key key;
};

/**
 * Calls fn for every entry of realm the manager lists, then returns 0, or
 * a negative errno. Asks a page of 128 entries at a time (one round trip
 * each), so any number of entries comes whole; entries stored or removed
 * meanwhile may be missed or shown.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_list(struct pixcache_client *client,
	const char *realm,
	void (*fn)(void *data, const struct pixcache_entry_info *info),
	void *data);

/** The manager's statistics (pixcache_batch_v1.stats). */
struct pixcache_client_stats {
	uint64_t entries, realms, clients;
	uint64_t indexed_bytes, leased_bytes, budget;
	uint64_t hits, misses, evictions;
};

PIXCACHE_CLIENT_EXPORT int pixcache_client_get_stats(
	struct pixcache_client *client, struct pixcache_client_stats *stats);

/** What the library itself holds and has done, for tools and tests. */
struct pixcache_client_usage {
	uint32_t mappings;		/* pools and own buffers mapped */
	uint32_t pools;
	uint32_t leases;		/* pixmap objects holding a pixmap */
	uint32_t local_entries;
	uint64_t local_hits;		/* answered without the manager */
	uint64_t remote_lookups;
	uint64_t uploads;
	uint64_t reconnects;
	/* Held pixmaps whose lease went (destroy, a break, the manager
	 * gone) with the pixmap still in a pool: copied to private memory
	 * so that their bytes stay; and those that could not be (out of
	 * memory: they keep showing the pool). */
	uint64_t held_copies;
	uint64_t held_copy_failures;
};

PIXCACHE_CLIENT_EXPORT void pixcache_client_get_usage(
	struct pixcache_client *client, struct pixcache_client_usage *usage);

/* ---- pixmaps: handles with an atomic reference count ---- */

/** Adds a reference. Any thread. Returns pixmap. */
PIXCACHE_CLIENT_EXPORT struct pixcache_pixmap *pixcache_pixmap_ref(
	struct pixcache_pixmap *pixmap);

/**
 * Drops a reference; with the last, the lease is released and the memory
 * unmapped (a pool once none of its pixmaps is held). Any thread. Accepts
 * NULL.
 */
PIXCACHE_CLIENT_EXPORT void pixcache_pixmap_unref(struct pixcache_pixmap *pixmap);

/** The pixels, read-only, valid while a reference is held. */
PIXCACHE_CLIENT_EXPORT const void *pixcache_pixmap_get_data(
	const struct pixcache_pixmap *pixmap);
PIXCACHE_CLIENT_EXPORT uint32_t pixcache_pixmap_get_width(
	const struct pixcache_pixmap *pixmap);
PIXCACHE_CLIENT_EXPORT uint32_t pixcache_pixmap_get_height(
	const struct pixcache_pixmap *pixmap);
PIXCACHE_CLIENT_EXPORT uint32_t pixcache_pixmap_get_stride(
	const struct pixcache_pixmap *pixmap);
/** A DRM fourcc of the protocol's list. */
PIXCACHE_CLIENT_EXPORT uint32_t pixcache_pixmap_get_format(
	const struct pixcache_pixmap *pixmap);
PIXCACHE_CLIENT_EXPORT void pixcache_pixmap_get_key(
	const struct pixcache_pixmap *pixmap, struct pixcache_key *key);

/**
 * A pixman image over the pixels, to composite from, never into. It
 * holds a reference until pixman destroys it, so each thread can have its
 * own (pixman's reference count is not atomic). Returns NULL with errno.
 */
PIXCACHE_CLIENT_EXPORT pixman_image_t *pixcache_pixmap_create_pixman(
	struct pixcache_pixmap *pixmap);

/** A pixmap as a dma-buf, from pixcache_pixmap_get_dmabuf(). */
struct pixcache_dmabuf {
	/** The caller's, to close; valid whatever becomes of the pixmap. */
	int fd;
	uint32_t offset;
	/** The GPU buffer's stride, not the pixmap's. */
	uint32_t stride;
	/** A DRM fourcc of the protocol's list, the pixmap's. */
	uint32_t format;
	/** DRM_FORMAT_MOD_LINEAR. */
	uint64_t modifier;
};

/**
 * The pixmap as a single-plane dma-buf in the compositor's GPU memory,
 * for a client that draws with the GPU: import it read-only (EGL's
 * EGL_EXT_image_dma_buf_import, with the pixmap's width and height). The
 * manager makes one per pixmap and shares it with every client that asks.
 * Blocking, like pixcache_client_find(): one round trip, two for a
 * pixmap found by name (pixcache_client_find() and _find_many() hold most
 * pixmaps by a lease number, which cannot ask: the library looks the
 * pixmap up by its key first, and gets -ENOENT if its entry has left the
 * cache since).
 *
 * Returns 0 (*out filled), -ENODEV (the manager has no GPU device, or
 * speaks protocol version 1),
 * -EINVAL (NULL arguments, or the pixmap lost its lease: the connection
 * broke or the manager left), -ENOENT, -ETIMEDOUT, -ECONNRESET, or
 * another negative errno for a failure the manager reported (-EINVAL for
 * an alpha mask's format, -EAGAIN, -ENOMEM).
 */
PIXCACHE_CLIENT_EXPORT int pixcache_pixmap_get_dmabuf(
	struct pixcache_pixmap *pixmap, struct pixcache_dmabuf *out);

/**
 * Uploads the pixels of a dma-buf of the caller's (drawn by its GPU, say)
 * as name in realm (NULL: anonymous), and waits until they are stored:
 * width x height pixels of dmabuf->format, rows dmabuf->stride bytes
 * apart from dmabuf->offset, modifier DRM_FORMAT_MOD_LINEAR. The manager
 * copies them, under DMA_BUF_IOCTL_SYNC (after the buffer's write fences
 * signal), into memory of its own: the caller keeps its fd and may draw
 * into the buffer again when this returns.
 *
 * Returns 0 (*key filled, if not NULL), -EINVAL (bad arguments: a stride
 * shorter than a row, a modifier other than linear, a format not of the
 * protocol's list), -EBADF (a closed fd, or the manager could not copy
 * it: not a dma-buf, shorter than offset and rows, not mappable),
 * -ETIMEDOUT (its fences did not signal in the manager's upload time),
 * -EOPNOTSUPP (the manager speaks protocol version 1), or what
 * pixcache_client_put() returns.
 */
PIXCACHE_CLIENT_EXPORT int pixcache_client_put_dmabuf(
	struct pixcache_client *client, const char *realm, const char *name,
	uint32_t width, uint32_t height, const struct pixcache_dmabuf *dmabuf,
	uint32_t flags, struct pixcache_key *key);

/* ---- keys as text ---- */

/** Writes key as one token (at most 64 bytes with the NUL). */
PIXCACHE_CLIENT_EXPORT void pixcache_key_format(const struct pixcache_key *key,
	char *buf, size_t size);

/** Parses a token of pixcache_key_format(). Returns 0 or -EINVAL. */
PIXCACHE_CLIENT_EXPORT int pixcache_key_parse(const char *text,
	struct pixcache_key *key);

#ifdef __cplusplus
}
#endif

#endif
