/*
 * The DRM device the GPU tests use: /dev/dri/card0, which must make dumb
 * buffers (vgem does, in tests/vm/vm-run.sh --modules vgem).
 */

#ifndef PIXCACHE_TEST_DRM_UTIL_H
#define PIXCACHE_TEST_DRM_UTIL_H

#define TEST_CARD "/dev/dri/card0"

/**
 * TEST_CARD opened read-write, if it makes dumb buffers; else the test is
 * skipped, saying why.
 */
int test_open_card(void);

#endif
