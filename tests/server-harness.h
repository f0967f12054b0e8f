/*
 * A manager and its clients in one process: the server is a wl_display
 * with the manager, each client a libwayland-client display on one end of
 * a socketpair. Roundtrips pump both sides, so a test reads like a
 * conversation. Raw messages let a test be a client libwayland would not
 * be.
 */

#ifndef PIXCACHE_SERVER_HARNESS_H
#define PIXCACHE_SERVER_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <wayland-client-core.h>
#include <wayland-server-core.h>

#include "pixcache-server.h"
#include "pixcache-v1-client-protocol.h"

struct th_server {
	struct wl_display *display;
	struct pixcache_manager *manager;
	/* Fault injection: fail the points named, or the nth point. */
	const char *fail_point;		/* NULL: any point counts */
	long fail_at;			/* 0: none */
	bool fail_rest;
	long points_seen;
	long failures;
	char trace[64][32];		/* the points seen, while tracing */
	int ntrace;
	bool tracing;
};

struct th_client {
	struct th_server *server;
	struct wl_display *display;
	struct wl_registry *registry;
	struct pixcache_manager_v1 *manager;
	struct wl_client *server_client;
	uint32_t global;		/* the manager's global */
	bool session;			/* th_session(): shares a display */
	uint64_t instance;
	uint32_t formats[8];
	int nformats;
	uint32_t limits[6];
	uint32_t refused;
	uint64_t last_token;
	struct th_pool *pools;		/* received, closed on disconnect */
};

struct th_pool {
	struct th_pool *next;
	struct pixcache_pool_v1 *proxy;
	int fd;
	uint32_t size;
	uint32_t number;		/* how found records name it */
	bool retired;
	bool claimed;			/* a buffer_pool named it */
};

/* Answers on a pixmap object, gathered by th_pixmap_new(). */
struct th_pixmap {
	struct th_client *client;
	struct pixcache_pixmap_v1 *proxy;
	bool got_key, missing, pending, evicted, buffer;
	bool claimed;			/* holds the name's claim */
	uint32_t failed;
	uint32_t key[6];
	struct pixcache_pool_v1 *pool;	/* named by buffer_pool */
	int pool_fd;			/* the pool's, if it came for this */
	uint32_t pool_size;
	uint32_t offset, width, height, stride, format;
	int fd;				/* from buffer_fd */
	int events;
	/* The last dmabuf event's, fd closed with the pixmap. */
	int dmabuf_fd;
	int dmabufs;			/* dmabuf events */
	uint32_t dmabuf_offset, dmabuf_stride, dmabuf_format;
	uint64_t dmabuf_modifier;
};

struct th_upload {
	struct pixcache_upload_v1 *proxy;
	int fd;
	uint32_t stride, size;
	uint32_t failed;
	bool stored;
	uint32_t key[6];
};

struct th_realm {
	struct pixcache_realm_v1 *proxy;
	uint32_t access;
	uint32_t denied;
	int table_fd;
	uint32_t capacity;
};

/** A server with config (NULL: test defaults) and policy (NULL: default). */
struct th_server *th_server_create(const struct pixcache_config *config,
	const struct pixcache_policy *policy);
void th_server_destroy(struct th_server *server);
/** The test defaults: small limits, so tests reach them. */
void th_config(struct pixcache_config *config);

/** A client connected and bound to the manager, after a roundtrip. */
struct th_client *th_client_connect(struct th_server *server);
/** As th_client_connect(), but the client may have died binding. */
struct th_client *th_client_connect_unchecked(struct th_server *server);
/** Whether the client is still connected (no protocol error). */
bool th_alive(struct th_client *client);
/** Disconnects the client (its server side goes with it). */
void th_client_disconnect(struct th_client *client);
/**
 * Another session on client's connection: a manager object of its own,
 * bound and greeted (or refused). Used like a client; ended alone by
 * th_session_end().
 */
struct th_client *th_session(struct th_client *client);
void th_session_end(struct th_client *session);

/**
 * Pumps the server and every client until client's sync returns. Returns
 * false if the client died of a protocol error (see
 * th_expect_protocol_error).
 */
bool th_roundtrip(struct th_client *client);
/** The manager's statistics, once its loop has run once more. */
struct pixcache_stats th_server_stats(struct th_server *server);
/** Runs the server's loop once, without waiting. */
void th_server_dispatch(struct th_server *server);
/** A protocol object's id: what a protocol error on it names. */
uint32_t th_id(void *proxy);
/**
 * Roundtrips client, which must die of exactly this protocol error: code,
 * posted on the object id of interface. Fails the test, saying what was
 * expected and what came, otherwise.
 */
void th_expect_protocol_error(struct th_client *client,
	const struct wl_interface *interface, uint32_t id, uint32_t code);

struct th_realm *th_realm_get(struct th_client *client, const char *name);
void th_realm_destroy(struct th_realm *realm);
/* What a batch received besides done. */
#define TH_RECORDS 256

