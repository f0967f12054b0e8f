/*
 * The manager's structures, shared by its modules. A request of
 * pixcache_X_v1 is handled in X.c, whose object is a struct pxc_X_v1:
 *
 *   manager.c      pixcache_manager_v1 (a session: struct pxc_manager_v1),
 *                  the global, its lifetime, allocation, objects' creation
 *   realm.c        pixcache_realm_v1, and the rule of every realm request
 *   pool.c         pixcache_pool_v1
 *   batch.c        pixcache_batch_v1: every request of a batch
 *   pixmap.c       pixcache_pixmap_v1: lookups' answers, leases
 *   upload.c       pixcache_upload_v1: target, commit, store
 *   staging.c      pixcache_staging_v1: many uploads from one client buffer
 *   removal.c      pixcache_removal_v1
 * and what no single interface owns:
 *   found.c        leases of finds, numbered per batch; records of found
 *   fill.c         names being filled: claims, uploads, their waiters
 *   buffer.c       a cached pixmap's bytes (the core's payload)
 *   realm-shm.c    a realm's shared memory: generation table, pools
 *   connection.c   what a wl_client's sessions share: fds in flight, limits
 *   policy.c       the compositor's policy and the rules that ask it
 *   config.c       defaults and limits
 *   image.c        the compositor's own inserts and lookups
 *   drm.c          the DRM device: pixmaps' dma-bufs (dumb buffers)
 * Below them, knowing nothing of Wayland: core/ (names, entries, keys,
 * eviction) and shm/ (pools' space).
 *
 * Failures: what can fail for a client's request returns the protocol's
 * failure reason (uint32_t, 0: none); the core and the system return a
 * negative errno, which pxc_failure_of() (common/failure.c) turns into a
 * reason where it meets a request.
 *
 * Threads: everything that touches a wl_resource or a client runs on the
 * event loop's thread. The core is thread-safe; pool space is guarded by
 * shm_lock and the realm list by realms_lock, because the compositor may
 * insert and look up from any thread. The core's leave callback may run
 * on any thread: it queues the pixmap for the event loop, which tells the
 * leases.
 */

#ifndef PIXCACHE_MANAGER_PRIVATE_H
#define PIXCACHE_MANAGER_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/types.h>

#include "core.h"
#include "failure.h"
#include "faults.h"
#include "format.h"
#include "name.h"
#include "pixcache-server.h"
#include "pixcache-v1-server-protocol.h"
#include "pool.h"
#include "random.h"
#include "wire.h"

#define PXC_ACKS 32

struct pixcache_manager {
	struct wl_display *display;
	struct wl_event_loop *loop;
	struct wl_global *global;
	struct pixcache_config config;
	struct pixcache_policy policy;
	struct pxc_faults faults;
	struct pxc_cache *cache;
	pthread_t loop_thread;

	pthread_mutex_t realms_lock;
	struct wl_list realms;		/* struct pxc_realm_shm */
	pthread_mutex_t shm_lock;	/* pools: lists, space, counts */
	uint32_t next_pool_id;
	uint32_t pools;

	struct wl_list connections;	/* struct pxc_connection */
	uint32_t uploads;		/* in flight, every connection's */
	uint64_t upload_bytes;		/* their targets' bytes */
	uint32_t copies;		/* shared copies alive; loop thread */
	struct wl_list clients;		/* struct pxc_manager_v1: sessions */
	uint64_t next_owner;
	struct pxc_fills *fills;	/* names claimed or uploading */
	struct wl_list deferred;	/* struct pxc_batch_v1 with records */
	struct wl_event_source *flush_idle; /* sends them; once queued */

	/* Pixmaps whose entry left the index, for the loop to tell leases. */
	pthread_mutex_t notify_lock;
	struct pxc_buffer *notify;
	int notify_fd;			/* eventfd waking the loop */
	struct wl_event_source *notify_source;
	/* Never armed: makes the loop's one timerfd (libwayland's, shared by
	 * every timer, kept once made) exist from the start, so the first
	 * upload's timer adds no fd. */
	struct wl_event_source *timers;

