/*
 * A cached pixmap's dma-buf (pixcache_pixmap_get_dmabuf()) imported into
 * EGL by another process, as a compositor or a client's GPU renderer does:
 * eglCreateImageKHR(EGL_LINUX_DMA_BUF_EXT) on Mesa's surfaceless platform,
 * bound to a texture, read back through a framebuffer. The import is
 * examples/pixcache-egl.h's, the helper a toolkit copies, so the
 * every-pixel read-back tests it too. It needs
 * /dev/dri/card0 making dumb buffers (vgem: vm-run.sh --modules vgem) and
 * an EGL with dma-buf import; without them the tests are skipped, saying
 * which is missing.
 *
 * The importer is a process forked before anything starts a thread (the
 * server's, Mesa's): it sets EGL up, says whether it can, waits for the
 * socket, connects with a library of its own and reports on a pipe.
 */

#define _GNU_SOURCE
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <GLES2/gl2ext.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>

#include "client-harness.h"
#include "drm-util.h"
#include "pixcache-egl.h"
#include "test-runner.h"

#define SEED 23
#define RUNS 20

/* ---------------------------------------------------------- the child -- */

struct gl {
	EGLDisplay display;
	EGLContext context;
	bool modifiers;		/* the helper passes the modifier */
};

/* The child's message to the parent: "ok", "skip ..." or "fail ...". */
static void say(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
say(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line)) {
		n = sizeof(line) - 1;
	}
	assert(write(fd, line, (size_t)n + 1) == n + 1);
}

/* Sets EGL up; else says why not ("skip ...") and returns false. */
static bool
gl_init(struct gl *gl, int out)
{
	const char *client = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
	PFNEGLGETPLATFORMDISPLAYEXTPROC get_display;
	EGLint context_attribs[] = { EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE };
	EGLint major, minor;
	const char *ext, *missing;

	memset(gl, 0, sizeof(*gl));
	gl->display = EGL_NO_DISPLAY;
	if (!pixcache_example_has_extension(client, "EGL_EXT_platform_base") ||
			!pixcache_example_has_extension(client,
			"EGL_MESA_platform_surfaceless")) {
		say(out, "skip EGL has no surfaceless platform "
			"(EGL_MESA_platform_surfaceless): client extensions: %s",
			client ? client : "none");
		return false;
	}
	get_display = (PFNEGLGETPLATFORMDISPLAYEXTPROC)
		eglGetProcAddress("eglGetPlatformDisplayEXT");
	gl->display = get_display(EGL_PLATFORM_SURFACELESS_MESA,
		EGL_DEFAULT_DISPLAY, NULL);
	if (gl->display == EGL_NO_DISPLAY ||
			!eglInitialize(gl->display, &major, &minor)) {
		say(out, "skip EGL has no surfaceless display (error 0x%x)",
			eglGetError());
		return false;
	}
	ext = eglQueryString(gl->display, EGL_EXTENSIONS);
	if (!pixcache_example_egl_can_import(gl->display, &missing)) {
		say(out, "skip the surfaceless display lacks %s", missing);
		eglTerminate(gl->display);
		return false;
	}
	if (!pixcache_example_has_extension(ext,
			"EGL_KHR_surfaceless_context")) {
		say(out, "skip the surfaceless display lacks "
			"EGL_KHR_surfaceless_context");
		eglTerminate(gl->display);
		return false;
	}
	gl->modifiers = pixcache_example_has_extension(ext,
		"EGL_EXT_image_dma_buf_import_modifiers");
	assert(eglBindAPI(EGL_OPENGL_ES_API));
	gl->context = eglCreateContext(gl->display, EGL_NO_CONFIG_KHR,
		EGL_NO_CONTEXT, context_attribs);
	if (gl->context == EGL_NO_CONTEXT) {
		say(out, "skip no GLES 2 context without a config (0x%x)",
			eglGetError());
		eglTerminate(gl->display);
		return false;
	}
	assert(eglMakeCurrent(gl->display, EGL_NO_SURFACE, EGL_NO_SURFACE,
		gl->context));
	if (!pixcache_example_has_extension(
			(const char *)glGetString(GL_EXTENSIONS),
			"GL_OES_EGL_image")) {
		say(out, "skip GLES (%s) lacks GL_OES_EGL_image",
			(const char *)glGetString(GL_RENDERER));
		eglMakeCurrent(gl->display, EGL_NO_SURFACE, EGL_NO_SURFACE,
			EGL_NO_CONTEXT);
		eglDestroyContext(gl->display, gl->context);
		eglTerminate(gl->display);
		return false;
	}
	return true;
}

