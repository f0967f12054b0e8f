#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>

#include "drm-util.h"
#include "test-runner.h"

int
test_open_card(void)
{
	int fd = open(TEST_CARD, O_RDWR | O_CLOEXEC);
	struct drm_mode_create_dumb dumb = { .width = 1, .height = 1,
		.bpp = 32 };
	struct drm_mode_destroy_dumb destroy = { 0 };

	if (fd < 0) {
		test_skip("no DRM device: %s: %s (run it under vm-run.sh "
			"--modules vgem)", TEST_CARD, strerror(errno));
	}
	/* vgem has no KMS to ask DRM_CAP_DUMB_BUFFER of: a buffer is tried. */
	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &dumb) < 0) {
		close(fd);
		test_skip("%s makes no dumb buffers: %s", TEST_CARD,
			strerror(errno));
	}
	destroy.handle = dumb.handle;
	assert(drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy) == 0);
	return fd;
}
