/*
 * How events reach the library's objects. See "Objects and events" in
 * client-private.h for why every proxy has a dispatcher, not a listener.
 *
 * This is the one place that reads an event's arguments by position: each
 * event has an unpacking function that calls its handler, from the
 * scanner's listener of the proxy's kind, with them by name. An event's
 * opcode is its handler's place in that listener, which the scanner
 * writes in the order of the XML.
 */

#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "client-private.h"

/* Calls the handler in listener of one event, with args by name. */
typedef void (*unpack_fn)(const void *listener, void *object,
	struct wl_proxy *proxy, union wl_argument *args);

/* A kind of proxy: its interface, its handlers, and how to call them. */
struct events {
	const struct wl_interface *interface;
	const void *listener;
	const unpack_fn *unpack;	/* by opcode */
	uint32_t count;
};

#define OPCODE(iface, event) \
	(offsetof(struct iface##_listener, event) / sizeof(void (*)(void)))
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* ---- wl_callback ---- */

static void
sync_done(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct wl_callback_listener *l = listener;

	l->done(object, (struct wl_callback *)proxy, args[0].u);
}

static const unpack_fn sync_unpack[] = {
	[OPCODE(wl_callback, done)] = sync_done,
};

/* ---- pixcache_realm_v1 ---- */

static void
realm_access(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_realm_v1_listener *l = listener;

	l->access(object, (struct pixcache_realm_v1 *)proxy, args[0].u);
}

static void
realm_denied(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_realm_v1_listener *l = listener;

	l->denied(object, (struct pixcache_realm_v1 *)proxy, args[0].u);
}

static void
realm_generation_table(const void *listener, void *object,
	struct wl_proxy *proxy, union wl_argument *args)
{
	const struct pixcache_realm_v1_listener *l = listener;

	l->generation_table(object, (struct pixcache_realm_v1 *)proxy,
		args[0].h, args[1].u);
}

static const unpack_fn realm_unpack[] = {
	[OPCODE(pixcache_realm_v1, access)] = realm_access,
	[OPCODE(pixcache_realm_v1, denied)] = realm_denied,
	[OPCODE(pixcache_realm_v1, generation_table)] = realm_generation_table,
};

/* ---- pixcache_pool_v1 ---- */

static void
pool_retired(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pool_v1_listener *l = listener;

	l->retired(object, (struct pixcache_pool_v1 *)proxy);
}

static const unpack_fn pool_unpack[] = {
	[OPCODE(pixcache_pool_v1, retired)] = pool_retired,
};

/* ---- pixcache_batch_v1 ---- */

static void
batch_entry(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_batch_v1_listener *l = listener;

	l->entry(object, (struct pixcache_batch_v1 *)proxy, args[0].s,
		args[1].u, args[2].u, args[3].u, args[4].u, args[5].u,
		args[6].u, args[7].u, args[8].u, args[9].u);
}

static void
batch_stats(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_batch_v1_listener *l = listener;

	l->stats(object, (struct pixcache_batch_v1 *)proxy, args[0].u,
		args[1].u, args[2].u, args[3].u, args[4].u, args[5].u,
		args[6].u, args[7].u, args[8].u, args[9].u, args[10].u,
		args[11].u, args[12].u, args[13].u, args[14].u);
}

static void
batch_done(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_batch_v1_listener *l = listener;

	l->done(object, (struct pixcache_batch_v1 *)proxy, args[0].u,
		args[1].u, args[2].u);
}

static void
batch_listed(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_batch_v1_listener *l = listener;

	l->listed(object, (struct pixcache_batch_v1 *)proxy, args[0].u);
}

static void
batch_found(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_batch_v1_listener *l = listener;

	l->found(object, (struct pixcache_batch_v1 *)proxy, args[0].a);
}

static const unpack_fn batch_unpack[] = {
	[OPCODE(pixcache_batch_v1, entry)] = batch_entry,
	[OPCODE(pixcache_batch_v1, stats)] = batch_stats,
	[OPCODE(pixcache_batch_v1, done)] = batch_done,
	[OPCODE(pixcache_batch_v1, listed)] = batch_listed,
	[OPCODE(pixcache_batch_v1, found)] = batch_found,
};

/* ---- pixcache_pixmap_v1 ---- */

static void
pixmap_key(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->key(object, (struct pixcache_pixmap_v1 *)proxy, args[0].u,
		args[1].u, args[2].u, args[3].u, args[4].u, args[5].u);
}

static void
pixmap_buffer_pool(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->buffer_pool(object, (struct pixcache_pixmap_v1 *)proxy,
		(struct pixcache_pool_v1 *)args[0].o, args[1].u, args[2].u,
		args[3].u, args[4].u, args[5].u);
}

static void
pixmap_buffer_fd(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->buffer_fd(object, (struct pixcache_pixmap_v1 *)proxy, args[0].h,
		args[1].u, args[2].u, args[3].u, args[4].u);
}

static void
pixmap_missing(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->missing(object, (struct pixcache_pixmap_v1 *)proxy);
}

static void
pixmap_pending(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->pending(object, (struct pixcache_pixmap_v1 *)proxy);
}

static void
pixmap_failed(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->failed(object, (struct pixcache_pixmap_v1 *)proxy, args[0].u);
}

static void
pixmap_evicted(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->evicted(object, (struct pixcache_pixmap_v1 *)proxy);
}

static void
pixmap_claimed(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->claimed(object, (struct pixcache_pixmap_v1 *)proxy);
}

static void
pixmap_dmabuf(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_pixmap_v1_listener *l = listener;

	l->dmabuf(object, (struct pixcache_pixmap_v1 *)proxy, args[0].h,
		args[1].u, args[2].u, args[3].u, args[4].u, args[5].u);
}

static const unpack_fn pixmap_unpack[] = {
	[OPCODE(pixcache_pixmap_v1, key)] = pixmap_key,
	[OPCODE(pixcache_pixmap_v1, buffer_pool)] = pixmap_buffer_pool,
	[OPCODE(pixcache_pixmap_v1, buffer_fd)] = pixmap_buffer_fd,
	[OPCODE(pixcache_pixmap_v1, missing)] = pixmap_missing,
	[OPCODE(pixcache_pixmap_v1, pending)] = pixmap_pending,
	[OPCODE(pixcache_pixmap_v1, failed)] = pixmap_failed,
	[OPCODE(pixcache_pixmap_v1, evicted)] = pixmap_evicted,
	[OPCODE(pixcache_pixmap_v1, claimed)] = pixmap_claimed,
	[OPCODE(pixcache_pixmap_v1, dmabuf)] = pixmap_dmabuf,
};

/* ---- pixcache_upload_v1 ---- */

static void
upload_target(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_upload_v1_listener *l = listener;

	l->target(object, (struct pixcache_upload_v1 *)proxy, args[0].h,
		args[1].u, args[2].u);
}

static void
upload_failed(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_upload_v1_listener *l = listener;

	l->failed(object, (struct pixcache_upload_v1 *)proxy, args[0].u);
}

static void
upload_stored(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_upload_v1_listener *l = listener;

	l->stored(object, (struct pixcache_upload_v1 *)proxy, args[0].u,
		args[1].u, args[2].u, args[3].u, args[4].u, args[5].u);
}

static const unpack_fn upload_unpack[] = {
	[OPCODE(pixcache_upload_v1, target)] = upload_target,
	[OPCODE(pixcache_upload_v1, failed)] = upload_failed,
	[OPCODE(pixcache_upload_v1, stored)] = upload_stored,
};

/* ---- pixcache_removal_v1 ---- */

static void
removal_removed(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_removal_v1_listener *l = listener;

	l->removed(object, (struct pixcache_removal_v1 *)proxy);
}

static void
removal_missing(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_removal_v1_listener *l = listener;

	l->missing(object, (struct pixcache_removal_v1 *)proxy);
}

static void
removal_failed(const void *listener, void *object, struct wl_proxy *proxy,
	union wl_argument *args)
{
	const struct pixcache_removal_v1_listener *l = listener;

	l->failed(object, (struct pixcache_removal_v1 *)proxy, args[0].u);
}

static const unpack_fn removal_unpack[] = {
	[OPCODE(pixcache_removal_v1, removed)] = removal_removed,
	[OPCODE(pixcache_removal_v1, missing)] = removal_missing,
	[OPCODE(pixcache_removal_v1, failed)] = removal_failed,
};

/* ---- the kinds ---- */

#define EVENTS(iface, handlers, table) { \
	.interface = &iface##_interface, \
	.listener = &(handlers), \
	.unpack = (table), \
	.count = COUNT(table), \
}

static const struct events kinds[PXCL_PROXY_KINDS] = {
	[PXCL_PROXY_SYNC] = EVENTS(wl_callback, pxcl_sync_events,
		sync_unpack),
	[PXCL_PROXY_REALM] = EVENTS(pixcache_realm_v1, pxcl_realm_events,
		realm_unpack),
	[PXCL_PROXY_POOL] = EVENTS(pixcache_pool_v1, pxcl_pool_events,
		pool_unpack),
	[PXCL_PROXY_PIXMAP] = EVENTS(pixcache_pixmap_v1, pxcl_pixmap_events,
		pixmap_unpack),
	[PXCL_PROXY_UPLOAD] = EVENTS(pixcache_upload_v1, pxcl_upload_events,
		upload_unpack),
	[PXCL_PROXY_REMOVAL] = EVENTS(pixcache_removal_v1,
		pxcl_removal_events, removal_unpack),
	[PXCL_PROXY_SIDE_BATCH] = EVENTS(pixcache_batch_v1,
		pxcl_side_batch_events, batch_unpack),
};

/*
 * A new object nobody wants: destroyed, and the server told so. Pools are
 * the only objects the protocol's events create (on the manager, which has
 * a listener of its own: this is for safety should that change).
 */
static void
destroy_new(struct wl_proxy *proxy)
{
	if (proxy == NULL) {
		return;
	}
	if (strcmp(wl_proxy_get_class(proxy),
			pixcache_pool_v1_interface.name) == 0) {
		pixcache_pool_v1_destroy((struct pixcache_pool_v1 *)proxy);
	} else {
		wl_proxy_destroy(proxy);
	}
}

/* Closes the fds and destroys the new proxies an ignored event brought. */
static void
discard(const struct wl_message *msg, union wl_argument *args)
{
	int i = 0;

	for (const char *c = msg->signature; *c != '\0'; c++) {
		switch (*c) {
		case 'h':
			close(args[i++].h);
			break;
		case 'n':
			destroy_new((struct wl_proxy *)args[i++].o);
			break;
		case 'i': case 'u': case 'f': case 's': case 'o': case 'a':
			i++;
			break;
		default:
			/* Version digits and '?' are not arguments. */
			break;
		}
	}
}

static int
dispatch(const void *implementation, void *target, uint32_t opcode,
	const struct wl_message *msg, union wl_argument *args)
{
	const struct events *events = implementation;
	struct wl_proxy *proxy = target;
	/*
	 * The library dispatches its queue with the lock held only, so this
	 * runs with it, and reads the user data whoever drops an object
	 * clears under it.
	 */
	void *object = wl_proxy_get_user_data(proxy);

	if (object == NULL || opcode >= events->count) {
		/* Gone: as a wlroots handler ignores an inert resource. */
		discard(msg, args);
		return 0;
	}
	events->unpack[opcode](events->listener, object, proxy, args);
	return 0;
}

void
pxcl_proxy_bind(struct wl_proxy *proxy, enum pxcl_kind_of_proxy kind,
	void *object)
{
	/* A fresh proxy has no implementation: this cannot fail. */
	wl_proxy_add_dispatcher(proxy, dispatch, &kinds[kind], object);
}

void
pxcl_proxy_orphan(struct wl_proxy *proxy)
{
	wl_proxy_set_user_data(proxy, NULL);
}

void
pxcl_proxy_release(struct pixcache_client *client, struct wl_proxy *proxy)
{
	pxcl_proxy_orphan(proxy);
	if (client->silent || client->broken) {
		/* The connection goes anyway: the server frees the rest. */
		wl_proxy_destroy(proxy);
		return;
	}
	/* Every interface of ours has destroy as its request 0 (tested). */
	wl_proxy_marshal_flags(proxy, 0, NULL, wl_proxy_get_version(proxy),
		WL_MARSHAL_FLAG_DESTROY);
	/* A break is noted in client->broken: nothing here to undo. */
	(void)pxcl_flush_some(client, false);
}

static bool
destroy_first(const struct wl_interface *interface)
{
	return interface->method_count > 0 &&
		strcmp(interface->methods[0].name, "destroy") == 0;
}

/* Every event of the interface has its unpacking function. */
static bool
events_complete(const struct events *events)
{
	if (events->count != (uint32_t)events->interface->event_count) {
		return false;
	}
	for (uint32_t i = 0; i < events->count; i++) {
		if (events->unpack[i] == NULL) {
			return false;
		}
	}
	return true;
}

bool
pxcl_kind_decoded(enum pxcl_kind_of_proxy kind)
{
	const struct events *events = &kinds[kind];

	/* wl_callback has no requests: roundtrip() destroys its own. */
	return events_complete(events) && (kind == PXCL_PROXY_SYNC ||
		destroy_first(events->interface));
}
