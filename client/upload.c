/*
 * Uploads. A blocking put: the manager hands out a target, the library
 * converts the image into it with pixman, seals it and commits.
 * Asynchronous uploads are staged: those queued until the next commit are
 * converted into one memfd of the library's own, sealed and sent once,
 * and each is stored from its offset there (pixcache_staging_v1): one fd
 * and no round trip per pixmap.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "client-private.h"
#include "shm.h"
#include "wire.h"

static void
upload_target(void *data, struct pixcache_upload_v1 *proxy, int32_t fd,
	uint32_t stride, uint32_t size)
{
	struct pxcl_request *req = data;
	uint64_t bytes;

	/* It must hold the image, and not shrink under us as we write. */
	if (req->target_fd >= 0 || !pxcl_layout_ok(req->width, req->height,
			stride, req->format, &bytes) || bytes > size ||
			pxc_shm_check(fd, F_SEAL_SHRINK, size) < 0) {
		close(fd);
		pxcl_request_complete(req, -EPROTO);
		return;
	}
	req->target_fd = fd;
	req->stride = stride;
	req->size = size;
	if (!req->waited) {
		/* Filled by whoever runs completions next, without the lock. */
		wl_list_insert(req->client->fills.prev, &req->fill_link);
	}
	pthread_cond_broadcast(&req->client->cond);
}

static void
upload_failed(void *data, struct pixcache_upload_v1 *proxy, uint32_t reason)
{
	struct pxcl_request *req = data;

	pxcl_request_complete(req, pxc_failure_errno(reason));
}

static void
upload_stored(void *data, struct pixcache_upload_v1 *proxy,
	uint32_t instance_hi, uint32_t instance_lo, uint32_t slot,
	uint32_t generation, uint32_t tag_hi, uint32_t tag_lo)
{
	struct pxcl_request *req = data;

	req->key = pxcl_key_from_wire(instance_hi, instance_lo, slot,
		generation, tag_hi, tag_lo);
	req->client->stats.uploads++;
	pxcl_request_complete(req, 0);
}

const struct pixcache_upload_v1_listener pxcl_upload_events = {
	.target = upload_target,
	.failed = upload_failed,
	.stored = upload_stored,
};

/*
 * Writes image into the target, converted by pixman to the format
 * (pixman's formats are premultiplied, as the cache's are), then seals it
 * against writing. Runs without the lock: the target is ours alone.
 */
/* Writes image at dst, rows of stride bytes, converted to format. */
static int
convert(void *dst, uint32_t stride, const struct pxc_format *format,
	pixman_image_t *image)
{
	int width = pixman_image_get_width(image);
	int height = pixman_image_get_height(image);
	pixman_image_t *to = pixman_image_create_bits_no_clear(format->pixman,
		width, height, dst, (int)stride);

	if (to == NULL) {
		return -ENOMEM;
	}
	pixman_image_composite32(PIXMAN_OP_SRC, image, NULL, to, 0, 0, 0, 0,
		0, 0, width, height);
	pixman_image_unref(to);
	return 0;
}

static int
fill_target(int fd, uint32_t size, uint32_t stride,
	const struct pxc_format *format, pixman_image_t *image)
{
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int ret;

	if (map == MAP_FAILED) {
		return -errno;
	}
	ret = convert(map, stride, format, image);
	/* F_SEAL_WRITE needs every writable mapping gone first. */
	munmap(map, size);
	if (ret < 0) {
		return ret;
	}
	return pxc_shm_seal(NULL, fd, F_SEAL_WRITE);
}

/* What every upload's arguments must be, whatever holds its pixels. */
static bool
put_args_valid(struct pixcache_client *client, const char *realm_name,
	const char *name, uint32_t flags)
{
	return client != NULL && pxcl_check_name(realm_name) == 0 &&
		(name == NULL || pxcl_check_name(name) == 0) &&
		!(flags & ~(uint32_t)PIXCACHE_PUT_REPLACE);
}

static int
check_put(struct pixcache_client *client, const char *realm_name,
	const char *name, pixman_image_t *image, uint32_t flags)
{
	if (!put_args_valid(client, realm_name, name, flags) ||
			image == NULL || pixman_image_get_width(image) <= 0 ||
			pixman_image_get_height(image) <= 0) {
		return -EINVAL;
	}
	return 0;
}

