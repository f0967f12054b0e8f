/*
 * The client library's structures, shared by its modules:
 *
 *   client.c   lifetime, connection, the manager, reading and waiting, the
 *              library's thread
 *   dispatch.c how events reach the library's objects (see below)
 *   names.c    the local map from (realm, name) to pixmap
 *   pixmap.c   pixmaps (handles), their mappings, pools, realms' tables
 *   request.c  lookups and their answers, the batch, usage reports
 *   upload.c   uploads
 *   admin.c    removals, lists, statistics, keys as text
 *
 * Locking: one mutex, client->lock, guards everything but a pixmap's
 * reference count (atomic). It is not held while libwayland reads or
 * while a user callback runs; every event handler runs with it held.
 *
 * Peer loss. Whatever notices that the connection broke (a failed flush,
 * read or dispatch) or that the manager's global went only notes it
 * (client->stale): it may be deep in a loop over requests, realms or
 * entries. The manager's state is torn down in one place, pxcl_settle(),
 * and only when no public call is in flight (client->calls == 0): as the
 * last call leaves, as the next one enters, or on the library's thread
 * between two reads. Until then every wait returns -ECONNRESET at once,
 * so calls in flight drain quickly, and no local hit is served.
 *
 * Objects and events. Any thread may dispatch the library's queue while
 * another drops an object (a pixmap unref'd, a request given up), and
 * libwayland hands a handler the user data it read before that. So no
 * proxy of ours has a listener: each has a dispatcher (dispatch.c) that
 * takes the lock and only then reads the proxy's user data, and an object
 * that dies sets its proxy's user data to NULL, under the lock, before it
 * destroys the proxy. A late event finds NULL: the dispatcher closes its
 * fds and ignores it, as a wlroots handler ignores an inert resource.
 * Otherwise it decodes the event's arguments (dispatch.c) and calls the
 * handler of the kind's listener (pxcl_*_events, below) with them by
 * name, and the proxy's object, of the one type its kind has, as data.
 */

#ifndef PIXCACHE_CLIENT_PRIVATE_H
#define PIXCACHE_CLIENT_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <wayland-client-core.h>
#include <wayland-util.h>

#include "failure.h"
#include "format.h"
#include "name.h"
#include "pixcache-client.h"
#include "pixcache-v1-client-protocol.h"

/* libwayland 1.21: 4096-byte messages; (slot, generation) pairs per used. */
#define PXCL_USAGE_PAIRS 500
/* Requests between flushes: eight of the longest fit libwayland's 4 KiB. */
#define PXCL_FLUSH_EVERY 8

/* The kinds of object a proxy of ours belongs to, and its user data. */
enum pxcl_kind_of_proxy {
	PXCL_PROXY_SYNC,		/* wl_callback; struct pxcl_sync */
	PXCL_PROXY_REALM,		/* struct pxcl_realm */
	PXCL_PROXY_POOL,		/* struct pxcl_pool */
	PXCL_PROXY_PIXMAP,		/* struct pxcl_pixmap_object */
	PXCL_PROXY_UPLOAD,		/* struct pxcl_request */
	PXCL_PROXY_REMOVAL,		/* struct pxcl_side_op */
	PXCL_PROXY_SIDE_BATCH,		/* struct pxcl_side_op */
	PXCL_PROXY_KINDS,
};

struct pxcl_realm {
	struct wl_list link;		/* client->realms */
	struct pixcache_client *client;
	char *name;
	struct pixcache_realm_v1 *proxy;
	const uint32_t *table;		/* the generation table, read-only */
	uint32_t capacity;
};

struct pxcl_pool {
	struct wl_list link;		/* client->pools, while the proxy lives */
	uint32_t number;		/* how records of found name it */
	struct pixcache_client *client;
	struct pixcache_pool_v1 *proxy;	/* NULL once destroyed */
	const uint8_t *map;
	uint32_t size;
	/* The client's, while listed, plus one per pixmap in it. */
	atomic_int refs;
};

