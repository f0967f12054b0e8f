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

static void
finish(struct pixcache_client *client, struct pxcl_side_op *op, int result)
{
	op->result = result;
	op->done = true;
	pthread_cond_broadcast(&client->cond);
}

void
pxcl_handle_removal(struct pixcache_client *client, void *object,
	struct wl_proxy *proxy, uint32_t opcode, const struct wl_message *msg,
	union wl_argument *args)
{
	struct pxcl_side_op *op = object;

	(void)proxy;
	if (op == NULL) {
		pxcl_discard(msg, args);
		return;
	}
	switch (opcode) {
	case PXCL_REMOVAL_REMOVED:
		finish(client, op, 0);
		break;
	case PXCL_REMOVAL_MISSING:
		finish(client, op, -ENOENT);
		break;
	case PXCL_REMOVAL_FAILED:
		finish(client, op, pxc_failure_errno(args[0].u));
		break;
	}
}

static uint64_t
u64(const union wl_argument *args, int i)
{
	return (uint64_t)args[i].u << 32 | args[i + 1].u;
}

/* Kept, to be handed to the caller's function without the lock. */
static void
side_entry(struct pxcl_side_op *op, union wl_argument *args)
{
	struct pixcache_entry_info *info;
	char *name = NULL;

	if (op->result < 0) {
		return;
	}
	if (args[0].s != NULL && (name = strdup(args[0].s)) == NULL) {
		op->result = -ENOMEM;
		return;
	}
	info = wl_array_add(&op->entries, sizeof(*info));
	if (info == NULL) {
		free(name);
		op->result = -ENOMEM;
		return;
	}
	*info = (struct pixcache_entry_info){
		.name = name,
		.width = args[1].u,
		.height = args[2].u,
		.format = args[3].u,
		.key = pxcl_key_from_args(args + 4),
	};
}

static void
side_stats(struct pxcl_side_op *op, union wl_argument *args)
{
	if (op->stats == NULL) {
		return;
	}
	*op->stats = (struct pixcache_client_stats){
		.entries = args[0].u,
		.realms = args[1].u,
		.clients = args[2].u,
		.indexed_bytes = u64(args, 3),
		.leased_bytes = u64(args, 5),
		.budget = u64(args, 7),
		.hits = u64(args, 9),
		.misses = u64(args, 11),
		.evictions = u64(args, 13),
	};
}

void
pxcl_handle_side_batch(struct pixcache_client *client, void *object,
	struct wl_proxy *proxy, uint32_t opcode, const struct wl_message *msg,
	union wl_argument *args)
{
	struct pxcl_side_op *op = object;

	(void)proxy;
	if (op == NULL) {
		pxcl_discard(msg, args);
		return;
	}
	switch (opcode) {
	case PXCL_BATCH_ENTRY:
		side_entry(op, args);
		break;
	case PXCL_BATCH_STATS:
		side_stats(op, args);
		break;
	case PXCL_BATCH_LISTED:
		op->next = args[0].u;
		break;
	case PXCL_BATCH_DONE:
		if (client->manager != NULL &&
				(args[1].u != 0 || args[2].u != 0)) {
			pixcache_manager_v1_ack(client->manager, args[1].u,
				args[2].u);
		}
		finish(client, op, op->result);
		break;
	}
}

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
	struct pxcl_side_op op = { .done = false };
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
		removal = (struct wl_proxy *)pixcache_batch_v1_remove(
			client->batch, realm->proxy, name);
		pxcl_proxy_bind(client, removal, PXCL_PROXY_REMOVAL, &op);
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
	batch = pixcache_manager_v1_create_batch(client->manager);
	pxcl_proxy_bind(client, (struct wl_proxy *)batch,
		PXCL_PROXY_SIDE_BATCH, op);
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
	struct pxcl_side_op op = { .done = false };
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
	struct pxcl_side_op op = { .stats = stats };
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
