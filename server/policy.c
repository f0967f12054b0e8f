/*
 * The compositor's policy, and the rules every request applies through
 * it: which realms a client may use and how, and whose entries it may
 * replace.
 */

#include <string.h>

#include "manager-private.h"

static uint32_t
default_realm_access(void *data, struct wl_client *client, const char *realm)
{
	return strcmp(realm, "default") == 0 ? PIXCACHE_ACCESS_READ |
		PIXCACHE_ACCESS_WRITE | PIXCACHE_ACCESS_TABLE : 0;
}

void
pxc_policy_init(struct pixcache_policy *policy,
	const struct pixcache_policy *given)
{
	*policy = given != NULL ? *given : (struct pixcache_policy){ 0 };
	if (policy->realm_access == NULL) {
		policy->realm_access = default_realm_access;
	}
}

uint32_t
pxc_policy_access(struct pixcache_manager *manager, struct wl_client *client,
	const char *realm)
{
	uint32_t access = manager->policy.realm_access(manager->policy.data,
		client, realm);

	return access & (PIXCACHE_ACCESS_READ | PIXCACHE_ACCESS_WRITE |
		PIXCACHE_ACCESS_TABLE);
}

bool
pxc_policy_may_replace(struct pixcache_manager *manager,
	struct pxc_manager_v1 *client, const char *realm, uint64_t owner)
{
	if (owner == client->conn->owner) {
		return true;
	}
	return manager->policy.may_replace != NULL &&
		manager->policy.may_replace(manager->policy.data,
		client->client, realm, owner);
}