/*
 * A name this client holds the claim of (a lookup of it missed): its
 * pixmap object is kept until the name's upload is sent, the caller
 * abandons it, or the manager ends it (failed: its time was up).
 */
struct pxcl_claim {
	struct wl_list link;		/* client->claims */
	struct pxcl_realm *realm;
	struct wl_proxy *proxy;		/* a pixmap object's claim, or */
	uint32_t lease_number;		/* a find's */
	pthread_t thread;		/* whose lookup claimed it */
	char name[];
};

struct pixcache_pixmap {
	atomic_int refs;
	struct pixcache_client *client;	/* keeps the client's memory */
	struct wl_list link;		/* client->pixmaps */
	struct pixcache_pixmap_v1 *lease; /* NULL once released */
	uint32_t lease_number;		/* or a lease of find; 0: none */
	const uint8_t *data;
	uint32_t width, height, stride, format;
	struct pixcache_key key;
	struct pxcl_pool *pool;		/* NULL: a mapping of its own */
	const void *map;
	size_t map_size;
	struct pxcl_realm *realm;	/* whose table says if it is current */
	atomic_bool evicted;
};

/* An entry of the local map. */
struct pxcl_entry {
	struct pxcl_entry *next;	/* bucket chain */
	struct wl_list lru;		/* client->lru, newest first (CLOCK) */
	struct pxcl_realm *realm;
	struct pixcache_pixmap *pixmap;	/* a reference held */
	uint64_t hash;
	bool referenced;		/* hit since the trim last passed */
	uint32_t noted;			/* client->commits when last reported */
	size_t name_len;
	char name[];
};

enum pxcl_kind {
	PXCL_LOOKUP = 1,
	PXCL_LOOKUP_KEY,
	PXCL_UPLOAD,
};

/* A request awaiting its answer. */
struct pxcl_request {
	struct wl_list link;		/* client->outstanding, or completed */
	struct pixcache_client *client;
	enum pxcl_kind kind;
	struct pxcl_realm *realm;
	char *name;			/* stored after the request */
	struct wl_proxy *proxy;		/* pixmap or upload object */
	bool done;
	bool pending;
	bool answered;			/* done, or pending */
	int result;			/* 0 or a negative errno */
	/* A lookup's answer, as it comes. */
	bool got_key;
	struct pixcache_key key;
	struct pxcl_pool *pool;		/* announced with this answer */
	struct pixcache_pixmap *pixmap;	/* the caller's reference */
	/* An upload: what is sent, and the target. */
	uint32_t width, height, format, flags;
	int target_fd;
	uint32_t stride, size;
	/* Asynchronous requests. */
	pixcache_lookup_fn callback;
	pixcache_upload_fn upload_callback;
	void *data;
	bool waited;			/* a blocking call frees it */
	/* An asynchronous upload: its image, until the target is filled. */
	pixman_image_t *image;
	const struct pxc_format *pxc_format;
	struct wl_list fill_link;	/* client->fills or client->staged */
	bool filling;			/* a thread fills it: keep it */
	pthread_t thread;		/* the caller's */
	/* A lookup sent in a find: its group, number, and the lease a
	 * pending record gave it. */
	struct pxcl_find_group *group;
	uint32_t number;
	uint32_t lease;
};

/*
 * A pixmap object's user data, for the proxy's whole life: whom its events
 * are for now, one of three at most. A lookup asks with it (req); its
 * answer hands it on to the pixmap it leases, or to the claim it keeps.
 * Freed as the proxy goes, by pxcl_pixmap_object_end().
 */
struct pxcl_pixmap_object {
	struct pixcache_client *client;
	struct pxcl_request *req;
	struct pixcache_pixmap *pixmap;
	struct pxcl_claim *claim;
	/* A lease's get_dmabuf calls, oldest first: the manager answers in
	 * the order asked. */
	struct wl_list dmabuf_waits;	/* struct pxcl_dmabuf_wait, by seq */
	/* get_dmabuf requests sent and answered: answer n is request n's,
	 * whoever still waits for it (a caller that gave up does not). */
	uint32_t dmabuf_asked, dmabuf_answered;
};

