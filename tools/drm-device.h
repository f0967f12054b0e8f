/*
 * A DRM device named by its path, given to a manager: what pixcached's
 * --drm-device and the Weston plugin's drm-device= both do.
 */

#ifndef PIXCACHE_TOOLS_DRM_DEVICE_H
#define PIXCACHE_TOOLS_DRM_DEVICE_H

#include "pixcache-server.h"

/*
 * Opens path and gives it to manager (pixcache_manager_set_drm_device(),
 * which keeps a duplicate; ours is closed). 0, or the negative errno of
 * open or of the manager.
 */
int pxt_drm_device_use(struct pixcache_manager *manager, const char *path);

/* Why err refused a device, in words: -ENODEV names the usual cause. */
const char *pxt_drm_device_why(int err);

#endif
