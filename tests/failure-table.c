/*
 * Prints common/failure.c's table for failure-check.py, one row a line:
 * name, failure value, errno, then what the two lookups make of them.
 */

#include <stdio.h>

#include "failure.h"

int
main(void)
{
	for (size_t i = 0; i < pxc_failure_table_size; i++) {
		const struct pxc_failure_row *row = &pxc_failure_table[i];

		printf("%s %u %d %u %d %d\n", row->name, row->failure,
			row->err, pxc_failure_of(-row->err),
			-pxc_failure_errno(row->failure), row->from_errno);
	}
	return 0;
}
