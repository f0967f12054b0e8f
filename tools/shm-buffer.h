/*
 * A wl_shm buffer of a pixman image, for the Wayland clients of the
 * tools, the tests and the examples.
 */

#ifndef PIXCACHE_TOOLS_SHM_BUFFER_H
#define PIXCACHE_TOOLS_SHM_BUFFER_H

#include <pixman.h>

struct wl_buffer;
struct wl_shm;

/**
 * Creates a wl_buffer of shm holding a copy of image's pixels, in a
 * memfd of its own that only the compositor keeps. image is a8r8g8b8
 * (premultiplied) or x8r8g8b8; the buffer has its size and stride.
 * Returns NULL with errno set if the memfd cannot be made or filled, or
 * EINVAL for another format; the caller destroys the buffer.
 */
struct wl_buffer *pxt_shm_buffer(struct wl_shm *shm, pixman_image_t *image);

#endif
