/*
 * PNG (libpng) and PAM files to and from premultiplied pixman images.
 * Files hold straight alpha; the cache holds premultiplied pixels.
 * pixman premultiplies (compositing the colour through the alpha as a
 * mask); nothing in pixman divides, so unpremultiplying is a loop here.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-io.h"

/* Pixmaps the cache takes are at most 16384 on a side. */
#define MAX_SIDE 16384

static void
set_error(char *error, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_error(char *error, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error, size, fmt, ap);
	va_end(ap);
}

/*
 * Straight-alpha pixels, a8r8g8b8 in host order, to a new premultiplied
 * image: colour (alpha ignored) composited through the alpha as a mask.
 */
static pixman_image_t *
premultiply(uint32_t *straight, int width, int height)
{
	pixman_image_t *color = pixman_image_create_bits(PIXMAN_x8r8g8b8,
		width, height, straight, width * 4);
	pixman_image_t *with_alpha = pixman_image_create_bits(
		PIXMAN_a8r8g8b8, width, height, straight, width * 4);
	pixman_image_t *alpha = pixman_image_create_bits(PIXMAN_a8, width,
		height, NULL, 0);
	pixman_image_t *out = pixman_image_create_bits(PIXMAN_a8r8g8b8,
		width, height, NULL, 0);

	if (color != NULL && with_alpha != NULL && alpha != NULL &&
			out != NULL) {
		pixman_image_composite32(PIXMAN_OP_SRC, with_alpha, NULL, alpha,
			0, 0, 0, 0, 0, 0, width, height);
		pixman_image_composite32(PIXMAN_OP_SRC, color, alpha, out, 0, 0,
			0, 0, 0, 0, width, height);
	} else if (out != NULL) {
		pixman_image_unref(out);
		out = NULL;
	}
	if (color != NULL) {
		pixman_image_unref(color);
	}
	if (with_alpha != NULL) {
		pixman_image_unref(with_alpha);
	}
	if (alpha != NULL) {
		pixman_image_unref(alpha);
	}
	return out;
}

/* ---- PNG ---- */

/* Warnings (an sRGB profile libpng dislikes, say) are no failure. */
static void
png_quiet(png_structp png, png_const_charp message)
{
}

struct png_reader {
	png_structp png;
	png_infop info;
	uint32_t *pixels;
	png_bytep *rows;
};

static pixman_image_t *
load_png(FILE *file, const char *path, char *error, size_t size)
{
	struct png_reader r = { NULL, NULL, NULL, NULL };
	volatile struct png_reader *vr = &r;
	/* Volatile: set after setjmp, read after a longjmp. */
	pixman_image_t *volatile image = NULL;
	png_uint_32 width, height;

	r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
		png_quiet);
	r.info = r.png ? png_create_info_struct(r.png) : NULL;
	if (r.info == NULL) {
		set_error(error, size, "%s: out of memory", path);
		png_destroy_read_struct(&r.png, NULL, NULL);
		return NULL;
	}
	if (setjmp(png_jmpbuf(r.png))) {
		set_error(error, size, "%s: not a readable PNG", path);
		goto out;
	}
	png_init_io(r.png, file);
	png_read_info(r.png, r.info);
	width = png_get_image_width(r.png, r.info);
	height = png_get_image_height(r.png, r.info);
	if (width == 0 || height == 0 || width > MAX_SIDE ||
			height > MAX_SIDE) {
		set_error(error, size, "%s: %ux%u is not a size the cache "
			"takes", path, (unsigned)width, (unsigned)height);
		goto out;
	}
	/* Whatever the PNG holds, to 8-bit BGRA: a8r8g8b8 on little-endian. */
	png_set_expand(r.png);
	png_set_strip_16(r.png);
	png_set_gray_to_rgb(r.png);
	png_set_filler(r.png, 0xff, PNG_FILLER_AFTER);
	png_set_bgr(r.png);
	png_set_interlace_handling(r.png);
	png_read_update_info(r.png, r.info);
	vr->pixels = malloc((size_t)width * height * 4);
	vr->rows = malloc(height * sizeof(png_bytep));
	if (r.pixels == NULL || r.rows == NULL) {
		set_error(error, size, "%s: out of memory", path);
		goto out;
	}
	for (png_uint_32 y = 0; y < height; y++) {
		r.rows[y] = (png_bytep)(r.pixels + (size_t)y * width);
	}
	png_read_image(r.png, r.rows);
	png_read_end(r.png, NULL);
	image = premultiply(r.pixels, (int)width, (int)height);
	if (image == NULL) {
		set_error(error, size, "%s: out of memory", path);
	}
