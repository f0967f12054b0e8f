/*
 * Helpers for a toolkit that draws with GL: a cached pixmap's dma-buf
 * (pixcache_pixmap_get_dmabuf()) as an EGLImage and as a texture to
 * sample. An example to copy, not part of the libraries: nothing here is
 * exported, and the names say so. examples/dmabuf-import.c shows them in
 * use; tests/egl-test.c imports through them.
 */

#ifndef PIXCACHE_EXAMPLE_EGL_H
#define PIXCACHE_EXAMPLE_EGL_H

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <stdbool.h>
#include <stdint.h>

#include "pixcache-client.h"

/** Whether name is a whole word of the space-separated list (NULL: no). */
bool pixcache_example_has_extension(const char *list, const char *name);

/**
 * Whether display, initialized, can import dma-bufs: it offers
 * EGL_KHR_image_base and EGL_EXT_image_dma_buf_import. If not, *why (may
 * be NULL) names what is missing.
 */
bool pixcache_example_egl_can_import(EGLDisplay display, const char **why);

/**
 * dmabuf as an EGLImage of width x height (the pixmap's: a dma-buf does
 * not carry its size). The modifier goes with it where the display offers
 * EGL_EXT_image_dma_buf_import_modifiers, so the driver is told the
 * layout (linear) rather than left to guess it. eglCreateImageKHR is
 * used, not EGL 1.5's eglCreateImage: Mesa's software drivers give an
 * EGL 1.4 display.
 *
 * The image holds the buffer: dmabuf->fd stays the caller's, and may be
 * closed once this returns. The image is to be sampled, never rendered
 * into: every process showing the pixmap shares its memory. Returns
 * EGL_NO_IMAGE_KHR on failure, eglGetError() saying why.
 */
EGLImageKHR pixcache_example_egl_image_from_dmabuf(EGLDisplay display,
	const struct pixcache_dmabuf *dmabuf, uint32_t width, uint32_t height);

/** Destroys an image made above. Accepts EGL_NO_IMAGE_KHR. */
void pixcache_example_egl_image_destroy(EGLDisplay display, EGLImageKHR image);

/**
 * A new GL_TEXTURE_2D whose storage is image (GL_OES_EGL_image, which the
 * current context must offer), left bound, with nearest filtering and
 * edges clamped. Returns the texture, or 0 with *error (may be NULL) set
 * to the GL error.
 */
GLuint pixcache_example_gl_texture_from_image(EGLImageKHR image,
	GLenum *error);

#endif