/* Seals what was filled and commits it, or gives the upload up. */
static int
commit_filled(struct pixcache_client *client, struct pxcl_request *req,
	int fill_result)
{
	if (req->done) {
		/* Failed or the connection went meanwhile. */
		return 0;
	}
	if (fill_result < 0) {
		/* Never commit what is not sealed: give it up instead. */
		pxcl_request_complete(req, fill_result);
		return 0;
	}
	close(req->target_fd);
	req->target_fd = -1;
	pixcache_upload_v1_commit((struct pixcache_upload_v1 *)req->proxy);
	return pxcl_commit(client);
}

bool
pxcl_fill_one(struct pixcache_client *client)
{
	struct pxcl_request *req;
	uint32_t size, stride;
	int fd, ret;

	if (wl_list_empty(&client->fills)) {
		return false;
	}
	req = wl_container_of(client->fills.next, req, fill_link);
	wl_list_remove(&req->fill_link);
	wl_list_init(&req->fill_link);
	fd = req->target_fd;
	size = req->size;
	stride = req->stride;
	/* Off the list, the target is this thread's alone to fill, and the
	 * request stays even if it fails meanwhile. */
	req->filling = true;
	pthread_mutex_unlock(&client->lock);
	ret = fill_target(fd, size, stride, req->pxc_format, req->image);
	pthread_mutex_lock(&client->lock);
	req->filling = false;
	if (req->done) {
		/* Completed meanwhile: to be called back now. */
		wl_list_insert(client->completed.prev, &req->link);
	} else {
		/* A break is noted, and settled as the call leaves. */
		commit_filled(client, req, ret);
	}
	return true;
}

/* The wire's upload flags for the library's. */
static uint32_t
wire_flags(uint32_t flags)
{
	return flags & PIXCACHE_PUT_REPLACE ?
		PIXCACHE_BATCH_V1_UPLOAD_FLAGS_REPLACE : 0;
}

/* The upload of req went: the manager hands the name's claim over to it. */
static void
claim_handed_over(struct pixcache_client *client, struct pxcl_request *req)
{
	if (req->name != NULL) {
		(void)pxcl_claim_drop(client, req->realm, req->name);
	}
}

/* An upload's request, not sent yet; NULL with *ret set. Lock held. */
static struct pxcl_request *
upload_new(struct pixcache_client *client, const char *realm_name,
	const char *name, uint32_t width, uint32_t height, uint32_t format,
	uint32_t flags, int *ret)
{
	struct pxcl_realm *realm = pxcl_realm_get(client, realm_name);
	struct pxcl_request *req = realm ?
		pxcl_request_new(client, PXCL_UPLOAD, realm, name) : NULL;

	if (req == NULL) {
		*ret = -ENOMEM;
		return NULL;
	}
	req->width = width;
	req->height = height;
	req->format = format;
	req->flags = flags;
	return req;
}

/*
 * req's upload object, made by the request just marshalled (NULL: none,
 * libwayland out of memory): req, sent; else NULL with *ret set and req
 * freed, nothing sent, a claim still this client's. Lock held.
 */
static struct pxcl_request *
upload_sent(struct pixcache_client *client, struct pxcl_request *req,
	struct wl_proxy *proxy, int *ret)
{
	if (proxy == NULL) {
		pxcl_request_free(req);
		*ret = -ENOMEM;
		return NULL;
	}
	req->proxy = proxy;
	pxcl_proxy_bind(proxy, PXCL_PROXY_UPLOAD, req);
	pxcl_request_sent(req);
	claim_handed_over(client, req);
	return req;
}

static struct pxcl_request *
send_upload(struct pixcache_client *client, const char *realm_name,
	const char *name, pixman_image_t *image, uint32_t format,
	uint32_t flags, int *ret)
{
	struct pxcl_request *req = upload_new(client, realm_name, name,
		(uint32_t)pixman_image_get_width(image),
		(uint32_t)pixman_image_get_height(image), format, flags, ret);

	if (req == NULL) {
		return NULL;
	}
	return upload_sent(client, req, pxcl_proxy_fails() ? NULL :
		(struct wl_proxy *)pixcache_batch_v1_upload(client->batch,
		req->realm->proxy, name, req->width, req->height, format,
		wire_flags(flags)), ret);
}

