/*
 * The manager's configuration: its defaults, and the limits a compositor
 * may set.
 */

#include "manager-private.h"

void
pixcache_config_init(struct pixcache_config *config)
{
	*config = (struct pixcache_config){
		.budget = UINT64_C(256) << 20,
		.realm_quota = 0,
		.table_capacity = 65536,
		.pool_size = 4 << 20,
		.pool_max_pixmap = 128 << 10,
		.max_width = 16384,
		.max_height = 16384,
		.max_bytes = 64 << 20,
		.max_uploads = 64,
		.max_leases = 4096,
		.max_fds_in_flight = 64,
		.max_connections_per_uid = 512,
		.max_sessions_per_connection = 8,
		.max_objects = 1024,
		.upload_timeout_ms = 10000,
		.max_uploads_total = 4096,
		.max_copies = 4096,
		.max_copies_per_connection = 256,
		.max_dmabufs_per_connection = 256,
		.max_upload_bytes = 128 << 20,
		.max_claims = 1024,
		.max_dmabufs = 1024,
	};
}

bool
pxc_config_valid(const struct pixcache_config *c)
{
	return c->table_capacity > 0 && c->table_capacity <= (1u << 30) &&
		c->pool_size >= 4096 && c->pool_size % PXC_POOL_UNIT == 0 &&
		c->pool_max_pixmap <= c->pool_size && c->max_width > 0 &&
		c->max_height > 0 && c->max_bytes > 0 && c->max_uploads > 0 &&
		c->max_leases > 0 && c->max_fds_in_flight > 0 &&
		c->max_connections_per_uid > 0 &&
		c->max_sessions_per_connection > 0 && c->max_objects > 0 &&
		c->upload_timeout_ms > 0 && c->upload_timeout_ms <= INT32_MAX &&
		c->max_uploads_total > 0 && c->max_copies > 0 &&
		c->max_copies_per_connection > 0 &&
		c->max_dmabufs_per_connection > 0 &&
		c->max_upload_bytes > 0 && c->max_claims > 0 &&
		c->max_dmabufs > 0;
}
