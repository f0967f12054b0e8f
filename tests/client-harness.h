/*
 * A manager on a thread of its own, listening on a socket, so the client
 * library can talk to it as to a compositor: blocking calls, its own
 * thread, other processes. Anything touching the manager runs on the
 * server's thread through ch_server_call().
 */

#ifndef PIXCACHE_CLIENT_HARNESS_H
#define PIXCACHE_CLIENT_HARNESS_H

#include <pixman.h>
#include <stdbool.h>
#include <stdint.h>

#include "pixcache-client.h"
#include "pixcache-server.h"

struct ch_server;

/**
 * Starts a manager (config NULL: the test defaults, policy NULL: the
 * default) on socket (NULL: a name of its own, in a private runtime
 * directory made for the process).
 */
struct ch_server *ch_server_start(const struct pixcache_config *config,
	const struct pixcache_policy *policy, const char *socket);
/** A display on socket with no manager at all. */
struct ch_server *ch_server_start_bare(const char *socket);
/** Stops the loop, destroys the display and the manager with it. */
void ch_server_stop(struct ch_server *server);
const char *ch_server_socket(const struct ch_server *server);
/** Runs fn(manager, data) on the server's thread and waits for it. */
void ch_server_call(struct ch_server *server,
	void (*fn)(struct pixcache_manager *manager, void *data), void *data);
/** The manager's statistics, read on its thread. */
void ch_server_stats(struct ch_server *server, struct pixcache_stats *stats);
/** Gives the manager the DRM device fd, on its thread. Returns the result
 * of pixcache_manager_set_drm_device(); fd stays the caller's. */
int ch_server_set_drm_device(struct ch_server *server, int fd);
/** Removes name from realm on the server's side. Returns its result. */
int ch_server_remove(struct ch_server *server, const char *realm,
	const char *name);
/**
 * Closes every client's connection from the server's side, as a
 * compositor does to a client it kills; the manager runs on.
 */
void ch_server_kill_clients(struct ch_server *server);
/** Holds the loop still (nothing answered) until ch_server_resume(). */
void ch_server_pause(struct ch_server *server);
void ch_server_resume(struct ch_server *server);

/** The test defaults: room for what tests store, limits they reach. */
void ch_config(struct pixcache_config *config);
/** A client of the server's socket with a short timeout. */
struct pixcache_client *ch_connect(struct ch_server *server);

/** An a8r8g8b8 image of a pattern made from seed. */
pixman_image_t *ch_image(uint32_t width, uint32_t height, uint32_t seed);
/** Whether pixmap (ARGB8888) holds ch_image()'s pattern for seed. */
bool ch_has_pattern(const struct pixcache_pixmap *pixmap, uint32_t seed);
/** A checksum of the pixmap's pixels (not its padding). */
uint64_t ch_checksum(const struct pixcache_pixmap *pixmap);

#endif
