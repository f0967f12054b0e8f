/*
 * pixcache-dmabuf-import: a cached pixmap drawn from its dma-buf, as a
 * toolkit that draws with the GPU does, and from its shared memory when
 * there is no dma-buf.
 *
 *   pixcache-dmabuf-import [--cache-socket NAME] [--realm REALM]
 *                          [--surface [--seconds S]] NAME
 *
 * It finds NAME in the cache (the manager of the compositor's display,
 * or the one on socket NAME: pixcached) and asks for the pixmap's
 * dma-buf (pixcache_pixmap_get_dmabuf()). Then:
 *  - by default, it imports the dma-buf into EGL (Mesa's surfaceless
 *    platform) as a texture (examples/pixcache-egl.h), reads it back
 *    through a framebuffer and compares every pixel with the pixmap's
 *    bytes;
 *  - with --surface, it opens a window whose subsurface shows the
 *    dma-buf as a wl_buffer of zwp_linux_dmabuf_v1
 *    (examples/pixcache-wayland.h) over a background of its own, and
 *    once the first frame is shown prints the layout as one JSON line
 *    (the window's size, colours and markers, where the pixmap is).
 *
 * Without a dma-buf it takes the shm path: the manager has no GPU device
 * (-ENODEV) or the pixmap is an alpha mask, the EGL display cannot
 * import, or the compositor does not offer zwp_linux_dmabuf_v1 with the
 * pixmap's format. The texture is then uploaded from
 * pixcache_pixmap_get_data(), the subsurface gets a wl_shm copy. Its
 * first line says which path it took, and why:
 *
 *   path: dma-buf (stride 256, offset 0, modifier linear)
 *   path: shm (pixcache_pixmap_get_dmabuf: No such device: the manager
 *         has no GPU device)
 *
 * Exits 0, 1 on a failure (a pixel read back differs, EGL or the
 * compositor missing), 2 on bad usage.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include "image-io.h"
#include "pixcache-client.h"
#include "pixcache-egl.h"
#include "pixcache-wayland.h"
#include "shm-buffer.h"
#include "xdg-shell-client-protocol.h"

#define MARGIN 16
#define MARKER 8
#define BACKGROUND 0xff2e3440u
#define MARKER_TOP_LEFT 0xffff00ffu
#define MARKER_BOTTOM_RIGHT 0xff00ffffu

struct options {
	const char *cache_socket;	/* NULL: the compositor's manager */
	const char *realm;
	const char *name;
	bool surface;
	int seconds;			/* 0: until the window is closed */
};

/* What the pixmap is drawn from. */
struct source {
	struct pixcache_pixmap *pixmap;
	uint32_t width, height;
	/* The dma-buf path: dmabuf holds what the manager gave (its fd
	 * closed, -1, once an import holds the buffer). */
	bool use_dmabuf;
	struct pixcache_dmabuf dmabuf;
	char why[256];			/* the shm path's reason */
};

