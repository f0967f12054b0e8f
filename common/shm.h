/*
 * Sealed shared memory: memfds, their seals, and mappings that never give
 * a reader a way to change them.
 */

#ifndef PIXCACHE_SHM_H
#define PIXCACHE_SHM_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

#include "faults.h"

#ifndef F_SEAL_FUTURE_WRITE
#error "shm.h needs _GNU_SOURCE before the first system header"
#endif

/* Seals the manager puts on memory it writes itself (pools, tables). */
#define PXC_SEALS_MANAGER \
	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)
/* Seals an upload's target gets before the client writes it. */
#define PXC_SEALS_TARGET (F_SEAL_SHRINK | F_SEAL_GROW)
/* Seals a committed upload must carry. */
#define PXC_SEALS_COMMITTED (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
/*
 * Seals of a finished buffer: nothing may change it or its seals. Adding
 * F_SEAL_SEAL never waits on pinned pages (only a new F_SEAL_WRITE does),
 * so the manager adds it to what a client wrote once F_SEAL_WRITE is on.
 */
#define PXC_SEALS_FINAL (PXC_SEALS_COMMITTED | F_SEAL_SEAL)

/**
 * A memfd of size bytes: close-on-exec, sealable, not executable where the
 * kernel knows MFD_NOEXEC_SEAL. Returns the fd or a negative errno.
 */
int pxc_shm_create(const struct pxc_faults *faults, const char *name,
	uint64_t size);

/** Adds seals. Returns 0 or a negative errno. */
int pxc_shm_seal(const struct pxc_faults *faults, int fd, int seals);

/**
 * Checks, without anything that could wait on pages a client pinned, that
 * fd carries every seal of required and is size bytes long. Returns 0,
 * -EPERM if a seal is missing, -EINVAL if the size differs, or the errno
 * of fcntl() or fstat().
 */
int pxc_shm_check(int fd, int required, uint64_t size);

/**
 * The general form of pxc_shm_check(), for readers: fd carries every seal
 * of required and, unless any is 0, one of any at least; and is size bytes
 * long, or when at_least no shorter. Returns as pxc_shm_check().
 */
int pxc_shm_check_sealed(int fd, int required, int any, uint64_t size,
	bool at_least);

/** Maps fd read-only and private. Returns the mapping or NULL (errno set). */
const void *pxc_shm_map_read(const struct pxc_faults *faults, int fd,
	uint64_t size);
/**
 * As pxc_shm_map_read(), every page mapped by this one call instead of a
 * fault each, when the file has no hole (reading a hole of shared memory
 * allocates a page: a client's sparse file must not make the manager
 * allocate it); else as pxc_shm_map_read().
 */
const void *pxc_shm_map_read_whole(const struct pxc_faults *faults, int fd,
	uint64_t size);


/** Maps fd shared and writable: the manager's own view, before sealing. */
void *pxc_shm_map_write(const struct pxc_faults *faults, int fd,
	uint64_t size);

/** munmap() that accepts NULL. */
void pxc_shm_unmap(const void *map, uint64_t size);

#endif