/* A get_dmabuf call, waiting on its caller's stack. */
struct pxcl_dmabuf_wait {
	struct wl_list link;		/* object->dmabuf_waits */
	uint32_t seq;			/* its request's number */
	bool done;
	int result;
	struct pixcache_dmabuf dmabuf;
};

/* A removal, list or statistics request, waited for on the caller's stack. */
struct pxcl_side_op {
	struct pixcache_client *client;
	bool done;
	int result;
	uint32_t next;			/* a listing's next page, 0: none */
	struct wl_array entries;	/* struct pixcache_entry_info, listed */
	struct pixcache_client_stats *stats;
};

struct pixcache_client {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* anything answered or changed */
	atomic_int refs;		/* the caller's, plus each pixmap's */
	bool destroyed;
	struct pixcache_client_options options;

	struct wl_display *display;
	bool own_display;
	char *socket_name;
	struct wl_event_queue *queue;
	struct wl_display *wrapper;	/* the display, on our queue */
	struct wl_registry *registry;
	uint32_t global;		/* the manager's global, if announced */
	uint32_t global_version;	/* its version */
	uint32_t manager_name;		/* the global bound, while bound */
	struct pixcache_manager_v1 *manager;
	struct pixcache_batch_v1 *batch;
	uint64_t instance;
	uint32_t refusal;
	bool broken;			/* the connection is dead */
	bool stale;			/* the manager's state is to be let go */
	bool closing;			/* destroy waits for calls to leave */
	bool silent;			/* going: destroy proxies unannounced */
	uint32_t calls;			/* public calls in flight */
	uint32_t readers;		/* threads reading the display now */

	struct wl_list realms;		/* struct pxcl_realm */
	struct wl_list pools;		/* struct pxcl_pool */
	struct wl_list pixmaps;		/* every live pixmap */
	struct wl_list outstanding;	/* struct pxcl_request */
	struct wl_list completed;	/* async requests to call back */
	struct wl_list fills;		/* async uploads with a target */
	struct wl_list claims;		/* struct pxcl_claim */
	struct wl_list staged;		/* async uploads for the next staging */
	/* Finds: groups by number, leases to release, pixmaps by lease. */
	struct pxcl_find_group **groups;
	uint32_t group_mask;
	uint32_t next_group;
	uint32_t *releases;
	uint32_t nreleases, releases_cap;
	uint32_t noutstanding;
	uint32_t queued;		/* sent since the last commit */
	uint32_t unflushed;		/* requests since the last flush */

	/* The local map. */
	struct pxcl_entry **buckets;
	uint32_t nbuckets;
	uint32_t bucket_bits;		/* log2(nbuckets) */
	uint32_t nentries;
	struct wl_list lru;
	uint64_t hash_key[2];

	uint32_t usage[2 * PXCL_USAGE_PAIRS];
	uint32_t nusage;		/* pairs */

	uint32_t serial;		/* of the last commit */
	uint32_t commits;		/* usage reports sent, for entry->noted */
	struct pxcl_realm *last_realm;	/* the realm of the last local hit */
	uint32_t done_serial;		/* of the last done */

	pthread_t thread;
	bool thread_running;
	bool stopping;
	int wake[2];			/* a pipe that stops the thread's poll */

	struct pixcache_client_usage stats;
	uint32_t leases;
};

/* ---- client.c ---- */

/*
 * Connection-break injection, for the tests: every send, flush and read
 * asks fail(data, point) first ("send", "flush", "read"); when it says
 * so, the socket is shut down both ways, as a vanished peer leaves it,
 * and the step fails with -error (0: a read runs and finds the end of
 * the file, a write fails EPIPE).
 */
struct pxcl_io_breaks {
	bool (*fail)(void *data, const char *point);
	void *data;
	int error;
};
extern struct pxcl_io_breaks pxcl_io_breaks;
/*
 * Whether a request that makes an object gets no proxy: libwayland returns
 * NULL, and sends nothing, when it cannot allocate one. The test hook's
 * point "proxy" makes it so; every such request asks this first and
 * treats NULL as -ENOMEM.
 */