	struct pxc_random rng;		/* done tokens; loop thread only */
	atomic_uint pixmaps;		/* alive */
	atomic_uint pixmap_fds;		/* own buffers, copies, dmabufs */
	/* What those, targets and the dma-buf reader may hold at once. */
	uint32_t fd_room;
	uint32_t stagings;		/* staging buffers mapped, everyone's */
	uint32_t dmabuf_uploads;	/* in flight, reading a dma-buf */
	/* The thread that reads dma-bufs offered as uploads, once one was. */
	struct pxc_dmabuf_reader *dmabuf_reader;
	struct wl_event_source *dmabuf_source;
	atomic_uint dmabufs;		/* pixmaps' dma-bufs alive */
	int drm_fd;			/* the DRM device's dup, or -1 */
	atomic_uint_least64_t copy_bytes; /* in copies for other realms */
	/* Bytes beside the entries (copies, dma-bufs), charged to the
	 * budget: the cache's own is config.budget less these. Loop. */
	uint64_t side_bytes;

	struct wl_listener display_destroy;
	struct {
		struct wl_signal destroy;
		struct wl_signal refused;	/* struct pixcache_refusal */
	} events;
};

/* A realm's shared memory: its generation table, its pools. */
struct pxc_realm_shm {
	struct wl_list link;		/* manager->realms */
	struct pixcache_manager *manager;
	char *name;
	struct pxc_realm *core;
	int table_fd;
	uint32_t *table;		/* writable view, shared with readers */
	uint64_t table_size;
	struct wl_list pools;		/* struct pxc_pool, under shm_lock */
};

/*
 * A pixmap's copy in a dumb buffer of the DRM device, exported. The
 * manager keeps no GEM handle: its fd may be the compositor's own, one
 * handle namespace, where a handle kept could be closed, reused and then
 * destroyed under the compositor. The dma-buf holds the buffer.
 */
struct pxc_dmabuf {
	int fd;				/* the dma-buf, or -1: none */
	uint32_t stride;		/* the device's pitch */
	uint64_t size;			/* bytes of GPU memory */
};

/* A cached pixmap's bytes, in a pool or a memfd of its own: the core's
 * payload. */
struct pxc_buffer {
	struct pixcache_manager *manager;
	struct pxc_realm_shm *realm;
	uint32_t width, height, stride, format, size;
	struct pxc_pool *pool;		/* NULL: a buffer of its own */
	uint32_t offset;
	int fd;				/* own buffer, else -1 */
	/* A sealed copy for readers of other realms, made by the first and
	 * shared by every lease using it, closed with the last (loop thread,
	 * under a hold), else -1. */
	int copy_fd;
	uint32_t copy_users;
	/* Its dma-buf, made by the first lease that asks and shared by
	 * every lease using it, closed with the last (loop thread, under a
	 * hold): bounded by leases, as copies are. */
	struct pxc_dmabuf dmabuf;
	uint32_t dmabuf_users;
	const void *map;		/* the manager's read view of fd */
	pthread_mutex_t map_lock;
	/* The core's reference, plus one per queued notification. */
	atomic_int refs;
	struct pxc_buffer *notify_next;
	struct wl_list leases;		/* struct pxc_pixmap_v1; loop thread */
};

/*
 * A client connection (wl_client) that bound the manager: what its
 * sessions share, and what the per-client limits count. On a desktop every
 * application has the same uid, so limits are per connection: one client
 * binding the global many times gets no more than one. It lives as long
 * as the wl_client, so ending every session and binding again resets
 * nothing (the fds it was sent are still in its socket).
 */
struct pxc_connection {
	struct wl_list link;		/* manager->connections */
	struct pixcache_manager *manager;
	struct wl_client *client;
	struct wl_listener destroy;
	uid_t uid;
	uint64_t owner;			/* stands for the wl_client */
	struct wl_list sessions;	/* struct pxc_manager_v1 */
	uint32_t nsessions;
	uint32_t uploads_in_flight;
	uint64_t upload_bytes;		/* their targets' bytes */
	/* Staging buffers mapped: each is a mapping of the manager's, and
	 * the process has a bounded count of them (vm.max_map_count). */
	uint32_t stagings;
	uint32_t holding;		/* leases holding a pixmap */
	uint32_t copies;		/* of them, holding a shared copy */
	uint32_t dmabufs;		/* of them, using a dma-buf */
	uint32_t claims;		/* names it holds the claim of */
	uint32_t found_leases;		/* numbered leases of finds */
	uint32_t pixmap_objects;	/* with state: twice max_leases */
	uint32_t objects;		/* realms and batches: max_objects */
	uint32_t found_slots;		/* numbers its batches have room for */
	/* File descriptors sent, and acknowledged through done tokens. */
	uint64_t fds_sent;
	uint64_t fds_acked;
	struct {
		uint64_t token;
		uint64_t fds_sent;
	} acks[PXC_ACKS];
	unsigned next_ack;
};

