#include "pixcache-egl.h"

#include <GLES2/gl2ext.h>
#include <drm_fourcc.h>
#include <string.h>

bool
pixcache_example_has_extension(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p != NULL && (p = strstr(p, name)) != NULL;
			p += n) {
		if ((p == list || p[-1] == ' ') &&
				(p[n] == ' ' || p[n] == '\0')) {
			return true;
		}
	}
	return false;
}

bool
pixcache_example_egl_can_import(EGLDisplay display, const char **why)
{
	const char *ext = eglQueryString(display, EGL_EXTENSIONS);
	const char *missing = NULL;

	if (!pixcache_example_has_extension(ext, "EGL_KHR_image_base")) {
		missing = "EGL_KHR_image_base";
	} else if (!pixcache_example_has_extension(ext,
			"EGL_EXT_image_dma_buf_import")) {
		missing = "EGL_EXT_image_dma_buf_import";
	}
	if (why != NULL) {
		*why = missing;
	}
	return missing == NULL;
}

EGLImageKHR
pixcache_example_egl_image_from_dmabuf(EGLDisplay display,
	const struct pixcache_dmabuf *dmabuf, uint32_t width, uint32_t height)
{
	PFNEGLCREATEIMAGEKHRPROC create_image = (PFNEGLCREATEIMAGEKHRPROC)
		eglGetProcAddress("eglCreateImageKHR");
	const char *ext = eglQueryString(display, EGL_EXTENSIONS);
	EGLint attribs[20];
	int n = 0;

	if (create_image == NULL) {
		return EGL_NO_IMAGE_KHR;
	}
	attribs[n++] = EGL_WIDTH;
	attribs[n++] = (EGLint)width;
	attribs[n++] = EGL_HEIGHT;
	attribs[n++] = (EGLint)height;
	attribs[n++] = EGL_LINUX_DRM_FOURCC_EXT;
	attribs[n++] = (EGLint)dmabuf->format;
	attribs[n++] = EGL_DMA_BUF_PLANE0_FD_EXT;
	attribs[n++] = dmabuf->fd;
	attribs[n++] = EGL_DMA_BUF_PLANE0_OFFSET_EXT;
	attribs[n++] = (EGLint)dmabuf->offset;
	attribs[n++] = EGL_DMA_BUF_PLANE0_PITCH_EXT;
	attribs[n++] = (EGLint)dmabuf->stride;
	/* Without the extension the attributes are an error, not ignored. */
	if (dmabuf->modifier != DRM_FORMAT_MOD_INVALID &&
			pixcache_example_has_extension(ext,
			"EGL_EXT_image_dma_buf_import_modifiers")) {
		attribs[n++] = EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT;
		attribs[n++] = (EGLint)(dmabuf->modifier & 0xffffffffu);
		attribs[n++] = EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT;
		attribs[n++] = (EGLint)(dmabuf->modifier >> 32);
	}
	attribs[n++] = EGL_NONE;
	/* EGL_NO_CONTEXT: a dma-buf belongs to no context. */
	return create_image(display, EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT,
		NULL, attribs);
}

void
pixcache_example_egl_image_destroy(EGLDisplay display, EGLImageKHR image)
{
	PFNEGLDESTROYIMAGEKHRPROC destroy_image = (PFNEGLDESTROYIMAGEKHRPROC)
		eglGetProcAddress("eglDestroyImageKHR");

	if (image != EGL_NO_IMAGE_KHR && destroy_image != NULL) {
		destroy_image(display, image);
	}
}

GLuint
pixcache_example_gl_texture_from_image(EGLImageKHR image, GLenum *error)
{
	PFNGLEGLIMAGETARGETTEXTURE2DOESPROC target_texture =
		(PFNGLEGLIMAGETARGETTEXTURE2DOESPROC)
		eglGetProcAddress("glEGLImageTargetTexture2DOES");
	GLuint texture;
	GLenum e;

	if (target_texture == NULL) {
		if (error != NULL) {
			*error = GL_INVALID_OPERATION;
		}
		return 0;
	}
	glGenTextures(1, &texture);
	glBindTexture(GL_TEXTURE_2D, texture);
	/* An icon is drawn at its size: no mipmaps to ask for. */
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
	target_texture(GL_TEXTURE_2D, (GLeglImageOES)image);
	e = glGetError();
	if (e != GL_NO_ERROR) {
		glBindTexture(GL_TEXTURE_2D, 0);
		glDeleteTextures(1, &texture);
		if (error != NULL) {
			*error = e;
		}
		return 0;
	}
	return texture;
}