static void
gl_fini(struct gl *gl)
{
	assert(eglMakeCurrent(gl->display, EGL_NO_SURFACE, EGL_NO_SURFACE,
		EGL_NO_CONTEXT));
	assert(eglDestroyContext(gl->display, gl->context));
	assert(eglTerminate(gl->display));
	eglReleaseThread();
}

/*
 * A texture of image (the helper's) or, image NULL, of pixels uploaded
 * with glTexImage2D, on a framebuffer, bound; returns its GL error.
 */
static GLenum
texture_on_fbo(EGLImageKHR image, const void *pixels, uint32_t width,
	uint32_t height, GLuint *texture, GLuint *fbo)
{
	GLenum error;

	*fbo = 0;
	if (image != NULL) {
		*texture = pixcache_example_gl_texture_from_image(image,
			&error);
		if (*texture == 0) {
			return error;
		}
	} else {
		glGenTextures(1, texture);
		glBindTexture(GL_TEXTURE_2D, *texture);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER,
			GL_NEAREST);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER,
			GL_NEAREST);
		glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, (GLsizei)width,
			(GLsizei)height, 0, GL_RGBA, GL_UNSIGNED_BYTE, pixels);
	}
	glGenFramebuffers(1, fbo);
	glBindFramebuffer(GL_FRAMEBUFFER, *fbo);
	glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0,
		GL_TEXTURE_2D, *texture, 0);
	if (glCheckFramebufferStatus(GL_FRAMEBUFFER) !=
			GL_FRAMEBUFFER_COMPLETE) {
		return GL_INVALID_FRAMEBUFFER_OPERATION;
	}
	return glGetError();
}

static void
texture_free(GLuint texture, GLuint fbo)
{
	glBindFramebuffer(GL_FRAMEBUFFER, 0);
	glDeleteFramebuffers(1, &fbo);
	glBindTexture(GL_TEXTURE_2D, 0);
	glDeleteTextures(1, &texture);
}

/* Connects to socket (a path) and finds name, held. */
static struct pixcache_pixmap *
find(const char *socket, const char *name, struct pixcache_client **client)
{
	struct pixcache_client_options options;
	struct pixcache_pixmap *pixmap;

	pixcache_client_options_init(&options);
	options.timeout_ms = 5000;
	*client = pixcache_client_connect(socket, &options);
	assert(*client != NULL);
	assert(pixcache_client_find(*client, "default", "pattern",
		&pixmap) == 0);
	return pixmap;
}