/* User data of a pixcache_manager_v1: a session, what the object made. */
struct pxc_manager_v1 {
	struct wl_list link;		/* manager->clients */
	struct wl_list connection_link;	/* conn->sessions */
	struct pixcache_manager *manager;
	struct pxc_connection *conn;	/* limits and owner, shared */
	struct wl_client *client;
	struct wl_resource *resource;	/* the manager object; NULL: gone */
	struct wl_list batches;		/* batch objects */
	struct wl_list realms;		/* struct pxc_realm_v1 */
	struct wl_list pools;		/* struct pxc_pool_v1 */
	struct wl_list uploads;		/* struct pxc_upload_v1 */
	struct wl_list leases;		/* struct pxc_pixmap_v1, all states */
	struct wl_list stagings;	/* struct pxc_staging_v1 */
};

/* User data of a pixcache_staging_v1: the client's buffer, mapped. */
struct pxc_staging_v1 {
	struct wl_resource *resource;
	struct pxc_manager_v1 *client;
	struct wl_list link;		/* client->stagings */
	const uint8_t *map;		/* NULL if failed */
	uint32_t size;
	uint32_t failure;		/* every upload fails with it; 0: none */
};

/*
 * User data of a pixcache_batch_v1: and the leases its finds made, by
 * number (number - 1 indexes slots). A slot is 0 (free), a struct
 * pxc_pixmap_v1 * (claiming, waiting, or its wait ended), or, for a lease
 * that holds a pixmap, the core's hold with its low bit set: 8 bytes a
 * lease, for the thousands an application holds. Such a lease needs no
 * more: its client learns of evictions from the realm's generation table
 * (finds are served from pools only to clients that receive it).
 */
struct pxc_batch_v1 {
	struct wl_resource *resource;
	struct pxc_manager_v1 *client;
	struct wl_list link;		/* client->batches */
	uintptr_t *slots;
	uint32_t *free;			/* free numbers, a stack */
	uint32_t nfree;
	uint32_t top;			/* numbers ever given */
	uint32_t cap;
	/*
	 * Records not sent yet: a find's, sent at its end; later answers
	 * (a fill stored, a claim passed on), sent together when the loop
	 * is idle, before the batch's next done, or when full.
	 */
	uint32_t *out;			/* records; NULL: none */
	uint32_t nout, out_cap;		/* out_cap up to PXC_FIND_MAX */
	struct wl_list deferred_link;	/* manager->deferred, while nout */
};

/* Words of a record of pixcache_batch_v1.found. */
#define PXC_RECORD_WORDS 13
/* Names one find may ask for: their records fit one message. */
#define PXC_FIND_MAX 64

/* User data of a pixcache_realm_v1. */
struct pxc_realm_v1 {
	struct wl_resource *resource;
	struct wl_list link;		/* client->realms */
	struct pxc_manager_v1 *client;
	struct pxc_realm_shm *realm;	/* NULL: denied */
	uint32_t access;
	uint32_t denied;		/* failure reason, if denied */
	char name[];			/* as the client asked */
};

/* User data of a pixcache_pool_v1. */
struct pxc_pool_v1 {
	struct wl_resource *resource;
	struct wl_list client_link;	/* client->pools */
	struct wl_list pool_link;	/* pool->resources */
	struct pxc_pool *pool;		/* NULL once retired */
};

/*
 * A lookup, then maybe a lease: the user data of a pixcache_pixmap_v1
 * (resource), or a lease of a batch's find (batch, number), told through
 * records of found.
 */
struct pxc_pixmap_v1 {
	struct wl_resource *resource;
	struct pxc_batch_v1 *batch;
	uint32_t name_number;		/* find's number of the name */
	uint32_t number;		/* the lease's, once given; 0 before */
	struct pxc_manager_v1 *client;
	struct wl_list client_link;	/* client->leases */
	struct pxc_entry *hold;		/* the lease; NULL before or without */
	struct pxc_buffer *buffer;
	struct wl_list pixmap_link;	/* pixmap->leases, while holding */
	bool copy;			/* holds the pixmap's shared copy */
	bool dmabuf;			/* uses the pixmap's dma-buf */
	bool may_fill;			/* its client may upload the name */
	bool table;			/* its client receives the table */
	struct pxc_fill *claim;		/* holds this fill's claim */
	struct pxc_fill *waiting;	/* pending on this fill */
	struct wl_list wait_link;	/* fill->waiters */
};

/*
 * A name on its way into the cache: claimed by a lookup that missed
 * (claimant), then uploaded (upload) by the claimant's connection, or
 * uploaded without a claim. Other lookups of the name wait on it.
 */