__attribute__((noreturn, format(printf, 1, 2)))
static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("pixcache-dmabuf-import: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
say_path(const struct source *source)
{
	if (source->use_dmabuf) {
		printf("path: dma-buf (stride %u, offset %u, modifier %s)\n",
			source->dmabuf.stride, source->dmabuf.offset,
			source->dmabuf.modifier == DRM_FORMAT_MOD_LINEAR ?
			"linear" : source->dmabuf.modifier ==
			DRM_FORMAT_MOD_INVALID ? "implicit" : "other");
	} else {
		printf("path: shm (%s)\n", source->why);
	}
	fflush(stdout);
}

/* Falls back to the shm path, saying why. */
static void no_dmabuf(struct source *source, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
no_dmabuf(struct source *source, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(source->why, sizeof(source->why), fmt, ap);
	va_end(ap);
	source->use_dmabuf = false;
	if (source->dmabuf.fd >= 0) {
		close(source->dmabuf.fd);
		source->dmabuf.fd = -1;
	}
}

/*
 * The pixmap converted to format, tight rows, in memory of the caller's
 * (pixman converts and copies; the cache's pixels are only a source).
 */
static pixman_image_t *
convert(struct pixcache_pixmap *pixmap, pixman_format_code_t format,
	void *bits, int stride)
{
	pixman_image_t *src = pixcache_pixmap_create_pixman(pixmap);
	int w = (int)pixcache_pixmap_get_width(pixmap);
	int h = (int)pixcache_pixmap_get_height(pixmap);
	pixman_image_t *dst;

	if (src == NULL) {
		die("cannot make a pixman image of the pixmap: %s",
			strerror(errno));
	}
	dst = pixman_image_create_bits(format, w, h, bits, stride);
	if (dst == NULL) {
		die("out of memory");
	}
	pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 0, 0, 0, 0,
		0, 0, w, h);
	pixman_image_unref(src);
	return dst;
}

/* ------------------------------------------------------------- EGL -- */

struct gl {
	EGLDisplay display;
	EGLContext context;
};

/* A surfaceless display and a GLES 2 context, current; or dies. */
static void
gl_init(struct gl *gl)
{
	const char *client = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
	EGLint attribs[] = { EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE };
	PFNEGLGETPLATFORMDISPLAYEXTPROC get_display;

	if (!pixcache_example_has_extension(client,
			"EGL_MESA_platform_surfaceless")) {
		die("no EGL: no surfaceless platform");
	}
	get_display = (PFNEGLGETPLATFORMDISPLAYEXTPROC)
		eglGetProcAddress("eglGetPlatformDisplayEXT");
	gl->display = get_display(EGL_PLATFORM_SURFACELESS_MESA,
		EGL_DEFAULT_DISPLAY, NULL);
	if (gl->display == EGL_NO_DISPLAY ||
			!eglInitialize(gl->display, NULL, NULL)) {
		die("no EGL: no surfaceless display (0x%x)", eglGetError());
	}
	if (!eglBindAPI(EGL_OPENGL_ES_API)) {
		die("no EGL: no GLES");
	}
	gl->context = eglCreateContext(gl->display, EGL_NO_CONFIG_KHR,
		EGL_NO_CONTEXT, attribs);
	if (gl->context == EGL_NO_CONTEXT || !eglMakeCurrent(gl->display,
			EGL_NO_SURFACE, EGL_NO_SURFACE, gl->context)) {
		die("no EGL: no GLES 2 context without a surface (0x%x)",
			eglGetError());
	}
}

static void
gl_fini(struct gl *gl)
{
	eglMakeCurrent(gl->display, EGL_NO_SURFACE, EGL_NO_SURFACE,
		EGL_NO_CONTEXT);
	eglDestroyContext(gl->display, gl->context);
	eglTerminate(gl->display);
	eglReleaseThread();
}

/* The dma-buf as a texture, or 0 after falling back (saying why). */
static GLuint
texture_from_dmabuf(struct gl *gl, struct source *source, EGLImageKHR *image)
{
	const char *missing;
	GLenum error;
	GLuint texture;

	if (!pixcache_example_egl_can_import(gl->display, &missing)) {
		no_dmabuf(source, "the EGL display lacks %s", missing);
		return 0;
	}
	if (!pixcache_example_has_extension(
			(const char *)glGetString(GL_EXTENSIONS),
			"GL_OES_EGL_image")) {
		no_dmabuf(source, "GLES lacks GL_OES_EGL_image");
		return 0;
	}
	*image = pixcache_example_egl_image_from_dmabuf(gl->display,
		&source->dmabuf, source->width, source->height);
	if (*image == EGL_NO_IMAGE_KHR) {
		no_dmabuf(source, "eglCreateImageKHR: EGL error 0x%x",
			eglGetError());
		return 0;
	}
	/* The image holds the buffer now. */
	close(source->dmabuf.fd);
	source->dmabuf.fd = -1;
	texture = pixcache_example_gl_texture_from_image(*image, &error);
	if (texture == 0) {
		die("a texture of the EGLImage: GL error 0x%x", error);
	}
	return texture;
}

/* The shm path: the pixels uploaded, as RGBA bytes (GLES 2's). */
static GLuint
texture_from_pixels(const uint8_t *rgba, uint32_t width, uint32_t height)
{
	GLuint texture;

	glGenTextures(1, &texture);
	glBindTexture(GL_TEXTURE_2D, texture);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
	glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
	glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, (GLsizei)width,
		(GLsizei)height, 0, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
	return texture;
}

/* Reads texture back through a framebuffer and compares it with want. */
static bool
read_back_equals(GLuint texture, const uint8_t *want, uint32_t width,
	uint32_t height)
{
	size_t size = (size_t)width * height * 4;
	uint8_t *got = malloc(size);
	bool equal = true;
	GLuint fbo;

	if (got == NULL) {
		die("out of memory");
	}
	glGenFramebuffers(1, &fbo);
	glBindFramebuffer(GL_FRAMEBUFFER, fbo);
	glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0,
		GL_TEXTURE_2D, texture, 0);
	if (glCheckFramebufferStatus(GL_FRAMEBUFFER) !=
			GL_FRAMEBUFFER_COMPLETE) {
		die("the texture cannot be read through a framebuffer");
	}
	glPixelStorei(GL_PACK_ALIGNMENT, 4);
	glReadPixels(0, 0, (GLsizei)width, (GLsizei)height, GL_RGBA,
		GL_UNSIGNED_BYTE, got);
	if (glGetError() != GL_NO_ERROR) {
		die("glReadPixels failed");
	}
	/* The framebuffer's row 0 is the texture's first: the pixmap's top. */
	for (size_t i = 0; i < size && equal; i += 4) {
		if (memcmp(got + i, want + i, 4) != 0) {
			printf("egl: pixel (%zu, %zu) read back R,G,B,A "
				"%u,%u,%u,%u, the pixmap has %u,%u,%u,%u\n",
				i / 4 % width, i / 4 / width, got[i],
				got[i + 1], got[i + 2], got[i + 3], want[i],
				want[i + 1], want[i + 2], want[i + 3]);
			equal = false;
		}
	}
	glBindFramebuffer(GL_FRAMEBUFFER, 0);
	glDeleteFramebuffers(1, &fbo);
	free(got);
	return equal;
}

