/*
 * How events reach the library's objects. See "Objects and events" in
 * client-private.h for why every proxy has a dispatcher, not a listener.
 */

#include <string.h>
#include <unistd.h>

#include "client-private.h"

static void
handle_sync(struct pixcache_client *client, void *object,
	struct wl_proxy *proxy, uint32_t opcode, const struct wl_message *msg,
	union wl_argument *args)
{
	bool *done = object;

	(void)proxy;
	(void)opcode;
	(void)msg;
	(void)args;
	if (done != NULL) {
		*done = true;
		pthread_cond_broadcast(&client->cond);
	}
}

static int
dispatch(const void *implementation, void *target, uint32_t opcode,
	const struct wl_message *msg, union wl_argument *args)
{
	const struct pxcl_binding *binding = implementation;
	struct pixcache_client *client = binding->client;
	struct wl_proxy *proxy = target;

	/*
	 * The library dispatches its queue with the lock held only, so this
	 * runs with it, and reads the user data whoever drops an object
	 * clears under it.
	 */
	binding->handle(client, wl_proxy_get_user_data(proxy), proxy, opcode,
		msg, args);
	return 0;
}

void
pxcl_bindings_init(struct pixcache_client *client)
{
	static const pxcl_handler_fn handlers[PXCL_PROXY_KINDS] = {
		[PXCL_PROXY_SYNC] = handle_sync,
		[PXCL_PROXY_REALM] = pxcl_handle_realm,
		[PXCL_PROXY_POOL] = pxcl_handle_pool,
		[PXCL_PROXY_PIXMAP] = pxcl_handle_pixmap,
		[PXCL_PROXY_UPLOAD] = pxcl_handle_upload,
		[PXCL_PROXY_REMOVAL] = pxcl_handle_removal,
		[PXCL_PROXY_SIDE_BATCH] = pxcl_handle_side_batch,
	};

	for (int i = 0; i < PXCL_PROXY_KINDS; i++) {
		client->bindings[i].client = client;
		client->bindings[i].handle = handlers[i];
	}
}

void
pxcl_proxy_bind(struct pixcache_client *client, struct wl_proxy *proxy,
	enum pxcl_kind_of_proxy kind, void *object)
{
	/* A fresh proxy has no implementation: this cannot fail. */
	wl_proxy_add_dispatcher(proxy, dispatch, &client->bindings[kind],
		object);
}

void
pxcl_proxy_orphan(struct wl_proxy *proxy)
{
	wl_proxy_set_user_data(proxy, NULL);
}

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

void
pxcl_discard(const struct wl_message *msg, union wl_argument *args)
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

static bool
destroy_first(const struct wl_interface *interface)
{
	return interface->method_count > 0 &&
		strcmp(interface->methods[0].name, "destroy") == 0;
}

static bool
event_is(const struct wl_interface *interface, int opcode, const char *name)
{
	return opcode < interface->event_count &&
		strcmp(interface->events[opcode].name, name) == 0;
}

bool
pxcl_opcodes_match(void)
{
	return destroy_first(&pixcache_manager_v1_interface) &&
		destroy_first(&pixcache_realm_v1_interface) &&
		destroy_first(&pixcache_pool_v1_interface) &&
		destroy_first(&pixcache_batch_v1_interface) &&
		destroy_first(&pixcache_pixmap_v1_interface) &&
		destroy_first(&pixcache_upload_v1_interface) &&
		destroy_first(&pixcache_removal_v1_interface) &&
		event_is(&pixcache_realm_v1_interface, PXCL_REALM_ACCESS,
			"access") &&
		event_is(&pixcache_realm_v1_interface, PXCL_REALM_DENIED,
			"denied") &&
		event_is(&pixcache_realm_v1_interface,
			PXCL_REALM_GENERATION_TABLE, "generation_table") &&
		event_is(&pixcache_pool_v1_interface, PXCL_POOL_RETIRED,
			"retired") &&
		event_is(&pixcache_batch_v1_interface, PXCL_BATCH_ENTRY,
			"entry") &&
		event_is(&pixcache_batch_v1_interface, PXCL_BATCH_STATS,
			"stats") &&
		event_is(&pixcache_batch_v1_interface, PXCL_BATCH_DONE,
			"done") &&
		event_is(&pixcache_batch_v1_interface, PXCL_BATCH_LISTED,
			"listed") &&
		event_is(&pixcache_pixmap_v1_interface, PXCL_PIXMAP_KEY,
			"key") &&
		event_is(&pixcache_pixmap_v1_interface,
			PXCL_PIXMAP_BUFFER_POOL, "buffer_pool") &&
		event_is(&pixcache_pixmap_v1_interface,
			PXCL_PIXMAP_BUFFER_FD, "buffer_fd") &&
		event_is(&pixcache_pixmap_v1_interface, PXCL_PIXMAP_MISSING,
			"missing") &&
		event_is(&pixcache_pixmap_v1_interface, PXCL_PIXMAP_PENDING,
			"pending") &&
		event_is(&pixcache_pixmap_v1_interface, PXCL_PIXMAP_FAILED,
			"failed") &&
		event_is(&pixcache_pixmap_v1_interface, PXCL_PIXMAP_EVICTED,
			"evicted") &&
		event_is(&pixcache_pixmap_v1_interface, PXCL_PIXMAP_CLAIMED,
			"claimed") &&
		event_is(&pixcache_upload_v1_interface, PXCL_UPLOAD_TARGET,
			"target") &&
		event_is(&pixcache_upload_v1_interface, PXCL_UPLOAD_FAILED,
			"failed") &&
		event_is(&pixcache_upload_v1_interface, PXCL_UPLOAD_STORED,
			"stored") &&
		event_is(&pixcache_removal_v1_interface, PXCL_REMOVAL_REMOVED,
			"removed") &&
		event_is(&pixcache_removal_v1_interface, PXCL_REMOVAL_MISSING,
			"missing") &&
		event_is(&pixcache_removal_v1_interface, PXCL_REMOVAL_FAILED,
			"failed");
}