bool pxcl_proxy_fails(void);

/* Tears the manager's state down if stale and no call is in flight. */
void pxcl_settle(struct pixcache_client *client);
/* The last call left: settles, and wakes pixcache_client_destroy(). */
void pxcl_last_call_left(struct pixcache_client *client);

/*
 * Every public function that touches the library's state runs between
 * these: the lock, and the count of calls in flight. Inline, and nothing
 * but counting when all is well: a local hit runs between them.
 */
static inline void
pxcl_enter(struct pixcache_client *client)
{
	pthread_mutex_lock(&client->lock);
	if (client->stale) {
		pxcl_settle(client);
	}
	client->calls++;
}

static inline void
pxcl_leave(struct pixcache_client *client)
{
	if (--client->calls == 0 && (client->stale || client->closing)) {
		pxcl_last_call_left(client);
	}
	pthread_mutex_unlock(&client->lock);
}
/* -ECONNRESET once a break or the manager's departure is noted, else 0. */
int pxcl_lost(const struct pixcache_client *client);

struct timespec pxcl_deadline_after(int ms);
int pxcl_remaining_ms(const struct timespec *deadline);
/* Waits until *flag, the deadline or a break; lock held. */
int pxcl_wait_flag(struct pixcache_client *client, const bool *flag,
	const struct timespec *deadline);

/* Makes sure the manager is bound and current; lock held. */
int pxcl_connect_manager(struct pixcache_client *client);
/* Reads once and dispatches the library's queue; lock held, dropped while
 * it reads. Returns 0 or a negative errno (the connection is broken). */
int pxcl_wait_once(struct pixcache_client *client, int timeout_ms);
/* Sends what is queued and asks for done; lock held. */
int pxcl_commit(struct pixcache_client *client);
/* Sends the usage noted so far in one used request; lock held. */
int pxcl_send_usage(struct pixcache_client *client);
typedef void (*pxcl_send_array_fn)(struct pixcache_batch_v1 *batch,
	struct wl_array *array);
/*
 * Sends n words in one request of the library's batch (used, release):
 * nearly 4 KiB at most, so into an empty buffer, flushed first. Lock held.
 */
int pxcl_send_words(struct pixcache_client *client, pxcl_send_array_fn send,
	uint32_t *words, uint32_t n);
/*
 * Counts a request marshalled; every PXCL_FLUSH_EVERY (or when force)
 * flushes, waiting for room in the socket. Lock held.
 */
int pxcl_flush_some(struct pixcache_client *client, bool force);
/* Waits until done for the last commit came, or timeout; lock held. */
int pxcl_wait_done(struct pixcache_client *client);
/* A read, write or dispatch failed: noted, see "Peer loss"; lock held. */
void pxcl_connection_broke(struct pixcache_client *client);
void pxcl_client_unref(struct pixcache_client *client);

/* ---- dispatch.c ---- */

/* Gives proxy a dispatcher for its kind, and object as its user data. */
void pxcl_proxy_bind(struct wl_proxy *proxy, enum pxcl_kind_of_proxy kind,
	void *object);
/* Makes proxy inert: later events find no object. Lock held. */
void pxcl_proxy_orphan(struct wl_proxy *proxy);
/*
 * Makes proxy inert and destroys it: with its destroy request, or
 * without a word when the connection goes anyway (client->silent).
 */
void pxcl_proxy_release(struct pixcache_client *client,
	struct wl_proxy *proxy);
/* Whether every event of kind's interface is decoded, and (but for
 * wl_callback) destroy is its request 0, as pxcl_proxy_release() sends. */
bool pxcl_kind_decoded(enum pxcl_kind_of_proxy kind);

/*
 * Each kind's handlers, by name: data is the proxy's object, never NULL,
 * and the lock is held.
 */
