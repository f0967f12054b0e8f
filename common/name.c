#include <errno.h>
#include <string.h>

#include "name.h"
#include "utf8.h"

int
pxc_name_check(const char *name, size_t len)
{
	if (name == NULL || len == 0 || memchr(name, '\0', len) != NULL) {
		return -EINVAL;
	}
	if (len > PXC_NAME_MAX) {
		return -ENAMETOOLONG;
	}
	if (!pxc_utf8_valid(name, len)) {
		return -EILSEQ;
	}
	return 0;
}