/* Waits for the target (or an early failure); lock held. */
static int
wait_target(struct pixcache_client *client, struct pxcl_request *req,
	const struct timespec *deadline)
{
	int ret = 0;

	while (ret == 0 && !req->done && req->target_fd < 0) {
		ret = pxcl_remaining_ms(deadline) == 0 ? -ETIMEDOUT :
			pxcl_wait_once(client, pxcl_remaining_ms(deadline));
	}
	return ret;
}

/* Fills the target without the lock, then commits it; lock held. */
static int
fill_and_commit(struct pixcache_client *client, struct pxcl_request *req,
	const struct pxc_format *format, pixman_image_t *image,
	const struct timespec *deadline)
{
	int fd = req->target_fd;
	uint32_t size = req->size, stride = req->stride;
	int ret;

	/* Events may complete the request meanwhile, never touch the target. */
	pthread_mutex_unlock(&client->lock);
	ret = fill_target(fd, size, stride, format, image);
	pthread_mutex_lock(&client->lock);
	if (req->done) {
		return 0;
	}
	ret = commit_filled(client, req, ret);
	if (ret == 0 && !req->done) {
		ret = pxcl_wait_flag(client, &req->done, deadline);
	}
	return ret;
}

/*
 * The end of a blocking upload: its result, and its key in *key if it
 * was stored. Given up, if not answered: the proxy goes, the upload with
 * it. Lock held.
 */
static int
put_finish(struct pxcl_request *req, int ret, struct pixcache_key *key)
{
	pxcl_request_complete(req, ret < 0 ? ret : -ETIMEDOUT);
	ret = req->result;
	if (ret == 0 && key != NULL) {
		*key = req->key;
	}
	pxcl_request_free(req);
	return ret;
}

int
pixcache_client_put(struct pixcache_client *client, const char *realm_name,
	const char *name, pixman_image_t *image, uint32_t format,
	uint32_t flags, struct pixcache_key *key)
{
	const struct pxc_format *f = pxc_format_find(format);
	struct timespec deadline;
	struct pxcl_request *req = NULL;
	int ret = check_put(client, realm_name, name, image, flags);

	if (ret < 0 || f == NULL) {
		return -EINVAL;
	}
	pxcl_enter(client);
	deadline = pxcl_deadline_after(client->options.timeout_ms);
	ret = pxcl_ready(client, true);
	if (ret == 0) {
		req = send_upload(client, realm_name, name, image, format,
			flags, &ret);
	}
	if (req != NULL) {
		req->waited = true;
		ret = pxcl_commit(client);
	}
	if (ret == 0) {
		ret = wait_target(client, req, &deadline);
	}
	if (ret == 0 && !req->done) {
		ret = fill_and_commit(client, req, f, image, &deadline);
	}
	if (req != NULL) {
		ret = put_finish(req, ret, key);
	}
	pxcl_leave(client);
	return ret;
}

/* ---- uploads from dma-bufs ---- */

/* What the library can tell of a dma-buf without the manager. */
static int
check_put_dmabuf(struct pixcache_client *client, const char *realm_name,
	const char *name, uint32_t width, uint32_t height,
	const struct pixcache_dmabuf *dmabuf, uint32_t flags)
{
	const struct pxc_format *f = dmabuf ?
		pxc_format_find(dmabuf->format) : NULL;

	if (!put_args_valid(client, realm_name, name, flags) ||
			f == NULL || dmabuf->fd < 0 ||
			width == 0 || height == 0 ||
			dmabuf->modifier != DRM_FORMAT_MOD_LINEAR ||
			dmabuf->stride < (uint64_t)width * f->bytes_per_pixel) {
		return -EINVAL;
	}
	return 0;
}

