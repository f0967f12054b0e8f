/*
 * libpixcache-server: the pixmap cache a compositor embeds.
 *
 * Create the manager on the compositor's wl_display; it advertises the
 * pixcache_manager_v1 global and serves clients from the display's event
 * loop. The compositor can also insert pixmaps and look them up for its
 * own drawing, from any thread.
 *
 * Functions that can fail return 0 or a negative errno, and change nothing
 * when they fail.
 */

#ifndef PIXCACHE_SERVER_H
#define PIXCACHE_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <pixman.h>
#include <wayland-server-core.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define PIXCACHE_EXPORT __attribute__((visibility("default")))
#else
#define PIXCACHE_EXPORT
#endif

struct pixcache_manager;
struct pixcache_image;

#ifndef PIXCACHE_KEY_DEFINED
#define PIXCACHE_KEY_DEFINED
/** A key, as the protocol carries it (pixcache_pixmap_v1.key). */
struct pixcache_key {
	uint64_t instance;
	uint32_t slot;
	uint32_t generation;
	uint64_t tag;
};
#endif

/** What a client may do in a realm (pixcache_realm_v1.access). */
enum pixcache_access {
	PIXCACHE_ACCESS_READ = 1,
	PIXCACHE_ACCESS_WRITE = 2,
	PIXCACHE_ACCESS_TABLE = 4,
};

/** The owner of what the compositor inserts itself. */
#define PIXCACHE_OWNER_COMPOSITOR UINT64_C(0)

/**
 * The compositor's policy. Called on the event loop's thread; the hooks
 * must not call into the manager. NULL hooks take the default.
 */
struct pixcache_policy {
	/**
	 * The access client has to the realm called realm, as
	 * enum pixcache_access bits. Default: read, write and table for
	 * "default", nothing elsewhere.
	 */
	uint32_t (*realm_access)(void *data, struct wl_client *client,
		const char *realm);
	/**
	 * Whether client may replace, in realm, an entry that owner inserted
	 * (see pixcache_manager_client_owner()). Default: only its owner.
	 */
	bool (*may_replace)(void *data, struct wl_client *client,
		const char *realm, uint64_t owner);
	void *data;
};

/** Limits and sizes. pixcache_config_init() fills in the defaults. */
struct pixcache_config {
	/** Bytes of pixmaps indexed or leased, at most. */
	uint64_t budget;
	/** Bytes one realm may use; 0: only the budget. */
	uint64_t realm_quota;
	/** Slots per realm: its most entries and its generation table's size. */
	uint32_t table_capacity;
	/** Bytes per pool; smaller pixmaps go in pools. */
	uint32_t pool_size;
	/** Pixmaps above this many bytes get a buffer of their own. */
	uint32_t pool_max_pixmap;
	uint32_t max_width;
	uint32_t max_height;
	/** Largest pixmap in bytes. */
	uint32_t max_bytes;
	/** Per client connection, all its sessions together: uploads
	 * awaiting their answer, and staging buffers mapped (past them a
	 * stage fails with uploads). */
	uint32_t max_uploads;
	/** Per client connection: pixmap objects holding a pixmap. Its
	 * pixmap objects in all (held, waiting or answered, until
	 * destroyed) are bounded at twice as many, as are its leases of
	 * finds. */
	uint32_t max_leases;
	/** Per client connection: file descriptors sent and not
	 * acknowledged. */
	uint32_t max_fds_in_flight;
	/** Client connections of one user id using the manager at once (a
	 * desktop runs every application under one uid: keep it high). */
	uint32_t max_connections_per_uid;
	/** Sessions (bound manager objects) of one client connection. */
	uint32_t max_sessions_per_connection;
	/** Per client connection: realm, batch and staging objects alive,
	 * every session together. Past them a realm object is denied with
	 * memory, a staging fails with memory, and a batch is inert (their
	 * requests fail with policy): the manager keeps no state for
	 * them. */
	uint32_t max_objects;
	/** Milliseconds a claim may hold its name before its upload
	 * starts, and an upload before its commit; then it fails with
	 * timeout and the claim passes to the next waiter. */
	uint32_t upload_timeout_ms;
	/** Uploads in flight over every connection: a bound on the targets
	 * (one fd each) the manager holds, whatever the connections; and
	 * on the staging buffers mapped (one mapping each). */
	uint32_t max_uploads_total;
	/** Copies for readers of other realms alive at once (one fd each). */
	uint32_t max_copies;
	/** Per client connection: leases holding such a copy, so that one
	 * connection cannot take every copy. */
	uint32_t max_copies_per_connection;
	/** Per client connection: bytes of upload targets in flight (the
	 * manager makes them for the client). Over every connection they
	 * stay within the budget. */
	uint64_t max_upload_bytes;
	/** Per client connection: names it holds the claim of (a lookup
	 * that missed, until its upload starts). Beyond them, lookups that
	 * miss are answered missing, without a claim. */
	uint32_t max_claims;
	/** Dma-bufs of pixmaps alive at once (one fd each, and GPU memory;
	 * see pixcache_manager_set_drm_device()). */
	uint32_t max_dmabufs;
	/** Per client connection: leases using a dma-buf, so that one
	 * connection cannot take every dma-buf. */
	uint32_t max_dmabufs_per_connection;
};