struct pxc_fill {
	struct pxc_fill *next;		/* hash chain */
	bool listed;			/* in the manager's table */
	uint64_t hash;
	struct pxc_realm_shm *realm;
	char *name;
	struct pxc_pixmap_v1 *claimant;	/* holds the claim, until it uploads */
	struct wl_event_source *timer;	/* the claim's time */
	struct pxc_upload_v1 *upload;	/* fills it now */
	struct wl_list waiters;		/* struct pxc_pixmap_v1, pending */
};

enum pxc_upload_v1_state {
	PXC_UPLOAD_TARGET = 1,		/* the client writes */
	PXC_UPLOAD_DONE,		/* stored or failed: inert */
};

/* User data of a pixcache_upload_v1. */
struct pxc_upload_v1 {
	struct wl_resource *resource;
	struct pxc_manager_v1 *client;
	struct wl_list client_link;	/* client->uploads */
	struct pxc_fill *fill;		/* its name's, named and in flight */
	struct pxc_realm_shm *realm;
	char *name;			/* NULL: anonymous, else name_buf */
	const struct pxc_format *format;
	uint32_t width, height, stride, size, flags;
	int fd;				/* the target, until the end */
	enum pxc_upload_v1_state state;
	struct wl_event_source *timer;	/* while in flight */
	bool expired;			/* failed for its time: commit ignored */
	struct pxc_dmabuf_job *job;	/* a dma-buf's, while it is read */
	bool from_dmabuf;		/* in flight without a target */
	bool stored;			/* committed, whatever came of it */
	char name_buf[];
};

/* ---- manager.c ---- */

/*
 * pixcache_manager_create() with fault points: faults (NULL: none) decides
 * whether each fallible step fails. The tests' and fuzzers' way in.
 */
struct pixcache_manager *pxc_manager_create_internal(struct wl_display *display,
	const struct pixcache_config *config,
	const struct pixcache_policy *policy, const struct pxc_faults *faults);
/*
 * Announces the manager anew at an older protocol version, for tests of
 * clients meeting an older manager. 0, -EINVAL or -ENOMEM.
 */
int pxc_manager_set_version(struct pixcache_manager *manager,
	uint32_t version);
bool pxc_on_loop_thread(const struct pixcache_manager *manager);
/*
 * Whether the manager may open count more fds for clients' pixmaps (own
 * buffers, copies, dma-bufs, upload targets, dma-bufs being read): they
 * stay within half the process's fd limit, so that no client can make
 * the compositor run out of fds. Loop thread.
 */
bool pxc_manager_may_open_fds(struct pixcache_manager *manager,
	uint32_t count);
/* Tells leases of pixmaps that left, and retires empty pools. Loop only. */
void pxc_manager_settle(struct pixcache_manager *manager);
void *pxc_zalloc(struct pixcache_manager *manager, size_t size);
char *pxc_strdup(struct pixcache_manager *manager, const char *s);
/*
 * Every object the manager makes: id (0: one the server makes) of
 * interface at version, for wl_client, with impl and destroy, and
 * state_size bytes of zeroed state as its user data (0: none yet).
 * manager NULL makes a refused client's object: inert, user data NULL. It
 * fails, like an allocation, at the manager's fault points "resource" and
 * "alloc": then a client's object (id not 0) posts no_memory to the
 * client, and NULL comes back.
 */
struct wl_resource *pxc_resource_create(struct pixcache_manager *manager,
	struct wl_client *wl_client, const struct wl_interface *interface,
	uint32_t version, uint32_t id, const void *impl,
	wl_resource_destroy_func_t destroy, size_t state_size);
/*
 * Frees everything of a session and leaves its objects inert. Either the
 * client is going (libwayland destroys its objects after its destroy
 * signal, and their handlers then find nothing), or the session ended, or
 * the manager is going, and the objects stay until the client destroys
 * them.
 */
void pxc_manager_v1_destroy(struct pxc_manager_v1 *client);
/* Tells the refused listeners; realm NULL for the manager itself. */
void pxc_manager_refused(struct pixcache_manager *manager,
	struct wl_client *client, const char *realm, uint32_t reason);

/* ---- config.c ---- */

/* Whether the manager can honour config. */
bool pxc_config_valid(const struct pixcache_config *config);

/* ---- policy.c ---- */

/* The compositor's policy (given may be NULL), defaults filled in. */
void pxc_policy_init(struct pixcache_policy *policy,
	const struct pixcache_policy *given);
uint32_t pxc_policy_access(struct pixcache_manager *manager,
	struct wl_client *client, const char *realm);