/* Sends the upload of a dma-buf; lock held. */
static struct pxcl_request *
send_upload_dmabuf(struct pixcache_client *client, const char *realm_name,
	const char *name, uint32_t width, uint32_t height,
	const struct pixcache_dmabuf *dmabuf, uint32_t flags, int *ret)
{
	struct pxcl_request *req = upload_new(client, realm_name, name, width,
		height, dmabuf->format, flags, ret);

	if (req == NULL) {
		return NULL;
	}
	/* libwayland sends a dup of the fd: the caller keeps its own. */
	return upload_sent(client, req, pxcl_proxy_fails() ? NULL :
		(struct wl_proxy *)pixcache_batch_v1_upload_dmabuf(
		client->batch, req->realm->proxy, name, width, height,
		dmabuf->format, wire_flags(flags), dmabuf->fd, dmabuf->offset,
		dmabuf->stride, pxc_wire_hi(dmabuf->modifier),
		pxc_wire_lo(dmabuf->modifier)), ret);
}

int
pixcache_client_put_dmabuf(struct pixcache_client *client,
	const char *realm_name, const char *name, uint32_t width,
	uint32_t height, const struct pixcache_dmabuf *dmabuf, uint32_t flags,
	struct pixcache_key *key)
{
	struct timespec deadline;
	struct pxcl_request *req = NULL;
	int ret = check_put_dmabuf(client, realm_name, name, width, height,
		dmabuf, flags);

	if (ret < 0) {
		return ret;
	}
	/* libwayland could not dup a closed fd, and would end the whole
	 * connection: told here instead. */
	if (fcntl(dmabuf->fd, F_GETFD) < 0) {
		return -EBADF;
	}
	pxcl_enter(client);
	deadline = pxcl_deadline_after(client->options.timeout_ms);
	ret = pxcl_ready(client, true);
	if (ret == 0 && wl_proxy_get_version((struct wl_proxy *)client->batch) <
			PIXCACHE_BATCH_V1_UPLOAD_DMABUF_SINCE_VERSION) {
		ret = -EOPNOTSUPP;
	}
	if (ret == 0) {
		req = send_upload_dmabuf(client, realm_name, name, width,
			height, dmabuf, flags, &ret);
	}
	if (req != NULL) {
		req->waited = true;
		ret = pxcl_commit(client);
		if (ret == 0) {
			ret = pxcl_wait_flag(client, &req->done, &deadline);
		}
		ret = put_finish(req, ret, key);
	}
	pxcl_leave(client);
	return ret;
}

static struct pxcl_request *stage_upload(struct pixcache_client *client,
	const char *realm_name, const char *name, pixman_image_t *image,
	uint32_t format, uint32_t flags, int *ret);

int
pixcache_client_upload(struct pixcache_client *client, const char *realm_name,
	const char *name, pixman_image_t *image, uint32_t format,
	uint32_t flags, pixcache_upload_fn callback, void *data)
{
	const struct pxc_format *f = pxc_format_find(format);
	struct pxcl_request *req = NULL;
	int ret = check_put(client, realm_name, name, image, flags);

	if (ret < 0 || f == NULL || callback == NULL) {
		return -EINVAL;
	}
	pxcl_enter(client);
	ret = pxcl_ready(client, false);
	if (ret == 0) {
		req = stage_upload(client, realm_name, name, image, format,
			flags, &ret);
	}
	if (req != NULL) {
		req->upload_callback = callback;
		req->data = data;
		req->pxc_format = f;
		req->image = pixman_image_ref(image);
	}
	pxcl_leave(client);
	return ret;
}

/* ---- staged uploads ---- */

/* Bytes of one staging buffer at most: the manager's upload bytes. */
#define STAGE_MAX (32u << 20)

/* Queues an asynchronous upload for the next staging. Lock held. */
static struct pxcl_request *
stage_upload(struct pixcache_client *client, const char *realm_name,
	const char *name, pixman_image_t *image, uint32_t format,
	uint32_t flags, int *ret)
{
	struct pxcl_request *req = upload_new(client, realm_name, name,
		(uint32_t)pixman_image_get_width(image),
		(uint32_t)pixman_image_get_height(image), format, flags, ret);

	if (req == NULL) {
		return NULL;
	}
	/* Outstanding from now: a break fails it with the rest. */
	wl_list_insert(client->outstanding.prev, &req->link);
	client->noutstanding++;
	wl_list_insert(client->staged.prev, &req->fill_link);
	return req;
}