/** Fills config with the defaults. */
PIXCACHE_EXPORT void pixcache_config_init(struct pixcache_config *config);

/**
 * Creates the manager on display and advertises its global. config and
 * policy are copied; either may be NULL for the defaults. The manager is
 * destroyed with the display, or by pixcache_manager_destroy().
 * Returns NULL with errno set (EINVAL for a config it cannot honour).
 */
PIXCACHE_EXPORT struct pixcache_manager *pixcache_manager_create(struct wl_display *display,
	const struct pixcache_config *config,
	const struct pixcache_policy *policy);

/**
 * Destroys the manager: its global, every client's objects (made inert)
 * and the cache. Every pixcache_image must have been released. Accepts
 * NULL.
 */
PIXCACHE_EXPORT void pixcache_manager_destroy(struct pixcache_manager *manager);

/**
 * Gives the manager the compositor's DRM device, so that clients can have
 * pixmaps as dma-bufs (pixcache_pixmap_v1.get_dmabuf): each a dumb buffer
 * of the device, filled once from the pixmap, shared by every lease that
 * asks, and freed with the last of them; max_dmabufs bounds them, and
 * max_dmabufs_per_connection each connection's leases using one. The
 * manager keeps a duplicate of fd (the caller keeps its own) and no GEM
 * handle on it once a dma-buf is exported (its handles are the caller's
 * too, when fd is the compositor's own). fd must be able
 * to make dumb buffers and export them: a primary node (render nodes have
 * no dumb buffers). Once per manager; without it get_dmabuf fails with
 * no_device. Event loop thread.
 *
 * Returns 0, -EINVAL (fd negative or not a DRM device), -ENODEV (no dumb
 * buffers: one of a pixel is tried, for render nodes answer
 * DRM_CAP_DUMB_BUFFER and refuse them, and drivers without KMS such as
 * vgem make them and cannot answer it; or no PRIME export),
 * -EBUSY (a device was set already), or the errors of
 * fcntl(F_DUPFD_CLOEXEC).
 */
PIXCACHE_EXPORT int pixcache_manager_set_drm_device(
	struct pixcache_manager *manager, int fd);

/** listener is notified (data: the manager) when the manager is destroyed. */
PIXCACHE_EXPORT void pixcache_manager_add_destroy_listener(struct pixcache_manager *manager,
	struct wl_listener *listener);

/** What the refused signal carries. */
struct pixcache_refusal {
	struct wl_client *client;
	/**
	 * NULL: the manager refused the client (too many connections of its
	 * user, or sessions of its connection); else the realm it was
	 * denied, as the client named it but safe to log: every byte
	 * outside printable ASCII, and '\\' and '"', written \xNN, so a
	 * name cannot forge log lines or drive a terminal.
	 */
	const char *realm;
	/** pixcache_manager_v1.refusal, or pixcache_batch_v1.failure for a
	 * realm. */
	uint32_t reason;
};

