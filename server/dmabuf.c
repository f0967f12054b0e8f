/*
 * A client's dma-buf, offered as an upload: checked on the loop, then read
 * once by the manager's reader thread, mapped read-only, under
 * DMA_BUF_IOCTL_SYNC. No device is needed: the exporter maps it.
 *
 * Why a thread: the sync waits for the buffer's write fences, for as long
 * as the client's GPU, or a fence it attaches, takes; and reading a GPU's
 * uncached memory can be slow. The loop never does either. It waits for
 * the fences itself, without blocking (a dma-buf polls readable once its
 * writes are done), so that one client's unfinished buffer does not hold
 * the one reader up for everyone; then it hands the reader the fd and a
 * bounce buffer, and stores what comes back as any upload. The reader
 * polls again just before it maps and syncs: a buffer written again
 * since it was queued goes back to the loop to wait. Only a fence
 * attached in the instant between that poll and the sync holds the
 * reader, and everyone's dma-buf uploads behind it. A dma-buf cannot be
 * sealed, so the copy is what others see; the client
 * changing its buffer afterwards changes nothing.
 *
 * The reader outlives the manager only if it must: a job stuck on a fence
 * keeps the thread, which frees what is left (itself included) when the
 * job ends. Jobs a manager no longer wants are marked, not freed under
 * it.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <drm_fourcc.h>
#include <linux/dma-buf.h>

#include "manager-private.h"

/* The file system of every dma-buf fd (include/uapi/linux/magic.h). */
#define PXC_DMA_BUF_MAGIC 0x444d4142

enum job_state {
	JOB_WAITING,			/* for the fences, on the loop */
	JOB_QUEUED,			/* reader->queue */
	JOB_READING,			/* the reader's */
	JOB_DONE,			/* reader->done */
};

struct pxc_dmabuf_job {
	struct wl_list link;		/* reader->queue, then ->done */
	struct pxc_dmabuf_reader *reader;
	enum job_state state;		/* under reader->lock */
	struct wl_event_source *source;	/* while waiting */
	int fd;				/* the client's dma-buf, the job's */
	struct pxc_dmabuf_layout layout;
	uint32_t row_bytes, height;
	uint8_t *rows;			/* the bounce buffer, packed rows */
	bool fail_map, fail_sync;	/* fault points, decided on the loop */
	int result;
	void *data;			/* the loop's; NULL: nobody waits */
};

struct pxc_dmabuf_reader {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wl_list queue, done;
	int event_fd;			/* written when a job is done */
	bool stop;			/* the manager went */
	bool busy;			/* reading a job */
	int refs;			/* the manager's and the thread's */
	pthread_t thread;
	/* Its jobs' fds, and libwayland's dups of those waiting: the
	 * manager counts them in its fds. */
	atomic_uint job_fds;
};

/* Closes the job's fd: counted in the manager's fds until then. */
static void
job_close(struct pxc_dmabuf_job *job)
{
	if (job->fd >= 0) {
		close(job->fd);
		job->fd = -1;
		atomic_fetch_sub(&job->reader->job_fds, 1);
	}
}

/* Stops watching for the writes' end; libwayland's dup of the fd goes. */
static void
job_unwatch(struct pxc_dmabuf_job *job)
{
	if (job->source != NULL) {
		wl_event_source_remove(job->source);
		job->source = NULL;
		atomic_fetch_sub(&job->reader->job_fds, 1);
	}
}

static void
job_free(struct pxc_dmabuf_job *job)
{
	job_unwatch(job);
	job_close(job);
	free(job->rows);
	free(job);
}

/* ---- the loop's checks ---- */

/*
 * The bytes the rows need from the start of the buffer, or 0 when the
 * layout does not hold them: a stride shorter than a row.
 */
static uint64_t
layout_end(const struct pxc_dmabuf_layout *layout, uint32_t row_bytes,
	uint32_t height)
{
	if (layout->stride < row_bytes || height == 0) {
		return 0;
	}
	/* At most (2^32 - 1) + (2^32 - 1)^2 + 2^32: within 64 bits. */
	return (uint64_t)layout->offset +
		(uint64_t)layout->stride * (height - 1) + row_bytes;
}

