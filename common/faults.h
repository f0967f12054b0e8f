/*
 * Fault injection: every fallible step of the manager (allocation, system
 * call, libwayland object creation) asks here first, so that the tests can
 * fail each one in turn and check that nothing is left half-made.
 */

#ifndef PIXCACHE_FAULTS_H
#define PIXCACHE_FAULTS_H

#include <stdbool.h>
#include <stddef.h>

struct pxc_faults {
	/* Returns true to make the step at point fail. NULL: none fail. */
	bool (*fail)(void *data, const char *point);
	void *data;
};

static inline bool
pxc_fault(const struct pxc_faults *faults, const char *point)
{
	return faults != NULL && faults->fail != NULL &&
		faults->fail(faults->data, point);
}

#endif
