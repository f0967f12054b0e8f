/*
 * Removals, lists and statistics, each waited for by its caller, and keys
 * as text.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-private.h"
#include "wire.h"

static void
finish(struct pxcl_side_op *op, int result)
{
	op->result = result;
	op->done = true;
	pthread_cond_broadcast(&op->client->cond);
}

static void
removal_removed(void *data, struct pixcache_removal_v1 *removal)
{
	finish(data, 0);
}

static void
removal_missing(void *data, struct pixcache_removal_v1 *removal)
{
	finish(data, -ENOENT);
}

static void
removal_failed(void *data, struct pixcache_removal_v1 *removal,
	uint32_t reason)
{
	finish(data, pxc_failure_errno(reason));
}

const struct pixcache_removal_v1_listener pxcl_removal_events = {
	.removed = removal_removed,
	.missing = removal_missing,
	.failed = removal_failed,
};

/* Kept, to be handed to the caller's function without the lock. */
static void
side_entry(void *data, struct pixcache_batch_v1 *batch, const char *name,
	uint32_t width, uint32_t height, uint32_t format, uint32_t instance_hi,
	uint32_t instance_lo, uint32_t slot, uint32_t generation,
	uint32_t tag_hi, uint32_t tag_lo)
{
	struct pxcl_side_op *op = data;
	struct pixcache_entry_info *info;
	char *copy = NULL;

	if (op->result < 0) {
		return;
	}
	if (name != NULL && (copy = strdup(name)) == NULL) {
		op->result = -ENOMEM;
		return;
	}
	info = wl_array_add(&op->entries, sizeof(*info));
	if (info == NULL) {
		free(copy);
		op->result = -ENOMEM;
		return;
	}
	*info = (struct pixcache_entry_info){
		.name = copy,
		.width = width,
		.height = height,
		.format = format,
		.key = pxcl_key_from_wire(instance_hi, instance_lo, slot,
			generation, tag_hi, tag_lo),
	};
}

static void
side_stats(void *data, struct pixcache_batch_v1 *batch, uint32_t entries,
	uint32_t realms, uint32_t clients, uint32_t indexed_hi,
	uint32_t indexed_lo, uint32_t leased_hi, uint32_t leased_lo,
	uint32_t budget_hi, uint32_t budget_lo, uint32_t hits_hi,
	uint32_t hits_lo, uint32_t misses_hi, uint32_t misses_lo,
	uint32_t evictions_hi, uint32_t evictions_lo)
{
	struct pxcl_side_op *op = data;

	if (op->stats == NULL) {
		return;
	}
	*op->stats = (struct pixcache_client_stats){
		.entries = entries,
		.realms = realms,
		.clients = clients,
		.indexed_bytes = pxc_wire_join(indexed_hi, indexed_lo),
		.leased_bytes = pxc_wire_join(leased_hi, leased_lo),
		.budget = pxc_wire_join(budget_hi, budget_lo),
		.hits = pxc_wire_join(hits_hi, hits_lo),
		.misses = pxc_wire_join(misses_hi, misses_lo),
		.evictions = pxc_wire_join(evictions_hi, evictions_lo),
	};
}

static void
side_done(void *data, struct pixcache_batch_v1 *batch, uint32_t serial,
	uint32_t token_hi, uint32_t token_lo)
{
	struct pxcl_side_op *op = data;

	pxcl_ack(op->client, token_hi, token_lo);
	finish(op, op->result);
}

static void
side_listed(void *data, struct pixcache_batch_v1 *batch, uint32_t next)
{
	struct pxcl_side_op *op = data;

	op->next = next;
}

static void
side_found(void *data, struct pixcache_batch_v1 *batch,
	struct wl_array *records)
{
	/* Only the library's batch finds. */
}

/* A side batch asks for one list page or the statistics. */
const struct pixcache_batch_v1_listener pxcl_side_batch_events = {
	.entry = side_entry,
	.stats = side_stats,
	.done = side_done,
	.listed = side_listed,
	.found = side_found,
};

/*
 * Sends what is queued, waits for op, then drops its proxy; lock held.
 * The proxy was made in this call, which no teardown runs under: it is
 * valid until released here.
 */
static int
wait_side(struct pixcache_client *client, struct pxcl_side_op *op,
	struct wl_proxy *proxy, int ret)
{
	struct timespec deadline =
		pxcl_deadline_after(client->options.timeout_ms);

	if (ret == 0) {
		ret = pxcl_flush_some(client, true);
	}
	if (ret == 0) {
		ret = pxcl_wait_flag(client, &op->done, &deadline);
	}
	/* op lives on the caller's stack: no late event may reach it. */
	pxcl_proxy_release(client, proxy);
	return ret < 0 ? ret : op->result;
}

