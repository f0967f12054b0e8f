/*
 * Leases of finds (pixcache_batch_v1.find): numbered in their batch, and
 * answered in records of pixcache_batch_v1.found, gathered per batch and
 * sent when the loop goes idle, before the batch's next done, or when a
 * message is full.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "manager-private.h"

void
pxc_found_flush(struct pxc_batch_v1 *batch)
{
	struct wl_array array = {
		.size = batch->nout * PXC_RECORD_WORDS * sizeof(uint32_t),
		.alloc = batch->nout * PXC_RECORD_WORDS * sizeof(uint32_t),
		.data = batch->out,
	};

	if (batch->nout == 0) {
		return;
	}
	pixcache_batch_v1_send_found(batch->resource, &array);
	batch->nout = 0;
	wl_list_remove(&batch->deferred_link);
	wl_list_init(&batch->deferred_link);
	free(batch->out);
	batch->out = NULL;
	batch->out_cap = 0;
}

/* Sends every batch's queued records. Idle sources run once: this one
 * is gone after it returns. */
static void
flush_when_idle(void *data)
{
	struct pixcache_manager *manager = data;
	struct pxc_batch_v1 *batch, *tmp;

	manager->flush_idle = NULL;
	wl_list_for_each_safe(batch, tmp, &manager->deferred, deferred_link) {
		pxc_found_flush(batch);
	}
}

/* Later answers of many leases, to many clients: an event each would
 * wake each client once a lease. They go together, once idle. */
static void
defer(struct pxc_batch_v1 *batch)
{
	struct pixcache_manager *manager = batch->client->manager;

	if (wl_list_empty(&batch->deferred_link)) {
		wl_list_insert(manager->deferred.prev, &batch->deferred_link);
	}
	if (manager->flush_idle == NULL &&
			!pxc_fault(&manager->faults, "resource")) {
		manager->flush_idle = wl_event_loop_add_idle(manager->loop,
			flush_when_idle, manager);
	}
	if (manager->flush_idle == NULL) {
		/* Nothing to send them later: now. */
		pxc_found_flush(batch);
	}
}

/*
 * Room for one more record: the buffer starts small and doubles (most
 * waiting batches get one record, a find up to 64). False without memory.
 */
static bool
out_room(struct pxc_batch_v1 *batch)
{
	uint32_t cap = batch->out_cap ? batch->out_cap * 2 : 4;
	uint32_t *out;

	if (batch->nout < batch->out_cap) {
		return true;
	}
	/* Full at PXC_FIND_MAX, when it is sent: never past it. */
	if (pxc_fault(&batch->client->manager->faults, "alloc")) {
		return false;
	}
	out = realloc(batch->out, cap * PXC_RECORD_WORDS * sizeof(*out));
	if (out == NULL) {
		return false;
	}
	batch->out = out;
	batch->out_cap = cap;
	return true;
}

void
pxc_found_record(struct pxc_batch_v1 *batch,
	const uint32_t record[PXC_RECORD_WORDS])
{
	struct wl_array one = {
		.size = PXC_RECORD_WORDS * sizeof(uint32_t),
		.alloc = PXC_RECORD_WORDS * sizeof(uint32_t),
		.data = (void *)record,
	};

	if (!out_room(batch)) {
		/* What waits goes first, so the order holds. */
		pxc_found_flush(batch);
		pixcache_batch_v1_send_found(batch->resource, &one);
		return;
	}
	memcpy(batch->out + batch->nout * PXC_RECORD_WORDS, record,
		PXC_RECORD_WORDS * sizeof(uint32_t));
	/* A full buffer is a message's worth (libwayland's 4 KiB). */
	if (++batch->nout == PXC_FIND_MAX) {
		pxc_found_flush(batch);
	} else {
		defer(batch);
	}
}

/*
 * Room for a batch's numbers is charged to its connection: at most twice
 * the leases of finds it may hold, over all its batches (a table doubles),
 * so that batches that once held many cannot keep that room for free.
 */
static uint32_t
slots_limit(const struct pxc_manager_v1 *client)
{
	return 4 * client->manager->config.max_leases;
}