/*
 * Whether client may replace or remove an entry of realm that owner
 * stored: its own always, another's if the policy says so (by default
 * not). Every replace and remove asks this.
 */
bool pxc_policy_may_replace(struct pixcache_manager *manager,
	struct pxc_manager_v1 *client, const char *realm, uint64_t owner);

/* ---- connection.c ---- */
/* Whether the connection may have one more realm or batch object with
 * state (max_objects). */
bool pxc_connection_may_hold(const struct pxc_connection *conn);

/*
 * The connection of wl_client, made on its first bind: NULL with *refusal
 * set if refused, NULL with *refusal 0 if out of memory.
 */
struct pxc_connection *pxc_connection_get(struct pixcache_manager *manager,
	struct wl_client *wl_client, uint32_t *refusal);
/* Ends every session of the connection, and forgets it. */
void pxc_connection_destroy(struct pxc_connection *conn);
/* The connection of wl_client, if it bound the manager. */
struct pxc_connection *pxc_connection_find(struct pixcache_manager *manager,
	struct wl_client *wl_client);
/* Whether count more file descriptors may go to the client now. */
bool pxc_connection_may_send_fds(struct pxc_connection *conn, uint32_t count);
void pxc_connection_sent_fds(struct pxc_connection *conn, uint32_t count);
/* A done token covering everything sent so far: 64 unpredictable bits. */
uint64_t pxc_connection_done_token(struct pxc_connection *conn);
/* The client read every fd sent before the done that carried token. */
void pxc_connection_ack(struct pxc_connection *conn, uint64_t token);

/* ---- realm-shm.c ---- */

/* The realm called name, created on first use. Any thread. */
int pxc_realm_shm_get(struct pixcache_manager *manager, const char *name,
	struct pxc_realm_shm **out);
void pxc_realm_shm_destroy(struct pxc_realm_shm *realm);
/* Pool space for bytes: an existing pool's, or a new pool's. Any thread. */
int pxc_realm_shm_alloc(struct pxc_realm_shm *realm, uint32_t bytes,
	struct pxc_pool **pool, uint32_t *offset);
void pxc_realm_shm_free(struct pxc_realm_shm *realm, struct pxc_pool *pool,
	uint32_t offset, uint32_t bytes);
/* Retires the realm's empty pools but one. Loop thread only. */
void pxc_realm_shm_retire_pools(struct pxc_realm_shm *realm);

/* ---- realm.c ---- */

/* client is NULL for a refused client's inert manager. */
void pxc_realm_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id,
	const char *name);
/*
 * The rule every request on a realm applies: 0 if realm (NULL: an inert
 * object) is open, grants every bit of access, and name (NULL: none) of
 * len bytes is a valid name; else the failure reason: why the realm was
 * denied, policy, or name.
 */
static inline uint32_t
pxc_realm_v1_check(const struct pxc_realm_v1 *realm, uint32_t access,
	const char *name, size_t len)
{
	if (realm == NULL || realm->realm == NULL) {
		return realm != NULL && realm->denied ? realm->denied :
			PIXCACHE_BATCH_V1_FAILURE_POLICY;
	}
	if ((realm->access & access) != access) {
		return PIXCACHE_BATCH_V1_FAILURE_POLICY;
	}
	if (name != NULL && pxc_name_check(name, len) < 0) {
		return PIXCACHE_BATCH_V1_FAILURE_NAME;
	}
	return 0;
}
struct pxc_realm_v1 *pxc_realm_v1_from_resource(
	struct wl_resource *resource);
/* Frees the state behind a realm object and leaves the object inert. */
void pxc_realm_v1_inert(struct pxc_realm_v1 *realm);

/* ---- buffer.c ---- */

/*
 * Copies height rows of row_bytes from src to dst, each at its own
 * stride: a pixmap between the manager's layout and a GPU buffer's.
 */
static inline void
pxc_copy_rows(uint8_t *dst, size_t dst_stride, const uint8_t *src,
	size_t src_stride, size_t row_bytes, uint32_t height)
{
	for (uint32_t y = 0; y < height; y++) {
		memcpy(dst + y * dst_stride, src + y * src_stride, row_bytes);
	}
}

/*
 * A pixmap of realm for width x height in format, with its memory: pool
 * space when it is small, else a buffer of its own. Returns NULL with
 * errno set.
 */
struct pxc_buffer *pxc_buffer_create(struct pxc_realm_shm *realm,
	const struct pxc_format *format, uint32_t width, uint32_t height);
/* A pixmap whose own buffer is fd, already written and sealed. */
struct pxc_buffer *pxc_buffer_adopt(struct pxc_realm_shm *realm,
	const struct pxc_format *format, uint32_t width, uint32_t height,
	int fd);
