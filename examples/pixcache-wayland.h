/*
 * A helper for a toolkit that shows a cached pixmap on a (sub)surface
 * without copying it: its dma-buf (pixcache_pixmap_get_dmabuf()) as a
 * wl_buffer of zwp_linux_dmabuf_v1. An example to copy, not part of the
 * libraries: nothing here is exported, and the names say so.
 * examples/dmabuf-import.c shows it in use.
 */

#ifndef PIXCACHE_EXAMPLE_WAYLAND_H
#define PIXCACHE_EXAMPLE_WAYLAND_H

#include <stdint.h>
#include <wayland-client.h>

#include "linux-dmabuf-unstable-v1-client-protocol.h"
#include "pixcache-client.h"

/**
 * dmabuf as a wl_buffer of width x height (the pixmap's), made on
 * linux_dmabuf (bound at version 2 or later) with one
 * zwp_linux_buffer_params_v1.add (plane 0: the fd, offset, stride and
 * modifier) and create_immed (the format, rows top first). The
 * compositor imports the buffer once, however many surfaces show it.
 *
 * dmabuf->fd stays the caller's: libwayland sends a duplicate, so it may
 * be closed once this returns. The buffer is the caller's to destroy.
 * Returns NULL if the request could not be made (no memory).
 *
 * create_immed cannot fail here: a compositor that cannot import the
 * buffer either ends the connection with a protocol error or sends
 * 'failed' on a params object this has already destroyed, and a surface
 * then shows nothing. Check first that the compositor offers the pair of
 * format and modifier (its 'modifier' events, or v4's feedback), or use
 * 'create' and wait for 'created' or 'failed'.
 */
struct wl_buffer *pixcache_example_wl_buffer_from_dmabuf(
	struct zwp_linux_dmabuf_v1 *linux_dmabuf,
	const struct pixcache_dmabuf *dmabuf, uint32_t width, uint32_t height);

#endif