/*
 * Whether the fd's name is a dma-buf's ("/dmabuf:..."), asked of /proc,
 * which reaches no file system: fstatfs on a file of the client's own
 * FUSE mount would wait for the client. Without /proc, fstatfs decides.
 */
static bool
named_dmabuf(int fd)
{
	static const char prefix[] = "/dmabuf:";
	char path[64], name[sizeof(prefix)];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, name, sizeof(name) - 1);
	if (n < 0) {
		return errno == ENOENT || errno == EACCES;
	}
	return n == sizeof(prefix) - 1 &&
		memcmp(name, prefix, sizeof(prefix) - 1) == 0;
}

int
pxc_dmabuf_check(int fd, const struct pxc_dmabuf_layout *layout,
	uint32_t row_bytes, uint32_t height)
{
	uint64_t end = layout_end(layout, row_bytes, height);
	struct statfs fs;
	off_t size;

	if (!named_dmabuf(fd) || fstatfs(fd, &fs) < 0 ||
			fs.f_type != PXC_DMA_BUF_MAGIC) {
		return -EBADF;
	}
	/* Every exporter lays the pixels out as it likes but linear. */
	if (layout->modifier != DRM_FORMAT_MOD_LINEAR || end == 0) {
		return -EINVAL;
	}
	/* A dma-buf's size is fixed at export: checked once is enough. */
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || (uint64_t)size < end) {
		return -EINVAL;
	}
	return 0;
}

/* ---- the reader thread ---- */

static int
sync_read(int fd, uint64_t flags)
{
	struct dma_buf_sync sync = { .flags = flags | DMA_BUF_SYNC_READ };

	while (ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) < 0) {
		if (errno != EINTR && errno != EAGAIN) {
			return -errno;
		}
	}
	return 0;
}

/* Whether the buffer's writes are done (its write fences signalled). */
static bool
writes_done(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/*
 * Maps no further than the last row's last pixel, and copies the rows;
 * -EAGAIN, the fd kept, for a buffer written again since it was queued.
 */
static int
job_read(struct pxc_dmabuf_job *job)
{
	size_t len = (size_t)layout_end(&job->layout, job->row_bytes,
		job->height);
	const uint8_t *map;
	int ret;

	/* A fence attached since the loop's poll: back to the loop, which
	 * waits without blocking, so that no one waits behind it here. */
	if (!writes_done(job->fd)) {
		return -EAGAIN;
	}
	if (job->fail_map) {
		return -ENOMEM;
	}
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, job->fd, 0);
	if (map == MAP_FAILED) {
		/* An exporter that maps nothing says ENODEV or EINVAL. */
		return -errno;
	}
	/* Waits for the buffer's writes: on this thread only. */
	ret = job->fail_sync ? -EIO : sync_read(job->fd, DMA_BUF_SYNC_START);
	if (ret == 0) {
		pxc_copy_rows(job->rows, job->row_bytes,
			map + job->layout.offset, job->layout.stride,
			job->row_bytes, job->height);
		/* The end of CPU access: nothing to undo if refused. */
		(void)sync_read(job->fd, DMA_BUF_SYNC_END);
	}
	munmap((void *)map, len);
	return ret;
}

/* Drops a reference; the last frees the reader and its jobs. Unlocked. */
static void
reader_unref(struct pxc_dmabuf_reader *reader)
{
	struct pxc_dmabuf_job *job, *tmp;
	bool last;

	pthread_mutex_lock(&reader->lock);
	last = --reader->refs == 0;
	pthread_mutex_unlock(&reader->lock);
	if (!last) {
		return;
	}
	wl_list_for_each_safe(job, tmp, &reader->queue, link) {
		job_free(job);
	}
	wl_list_for_each_safe(job, tmp, &reader->done, link) {
		job_free(job);
	}
	close(reader->event_fd);
	pthread_cond_destroy(&reader->cond);
	pthread_mutex_destroy(&reader->lock);
	free(reader);
}