/* Frees a pixmap the core never took. */
void pxc_buffer_discard(struct pxc_buffer *buffer);
void pxc_buffer_unref(struct pxc_buffer *buffer);
/* The pixels, read-only; NULL with errno set if they cannot be mapped. */
const void *pxc_buffer_data(struct pxc_buffer *buffer);
/* Where the manager writes the pixels of a new pixmap. */
void *pxc_buffer_write_begin(struct pxc_buffer *buffer);
int pxc_buffer_write_end(struct pxc_buffer *buffer, void *data);
/*
 * The pixmap's sealed copy for readers of other realms, made on first use
 * and shared by every lease on it: one per pixmap, whoever asks and however
 * often, and only while a lease holds it, so copies are bounded by leases
 * and the manager keeps no fd for one nobody holds. The fd stays the
 * pixmap's; the caller's lease takes a use. Loop thread, under a hold.
 * -ENOSPC where the budget has no room for it (it counts there), -EMFILE
 * past max_copies, else -ENOMEM or the like.
 */
int pxc_buffer_shared_copy(struct pxc_buffer *buffer);
/* A lease lets go of the copy: the last closes it. Loop thread. */
void pxc_buffer_copy_unuse(struct pxc_buffer *buffer);
/*
 * The pixmap's dma-buf in *out, made on first use, for a lease that takes
 * a use of it: the failure reason (no_device, format, memory) if it cannot
 * be. Loop thread, under a hold.
 */
uint32_t pxc_buffer_dmabuf(struct pxc_buffer *buffer,
	const struct pxc_dmabuf **out);
/* A lease lets go of the dma-buf: the last closes it. Loop thread. */
void pxc_buffer_dmabuf_unuse(struct pxc_buffer *buffer);
/* The core's callbacks. */
void pxc_buffer_release_cb(void *data, void *payload);
void pxc_buffer_leave_cb(void *data, void *payload, const struct pxc_key *key,
	enum pxc_leave_reason reason);

/* ---- batch.c ---- */

void pxc_batch_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id);
/* Releases the batch's leases and leaves its object inert. */
void pxc_batch_v1_inert(struct pxc_batch_v1 *batch);

/* ---- found.c ---- */

/* Queues a record of found, sent before the loop sleeps (see out). */
void pxc_found_record(struct pxc_batch_v1 *batch,
	const uint32_t record[PXC_RECORD_WORDS]);
/* Sends the records the batch queued, in one found event. */
void pxc_found_flush(struct pxc_batch_v1 *batch);
/* A lease of a find, for the name numbered name_number; NULL if no
 * memory. Its number comes with its first record that needs one. */
struct pxc_pixmap_v1 *pxc_found_lease_create(struct pxc_batch_v1 *batch,
	uint32_t name_number);
/*
 * Makes sure the batch can number one more lease, so that answering
 * cannot fail for it. 0, or -ENOMEM, or -ENOBUFS past the connection's
 * limit.
 */
int pxc_found_reserve(struct pxc_batch_v1 *batch);
/* Frees the batch's numbers and gives their room back: none is held. */
void pxc_found_free_numbers(struct pxc_batch_v1 *batch);
/* Releases the lease numbered number of batch: false if none is. */
bool pxc_found_release(struct pxc_batch_v1 *batch, uint32_t number);
/* A lease of a find that holds its pixmap keeps only its hold. */
void pxc_found_compact(struct pxc_pixmap_v1 *lease);
/* The lease's number, given now if it has none (reserved before). */
uint32_t pxc_found_number(struct pxc_pixmap_v1 *lease);
/* The lease gives its number back (its client released it). */
void pxc_found_unnumber(struct pxc_pixmap_v1 *lease);
/* A record of found for the lease: status and word 2, the rest 0. */
void pxc_found_lease_record(struct pxc_pixmap_v1 *lease, uint32_t status,
	uint32_t word);

/* ---- pixmap.c ---- */

/* Links a new lease, zeroed, to its client: holding nothing yet. */
static inline void
pxc_pixmap_v1_init(struct pxc_pixmap_v1 *lease, struct pxc_manager_v1 *client)
{
	lease->client = client;
	wl_list_init(&lease->pixmap_link);
	wl_list_init(&lease->wait_link);
	wl_list_insert(&client->leases, &lease->client_link);
}
/* A pixmap object; NULL (the client told of no memory) on failure. */
struct pxc_pixmap_v1 *pxc_pixmap_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id);
/* Answers a lookup that found hold: key, then a buffer, or failed. */
void pxc_pixmap_v1_answer(struct pxc_pixmap_v1 *lease, struct pxc_entry *hold,
	const struct pxc_hit *hit, bool own_buffer);