extern const struct wl_callback_listener pxcl_sync_events;
extern const struct pixcache_realm_v1_listener pxcl_realm_events;
extern const struct pixcache_pool_v1_listener pxcl_pool_events;
extern const struct pixcache_pixmap_v1_listener pxcl_pixmap_events;
extern const struct pixcache_upload_v1_listener pxcl_upload_events;
extern const struct pixcache_removal_v1_listener pxcl_removal_events;
extern const struct pixcache_batch_v1_listener pxcl_side_batch_events;

/*
 * A dmabuf (dmabuf non-NULL) or failed event answered the oldest
 * get_dmabuf of a lease's object. False if no caller waits for it (the
 * caller closes the fd). Lock held.
 */
bool pxcl_dmabuf_answered(struct pxcl_pixmap_object *object, int result,
	const struct pixcache_dmabuf *dmabuf);
/* The object goes: its waiting calls end with -ECONNRESET. Lock held. */
void pxcl_dmabuf_end(struct pxcl_pixmap_object *object);

/* ---- names.c ---- */

uint64_t pxcl_name_hash(struct pixcache_client *client,
	const struct pxcl_realm *realm, const char *name, size_t len);
struct pxcl_entry *pxcl_names_find(struct pixcache_client *client,
	const struct pxcl_realm *realm, const char *name, size_t len,
	uint64_t hash);
/* Puts pixmap in the map (taking a reference), trimming the LRU. */
void pxcl_names_insert(struct pixcache_client *client, struct pxcl_realm *realm,
	const char *name, struct pixcache_pixmap *pixmap);
void pxcl_names_remove(struct pixcache_client *client,
	struct pxcl_entry *entry);
void pxcl_names_clear(struct pixcache_client *client);
void pxcl_names_finish(struct pixcache_client *client);

/*
 * The bucket of a hash among 2^bits: its top bits. The hash is a multiply
 * last, which carries every bit of the name upwards only: low bits would
 * never see a name's last bytes ("16@1" and "24@1" would share a bucket).
 */
static inline uint32_t
pxcl_bucket(uint64_t hash, uint32_t bits)
{
	/* bits >= 1: a map with buckets has MIN_BUCKETS at least. */
	return (uint32_t)(hash >> (64 - bits));
}

/* ---- find.c ---- */

struct pxcl_find_group;
int pxcl_finds_init(struct pixcache_client *client);
void pxcl_finds_finish(struct pixcache_client *client);
/* The session is gone: its leases and releases with it. Lock held. */
void pxcl_finds_forget(struct pixcache_client *client);
/* Sends finds for the lookups reqs (new, with names), and tracks them. */
int pxcl_send_finds(struct pixcache_client *client, struct pxcl_realm *realm,
	struct pxcl_request **reqs, unsigned count);
/* A find's request completes or is given up: it leaves its group and
 * releases a lease it waited with. */
void pxcl_find_abandon(struct pxcl_request *req);
/* Queues a lease's release, sent with the next commit. */
void pxcl_lease_release(struct pixcache_client *client, uint32_t number);
int pxcl_send_releases(struct pixcache_client *client);
void pxcl_handle_found(struct pixcache_client *client,
	const struct wl_array *records);

/* ---- request.c: lookups ---- */

/* A key from the six words the wire carries it in. */
struct pixcache_key pxcl_key_from_wire(uint32_t instance_hi,
	uint32_t instance_lo, uint32_t slot, uint32_t generation,
	uint32_t tag_hi, uint32_t tag_lo);
/* A lookup's answer came: pixmap is the caller's now. */
void pxcl_answered(struct pxcl_request *req, struct pixcache_pixmap *pixmap);
/* Asks again for req's name with a pixmap object. */
void pxcl_lookup_again(struct pxcl_request *req);
/* Makes a pixmap object inert, destroys it and frees its user data. */
void pxcl_pixmap_object_end(struct pixcache_client *client,
	struct wl_proxy *proxy);
