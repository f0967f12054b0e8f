#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "drm-device.h"

int
pxt_drm_device_use(struct pixcache_manager *manager, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		return -errno;
	}
	ret = pixcache_manager_set_drm_device(manager, fd);
	close(fd);
	return ret;
}

const char *
pxt_drm_device_why(int err)
{
	return err == -ENODEV ? "makes no dumb buffers to export "
		"(a render node?)" : strerror(-err);
}
