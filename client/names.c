/*
 * The local map: (realm, name) to a pixmap the library leases, so that a
 * repeated hit needs no round trip. The map holds a reference on each
 * pixmap; the least recently used entries that nobody else holds are
 * dropped, releasing their leases, when the map grows past its limit.
 */

#include <stdlib.h>
#include <string.h>

#include "client-private.h"
#include "siphash.h"

#define MIN_BUCKETS 64
/* How far from the tail a trim looks for entries nobody holds. */
#define TRIM_SCAN 16

uint64_t
pxcl_name_hash(struct pixcache_client *client, const struct pxcl_realm *realm,
	const char *name, size_t len)
{
	/* The realm's address tells realms apart: it lives as long as them. */
	return pxc_siphash13(client->hash_key, name, len) ^
		(uint64_t)(uintptr_t)realm;
}

struct pxcl_entry *
pxcl_names_find(struct pixcache_client *client, const struct pxcl_realm *realm,
	const char *name, size_t len, uint64_t hash)
{
	struct pxcl_entry *e;

	if (client->nbuckets == 0) {
		return NULL;
	}
	for (e = client->buckets[hash & (client->nbuckets - 1)]; e != NULL;
			e = e->next) {
		if (e->hash == hash && e->realm == realm &&
				e->name_len == len &&
				memcmp(e->name, name, len) == 0) {
			return e;
		}
	}
	return NULL;
}

static void
unlink_entry(struct pixcache_client *client, struct pxcl_entry *entry)
{
	struct pxcl_entry **p = &client->buckets[entry->hash &
		(client->nbuckets - 1)];

	while (*p != entry) {
		p = &(*p)->next;
	}
	*p = entry->next;
	wl_list_remove(&entry->lru);
	client->nentries--;
}

/*
 * Drops the entry and its reference. The last reference may release the
 * lease, which needs the lock the caller holds: pixcache_pixmap_unref()
 * would take it again, so the map's reference is dropped directly here.
 */
void
pxcl_names_remove(struct pixcache_client *client, struct pxcl_entry *entry)
{
	struct pixcache_pixmap *pixmap = entry->pixmap;

	unlink_entry(client, entry);
	pixmap->in_map = false;
	free(entry);
	pxcl_pixmap_unref_locked(pixmap);
}

static bool
grow(struct pixcache_client *client)
{
	uint32_t n = client->nbuckets ? client->nbuckets * 2 : MIN_BUCKETS;
	struct pxcl_entry **buckets = calloc(n, sizeof(*buckets));

	if (buckets == NULL) {
		return false;
	}
	for (uint32_t i = 0; i < client->nbuckets; i++) {
		struct pxcl_entry *e = client->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = buckets[e->hash & (n - 1)];
			buckets[e->hash & (n - 1)] = e;
		}
	}
	free(client->buckets);
	client->buckets = buckets;
	client->nbuckets = n;
	return true;
}

static void
trim(struct pixcache_client *client)
{
	struct pxcl_entry *e, *tmp;
	int scanned = 0;

	wl_list_for_each_reverse_safe(e, tmp, &client->lru, lru) {
		if (client->nentries <= client->options.local_entries ||
				scanned++ == TRIM_SCAN) {
			break;
		}
		if (atomic_load(&e->pixmap->refs) == 1) {
			pxcl_names_remove(client, e);
		}
	}
}

void
pxcl_names_insert(struct pixcache_client *client, struct pxcl_realm *realm,
	const char *name, struct pixcache_pixmap *pixmap)
{
	size_t len = strlen(name);
	uint64_t hash = pxcl_name_hash(client, realm, name, len);
	struct pxcl_entry *entry = pxcl_names_find(client, realm, name, len,
		hash);

	if (entry != NULL) {
		/* A newer answer for the name replaces the old one. */
		pxcl_names_remove(client, entry);
	}
	if (client->options.local_entries == 0) {
		return;
	}
	if (client->nentries >= client->nbuckets && !grow(client)) {
		return;
	}
	entry = malloc(sizeof(*entry) + len + 1);
	if (entry == NULL) {
		/* Only the fast path is lost: the next lookup asks. */
		return;
	}
	entry->realm = realm;
	entry->pixmap = pixcache_pixmap_ref(pixmap);
	entry->hash = hash;
	entry->name_len = len;
	memcpy(entry->name, name, len + 1);
	entry->next = client->buckets[hash & (client->nbuckets - 1)];
	client->buckets[hash & (client->nbuckets - 1)] = entry;
	wl_list_insert(&client->lru, &entry->lru);
	client->nentries++;
	pixmap->in_map = true;
	trim(client);
}

void
pxcl_names_clear(struct pixcache_client *client)
{
	struct pxcl_entry *e, *tmp;

	wl_list_for_each_safe(e, tmp, &client->lru, lru) {
		pxcl_names_remove(client, e);
	}
}

void
pxcl_names_finish(struct pixcache_client *client)
{
	free(client->buckets);
	client->buckets = NULL;
	client->nbuckets = 0;
}