/* The lookup claimed its name: kept, with its object or find's lease. */
void pxcl_claim_keep(struct pxcl_request *req, struct wl_proxy *proxy,
	uint32_t lease_number);
/* Ends the claim of name in realm, if held: true if it was. Lock held. */
bool pxcl_claim_drop(struct pixcache_client *client, struct pxcl_realm *realm,
	const char *name);
/* Ends every claim. Lock held. */
void pxcl_claims_clear(struct pixcache_client *client);

/* ---- pixmap.c ---- */

struct pxcl_realm *pxcl_realm_get(struct pixcache_client *client,
	const char *name);
void pxcl_realm_destroy(struct pxcl_realm *realm);
/* Whether the pixmap may be served as a hit now. */
bool pxcl_pixmap_current(const struct pixcache_pixmap *pixmap);
/* Maps a pool sent with fd, after checking its seals and size. */
struct pxcl_pool *pxcl_pool_create(struct pixcache_client *client,
	struct pixcache_pool_v1 *proxy, int fd, uint32_t size, uint32_t number);
void pxcl_pool_unref(struct pxcl_pool *pool);
void pxcl_pool_forget(struct pxcl_pool *pool);
/* A pixmap over a pool's bytes, or over a buffer of its own (fd). */
struct pixcache_pixmap *pxcl_pixmap_from_pool(struct pixcache_client *client,
	struct pixcache_pixmap_v1 *lease, struct pxcl_pool *pool,
	uint32_t offset, uint32_t width, uint32_t height, uint32_t stride,
	uint32_t format, int *error);
struct pixcache_pixmap *pxcl_pixmap_from_fd(struct pixcache_client *client,
	struct pixcache_pixmap_v1 *lease, int fd, uint32_t width,
	uint32_t height, uint32_t stride, uint32_t format, int *error);
/* Drops a reference with client->lock held (never the client's last). */
void pxcl_pixmap_unref_locked(struct pixcache_pixmap *pixmap);
/* Releases the lease of every live pixmap; they keep their bytes. */
void pxcl_pixmaps_detach(struct pixcache_client *client);
/* Checks width, height, stride and format of an answer. */
bool pxcl_layout_ok(uint32_t width, uint32_t height, uint32_t stride,
	uint32_t format, uint64_t *bytes);

/* ---- request.c ---- */

void pxcl_requests_fail_all(struct pixcache_client *client, int error);
extern const struct pixcache_batch_v1_listener pxcl_batch_listener;
/*
 * A batch's done with a token: everything sent before reached us; says so
 * (ack), so that fds keep coming. True if it did. Lock held.
 */
bool pxcl_ack(struct pixcache_client *client, uint32_t token_hi,
	uint32_t token_lo);
int pxcl_check_name(const char *name);
struct pxcl_request *pxcl_request_new(struct pixcache_client *client,
	enum pxcl_kind kind, struct pxcl_realm *realm, const char *name);
/* Tracks a request sent on req->proxy, bound already. */
void pxcl_request_sent(struct pxcl_request *req);
/* The request has its answer; drops its proxy on failure. Lock held. */
void pxcl_request_complete(struct pxcl_request *req, int result);
void pxcl_request_free(struct pxcl_request *req);
/*
 * Fills the targets of asynchronous uploads and runs the callbacks of
 * completed asynchronous requests; lock not held.
 */
void pxcl_run_completions(struct pixcache_client *client);
/* Room for count more requests, waiting for answers if need be. */
int pxcl_make_room(struct pixcache_client *client, uint32_t count);
/*
 * The manager bound and room for one more request: waited for (blocking
 * calls) or -EBUSY (asynchronous ones). Lock held.
 */
int pxcl_ready(struct pixcache_client *client, bool wait);

/* ---- upload.c ---- */

/* Fills the next asynchronous upload's target, dropping the lock while it
 * does; false if none. Lock held, in a call. */
bool pxcl_fill_one(struct pixcache_client *client);
/* Sends the staged uploads, in buffers of their own. Lock held. */
int pxcl_send_staged(struct pixcache_client *client);

#endif
