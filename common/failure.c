#include <errno.h>

#include "failure.h"
#include "pixcache-v1-server-protocol.h"

#define ROW(reason, e, from_errno) \
	{ PIXCACHE_BATCH_V1_FAILURE_##reason, #reason, e, from_errno }

const struct pxc_failure_row pxc_failure_table[] = {
	ROW(POLICY, EACCES, true),
	ROW(NAME, EINVAL, true),
	ROW(FORMAT, EINVAL, false),
	ROW(SIZE, EFBIG, true),
	ROW(EXISTS, EEXIST, true),
	ROW(BUSY, EBUSY, false),
	ROW(QUOTA, EDQUOT, true),
	ROW(BUDGET, ENOSPC, true),
	ROW(UPLOADS, EAGAIN, false),
	ROW(LEASES, ENOBUFS, false),
	ROW(FD_LIMIT, EAGAIN, false),
	ROW(MEMORY, ENOMEM, true),
	ROW(TIMEOUT, ETIMEDOUT, false),
	ROW(NO_DEVICE, ENODEV, false),
	ROW(DMABUF, EBADF, false),
	/* Aliases: what the name check and the system say. */
	ROW(NAME, ENAMETOOLONG, true),
	ROW(NAME, EILSEQ, true),
	ROW(POLICY, EPERM, true),
};

const size_t pxc_failure_table_size =
	sizeof(pxc_failure_table) / sizeof(pxc_failure_table[0]);

int
pxc_failure_errno(uint32_t failure)
{
	for (size_t i = 0; i < pxc_failure_table_size; i++) {
		if (pxc_failure_table[i].failure == failure) {
			return -pxc_failure_table[i].err;
		}
	}
	return -ENOMEM;
}

uint32_t
pxc_failure_of(int err)
{
	for (size_t i = 0; i < pxc_failure_table_size; i++) {
		if (pxc_failure_table[i].from_errno &&
				pxc_failure_table[i].err == -err) {
			return pxc_failure_table[i].failure;
		}
	}
	return PIXCACHE_BATCH_V1_FAILURE_MEMORY;
}
