/*
 * The local map: (realm, name) to a pixmap the library leases, so that a
 * repeated hit needs no round trip. The map holds a reference on each
 * pixmap. When it grows past its limit, entries nobody else holds are
 * dropped, releasing their leases, in CLOCK order: a hit only sets the
 * entry's referenced bit (no list to relink, no other entry's cache line
 * touched); a trim gives referenced entries a second chance.
 */

#include <stdlib.h>
#include <string.h>

#include "client-private.h"

#define MIN_BUCKETS 64
/* How far from the tail a trim looks for entries nobody holds. */
#define TRIM_SCAN 16

static uint64_t
rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

/*
 * A fast hash, 8 bytes a step (one multiply each, then one final mix),
 * seeded per client. Unlike the manager's index (SipHash, hostile names),
 * these names come from the application itself: nobody but the table's
 * owner could flood it.
 */
uint64_t
pxcl_name_hash(struct pixcache_client *client, const struct pxcl_realm *realm,
	const char *name, size_t len)
{
	const uint64_t k = UINT64_C(0x9e3779b97f4a7c15);
	uint64_t h = client->hash_key[0] ^ len;
	uint64_t w = 0;

	for (size_t i = 0; i + 8 < len; i += 8) {
		memcpy(&w, name + i, 8);
		h = rotl((h ^ w) * k, 29);
	}
	if (len >= 8) {
		/* The last eight bytes, overlapping what came before. */
		memcpy(&w, name + len - 8, 8);
	} else {
		w = 0;
		memcpy(&w, name, len);
	}
	/* The realm's address tells realms apart: it lives as long as them.
	 * Buckets take the top bits: see pxcl_bucket(). */
	return (h ^ w ^ (uint64_t)(uintptr_t)realm ^ client->hash_key[1]) * k;
}

struct pxcl_entry *
pxcl_names_find(struct pixcache_client *client, const struct pxcl_realm *realm,
	const char *name, size_t len, uint64_t hash)
{
	struct pxcl_entry *e;

	if (client->nbuckets == 0) {
		return NULL;
	}
	for (e = client->buckets[pxcl_bucket(hash, client->bucket_bits)];
			e != NULL; e = e->next) {
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
	struct pxcl_entry **p = &client->buckets[pxcl_bucket(entry->hash,
		client->bucket_bits)];

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
	free(entry);
	pxcl_pixmap_unref_locked(pixmap);
}

static bool
grow(struct pixcache_client *client)
{
	uint32_t n = client->nbuckets ? client->nbuckets * 2 : MIN_BUCKETS;
	uint32_t bits = (uint32_t)__builtin_ctz(n);
	struct pxcl_entry **buckets = calloc(n, sizeof(*buckets));

	if (buckets == NULL) {
		return false;
	}
	for (uint32_t i = 0; i < client->nbuckets; i++) {
		struct pxcl_entry *e = client->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = buckets[pxcl_bucket(e->hash, bits)];
			buckets[pxcl_bucket(e->hash, bits)] = e;
		}
	}
	free(client->buckets);
	client->buckets = buckets;
	client->nbuckets = n;
	client->bucket_bits = bits;
	return true;
}

/* CLOCK from the oldest end: referenced entries go round once more. */
static void
trim(struct pixcache_client *client)
{
	for (int scanned = 0; scanned < TRIM_SCAN &&
			client->nentries > client->options.local_entries &&
			!wl_list_empty(&client->lru); scanned++) {
		struct pxcl_entry *e =
			wl_container_of(client->lru.prev, e, lru);

		wl_list_remove(&e->lru);
		if (e->referenced ||
				atomic_load(&e->pixmap->refs) != 1) {
			e->referenced = false;
			wl_list_insert(&client->lru, &e->lru);
		} else {
			wl_list_insert(&client->lru, &e->lru);
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
	entry->referenced = false;
	entry->noted = client->commits - 1;
	entry->name_len = len;
	memcpy(entry->name, name, len + 1);
	entry->next = client->buckets[pxcl_bucket(hash, client->bucket_bits)];
	client->buckets[pxcl_bucket(hash, client->bucket_bits)] = entry;
	wl_list_insert(&client->lru, &entry->lru);
	client->nentries++;
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
	client->bucket_bits = 0;
}