/**
 * listener is notified (data: a struct pixcache_refusal, valid during the
 * call) each time the manager refuses a client or denies it a realm, so a
 * compositor can log it. Event loop thread.
 */
PIXCACHE_EXPORT void pixcache_manager_add_refused_listener(
	struct pixcache_manager *manager, struct wl_listener *listener);

/** The instance id every key of this manager carries. */
PIXCACHE_EXPORT uint64_t pixcache_manager_instance(const struct pixcache_manager *manager);

/**
 * The owner id of what client inserts: unique for the manager's lifetime,
 * never reused, even after the client disconnects. 0 if the client never
 * used the manager. Event loop thread only.
 */
PIXCACHE_EXPORT uint64_t pixcache_manager_client_owner(struct pixcache_manager *manager,
	struct wl_client *client);

/** Insert flags. */
enum pixcache_insert_flags {
	/** Replace an entry of the same name. */
	PIXCACHE_INSERT_REPLACE = 1,
};

/**
 * Inserts image (any pixman format, converted to format, which must be a
 * format of the protocol's enum) as name in realm; with a NULL name, an
 * anonymous pixmap reached by key only. Any thread. On success fills *key
 * (may be NULL).
 *
 * Returns 0, -EINVAL (bad arguments or format), an error of the name check
 * (-ENAMETOOLONG, -EILSEQ), -EFBIG (beyond the size limits, or larger than
 * the quota or the budget), -EEXIST, -EDQUOT, -ENOSPC, or -ENOMEM and the
 * errors of memfd_create() and mmap().
 */
PIXCACHE_EXPORT int pixcache_manager_insert(struct pixcache_manager *manager,
	const char *realm, const char *name, pixman_image_t *image,
	uint32_t format, uint32_t flags, struct pixcache_key *key);

/**
 * Looks name up in realm and holds the pixmap for the caller, who must
 * release it with pixcache_image_release(). Any thread.
 * Returns 0, -ENOENT, -EINVAL or -ENOMEM.
 */
PIXCACHE_EXPORT int pixcache_manager_find(struct pixcache_manager *manager, const char *realm,
	const char *name, struct pixcache_image **image);

/** As pixcache_manager_find(), by key. */
PIXCACHE_EXPORT int pixcache_manager_find_key(struct pixcache_manager *manager,
	const struct pixcache_key *key, struct pixcache_image **image);

/** Removes name from realm. Any thread. Returns 0, -ENOENT or -EINVAL. */
PIXCACHE_EXPORT int pixcache_manager_remove(struct pixcache_manager *manager,
	const char *realm, const char *name);

/** Cache statistics, for tools and tests. */
struct pixcache_stats {
	/** The configured budget: the entries' bytes, copy_bytes and
	 * dmabuf_bytes together stay within it. */
	uint64_t budget;
	uint64_t entries;
	uint64_t indexed_bytes;
	uint64_t held_only_bytes;
	uint64_t hits;
	uint64_t misses;
	uint64_t inserts;
	uint64_t evictions;
	uint32_t realms;
	uint32_t pools;
	/** Client connections with a session (a bound manager object). */
	uint32_t clients;
	uint32_t uploads;	/* in flight, all clients */
	uint32_t leases;	/* pixmap objects holding a pixmap */
	uint32_t pixmaps;	/* alive, leased or not */
	/**
	 * File descriptors the manager holds: one per pool, per realm's
	 * table, per pixmap with a buffer of its own, per pooled pixmap
	 * copied for readers of other realms, per pixmap's dma-buf, per
	 * upload target in flight, one to wake its loop, the dma-buf
	 * reader's once it started (its eventfd and the loop's duplicate,
	 * and one or two per dma-buf offered and not yet read), and the DRM
	 * device's duplicate if it has one.
	 */
	uint32_t fds;
	/** Sessions: manager objects bound, over every connection. */
	uint32_t sessions;
	/** Bytes of sealed copies for readers of other realms: one per
	 * pixmap at most, freed with it (counted in fds too), charged to
	 * the budget. */
	uint64_t copy_bytes;
	/** Names claimed by a lookup that missed, their upload not started. */
	uint32_t claims;
	/** Leases of finds, numbered: holding, claiming or waiting. */
	uint32_t found_leases;
	/** Pixmaps' dma-bufs alive: one per pixmap at most, freed with the
	 * last lease using it (counted in fds too). */
	uint32_t dmabufs;
	/** Their bytes of GPU memory. Like copy_bytes, charged to the
	 * budget: making one evicts what nobody holds, and fails with
	 * budget where what is held leaves no room. */
	uint64_t dmabuf_bytes;
};