void pxc_pixmap_v1_fail(struct pxc_pixmap_v1 *lease, uint32_t reason);
void pxc_pixmap_v1_missing(struct pxc_pixmap_v1 *lease);
void pxc_pixmap_v1_claimed(struct pxc_pixmap_v1 *lease);
void pxc_pixmap_v1_pending(struct pxc_pixmap_v1 *lease);
/* The entry of pixmap left the cache: tell its leases. */
void pxc_pixmap_v1_evict_all(struct pxc_buffer *buffer);
/* Frees the state behind the object and leaves the object inert. */
void pxc_pixmap_v1_inert(struct pxc_pixmap_v1 *lease);

/* ---- pool.c ---- */

/* A new object of pool for lease's client in *out, sent now through lease.
 * 0, or the failure reason why it cannot be. */
uint32_t pxc_pool_v1_send(struct pxc_pixmap_v1 *lease, struct pxc_pool *pool,
	struct pxc_pool_v1 **out);

/* The client's object of pool in *out, sent now if it has none (inline:
 * every lookup that finds asks). 0, or the failure reason. */
static inline uint32_t
pxc_pool_v1_get(struct pxc_pixmap_v1 *lease, struct pxc_pool *pool,
	struct pxc_pool_v1 **out)
{
	struct pxc_pool_v1 *cp;

	wl_list_for_each(cp, &lease->client->pools, client_link) {
		if (cp->pool == pool) {
			*out = cp;
			return 0;
		}
	}
	return pxc_pool_v1_send(lease, pool, out);
}
/* Tells every pool object of a pool that it is retired. */
void pxc_pool_v1_retire_all(struct pxc_pool *pool);
/* Frees the state behind the object and leaves the object inert. */
void pxc_pool_v1_inert(struct pxc_pool_v1 *pool);

/* ---- upload.c ---- */

/* Whether an upload's flags are known; if not, raises error on resource
 * (the batch or staging object that asked). */
bool pxc_upload_v1_flags_valid(struct wl_resource *resource, uint32_t error,
	uint32_t flags);
/* Starts an upload: checks it, then sends the target, or failed. */
void pxc_upload_v1_start(struct wl_client *wl_client,
	struct pxc_manager_v1 *client,
	uint32_t version, uint32_t id, struct pxc_realm_v1 *realm,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	uint32_t flags);
void pxc_upload_v1_inert(struct pxc_upload_v1 *upload);
/* An upload of the pixmap at offset of staging's buffer: stored at once. */
void pxc_upload_v1_staged(struct wl_client *wl_client,
	struct pxc_staging_v1 *staging,
	uint32_t version, uint32_t id, struct pxc_realm_v1 *cr,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	uint32_t flags, uint32_t offset);

/* A dma-buf of a client's, offered as an upload (batch.c). Closes fd. */
struct pxc_dmabuf_layout {
	uint32_t offset, stride;
	uint64_t modifier;
};
void pxc_upload_v1_from_dmabuf(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id,
	struct pxc_realm_v1 *cr, const char *name, uint32_t width,
	uint32_t height, uint32_t format, uint32_t flags, int fd,
	const struct pxc_dmabuf_layout *layout);
/* The reader's copy of an upload's dma-buf (rows packed, row_bytes each),
 * or the errno that stopped it. */
void pxc_upload_v1_dmabuf_read(void *data, const uint8_t *rows,
	uint32_t row_bytes, int result);

/* ---- dmabuf.c ---- */

struct pxc_dmabuf_job;

/*
 * What the loop checks of a dma-buf offered as an upload, at once: 0, or
 * -EBADF (not a dma-buf), -EINVAL (not linear, a stride shorter than a
 * row, offset and rows past its end).
 */
int pxc_dmabuf_check(int fd, const struct pxc_dmabuf_layout *layout,
	uint32_t row_bytes, uint32_t height);
/*
 * Has the reader thread copy height rows of row_bytes from a dup of fd
 * into a bounce buffer, under DMA_BUF_IOCTL_SYNC (waiting for its fences
 * there, never on the loop); pxc_upload_v1_dmabuf_read(data, ...) follows
 * on the loop. NULL: out of memory. Loop thread.
 */
struct pxc_dmabuf_job *pxc_dmabuf_read_start(struct pixcache_manager *manager,
	int fd, const struct pxc_dmabuf_layout *layout, uint32_t row_bytes,
	uint32_t height, void *data);