/*
 * The staged requests that go in one buffer, from the first: their count,
 * with each one's offset and stride set, and the buffer's size.
 */
static unsigned
stage_layout(struct pixcache_client *client, uint32_t *total)
{
	struct pxcl_request *req;
	uint64_t size = 0;
	unsigned n = 0;

	wl_list_for_each(req, &client->staged, fill_link) {
		uint32_t stride, bytes;

		if (!pxc_format_layout(req->pxc_format, req->width,
				req->height, &stride, &bytes) ||
				(n > 0 && size + bytes > STAGE_MAX)) {
			break;
		}
		req->stride = stride;
		req->size = (uint32_t)size;	/* its offset */
		size = (size + bytes + 63) & ~(uint64_t)63;
		n++;
	}
	*total = (uint32_t)size;
	return n;
}

/* A sealed memfd holding the first n staged images; -errno if not. */
static int
stage_buffer(struct pixcache_client *client, unsigned n, uint32_t total)
{
	int fd = pxc_shm_create(NULL, "pixcache-staging", total);
	struct pxcl_request *req;
	uint8_t *map = MAP_FAILED;
	int ret = fd < 0 ? fd : 0;

	if (ret == 0) {
		/* Every page is written: faulted in by one system call. */
		map = mmap(NULL, total, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_POPULATE, fd, 0);
		ret = map == MAP_FAILED ? -errno : 0;
	}
	wl_list_for_each(req, &client->staged, fill_link) {
		if (ret < 0 || n-- == 0) {
			break;
		}
		ret = convert(map + req->size, req->stride, req->pxc_format,
			req->image);
	}
	if (map != MAP_FAILED) {
		/* F_SEAL_WRITE needs every writable mapping gone first. */
		munmap(map, total);
	}
	if (ret == 0) {
		ret = pxc_shm_seal(NULL, fd, PXC_SEALS_FINAL);
	}
	if (ret < 0 && fd >= 0) {
		close(fd);
	}
	return ret < 0 ? ret : fd;
}

/* Sends the first n staged uploads from the buffer fd. Lock held. */
static void
stage_send(struct pixcache_client *client, unsigned n, int fd, uint32_t total)
{
	struct pixcache_staging_v1 *staging = pxcl_proxy_fails() ? NULL :
		pixcache_batch_v1_stage(client->batch, fd, total);

	close(fd);
	while (n-- > 0) {
		struct pxcl_request *req = wl_container_of(client->staged.next,
			req, fill_link);

		req->proxy = staging == NULL || pxcl_proxy_fails() ? NULL :
			(struct wl_proxy *)pixcache_staging_v1_upload(
			staging, req->realm->proxy, req->name, req->width,
			req->height, req->format, wire_flags(req->flags),
			req->size);
		if (req->proxy == NULL) {
			/* Nothing sent: it fails alone, a claim stays ours. */
			pxcl_request_complete(req, -ENOMEM);
			continue;
		}
		wl_list_remove(&req->fill_link);
		wl_list_init(&req->fill_link);
		pxcl_proxy_bind(req->proxy, PXCL_PROXY_UPLOAD, req);
		pixman_image_unref(req->image);
		req->image = NULL;
		client->queued++;
		claim_handed_over(client, req);
		/* A break is noted: the requests fail with the rest. */
		(void)pxcl_flush_some(client, false);
	}
	if (staging != NULL) {
		pixcache_staging_v1_destroy(staging);
	}
}

int
pxcl_send_staged(struct pixcache_client *client)
{
	while (!wl_list_empty(&client->staged)) {
		uint32_t total;
		unsigned n = stage_layout(client, &total);
		int fd = n > 0 ? stage_buffer(client, n, total) : -EINVAL;

		if (fd < 0) {
			/* Fails the first; the rest are tried again. */
			struct pxcl_request *req = wl_container_of(
				client->staged.next, req, fill_link);

			pxcl_request_complete(req, fd);
			continue;
		}
		stage_send(client, n, fd, total);
	}
	return pxcl_lost(client);
}