static void *
reader_run(void *data)
{
	struct pxc_dmabuf_reader *reader = data;
	struct pxc_dmabuf_job *job;
	uint64_t one = 1;

	pthread_mutex_lock(&reader->lock);
	for (;;) {
		while (!reader->stop && wl_list_empty(&reader->queue)) {
			pthread_cond_wait(&reader->cond, &reader->lock);
		}
		if (reader->stop) {
			break;
		}
		job = wl_container_of(reader->queue.next, job, link);
		wl_list_remove(&job->link);
		job->state = JOB_READING;
		reader->busy = true;
		pthread_mutex_unlock(&reader->lock);
		job->result = job_read(job);
		if (job->result != -EAGAIN) {
			job_close(job);
		}
		pthread_mutex_lock(&reader->lock);
		reader->busy = false;
		job->state = JOB_DONE;
		wl_list_insert(reader->done.prev, &job->link);
		/* A saturated counter wakes the loop as well. */
		(void)!write(reader->event_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&reader->lock);
	reader_unref(reader);
	return NULL;
}

/* ---- the loop's side ---- */

static int job_watch(struct pixcache_manager *manager,
	struct pxc_dmabuf_job *job);

/*
 * Hands each finished job to the upload that waits for it, or back to
 * waiting for its writes to end, if they began again.
 */
static int
handle_done(int fd, uint32_t mask, void *data)
{
	struct pixcache_manager *manager = data;
	struct pxc_dmabuf_reader *reader = manager->dmabuf_reader;
	struct pxc_dmabuf_job *job, *tmp;
	struct wl_list done;
	uint64_t count;

	(void)!read(fd, &count, sizeof(count));
	wl_list_init(&done);
	pthread_mutex_lock(&reader->lock);
	wl_list_insert_list(&done, &reader->done);
	wl_list_init(&reader->done);
	pthread_mutex_unlock(&reader->lock);
	wl_list_for_each_safe(job, tmp, &done, link) {
		wl_list_remove(&job->link);
		if (job->data != NULL && job->result == -EAGAIN &&
				job_watch(manager, job) == 0) {
			continue;
		}
		if (job->data != NULL) {
			pxc_upload_v1_dmabuf_read(job->data, job->rows,
				job->row_bytes, job->result == -EAGAIN ?
				-ENOMEM : job->result);
		}
		job_free(job);
	}
	return 0;
}

/* The compositor's signals stay its own threads': the reader blocks all. */
static int
start_thread(struct pxc_dmabuf_reader *reader)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&reader->thread, NULL, reader_run, reader);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* The reader, started on the first dma-buf offered; NULL: no memory. */
static struct pxc_dmabuf_reader *
reader_get(struct pixcache_manager *manager)
{
	struct pxc_dmabuf_reader *reader = manager->dmabuf_reader;

	if (reader != NULL) {
		return reader;
	}
	reader = pxc_zalloc(manager, sizeof(*reader));
	if (reader == NULL) {
		return NULL;
	}
	reader->event_fd = pxc_fault(&manager->faults, "eventfd") ? -1 :
		eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	manager->dmabuf_source = reader->event_fd < 0 ? NULL :
		wl_event_loop_add_fd(manager->loop, reader->event_fd,
		WL_EVENT_READABLE, handle_done, manager);
	if (manager->dmabuf_source == NULL) {
		goto fail;
	}
	pthread_mutex_init(&reader->lock, NULL);
	pthread_cond_init(&reader->cond, NULL);
	wl_list_init(&reader->queue);
	wl_list_init(&reader->done);
	reader->refs = 2;
	if (pxc_fault(&manager->faults, "thread") ||
			start_thread(reader) != 0) {
		pthread_cond_destroy(&reader->cond);
		pthread_mutex_destroy(&reader->lock);
		wl_event_source_remove(manager->dmabuf_source);
		manager->dmabuf_source = NULL;
		goto fail;
	}
	manager->dmabuf_reader = reader;
	return reader;

fail:
	if (reader->event_fd >= 0) {
		close(reader->event_fd);
	}
	free(reader);
	return NULL;
}

/* The job's writes are done: the reader's now. */
static void
job_queue(struct pxc_dmabuf_reader *reader, struct pxc_dmabuf_job *job)
{
	pthread_mutex_lock(&reader->lock);
	job->state = JOB_QUEUED;
	wl_list_insert(reader->queue.prev, &job->link);
	pthread_cond_signal(&reader->cond);
	pthread_mutex_unlock(&reader->lock);
}