/* The default mode: a texture of the pixmap, read back and compared. */
static int
draw_with_egl(struct source *source)
{
	/* PIXMAN_a8b8g8r8 is R, G, B, A in memory on a little-endian CPU. */
	pixman_image_t *rgba = convert(source->pixmap, PIXMAN_a8b8g8r8, NULL,
		0);
	const uint8_t *want = (const uint8_t *)pixman_image_get_data(rgba);
	EGLImageKHR image = EGL_NO_IMAGE_KHR;
	GLuint texture = 0;
	struct gl gl;
	bool equal;

	gl_init(&gl);
	if (source->use_dmabuf) {
		texture = texture_from_dmabuf(&gl, source, &image);
	}
	if (texture == 0) {
		texture = texture_from_pixels(want, source->width,
			source->height);
	}
	say_path(source);
	equal = read_back_equals(texture, want, source->width,
		source->height);
	printf("egl: %ux%u, %s (%s)\n", source->width, source->height,
		equal ? "every pixel read back equal" : "a pixel differs",
		(const char *)glGetString(GL_RENDERER));
	glBindTexture(GL_TEXTURE_2D, 0);
	glDeleteTextures(1, &texture);
	pixcache_example_egl_image_destroy(gl.display, image);
	gl_fini(&gl);
	pixman_image_unref(rgba);
	return equal ? 0 : 1;
}

/* --------------------------------------------------------- Wayland -- */

struct window {
	struct wl_display *display;
	struct pixcache_client *cache;
	struct wl_registry *registry;
	struct wl_compositor *compositor;
	struct wl_subcompositor *subcompositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	struct zwp_linux_dmabuf_v1 *linux_dmabuf;
	uint32_t format;		/* the pixmap's */
	bool offers_linear, offers_implicit;	/* of that format */
	struct wl_surface *surface, *child;
	struct wl_subsurface *subsurface;
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	struct wl_buffer *background, *pixmap;
	int width, height;
	bool shown, closed;
};

