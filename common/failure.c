#include <errno.h>

#include "failure.h"
#include "pixcache-v1-server-protocol.h"

#define ROW(reason, e) { PIXCACHE_BATCH_V1_FAILURE_##reason, #reason, e }

const struct pxc_failure_row pxc_failure_table[] = {
	ROW(POLICY, EACCES),
	ROW(NAME, EINVAL),
	ROW(FORMAT, EINVAL),
	ROW(SIZE, EFBIG),
	ROW(EXISTS, EEXIST),
	ROW(BUSY, EBUSY),
	ROW(QUOTA, EDQUOT),
	ROW(BUDGET, ENOSPC),
	ROW(UPLOADS, EAGAIN),
	ROW(LEASES, ENOBUFS),
	ROW(FD_LIMIT, EAGAIN),
	ROW(MEMORY, ENOMEM),
	ROW(TIMEOUT, ETIMEDOUT),
	/* Aliases: what the name check and the system say. */
	ROW(NAME, ENAMETOOLONG),
	ROW(NAME, EILSEQ),
	ROW(POLICY, EPERM),
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
		if (pxc_failure_table[i].err == -err) {
			return pxc_failure_table[i].failure;
		}
	}
	return PIXCACHE_BATCH_V1_FAILURE_MEMORY;
}