out:
	png_destroy_read_struct(&r.png, &r.info, NULL);
	free(vr->rows);
	free(vr->pixels);
	return image;
}

static int
save_png(FILE *file, const char *path, const uint8_t *rgba, int width,
	int height, char *error, size_t size)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
		NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;

	if (info == NULL) {
		set_error(error, size, "%s: out of memory", path);
		png_destroy_write_struct(&png, NULL);
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		set_error(error, size, "%s: cannot write the PNG", path);
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_init_io(png, file);
	png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
		PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE,
		PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < height; y++) {
		png_write_row(png, rgba + (size_t)y * width * 4);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

/* ---- PAM (netpbm's P7) ---- */

struct pam_header {
	int width, height, depth, maxval;
	char tupltype[32];
};

static int
read_pam_header(FILE *file, struct pam_header *h)
{
	char line[128], key[32], value[32];

	*h = (struct pam_header){ 0 };
	if (fgets(line, sizeof(line), file) == NULL ||
			strcmp(line, "P7\n") != 0) {
		return -1;
	}
	while (fgets(line, sizeof(line), file) != NULL) {
		if (line[0] == '#') {
			continue;
		}
		if (strcmp(line, "ENDHDR\n") == 0) {
			return 0;
		}
		if (sscanf(line, "%31s %31s", key, value) != 2) {
			return -1;
		}
		if (strcmp(key, "WIDTH") == 0) {
			h->width = atoi(value);
		} else if (strcmp(key, "HEIGHT") == 0) {
			h->height = atoi(value);
		} else if (strcmp(key, "DEPTH") == 0) {
			h->depth = atoi(value);
		} else if (strcmp(key, "MAXVAL") == 0) {
			h->maxval = atoi(value);
		} else if (strcmp(key, "TUPLTYPE") == 0) {
			snprintf(h->tupltype, sizeof(h->tupltype), "%s", value);
		}
	}
	return -1;
}

/* A PAM tuple of depth 1 to 4 (gray, gray+alpha, RGB, RGBA) as BGRA. */
static uint32_t
pam_pixel(const uint8_t *t, int depth)
{
	uint32_t r = t[0], g = t[0], b = t[0], a = 0xff;

	if (depth == 2) {
		a = t[1];
	} else if (depth >= 3) {
		g = t[1];
		b = t[2];
		a = depth == 4 ? t[3] : 0xff;
	}
	return a << 24 | r << 16 | g << 8 | b;
}

static pixman_image_t *
load_pam(FILE *file, const char *path, char *error, size_t size)
{
	struct pam_header h;
	pixman_image_t *image = NULL;
	uint32_t *pixels;
	uint8_t *tuples;
	size_t n;

	if (read_pam_header(file, &h) < 0 || h.width <= 0 || h.height <= 0 ||
			h.width > MAX_SIDE || h.height > MAX_SIDE ||
			h.depth < 1 || h.depth > 4 || h.maxval != 255) {
		set_error(error, size, "%s: not a PAM of 8-bit gray, gray+alpha,"
			" RGB or RGBA", path);
		return NULL;
	}
	n = (size_t)h.width * (size_t)h.height;
	pixels = malloc(n * 4);
	tuples = malloc(n * (size_t)h.depth);
	if (pixels == NULL || tuples == NULL) {
		set_error(error, size, "%s: out of memory", path);
	} else if (fread(tuples, (size_t)h.depth, n, file) != n) {
		set_error(error, size, "%s: truncated", path);
	} else {
		for (size_t i = 0; i < n; i++) {
			pixels[i] = pam_pixel(tuples + i * (size_t)h.depth,
				h.depth);
		}
		image = premultiply(pixels, h.width, h.height);
		if (image == NULL) {
			set_error(error, size, "%s: out of memory", path);
		}
	}
	free(tuples);
	free(pixels);
	return image;
}

static int
save_pam(FILE *file, const char *path, const uint8_t *rgba, int width,
	int height, char *error, size_t size)
{
	size_t n = (size_t)width * (size_t)height * 4;

	if (fprintf(file, "P7\nWIDTH %d\nHEIGHT %d\nDEPTH 4\nMAXVAL 255\n"
			"TUPLTYPE RGB_ALPHA\nENDHDR\n", width, height) < 0 ||
			fwrite(rgba, 1, n, file) != n) {
		set_error(error, size, "%s: cannot write: %s", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the interface ---- */

pixman_image_t *
pxt_image_load(const char *path, char *error, size_t size)
{
	static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
		0x1a, '\n' };
	uint8_t magic[8];
	pixman_image_t *image = NULL;
	FILE *file = fopen(path, "rb");

	if (file == NULL) {
		set_error(error, size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fread(magic, 1, sizeof(magic), file) == sizeof(magic) &&
			memcmp(magic, png_magic, sizeof(magic)) == 0) {
		rewind(file);
		image = load_png(file, path, error, size);
	} else if (memcmp(magic, "P7\n", 3) == 0) {
		rewind(file);
		image = load_pam(file, path, error, size);
	} else {
		set_error(error, size, "%s: neither PNG nor PAM", path);
	}
	fclose(file);
	return image;
}

/* Straight RGBA bytes of any pixman image, composited to a8r8g8b8 first. */
static uint8_t *
straight_rgba(pixman_image_t *src, int width, int height)
{
	pixman_image_t *argb = pixman_image_create_bits(PIXMAN_a8r8g8b8, width,
		height, NULL, 0);
	uint8_t *rgba = malloc((size_t)width * (size_t)height * 4);
	const uint32_t *p;
	int stride;

	if (argb == NULL || rgba == NULL) {
		if (argb != NULL) {
			pixman_image_unref(argb);
		}
		free(rgba);
		return NULL;
	}
	pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, argb, 0, 0, 0, 0,
		0, 0, width, height);
	p = pixman_image_get_data(argb);
	stride = pixman_image_get_stride(argb) / 4;
	for (int y = 0; y < height; y++) {
		for (int x = 0; x < width; x++) {
			uint32_t v = p[y * stride + x];
			uint32_t a = v >> 24;
			uint8_t *o = rgba + ((size_t)y * width + x) * 4;

			/* Round to nearest: (c * 255 + a / 2) / a. */
			for (int c = 0; c < 3; c++) {
				uint32_t pc = v >> (16 - 8 * c) & 0xff;

				o[c] = a == 0 ? 0 :
					(uint8_t)((pc * 255 + a / 2) / a);
			}
			o[3] = (uint8_t)a;
		}
	}
	pixman_image_unref(argb);
	return rgba;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int
pxt_image_save(const char *path, pixman_image_t *image, char *error,
	size_t size)
{
	int width = pixman_image_get_width(image);
	int height = pixman_image_get_height(image);
	bool png = ends_with(path, ".png");
	uint8_t *rgba;
	FILE *file;
	int ret;

	if (!png && !ends_with(path, ".pam")) {
		set_error(error, size, "%s: the name must end in .png or .pam",
			path);
		return -1;
	}
	rgba = straight_rgba(image, width, height);
	if (rgba == NULL) {
		set_error(error, size, "%s: out of memory", path);
		return -1;
	}
	file = fopen(path, "wb");
	if (file == NULL) {
		set_error(error, size, "%s: %s", path, strerror(errno));
		free(rgba);
		return -1;
	}
	ret = png ? save_png(file, path, rgba, width, height, error, size) :
		save_pam(file, path, rgba, width, height, error, size);
	if (fclose(file) != 0 && ret == 0) {
		set_error(error, size, "%s: %s", path, strerror(errno));
		ret = -1;
	}
	free(rgba);
	return ret;
}

void
pxt_fill(pixman_image_t *dst, uint32_t argb, int x, int y, int w, int h)
{
	pixman_color_t color = {
		.red = (uint16_t)((argb >> 16 & 0xff) * 0x101),
		.green = (uint16_t)((argb >> 8 & 0xff) * 0x101),
		.blue = (uint16_t)((argb & 0xff) * 0x101),
		.alpha = (uint16_t)((argb >> 24) * 0x101),
	};
	pixman_box32_t box = { x, y, x + w, y + h };

	pixman_image_fill_boxes(PIXMAN_OP_SRC, dst, &color, 1, &box);
}