static void
dmabuf_format(void *data, struct zwp_linux_dmabuf_v1 *linux_dmabuf,
	uint32_t format)
{
	struct window *window = data;

	/* Before version 3 a format is offered with its implicit layout. */
	if (format == window->format &&
			zwp_linux_dmabuf_v1_get_version(linux_dmabuf) < 3) {
		window->offers_implicit = true;
	}
}

static void
dmabuf_modifier(void *data, struct zwp_linux_dmabuf_v1 *linux_dmabuf,
	uint32_t format, uint32_t hi, uint32_t lo)
{
	struct window *window = data;
	uint64_t modifier = (uint64_t)hi << 32 | lo;

	if (format != window->format) {
		return;
	}
	if (modifier == DRM_FORMAT_MOD_LINEAR) {
		window->offers_linear = true;
	} else if (modifier == DRM_FORMAT_MOD_INVALID) {
		window->offers_implicit = true;
	}
}

static const struct zwp_linux_dmabuf_v1_listener dmabuf_listener = {
	.format = dmabuf_format,
	.modifier = dmabuf_modifier,
};

static void
wm_base_ping(void *data, struct xdg_wm_base *wm_base, uint32_t serial)
{
	xdg_wm_base_pong(wm_base, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {
	.ping = wm_base_ping,
};

static void
registry_global(void *data, struct wl_registry *registry, uint32_t name,
	const char *interface, uint32_t version)
{
	struct window *w = data;

	if (strcmp(interface, wl_compositor_interface.name) == 0) {
		w->compositor = wl_registry_bind(registry, name,
			&wl_compositor_interface, 4);
	} else if (strcmp(interface, wl_subcompositor_interface.name) == 0) {
		w->subcompositor = wl_registry_bind(registry, name,
			&wl_subcompositor_interface, 1);
	} else if (strcmp(interface, wl_shm_interface.name) == 0) {
		w->shm = wl_registry_bind(registry, name, &wl_shm_interface, 1);
	} else if (strcmp(interface, xdg_wm_base_interface.name) == 0) {
		w->wm_base = wl_registry_bind(registry, name,
			&xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(w->wm_base, &wm_base_listener, w);
	} else if (strcmp(interface,
			zwp_linux_dmabuf_v1_interface.name) == 0 &&
			version >= 2) {
		/* 3 at most: its modifier events list what may be sent. */
		w->linux_dmabuf = wl_registry_bind(registry, name,
			&zwp_linux_dmabuf_v1_interface,
			version < 3 ? version : 3);
		zwp_linux_dmabuf_v1_add_listener(w->linux_dmabuf,
			&dmabuf_listener, w);
	}
}

static void
registry_global_remove(void *data, struct wl_registry *registry,
	uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_global_remove,
};

/* A wl_shm buffer of the window's own, drawn by draw(image, data). */
static struct wl_buffer *
shm_buffer(struct window *w, int width, int height,
	void (*draw)(pixman_image_t *image, void *data), void *data)
{
	pixman_image_t *image = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		width, height, NULL, 0);
	struct wl_buffer *buffer;

	if (image == NULL) {
		die("cannot make a buffer: out of memory");
	}
	draw(image, data);
	buffer = pxt_shm_buffer(w->shm, image);
	pixman_image_unref(image);
	if (buffer == NULL) {
		die("cannot make a buffer: %s", strerror(errno));
	}
	return buffer;
}

/* The window's own pixels: a background and a marker in two corners. */
static void
draw_background(pixman_image_t *image, void *data)
{
	int w = pixman_image_get_width(image);
	int h = pixman_image_get_height(image);

	pxt_fill(image, BACKGROUND, 0, 0, w, h);
	pxt_fill(image, MARKER_TOP_LEFT, 0, 0, MARKER, MARKER);
	pxt_fill(image, MARKER_BOTTOM_RIGHT, w - MARKER, h - MARKER, MARKER,
		MARKER);
}

/* The shm path: the pixmap copied into a buffer of the window's own. */
static void
draw_pixmap(pixman_image_t *image, void *data)
{
	pixman_image_t *copy = convert(data, PIXMAN_a8r8g8b8,
		pixman_image_get_data(image), pixman_image_get_stride(image));

	pixman_image_unref(copy);
}

/* The pixmap's wl_buffer: its dma-buf if the compositor takes it. */
static struct wl_buffer *
pixmap_buffer(struct window *w, struct source *source)
{
	struct wl_buffer *buffer;

	if (source->use_dmabuf && w->linux_dmabuf == NULL) {
		no_dmabuf(source, "the compositor offers no "
			"zwp_linux_dmabuf_v1 (version 2 or later)");
	} else if (source->use_dmabuf && !w->offers_linear &&
			!w->offers_implicit) {
		no_dmabuf(source, "zwp_linux_dmabuf_v1 offers format 0x%08x "
			"neither linear nor implicit", source->dmabuf.format);
	} else if (source->use_dmabuf && !w->offers_linear) {
		/* A dumb buffer is linear: what implicit means for it. */
		source->dmabuf.modifier = DRM_FORMAT_MOD_INVALID;
	}
	say_path(source);
	if (!source->use_dmabuf) {
		return shm_buffer(w, (int)source->width, (int)source->height,
			draw_pixmap, source->pixmap);
	}
	buffer = pixcache_example_wl_buffer_from_dmabuf(w->linux_dmabuf,
		&source->dmabuf, source->width, source->height);
	if (buffer == NULL) {
		die("out of memory");
	}
	/* The request holds a duplicate of the fd until it is sent. */
	close(source->dmabuf.fd);
	source->dmabuf.fd = -1;
	return buffer;
}

static void
surface_configure(void *data, struct xdg_surface *xdg_surface,
	uint32_t serial)
{
	struct window *w = data;

	xdg_surface_ack_configure(xdg_surface, serial);
	/* Our size is our own: the pixmap decides it. */
	wl_surface_attach(w->surface, w->background, 0, 0);
	wl_surface_damage_buffer(w->surface, 0, 0, w->width, w->height);
	wl_surface_commit(w->surface);
}

static const struct xdg_surface_listener surface_listener = {
	.configure = surface_configure,
};

static void
toplevel_configure(void *data, struct xdg_toplevel *toplevel, int32_t width,
	int32_t height, struct wl_array *states)
{
}

static void
toplevel_close(void *data, struct xdg_toplevel *toplevel)
{
	struct window *w = data;

	w->closed = true;
}

static const struct xdg_toplevel_listener toplevel_listener = {
	.configure = toplevel_configure,
	.close = toplevel_close,
};

static void
frame_done(void *data, struct wl_callback *callback, uint32_t time)
{
	struct window *w = data;

	wl_callback_destroy(callback);
	w->shown = true;
}

static const struct wl_callback_listener frame_listener = {
	.done = frame_done,
};

/*
 * The window: a toplevel with a background of its own, and the pixmap
 * on a subsurface at (MARGIN, MARGIN), as a toolkit shows an icon it does
 * not draw itself. The subsurface is synchronized: its buffer shows with
 * the parent's first commit.
 */
static void
create_window(struct window *w, struct source *source)
{
	struct wl_callback *frame;

	w->width = (int)source->width + 2 * MARGIN;
	w->height = (int)source->height + 2 * MARGIN;
	w->background = shm_buffer(w, w->width, w->height, draw_background,
		NULL);
	w->pixmap = pixmap_buffer(w, source);
	w->surface = wl_compositor_create_surface(w->compositor);
	w->child = wl_compositor_create_surface(w->compositor);
	w->subsurface = wl_subcompositor_get_subsurface(w->subcompositor,
		w->child, w->surface);
	wl_subsurface_set_position(w->subsurface, MARGIN, MARGIN);
	wl_surface_attach(w->child, w->pixmap, 0, 0);
	wl_surface_damage_buffer(w->child, 0, 0, (int32_t)source->width,
		(int32_t)source->height);
	wl_surface_commit(w->child);
	w->xdg_surface = xdg_wm_base_get_xdg_surface(w->wm_base, w->surface);
	xdg_surface_add_listener(w->xdg_surface, &surface_listener, w);
	w->toplevel = xdg_surface_get_toplevel(w->xdg_surface);
	xdg_toplevel_add_listener(w->toplevel, &toplevel_listener, w);
	xdg_toplevel_set_title(w->toplevel, "pixcache dma-buf import");
	xdg_toplevel_set_app_id(w->toplevel, "org.pixcache.DmabufImport");
	frame = wl_surface_frame(w->surface);
	wl_callback_add_listener(frame, &frame_listener, w);
	wl_surface_commit(w->surface);
}

static void
print_layout(const struct window *w, const struct source *source)
{
	printf("{\"path\": \"%s\", \"width\": %d, \"height\": %d, "
		"\"background\": %u, \"marker\": %d, \"marker_top_left\": %u, "
		"\"marker_bottom_right\": %u, \"x\": %d, \"y\": %d}\n",
		source->use_dmabuf ? "dma-buf" : "shm", w->width,
		w->height, BACKGROUND, MARKER, MARKER_TOP_LEFT,
		MARKER_BOTTOM_RIGHT, MARGIN, MARGIN);
	fflush(stdout);
}

/* Dies with the compositor's protocol error, if it sent one. */
static void
connection_lost(struct window *w)
{
	const struct wl_interface *interface;
	uint32_t id;
	int code = wl_display_get_protocol_error(w->display, &interface, &id);

	if (interface != NULL) {
		die("the compositor ended the connection: error %d on %s@%u",
			code, interface->name, id);
	}
	die("the compositor went away");
}

/* The application's loop: its reads, then the library's dispatch. */
static void
run(struct window *w, const struct source *source, int seconds)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!w->closed) {
		struct pollfd pfd = {
			.fd = wl_display_get_fd(w->display),
			.events = POLLIN,
		};

		while (wl_display_prepare_read(w->display) != 0) {
			if (wl_display_dispatch_pending(w->display) < 0) {
				connection_lost(w);
			}
		}
		wl_display_flush(w->display);
		if (poll(&pfd, 1, 100) > 0) {
			wl_display_read_events(w->display);
		} else {
			wl_display_cancel_read(w->display);
		}
		if (wl_display_dispatch_pending(w->display) < 0) {
			connection_lost(w);
		}
		/* The cache's events, when it shares the display. */
		pixcache_client_dispatch(w->cache);
		if (w->shown) {
			print_layout(w, source);
			w->shown = false;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (seconds > 0 && now.tv_sec - start.tv_sec >= seconds) {
			break;
		}
	}
}

static void
destroy_window(struct window *w)
{
	xdg_toplevel_destroy(w->toplevel);
	xdg_surface_destroy(w->xdg_surface);
	wl_subsurface_destroy(w->subsurface);
	wl_surface_destroy(w->child);
	wl_surface_destroy(w->surface);
	wl_buffer_destroy(w->pixmap);
	wl_buffer_destroy(w->background);
	if (w->linux_dmabuf != NULL) {
		zwp_linux_dmabuf_v1_destroy(w->linux_dmabuf);
	}
	xdg_wm_base_destroy(w->wm_base);
	wl_shm_destroy(w->shm);
	wl_subcompositor_destroy(w->subcompositor);
	wl_compositor_destroy(w->compositor);
	wl_registry_destroy(w->registry);
}

/* --surface: the pixmap on a subsurface, until closed or S seconds. */
static int
show_on_surface(struct wl_display *display, struct pixcache_client *cache,
	struct source *source, int seconds)
{
	struct window w = {
		.display = display,
		.cache = cache,
		.format = source->dmabuf.format,
	};

	w.registry = wl_display_get_registry(display);
	wl_registry_add_listener(w.registry, &registry_listener, &w);
	/* The globals, then what zwp_linux_dmabuf_v1 offers. */
	if (wl_display_roundtrip(display) < 0 ||
			wl_display_roundtrip(display) < 0) {
		connection_lost(&w);
	}
	if (w.compositor == NULL || w.subcompositor == NULL ||
			w.shm == NULL || w.wm_base == NULL) {
		die("the compositor lacks wl_compositor, wl_subcompositor, "
			"wl_shm or xdg_wm_base");
	}
	create_window(&w, source);
	run(&w, source, seconds);
	destroy_window(&w);
	return 0;
}

/* ------------------------------------------------------------ main -- */

static void
parse(int argc, char *argv[], struct options *opt)
{
	static const struct option options[] = {
		{ "cache-socket", required_argument, NULL, 'c' },
		{ "realm", required_argument, NULL, 'r' },
		{ "surface", no_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->realm = "default";
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->cache_socket = optarg;
			break;
		case 'r':
			opt->realm = optarg;
			break;
		case 's':
			opt->surface = true;
			break;
		case 't':
			opt->seconds = atoi(optarg);
			break;
		default:
			optind = argc;
			break;
		}
	}
	if (optind != argc - 1 || opt->seconds < 0) {
		fprintf(stderr, "usage: pixcache-dmabuf-import "
			"[--cache-socket NAME] [--realm REALM]\n"
			"                              "
			"[--surface [--seconds S]] NAME\n");
		exit(2);
	}
	opt->name = argv[optind];
}

/* The pixmap, held; or dies saying why (a miss's claim abandoned). */
static struct pixcache_pixmap *
find(struct pixcache_client *cache, const struct options *opt)
{
	struct pixcache_pixmap *pixmap;
	int ret = pixcache_client_find(cache, opt->realm, opt->name, &pixmap);

	if (ret == -ENOENT) {
		pixcache_client_abandon(cache, opt->realm, opt->name);
		die("%s is not in realm %s of the cache (pixcache put it "
			"first)", opt->name, opt->realm);
	}
	if (ret < 0) {
		die("finding %s: %s", opt->name, strerror(-ret));
	}
	return pixmap;
}

int
main(int argc, char *argv[])
{
	struct options opt = { 0 };
	struct wl_display *display = NULL;
	struct pixcache_client *cache;
	struct source source;
	int ret, status;

	parse(argc, argv, &opt);
	if (opt.surface || opt.cache_socket == NULL) {
		display = wl_display_connect(NULL);
		if (display == NULL) {
			die("cannot connect to the Wayland display: %s",
				strerror(errno));
		}
	}
	cache = opt.cache_socket != NULL ?
		pixcache_client_connect(opt.cache_socket, NULL) :
		pixcache_client_create(display, NULL);
	if (cache == NULL) {
		die("cannot reach the cache: %s", strerror(errno));
	}
	source.pixmap = find(cache, &opt);
	source.width = pixcache_pixmap_get_width(source.pixmap);
	source.height = pixcache_pixmap_get_height(source.pixmap);
	ret = pixcache_pixmap_get_dmabuf(source.pixmap, &source.dmabuf);
	source.use_dmabuf = ret == 0;
	if (ret < 0) {
		source.dmabuf.fd = -1;
		source.dmabuf.format = pixcache_pixmap_get_format(
			source.pixmap);
		no_dmabuf(&source, "pixcache_pixmap_get_dmabuf: %s%s",
			strerror(-ret), ret == -ENODEV ?
			": the manager has no GPU device" : "");
	}
	status = opt.surface ? show_on_surface(display, cache, &source,
		opt.seconds) : draw_with_egl(&source);
	if (source.dmabuf.fd >= 0) {
		close(source.dmabuf.fd);
	}
	pixcache_pixmap_unref(source.pixmap);
	pixcache_client_destroy(cache);
	if (display != NULL) {
		wl_display_disconnect(display);
	}
	return status;
}