struct th_batch_state {
	struct th_client *client;
	uint32_t serial;
	uint64_t token;
	int entries;
	char names[32][64];		/* the first entries' names */
	bool got_stats;
	uint32_t stats[15];
	int listed;			/* listed events */
	uint32_t next;			/* the last one's */
	/* Records of found, in order of arrival. */
	uint32_t records[TH_RECORDS][13];
	int nrecords;
	int found_events;
};

struct pixcache_batch_v1 *th_batch(struct th_client *client);
void th_batch_destroy(struct pixcache_batch_v1 *batch);
static inline struct th_batch_state *
th_batch_state(struct pixcache_batch_v1 *batch)
{
	return pixcache_batch_v1_get_user_data(batch);
}
/** Sends a find for names[0..n) of realm, numbered from first. */
void th_find(struct pixcache_batch_v1 *batch, struct th_realm *realm,
	uint32_t first, const char *const *names, int n);
/** The last record of found for the name numbered number, or NULL. */
const uint32_t *th_record(struct pixcache_batch_v1 *batch, uint32_t number);
/** Releases one lease of find. */
void th_release(struct pixcache_batch_v1 *batch, uint32_t lease);
/** Removes name; returns 1 removed, 0 missing, or -failure. */
int th_remove(struct th_client *client, struct th_realm *realm,
	const char *name);
/**
 * Commits the batch and acknowledges its done, after a roundtrip. Returns
 * false if the client died meanwhile.
 */
bool th_commit(struct th_client *client, struct pixcache_batch_v1 *batch);
/** Acknowledges a done token (pixcache_manager_v1.ack). */
void th_ack(struct th_client *client, uint64_t token);

struct th_pixmap *th_lookup(struct th_client *client,
	struct pixcache_batch_v1 *batch, struct th_realm *realm,
	const char *name);
/** th_lookup() through a fresh batch of client's, committed and gone. */
struct th_pixmap *th_lookup_now(struct th_client *client,
	struct th_realm *realm, const char *name);
struct th_pixmap *th_lookup_key(struct th_client *client,
	struct pixcache_batch_v1 *batch, const uint32_t key[6]);
void th_pixmap_destroy(struct th_pixmap *pixmap);
/** Frees the client's side only: the server keeps the lease. */
void th_pixmap_forget(struct th_pixmap *pixmap);

struct th_upload *th_upload(struct th_client *client,
	struct pixcache_batch_v1 *batch, struct th_realm *realm,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	uint32_t flags);
/** Writes the target with a pattern from seed, unmaps, seals WRITE. */
void th_upload_fill(struct th_upload *upload, uint32_t seed);
/** An upload of the pixmap at offset of a staging buffer. */
struct th_upload *th_upload_staged(struct th_client *client,
	struct pixcache_staging_v1 *staging, struct th_realm *realm,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	uint32_t offset);
/** An upload of a dma-buf's pixels (answered once the batch commits). */
struct th_upload *th_upload_dmabuf(struct th_client *client,
	struct pixcache_batch_v1 *batch, struct th_realm *realm,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	int fd, uint32_t offset, uint32_t stride, uint64_t modifier);
/**
 * Runs both sides until the upload is answered (stored or failed): a
 * dma-buf's is answered once the manager's reader has read it. False if
 * the client died, or after 20 s.
 */
bool th_upload_wait(struct th_client *client, struct th_upload *upload);
/** The bytes a filled upload of seed holds, and a check of them. */
void th_pattern_fill(uint8_t *dst, size_t n, uint32_t seed);
bool th_pattern_is(const uint8_t *p, size_t n, uint32_t seed);
void th_upload_destroy(struct th_upload *upload);
/**
 * A whole upload: start, fill, commit, roundtrip. Returns the upload
 * (stored, or failed) for the caller to check and destroy.
 */
struct th_upload *th_put(struct th_client *client, struct th_realm *realm,
	const char *name, uint32_t width, uint32_t height, uint32_t seed);

/** The bytes of a pixmap, mapped as a client would: read-only, private. */
const uint8_t *th_pixmap_map(struct th_pixmap *pixmap, size_t *size);
void th_pixmap_unmap(const uint8_t *data, size_t size);
/** Whether the pixmap holds the pattern th_upload_fill() wrote for seed. */
bool th_pixmap_has_pattern(struct th_pixmap *pixmap, uint32_t seed);

/** Sends a raw request: object id, opcode, 32-bit words, file descriptors. */
void th_send_raw(struct th_client *client, uint32_t id, uint16_t opcode,
	const uint32_t *words, int nwords, const int *fds, int nfds);

/** Open file descriptors of the process. */
int th_count_fds(void);

/*
 * The process's fds against what the manager reports holding and the
 * pools a client keeps mapped: after a client leaves, what remains must
 * be exactly the change in those two.
 */
struct th_fds {
	int process;
	uint32_t manager;
	int pools;
};

struct th_fds th_fds_now(struct th_server *server, struct th_client *keep);
void th_assert_fds(const struct th_fds *before, struct th_server *server,
	struct th_client *keep);

#endif