int
pxc_found_reserve(struct pxc_batch_v1 *batch)
{
	struct pxc_manager_v1 *client = batch->client;
	uint32_t cap = batch->cap ? batch->cap * 2 : 64;
	uintptr_t *slots;
	uint32_t *free_numbers;

	/* Holding, claiming or waiting: a connection's leases of finds. */
	if (client->conn->found_leases >=
			2 * client->manager->config.max_leases) {
		return -ENOBUFS;
	}
	if (batch->nfree > 0 || batch->top < batch->cap) {
		return 0;
	}
	if ((uint64_t)client->conn->found_slots + cap - batch->cap >
			slots_limit(client)) {
		return -ENOBUFS;
	}
	if (pxc_fault(&client->manager->faults, "alloc")) {
		return -ENOMEM;
	}
	slots = realloc(batch->slots, cap * sizeof(*slots));
	if (slots == NULL) {
		return -ENOMEM;
	}
	batch->slots = slots;
	free_numbers = realloc(batch->free, cap * sizeof(*free_numbers));
	if (free_numbers == NULL) {
		return -ENOMEM;
	}
	batch->free = free_numbers;
	client->conn->found_slots += cap - batch->cap;
	batch->cap = cap;
	return 0;
}

void
pxc_found_free_numbers(struct pxc_batch_v1 *batch)
{
	batch->client->conn->found_slots -= batch->cap;
	free(batch->slots);
	free(batch->free);
	batch->slots = NULL;
	batch->free = NULL;
	batch->cap = batch->top = batch->nfree = 0;
}

uint32_t
pxc_found_number(struct pxc_pixmap_v1 *lease)
{
	struct pxc_batch_v1 *batch = lease->batch;

	if (lease->number == 0) {
		assert(batch->nfree > 0 || batch->top < batch->cap);
		lease->number = batch->nfree > 0 ?
			batch->free[--batch->nfree] : ++batch->top;
		batch->slots[lease->number - 1] = (uintptr_t)lease;
		lease->client->conn->found_leases++;
	}
	return lease->number;
}

/*
 * The number is free again: only ever when its client released it. The
 * batch's last gives its room back (a batch can hold the connection's
 * whole share for a moment, and none is kept after).
 */
static void
slot_free(struct pxc_batch_v1 *batch, uint32_t number)
{
	batch->slots[number - 1] = 0;
	batch->free[batch->nfree++] = number;
	batch->client->conn->found_leases--;
	if (batch->nfree == batch->top) {
		pxc_found_free_numbers(batch);
	}
}

void
pxc_found_unnumber(struct pxc_pixmap_v1 *lease)
{
	if (lease->batch == NULL || lease->number == 0) {
		return;
	}
	slot_free(lease->batch, lease->number);
	lease->number = 0;
}

void
pxc_found_compact(struct pxc_pixmap_v1 *lease)
{
	struct pxc_batch_v1 *batch = lease->batch;

	assert(batch != NULL && lease->number != 0 && lease->hold != NULL &&
		!lease->copy && lease->claim == NULL && lease->waiting == NULL);
	batch->slots[lease->number - 1] = (uintptr_t)lease->hold | 1;
	wl_list_remove(&lease->pixmap_link);
	wl_list_remove(&lease->client_link);
	free(lease);
}

bool
pxc_found_release(struct pxc_batch_v1 *batch, uint32_t number)
{
	uintptr_t slot;

	if (number == 0 || number > batch->top ||
			(slot = batch->slots[number - 1]) == 0) {
		return false;
	}
	if (slot & 1) {
		pxc_cache_release(batch->client->manager->cache,
			(struct pxc_entry *)(slot & ~(uintptr_t)1));
		batch->client->conn->holding--;
		slot_free(batch, number);
	} else {
		pxc_pixmap_v1_inert((struct pxc_pixmap_v1 *)slot);
	}
	return true;
}

struct pxc_pixmap_v1 *
pxc_found_lease_create(struct pxc_batch_v1 *batch, uint32_t name_number)
{
	struct pxc_manager_v1 *client = batch->client;
	struct pxc_pixmap_v1 *lease = pxc_zalloc(client->manager,
		sizeof(*lease));

	if (lease == NULL) {
		return NULL;
	}
	pxc_pixmap_v1_init(lease, client);
	lease->batch = batch;
	lease->name_number = name_number;
	return lease;
}

void
pxc_found_lease_record(struct pxc_pixmap_v1 *lease, uint32_t status,
	uint32_t word)
{
	uint32_t record[PXC_RECORD_WORDS] = {
		lease->name_number, status, word,
	};

	pxc_found_record(lease->batch, record);
}