/* The buffer polls readable: its write fences signalled. */
static int
handle_writes_done(int fd, uint32_t mask, void *data)
{
	struct pxc_dmabuf_job *job = data;

	job_unwatch(job);
	job_queue(job->reader, job);
	return 0;
}

/* Waits on the loop, without blocking, for the writes to end. */
static int
job_watch(struct pixcache_manager *manager, struct pxc_dmabuf_job *job)
{
	pthread_mutex_lock(&job->reader->lock);
	job->state = JOB_WAITING;
	pthread_mutex_unlock(&job->reader->lock);
	job->source = pxc_fault(&manager->faults, "resource") ? NULL :
		wl_event_loop_add_fd(manager->loop, job->fd,
		WL_EVENT_READABLE, handle_writes_done, job);
	if (job->source == NULL) {
		return -ENOMEM;
	}
	atomic_fetch_add(&job->reader->job_fds, 1);
	return 0;
}

struct pxc_dmabuf_job *
pxc_dmabuf_read_start(struct pixcache_manager *manager, int fd,
	const struct pxc_dmabuf_layout *layout, uint32_t row_bytes,
	uint32_t height, void *data)
{
	struct pxc_dmabuf_reader *reader = reader_get(manager);
	struct pxc_dmabuf_job *job = reader ?
		pxc_zalloc(manager, sizeof(*job)) : NULL;

	/* The bounce buffer: counted by the caller as an upload in flight. */
	if (job != NULL && !pxc_fault(&manager->faults, "alloc")) {
		job->rows = malloc((size_t)row_bytes * height);
	}
	if (job == NULL || job->rows == NULL) {
		free(job);
		return NULL;
	}
	job->reader = reader;
	job->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (job->fd < 0) {
		free(job->rows);
		free(job);
		return NULL;
	}
	atomic_fetch_add(&reader->job_fds, 1);
	job->layout = *layout;
	job->row_bytes = row_bytes;
	job->height = height;
	job->data = data;
	job->fail_map = pxc_fault(&manager->faults, "mmap");
	job->fail_sync = pxc_fault(&manager->faults, "dmabuf_sync");
	if (job_watch(manager, job) < 0) {
		job_free(job);
		return NULL;
	}
	return job;
}

void
pxc_dmabuf_read_forget(struct pxc_dmabuf_job *job)
{
	struct pxc_dmabuf_reader *reader = job->reader;
	bool unread;

	/* Waiting on the loop, or still queued: freed now, its fd and
	 * bounce buffer with it. Being read, or read: the reader's result
	 * is dropped when it comes. Only one job can be read at a time. */
	pthread_mutex_lock(&reader->lock);
	unread = job->state == JOB_WAITING || job->state == JOB_QUEUED;
	if (job->state == JOB_QUEUED) {
		wl_list_remove(&job->link);
	}
	job->data = NULL;
	pthread_mutex_unlock(&reader->lock);
	if (unread) {
		job_free(job);
	}
}

unsigned
pxc_dmabuf_reader_fds(const struct pixcache_manager *manager)
{
	const struct pxc_dmabuf_reader *reader = manager->dmabuf_reader;

	/* Its eventfd and the loop's dup of it, and its jobs'. */
	return reader == NULL ? 0 : 2 + atomic_load(&reader->job_fds);
}

void
pxc_dmabuf_reader_destroy(struct pixcache_manager *manager)
{
	struct pxc_dmabuf_reader *reader = manager->dmabuf_reader;

	if (reader == NULL) {
		return;
	}
	wl_event_source_remove(manager->dmabuf_source);
	manager->dmabuf_source = NULL;
	manager->dmabuf_reader = NULL;
	bool busy;

	pthread_mutex_lock(&reader->lock);
	reader->stop = true;
	busy = reader->busy;
	pthread_cond_signal(&reader->cond);
	pthread_mutex_unlock(&reader->lock);
	/* Idle, it ends at once: waited for, so nothing of it outlives the
	 * manager. Stuck on a fence, it ends on its own, freeing it all. */
	if (busy) {
		pthread_detach(reader->thread);
	} else {
		pthread_join(reader->thread, NULL);
	}
	reader_unref(reader);
}
