#include "pixcache-wayland.h"

struct wl_buffer *
pixcache_example_wl_buffer_from_dmabuf(
	struct zwp_linux_dmabuf_v1 *linux_dmabuf,
	const struct pixcache_dmabuf *dmabuf, uint32_t width, uint32_t height)
{
	struct zwp_linux_buffer_params_v1 *params;
	struct wl_buffer *buffer;

	params = zwp_linux_dmabuf_v1_create_params(linux_dmabuf);
	if (params == NULL) {
		return NULL;
	}
	zwp_linux_buffer_params_v1_add(params, dmabuf->fd, 0, dmabuf->offset,
		dmabuf->stride, (uint32_t)(dmabuf->modifier >> 32),
		(uint32_t)(dmabuf->modifier & 0xffffffffu));
	/* Flags 0: the pixmap's first row is its top, as EGL reads it. */
	buffer = zwp_linux_buffer_params_v1_create_immed(params,
		(int32_t)width, (int32_t)height, dmabuf->format, 0);
	/* The buffer lives on without the params it was made from. */
	zwp_linux_buffer_params_v1_destroy(params);
	return buffer;
}
