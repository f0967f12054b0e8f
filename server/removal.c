/*
 * pixcache_removal_v1: the answer to a batch's remove. The object has no
 * state: it is answered at once, then only waits for its destroy.
 */

#include <string.h>

#include "manager-private.h"
#include "name.h"

static void
removal_handle_destroy(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	wl_resource_destroy(resource);
}

static const struct pixcache_removal_v1_interface removal_impl = {
	.destroy = removal_handle_destroy,
};

/* Whether the client may remove it, and its key: 0, or a failure. */
static uint32_t
removal_check(struct pxc_manager_v1 *client, struct pxc_realm_v1 *cr,
	const char *name, struct pxc_hit *found, bool *missing)
{
	struct pixcache_manager *manager = client->manager;
	uint32_t failure = pxc_realm_v1_check(cr, PIXCACHE_ACCESS_READ, name,
		strlen(name));

	*missing = false;
	if (failure != 0) {
		return failure;
	}
	if (pxc_cache_find(manager->cache, cr->realm->core, name, strlen(name),
			PXC_FIND_PEEK, found) < 0) {
		*missing = true;
		return 0;
	}
	if (!pxc_policy_may_replace(manager, client, cr->realm->name,
			found->owner)) {
		return PIXCACHE_BATCH_V1_FAILURE_POLICY;
	}
	return 0;
}

void
pxc_removal_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client, uint32_t version, uint32_t id,
	struct pxc_realm_v1 *realm, const char *name)
{
	struct wl_resource *removal = pxc_resource_create(
		client ? client->manager : NULL, wl_client,
		&pixcache_removal_v1_interface, version, id, &removal_impl,
		NULL, 0);
	struct pxc_hit found;
	uint32_t failure;
	bool missing;

	if (removal == NULL) {
		return;
	}
	if (client == NULL) {
		pixcache_removal_v1_send_failed(removal,
			PIXCACHE_BATCH_V1_FAILURE_POLICY);
		return;
	}
	failure = removal_check(client, realm, name, &found, &missing);
	if (failure != 0) {
		pixcache_removal_v1_send_failed(removal, failure);
	} else if (missing || pxc_cache_remove_key(client->manager->cache,
			&found.key) < 0) {
		/* By key: exactly what was checked, or nothing. */
		pixcache_removal_v1_send_missing(removal);
	} else {
		pixcache_removal_v1_send_removed(removal);
		pxc_manager_settle(client->manager);
	}
}
