/*
 * A realm per socket: the policy of pixcached and pixcache-wlroots.
 *
 * A client is in the realm of the socket it connected to, which it cannot
 * forge. Clients of the display's own socket read and write realm
 * "default"; clients of a realm socket NAME:REALM, listened on at
 * $XDG_RUNTIME_DIR/NAME, read and write REALM and only read "default", as
 * a compositor would give a sandbox a socket of its own. A client whose
 * origin could not be noted (out of memory) may do nothing.
 *
 * Everything runs on the display's event loop.
 */

#ifndef PIXCACHE_TOOLS_REALM_SOCKETS_H
#define PIXCACHE_TOOLS_REALM_SOCKETS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PXT_DEFAULT_REALM "default"
#define PXT_MAX_REALM_SOCKETS 16

struct wl_client;
struct wl_display;
struct pxt_realm_sockets;

/* What its owner does with the policy's news. */
struct pxt_realm_sockets_hooks {
	/* Writes one line of the log, fmt and ap without the newline. */
	void (*log)(void *data, const char *fmt, va_list ap);
	/* The last client has gone; NULL: nothing to do then. */
	void (*idle)(void *data);
	void *data;
};

/* What was noted of a client as it connected. */
struct pxt_realm_client {
	unsigned id;		/* 1 for the first client, and so on */
	pid_t pid;
	uid_t uid;
};

/**
 * Creates the policy with no realm socket yet; hooks is copied. Returns
 * NULL without memory.
 */
struct pxt_realm_sockets *pxt_realm_sockets_create(
	const struct pxt_realm_sockets_hooks *hooks);

/**
 * Adds a realm socket from an option's argument NAME:REALM (NAME without
 * '/'), at most PXT_MAX_REALM_SOCKETS of them. Returns false, having
 * logged why, for anything else or without memory; nothing is added then.
 */
bool pxt_realm_sockets_add(struct pxt_realm_sockets *rs, const char *arg);

/**
 * Notes the origin of each client display creates from now on, and
 * listens on every realm socket. display_socket is the name of the
 * display's own socket, for the log; it must live as long as rs listens.
 * Returns false, having logged why, if a socket cannot be taken (in use,
 * or its path too long); pxt_realm_sockets_stop() undoes what was done.
 */
bool pxt_realm_sockets_listen(struct pxt_realm_sockets *rs,
	struct wl_display *display, const char *display_socket);

/**
 * Stops listening on the realm sockets, removing them and their lock
 * files, and noting new clients. Call it while the display stands. The
 * clients already noted stay noted until they go. Does nothing if rs
 * does not listen.
 */
void pxt_realm_sockets_stop(struct pxt_realm_sockets *rs);

/**
 * Frees rs, stopping it first if it listens (the display must then still
 * stand). Call it after the manager whose policy it is has gone. NULL is
 * ignored.
 */
void pxt_realm_sockets_destroy(struct pxt_realm_sockets *rs);

/**
 * Logs a line for each realm socket: its name, its realm, and that it
 * reads "default".
 */
void pxt_realm_sockets_log_sockets(struct pxt_realm_sockets *rs);

/** What was noted of client as it connected; NULL if nothing was. */
const struct pxt_realm_client *pxt_realm_sockets_client(
	struct pxt_realm_sockets *rs, struct wl_client *client);

/** How many clients were noted since rs was created. */
unsigned pxt_realm_sockets_connections(struct pxt_realm_sockets *rs);

/** How many clients noted are still connected. */
unsigned pxt_realm_sockets_clients(struct pxt_realm_sockets *rs);

/**
 * The policy's pixcache_policy.realm_access, data being the
 * pxt_realm_sockets: all access to the client's own realm, read and table
 * to "default" for a realm socket's clients, nothing else.
 */
uint32_t pxt_realm_access(void *data, struct wl_client *client,
	const char *realm);

/**
 * A pixcache_policy.may_replace, data being the pxt_realm_sockets, for a
 * host where whoever may write a realm may replace and remove what
 * others put there (pixcached). A compositor that needs more keeps the
 * default: only the owner.
 */
bool pxt_realm_may_replace(void *data, struct wl_client *client,
	const char *realm, uint64_t owner);

#endif