/** Fills *stats. Event loop thread only. */
PIXCACHE_EXPORT void pixcache_manager_get_stats(struct pixcache_manager *manager,
	struct pixcache_stats *stats);

/* ---- images: the compositor's holds on pixmaps ---- */

/** The first byte of the pixels, read-only; valid while the image is held. */
PIXCACHE_EXPORT const void *pixcache_image_get_data(const struct pixcache_image *image);
PIXCACHE_EXPORT uint32_t pixcache_image_get_width(const struct pixcache_image *image);
PIXCACHE_EXPORT uint32_t pixcache_image_get_height(const struct pixcache_image *image);
PIXCACHE_EXPORT uint32_t pixcache_image_get_stride(const struct pixcache_image *image);
/** A format of the protocol's format enum (a DRM fourcc). */
PIXCACHE_EXPORT uint32_t pixcache_image_get_format(const struct pixcache_image *image);
/** The image's key. */
PIXCACHE_EXPORT void pixcache_image_get_key(const struct pixcache_image *image,
	struct pixcache_key *key);

/**
 * A pixman image over the pixels, to composite from (never to draw into:
 * the memory is read-only). It holds the image until pixman destroys it,
 * so each caller can have its own (pixman's reference count is not
 * atomic). Returns NULL with errno set.
 */
PIXCACHE_EXPORT pixman_image_t *pixcache_image_create_pixman(struct pixcache_image *image);

/** An image as a dma-buf, from pixcache_image_get_dmabuf(). */
struct pixcache_image_dmabuf {
	/** The caller's, to close; valid whatever becomes of the image. */
	int fd;
	uint32_t offset;
	/** The GPU buffer's stride, not the image's. */
	uint32_t stride;
	/** The image's format, a DRM fourcc. */
	uint32_t format;
	/** DRM_FORMAT_MOD_LINEAR. */
	uint64_t modifier;
};

/**
 * The image's pixels in the DRM device's memory (see
 * pixcache_manager_set_drm_device()), for the compositor's own renderer:
 * a single-plane linear dma-buf, to import once (EGL's
 * EGL_EXT_image_dma_buf_import) and reuse while the fd lives. It is the
 * dma-buf clients get for the same pixmap, made on first use; the fd is
 * the caller's own, and keeps the buffer after the image is released.
 * That GPU memory is the compositor's: the budget counts a dma-buf only
 * while a client's lease uses it. Import it read-only. Event loop thread
 * only (asserted).
 *
 * Returns 0 (*out filled), -EINVAL (NULL arguments, or a format that is
 * not 32 bits a pixel), -ENODEV (no device), -ENOMEM, or the errno of
 * fcntl(F_DUPFD_CLOEXEC).
 */
PIXCACHE_EXPORT int pixcache_image_get_dmabuf(struct pixcache_image *image,
	struct pixcache_image_dmabuf *out);

/** Releases the caller's hold. Any thread. Accepts NULL. */
PIXCACHE_EXPORT void pixcache_image_release(struct pixcache_image *image);

#ifdef __cplusplus
}
#endif

#endif