/* Nobody waits for the job any more: freed, or, if the reader has it,
 * its result dropped when it comes. Loop. */
void pxc_dmabuf_read_forget(struct pxc_dmabuf_job *job);
/* The fds the reader holds (counted in pixcache_stats.fds). Loop. */
unsigned pxc_dmabuf_reader_fds(const struct pixcache_manager *manager);
/* Lets the reader go; a job stuck on a fence finishes and frees it. */
void pxc_dmabuf_reader_destroy(struct pixcache_manager *manager);

/* ---- removal.c ---- */

/* The removal object id: name removed from realm, or why not, at once. */
void pxc_removal_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id,
	struct pxc_realm_v1 *realm, const char *name);

/* ---- staging.c ---- */

/* Checks and maps the client's buffer fd (closed here, whatever comes),
 * or raises bad_stage on batch. */
void pxc_staging_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client,
	struct wl_resource *batch, uint32_t id, int fd, uint32_t size);
void pxc_staging_v1_inert(struct pxc_staging_v1 *staging);

/* ---- fill.c ---- */

int pxc_fills_create(struct pixcache_manager *manager);
void pxc_fills_destroy(struct pixcache_manager *manager);
/* The fill of name in realm, or NULL. */
struct pxc_fill *pxc_fill_find(struct pxc_realm_shm *realm, const char *name);
/*
 * A lookup of name missed: lease claims it (sent claimed), if its client
 * may upload it and has claims left. False, nothing changed, if not.
 */
bool pxc_fill_claim(struct pxc_realm_shm *realm, const char *name,
	struct pxc_pixmap_v1 *lease);
/* A lookup waits for fill (sent pending), or, its client's claim, is told
 * claimed (waiting for itself would never end). */
void pxc_fill_wait(struct pxc_fill *fill, struct pxc_pixmap_v1 *lease);
/* A waiting lease goes; nothing if it does not wait. */
void pxc_fill_unwait(struct pxc_pixmap_v1 *lease);
/* A claimant's claim ends unfilled: it passes on. Nothing if none. */
void pxc_fill_unclaim(struct pxc_pixmap_v1 *lease);
/*
 * The fill an upload of name by client takes, in *out: the fill of its own
 * claim, or a new one (not in the table until the upload starts). 0, or
 * the failure (busy, memory), changing nothing.
 */
uint32_t pxc_fill_for_upload(struct pxc_realm_shm *realm, const char *name,
	struct pxc_manager_v1 *client, struct pxc_fill **out);
/* Frees a new fill no upload took; accepts NULL and taken fills. */
void pxc_fill_drop(struct pxc_fill *fill);
/* The upload starts: it fills fill, whose claim (if any) ends. */
void pxc_fill_start_upload(struct pxc_fill *fill, struct pxc_upload_v1 *upload);
/* The upload ends: stored with key (waiters get it), or NULL (the claim
 * passes on). Nothing for an upload without a fill. */
void pxc_fill_end_upload(struct pxc_upload_v1 *upload, const struct pxc_key *key);

/* A key as every event carries it: six words, 64-bit fields split. */
struct pxc_key_wire {
	uint32_t instance_hi, instance_lo, slot, generation, tag_hi, tag_lo;
};

static inline struct pxc_key_wire
pxc_key_wire(const struct pxc_key *key)
{
	return (struct pxc_key_wire){
		pxc_wire_hi(key->instance), pxc_wire_lo(key->instance),
		key->slot, key->generation,
		pxc_wire_hi(key->tag), pxc_wire_lo(key->tag),
	};
}

/* ---- drm.c ---- */

/*
 * A dumb buffer of the manager's device holding the width x height 32-bit
 * pixels of data, whose rows are stride bytes apart, exported as a
 * dma-buf, in *out. 0 or a negative errno (-ENODEV without a device),
 * nothing left behind.
 */
int pxc_drm_dmabuf_create(struct pixcache_manager *manager, const void *data,
	uint32_t width, uint32_t height, uint32_t stride,
	struct pxc_dmabuf *out);
/* Closes the dma-buf (the dumb buffer goes with its last user). Any
 * thread. */
void pxc_drm_dmabuf_destroy(struct pixcache_manager *manager,
	struct pxc_dmabuf *dmabuf);

/* ---- image.c ---- */

/* Turns the key of the protocol into the core's and back. */
static inline struct pxc_key
pxc_key_from_public(const struct pixcache_key *key)
{
	return (struct pxc_key){
		key->instance, key->slot, key->generation, key->tag,
	};
}

#endif
