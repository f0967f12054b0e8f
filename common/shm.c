#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

/* Linux 6.3; missing from Debian 12's headers. */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

int
pxc_shm_create(const struct pxc_faults *faults, const char *name,
	uint64_t size)
{
	int fd, err;

	if (pxc_fault(faults, "memfd_create")) {
		return -EMFILE;
	}
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING |
		MFD_NOEXEC_SEAL);
	/* Kernels before 6.3 refuse the flag they do not know. */
	if (fd < 0 && errno == EINVAL) {
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	}
	if (fd < 0) {
		return -errno;
	}
	if (size > (uint64_t)INT64_MAX) {
		err = EFBIG;
	} else if (pxc_fault(faults, "ftruncate")) {
		err = ENOSPC;
	} else if (ftruncate(fd, (off_t)size) < 0) {
		err = errno;
	} else {
		return fd;
	}
	close(fd);
	return -err;
}

int
pxc_shm_seal(const struct pxc_faults *faults, int fd, int seals)
{
	/* Named apart: only a write seal can wait on pinned pages. */
	if (pxc_fault(faults, (seals & F_SEAL_WRITE) ? "add_seals_write" :
			"add_seals")) {
		return -EBUSY;
	}
	return fcntl(fd, F_ADD_SEALS, seals) < 0 ? -errno : 0;
}

int
pxc_shm_check_sealed(int fd, int required, int any, uint64_t size,
	bool at_least)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0) {
		return -errno;
	}
	if ((seals & required) != required || (any != 0 && !(seals & any))) {
		return -EPERM;
	}
	if (fstat(fd, &st) < 0) {
		return -errno;
	}
	if (st.st_size < 0) {
		return -EINVAL;
	}
	if (at_least) {
		return (uint64_t)st.st_size >= size ? 0 : -EINVAL;
	}
	return (uint64_t)st.st_size == size ? 0 : -EINVAL;
}

int
pxc_shm_check(int fd, int required, uint64_t size)
{
	return pxc_shm_check_sealed(fd, required, 0, size, false);
}

static const void *
map_read(const struct pxc_faults *faults, int fd, uint64_t size, int flags)
{
	void *map;

	if (pxc_fault(faults, "mmap")) {
		errno = ENOMEM;
		return NULL;
	}
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE | flags, fd, 0);
	return map == MAP_FAILED ? NULL : map;
}

const void *
pxc_shm_map_read(const struct pxc_faults *faults, int fd, uint64_t size)
{
	return map_read(faults, fd, size, 0);
}

const void *
pxc_shm_map_read_whole(const struct pxc_faults *faults, int fd, uint64_t size)
{
	off_t hole = lseek(fd, 0, SEEK_HOLE);

	return map_read(faults, fd, size, hole >= 0 &&
		(uint64_t)hole >= size ? MAP_POPULATE : 0);
}

void *
pxc_shm_map_write(const struct pxc_faults *faults, int fd, uint64_t size)
{
	void *map;

	if (pxc_fault(faults, "mmap")) {
		errno = ENOMEM;
		return NULL;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return map == MAP_FAILED ? NULL : map;
}

void
pxc_shm_unmap(const void *map, uint64_t size)
{
	if (map != NULL) {
		munmap((void *)map, size);
	}
}