int
pixcache_client_remove(struct pixcache_client *client, const char *realm_name,
	const char *name)
{
	struct pxcl_side_op op = { .client = client };
	struct wl_proxy *removal;
	struct pxcl_realm *realm;
	int ret;

	if (client == NULL || pxcl_check_name(realm_name) < 0 ||
			pxcl_check_name(name) < 0) {
		return -EINVAL;
	}
	pxcl_enter(client);
	ret = pxcl_connect_manager(client);
	realm = ret == 0 ? pxcl_realm_get(client, realm_name) : NULL;
	if (ret == 0 && realm == NULL) {
		ret = -ENOMEM;
	}
	if (ret == 0) {
		removal = pxcl_proxy_fails() ? NULL :
			(struct wl_proxy *)pixcache_batch_v1_remove(
			client->batch, realm->proxy, name);
		ret = removal != NULL ? 0 : -ENOMEM;
	}
	if (ret == 0) {
		pxcl_proxy_bind(removal, PXCL_PROXY_REMOVAL, &op);
		ret = wait_side(client, &op, removal, pxcl_commit(client));
	}
	pxcl_leave(client);
	return ret;
}

/*
 * A batch of its own for one list or statistics request, so its entries
 * cannot mix with the library's batch. Callbacks run on the dispatching
 * thread, which may be this one, with the lock held.
 */
static int
side_request(struct pixcache_client *client, struct pxcl_side_op *op,
	const char *realm_name, uint32_t from)
{
	struct pixcache_batch_v1 *batch;
	struct pxcl_realm *realm = NULL;
	int ret = pxcl_connect_manager(client);

	if (ret == 0 && realm_name != NULL) {
		realm = pxcl_realm_get(client, realm_name);
		ret = realm != NULL ? 0 : -ENOMEM;
	}
	if (ret < 0) {
		return ret;
	}
	batch = pxcl_proxy_fails() ? NULL :
		pixcache_manager_v1_create_batch(client->manager);
	if (batch == NULL) {
		return -ENOMEM;
	}
	pxcl_proxy_bind((struct wl_proxy *)batch, PXCL_PROXY_SIDE_BATCH, op);
	if (realm != NULL) {
		pixcache_batch_v1_list(batch, realm->proxy, from);
	} else {
		pixcache_batch_v1_get_stats(batch);
	}
	pixcache_batch_v1_commit(batch, 1);
	return wait_side(client, op, (struct wl_proxy *)batch, 0);
}

int
pixcache_client_list(struct pixcache_client *client, const char *realm_name,
	void (*fn)(void *data, const struct pixcache_entry_info *info),
	void *data)
{
	struct pxcl_side_op op = { .client = client };
	struct pixcache_entry_info *info;
	int ret;

	if (client == NULL || pxcl_check_name(realm_name) < 0 || fn == NULL) {
		return -EINVAL;
	}
	wl_array_init(&op.entries);
	pxcl_enter(client);
	/* A page at a time: the manager never queues more than the socket
	 * takes. Each page must move on, or the manager is broken. */
	do {
		uint32_t from = op.next;

		op.done = false;
		op.next = 0;
		ret = side_request(client, &op, realm_name, from);
		if (ret == 0 && op.next != 0 && op.next <= from) {
			ret = -EPROTO;
		}
	} while (ret == 0 && op.next != 0);
	pxcl_leave(client);
	/* wl_array_for_each would add 0 to NULL for an empty array (UB). */
	if (op.entries.size > 0) {
		wl_array_for_each(info, &op.entries) {
			if (ret == 0) {
				fn(data, info);
			}
			free((char *)info->name);
		}
	}
	wl_array_release(&op.entries);
	return ret;
}

int
pixcache_client_get_stats(struct pixcache_client *client,
	struct pixcache_client_stats *stats)
{
	struct pxcl_side_op op = { .client = client, .stats = stats };
	int ret;

	if (client == NULL || stats == NULL) {
		return -EINVAL;
	}
	pxcl_enter(client);
	ret = side_request(client, &op, NULL, 0);
	pxcl_leave(client);
	return ret;
}

/* ---- keys as text ---- */

void
pixcache_key_format(const struct pixcache_key *key, char *buf, size_t size)
{
	snprintf(buf, size, "pxc1-%016" PRIx64 "-%" PRIu32 "-%" PRIu32
		"-%016" PRIx64, key->instance, key->slot, key->generation,
		key->tag);
}

int
pixcache_key_parse(const char *text, struct pixcache_key *key)
{
	struct pixcache_key parsed;
	char check[64];

	if (text == NULL || key == NULL || strlen(text) >= sizeof(check) ||
			sscanf(text, "pxc1-%16" SCNx64 "-%" SCNu32 "-%" SCNu32
			"-%16" SCNx64, &parsed.instance, &parsed.slot,
			&parsed.generation, &parsed.tag) != 4) {
		return -EINVAL;
	}
	/* Exactly the canonical form: no sign, no spaces, nothing after. */
	pixcache_key_format(&parsed, check, sizeof(check));
	if (strcmp(check, text) != 0) {
		return -EINVAL;
	}
	*key = parsed;
	return 0;
}
