/*
 * Staging objects: a client's own buffer of many pixmaps, sealed before it
 * is sent, from which each staged upload is copied into the cache at once.
 * One fd, one check of seals and one mapping for a batch of uploads; the
 * manager keeps no fd (the mapping holds the pages) and bounds the bytes
 * mapped by the client's upload bytes.
 */

#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "manager-private.h"
#include "shm.h"

static const struct pixcache_staging_v1_interface staging_impl;

static struct pxc_staging_v1 *
staging_from_resource(struct wl_resource *resource)
{
	assert(wl_resource_instance_of(resource, &pixcache_staging_v1_interface,
		&staging_impl));
	return wl_resource_get_user_data(resource);
}

void
pxc_staging_v1_inert(struct pxc_staging_v1 *staging)
{
	wl_resource_set_user_data(staging->resource, NULL);
	if (staging->map != NULL) {
		pxc_shm_unmap(staging->map, staging->size);
		staging->client->conn->upload_bytes -= staging->size;
		staging->client->conn->stagings--;
		staging->client->manager->stagings--;
	}
	wl_list_remove(&staging->link);
	staging->client->conn->objects--;
	free(staging);
}

static void
staging_handle_destroy(struct wl_client *wl_client,
	struct wl_resource *resource)
{
	wl_resource_destroy(resource);
}

static void
staging_handle_upload(struct wl_client *wl_client,
	struct wl_resource *resource, uint32_t id,
	struct wl_resource *realm_resource, const char *name, uint32_t width,
	uint32_t height, uint32_t format, uint32_t flags, uint32_t offset)
{
	struct pxc_staging_v1 *staging = staging_from_resource(resource);

	/* An inert staging raises no error (its upload is inert too). */
	if (staging != NULL && !pxc_upload_v1_flags_valid(resource,
			PIXCACHE_STAGING_V1_ERROR_BAD_FLAGS, flags)) {
		return;
	}
	pxc_upload_v1_staged(wl_client, staging,
		wl_resource_get_version(resource), id,
		pxc_realm_v1_from_resource(realm_resource), name, width,
		height, format, flags, offset);
}

static const struct pixcache_staging_v1_interface staging_impl = {
	.destroy = staging_handle_destroy,
	.upload = staging_handle_upload,
};

static void
staging_resource_destroy(struct wl_resource *resource)
{
	struct pxc_staging_v1 *staging = staging_from_resource(resource);

	if (staging != NULL) {
		pxc_staging_v1_inert(staging);
	}
}

/* Why the buffer cannot be used, or 0 with it mapped. fd is closed. */
static uint32_t
staging_map(struct pxc_staging_v1 *staging, int fd)
{
	struct pxc_manager_v1 *client = staging->client;
	struct pixcache_manager *manager = client->manager;

	/* Bytes, and mappings, the connection's and everyone's: a million
	 * one-byte buffers would use up the process's mappings
	 * (vm.max_map_count), every pool included. */
	if (client->conn->upload_bytes + staging->size >
			manager->config.max_upload_bytes ||
			client->conn->stagings >= manager->config.max_uploads ||
			manager->stagings >= manager->config.max_uploads_total) {
		close(fd);
		return PIXCACHE_BATCH_V1_FAILURE_UPLOADS;
	}
	/*
	 * Sealed against writes: reading it never waits on pins. Populated
	 * only if it has no hole: reading a hole allocates a page (a
	 * reviewer's reproducer: a sparse buffer made the manager allocate
	 * all of it); the library writes every page of its own.
	 */
	staging->map = pxc_shm_map_read_whole(&manager->faults, fd,
		staging->size);
	close(fd);
	if (staging->map == NULL) {
		return PIXCACHE_BATCH_V1_FAILURE_MEMORY;
	}
	client->conn->upload_bytes += staging->size;
	client->conn->stagings++;
	manager->stagings++;
	return 0;
}

void
pxc_staging_v1_create(struct wl_client *wl_client,
	struct pxc_manager_v1 *client,
	struct wl_resource *batch, uint32_t id, int fd, uint32_t size)
{
	struct wl_resource *resource;
	struct pxc_staging_v1 *staging;
	bool room;

	if (client != NULL && (size == 0 ||
			pxc_shm_check(fd, PXC_SEALS_COMMITTED, size) < 0)) {
		close(fd);
		wl_resource_post_error(batch, PIXCACHE_BATCH_V1_ERROR_BAD_STAGE,
			"stage: a buffer of %u bytes without F_SEAL_WRITE, "
			"F_SEAL_SHRINK and F_SEAL_GROW, or of another size",
			size);
		return;
	}
	room = client != NULL && pxc_connection_may_hold(client->conn);
	resource = pxc_resource_create(room ? client->manager : NULL,
		wl_client, &pixcache_staging_v1_interface,
		wl_resource_get_version(batch), id, &staging_impl,
		staging_resource_destroy, sizeof(struct pxc_staging_v1));
	if (resource == NULL || !room) {
		/* A refused client's staging, or one past max_objects, is
		 * inert: its uploads fail. */
		close(fd);
		if (resource != NULL && client != NULL) {
			pixcache_staging_v1_send_failed(resource,
				PIXCACHE_BATCH_V1_FAILURE_MEMORY);
		}
		return;
	}
	client->conn->objects++;
	staging = wl_resource_get_user_data(resource);
	staging->resource = resource;
	staging->client = client;
	staging->size = size;
	wl_list_insert(&client->stagings, &staging->link);
	staging->failure = staging_map(staging, fd);
	if (staging->failure != 0) {
		pixcache_staging_v1_send_failed(resource, staging->failure);
	}
}