/* Imports the pixmap and compares every pixel read back with the pattern. */
static void
check_import(struct gl *gl, const char *socket, int out)
{
	struct pixcache_client *client;
	struct pixcache_pixmap *pixmap = find(socket, "pattern", &client);
	uint32_t width = pixcache_pixmap_get_width(pixmap);
	uint32_t height = pixcache_pixmap_get_height(pixmap);
	pixman_image_t *pattern = ch_image(width, height, SEED);
	const uint32_t *bits = pixman_image_get_data(pattern);
	uint32_t pattern_stride = (uint32_t)pixman_image_get_stride(pattern) / 4;
	struct pixcache_dmabuf dmabuf;
	EGLImageKHR image;
	GLuint texture, fbo;
	uint8_t *read;
	GLenum error;
	int ret;

	ret = pixcache_pixmap_get_dmabuf(pixmap, &dmabuf);
	if (ret != 0) {
		say(out, "fail pixcache_pixmap_get_dmabuf: %s",
			strerror(-ret));
		return;
	}
	if (dmabuf.format != DRM_FORMAT_ARGB8888 ||
			dmabuf.modifier != DRM_FORMAT_MOD_LINEAR) {
		say(out, "fail dma-buf format 0x%08x modifier 0x%llx, not "
			"ARGB8888 linear", dmabuf.format,
			(unsigned long long)dmabuf.modifier);
		return;
	}
	image = pixcache_example_egl_image_from_dmabuf(gl->display, &dmabuf,
		width, height);
	if (image == EGL_NO_IMAGE_KHR) {
		say(out, "fail eglCreateImageKHR(EGL_LINUX_DMA_BUF_EXT, %ux%u, "
			"offset %u, pitch %u%s): EGL error 0x%x", width, height,
			dmabuf.offset, dmabuf.stride,
			gl->modifiers ? ", linear modifier" : "", eglGetError());
		close(dmabuf.fd);
		return;
	}
	/* The image holds the buffer: the fd is not needed any more. */
	close(dmabuf.fd);
	error = texture_on_fbo(image, NULL, width, height, &texture,
		&fbo);
	if (error != GL_NO_ERROR) {
		say(out, "fail texture of the EGLImage on a framebuffer: "
			"0x%x", error);
		goto out;
	}
	read = malloc((size_t)width * height * 4);
	assert(read != NULL);
	memset(read, 0x5a, (size_t)width * height * 4);
	glPixelStorei(GL_PACK_ALIGNMENT, 4);
	glReadPixels(0, 0, (GLsizei)width, (GLsizei)height, GL_RGBA,
		GL_UNSIGNED_BYTE, read);
	error = glGetError();
	if (error != GL_NO_ERROR) {
		say(out, "fail glReadPixels: 0x%x", error);
		free(read);
		goto out;
	}
	/*
	 * ARGB8888 is a little-endian 32-bit word: bytes B, G, R, A in
	 * memory. GL_RGBA / GL_UNSIGNED_BYTE reads R, G, B, A. Row 0 of
	 * the framebuffer is the texture's row 0, the buffer's first.
	 */
	for (uint32_t y = 0; y < height; y++) {
		for (uint32_t x = 0; x < width; x++) {
			uint32_t p = bits[y * pattern_stride + x];
			const uint8_t *got = read + ((size_t)y * width + x) * 4;
			uint8_t want[4] = { (uint8_t)(p >> 16),
				(uint8_t)(p >> 8), (uint8_t)p,
				(uint8_t)(p >> 24) };

			if (memcmp(got, want, 4) != 0) {
				say(out, "fail pixel (%u, %u) of %ux%u: read "
					"R,G,B,A %02x,%02x,%02x,%02x, the "
					"pattern's ARGB8888 0x%08x is "
					"%02x,%02x,%02x,%02x", x, y, width,
					height, got[0], got[1], got[2],
					got[3], p, want[0], want[1], want[2],
					want[3]);
				free(read);
				goto out;
			}
		}
	}
	free(read);
	say(out, "ok %ux%u, dma-buf pitch %u, offset %u, %s: %s", width,
		height, dmabuf.stride, dmabuf.offset,
		gl->modifiers ? "with the linear modifier" : "no modifiers",
		(const char *)glGetString(GL_RENDERER));
out:
	texture_free(texture, fbo);
	pixcache_example_egl_image_destroy(gl->display, image);
	assert(glGetError() == GL_NO_ERROR);
	pixman_image_unref(pattern);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Times an import against an upload of the same pixels, RUNS each. */
static void
time_import(struct gl *gl, const char *socket, int out)
{
	struct pixcache_client *client;
	struct pixcache_pixmap *pixmap = find(socket, "pattern", &client);
	uint32_t width = pixcache_pixmap_get_width(pixmap);
	uint32_t height = pixcache_pixmap_get_height(pixmap);
	uint32_t stride = pixcache_pixmap_get_stride(pixmap);
	const uint8_t *data = pixcache_pixmap_get_data(pixmap);
	double imports[RUNS], uploads[RUNS];
	struct pixcache_dmabuf dmabuf;
	uint8_t *pixels, one[4];

	/* glTexImage2D takes tight rows here (GLES 2 has no row length). */
	pixels = malloc((size_t)width * height * 4);
	assert(pixels != NULL);
	for (uint32_t y = 0; y < height; y++) {
		memcpy(pixels + (size_t)y * width * 4, data + (size_t)y * stride,
			(size_t)width * 4);
	}
	if (pixcache_pixmap_get_dmabuf(pixmap, &dmabuf) != 0) {
		say(out, "fail pixcache_pixmap_get_dmabuf");
		free(pixels);
		return;
	}
	for (int i = 0; i < RUNS; i++) {
		GLuint texture, fbo;
		double start = now_us();
		EGLImageKHR image = pixcache_example_egl_image_from_dmabuf(
			gl->display, &dmabuf, width, height);

		assert(image != EGL_NO_IMAGE_KHR);
		assert(texture_on_fbo(image, NULL, width, height,
			&texture, &fbo) == GL_NO_ERROR);
		glReadPixels(0, 0, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, one);
		imports[i] = now_us() - start;
		assert(glGetError() == GL_NO_ERROR);
		texture_free(texture, fbo);
		pixcache_example_egl_image_destroy(gl->display, image);

		start = now_us();
		assert(texture_on_fbo(NULL, pixels, width, height,
			&texture, &fbo) == GL_NO_ERROR);
		glReadPixels(0, 0, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, one);
		uploads[i] = now_us() - start;
		assert(glGetError() == GL_NO_ERROR);
		texture_free(texture, fbo);
	}
	close(dmabuf.fd);
	say(out, "ok egl: %ux%u ARGB8888, median of %d on %s (a software "
		"GPU: CPU copies, not a hardware GPU's numbers): dma-buf "
		"import (eglCreateImageKHR + texture + 1-pixel read) %.0f us, "
		"glTexImage2D upload (+ texture + 1-pixel read) %.0f us",
		width, height, RUNS, (const char *)glGetString(GL_RENDERER),
		median(imports, RUNS), median(uploads, RUNS));
	free(pixels);
	pixcache_pixmap_unref(pixmap);
	pixcache_client_destroy(client);
}

/* ------------------------------------------------------------- parent -- */

struct importer {
	pid_t pid;
	int go;		/* the socket's path goes here */
	int result;	/* the child's messages come from here */
};

static void
spawn(struct importer *child, void (*fn)(struct gl *gl, const char *socket,
	int out))
{
	int go[2], out[2];

	assert(pipe2(go, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
	child->pid = test_fork();
	if (child->pid == 0) {
		char socket[256] = { 0 };
		struct gl gl;

		close(go[1]);
		close(out[0]);
		if (gl_init(&gl, out[1])) {
			say(out[1], "ready");
			if (read(go[0], socket, sizeof(socket) - 1) > 0) {
				fn(&gl, socket, out[1]);
			}
			gl_fini(&gl);
		}
		close(go[0]);
		close(out[1]);
		_exit(0);
	}
	close(go[0]);
	close(out[1]);
	child->go = go[1];
	child->result = out[0];
}

/* The child's next message (NUL-terminated), or "" at its end. */
static void
hear(struct importer *child, char *line, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(child->result, line + n, 1);

		if (r <= 0 || line[n] == '\0') {
			break;
		}
		n++;
	}
	line[n] = '\0';
}

static void
reap(struct importer *child)
{
	int status;

	close(child->result);
	if (child->go >= 0) {
		close(child->go);
	}
	assert(waitpid(child->pid, &status, 0) == child->pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		test_fail("the importer died: status 0x%x", status);
	}
}

/*
 * Forks the importer, which says whether EGL can; starts a manager with
 * the card, uploads a size pattern, lets the importer run fn and returns
 * its message (after "ok ").
 */
static void
run(void (*fn)(struct gl *gl, const char *socket, int out), uint32_t width,
	uint32_t height, char *line, size_t size)
{
	int card = test_open_card();
	struct importer child;
	struct ch_server *server;
	struct pixcache_client *writer;
	pixman_image_t *image;
	char path[256];
	int n;

	/* Before the server's thread and Mesa's: a fork of one thread. */
	spawn(&child, fn);
	hear(&child, line, size);
	if (strcmp(line, "ready") != 0) {
		close(card);
		reap(&child);
		if (strncmp(line, "skip ", 5) == 0) {
			test_skip("%s", line + 5);
		}
		test_fail("the importer: %s", line[0] ? line : "died");
	}
	server = ch_server_start(NULL, NULL, NULL);
	assert(ch_server_set_drm_device(server, card) == 0);
	close(card);
	writer = ch_connect(server);
	image = ch_image(width, height, SEED);
	assert(pixcache_client_put(writer, "default", "pattern", image,
		DRM_FORMAT_ARGB8888, 0, NULL) == 0);
	pixman_image_unref(image);

	n = snprintf(path, sizeof(path), "%s/%s", getenv("XDG_RUNTIME_DIR"),
		ch_server_socket(server));
	assert(write(child.go, path, (size_t)n) == n);
	close(child.go);
	child.go = -1;
	hear(&child, line, size);
	reap(&child);
	pixcache_client_destroy(writer);
	ch_server_stop(server);
	if (strncmp(line, "ok ", 3) != 0) {
		test_fail("%s", strncmp(line, "fail ", 5) == 0 ? line + 5 :
			line[0] ? line : "the importer said nothing");
	}
	memmove(line, line + 3, strlen(line + 3) + 1);
}

TEST(a_cached_pixmap_imports_into_egl_with_every_pixel_equal)
{
	char line[512];

	/* Not square, and rows of an odd width. */
	run(check_import, 61, 47, line, sizeof(line));
	printf("imported: %s\n", line);
}

TEST(importing_against_uploading_is_reported)
{
	char line[512];

	run(time_import, 256, 256, line, sizeof(line));
	printf("report: %s\n", line);
}
