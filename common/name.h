/*
 * Names of entries and realms, as the server stores them and the client
 * library checks them before it sends anything.
 */

#ifndef PIXCACHE_NAME_H
#define PIXCACHE_NAME_H

#include <stddef.h>

/** The longest name, in bytes, without a terminating NUL. */
#define PXC_NAME_MAX 255

/**
 * Checks that name is a name the cache can store: 1 to PXC_NAME_MAX bytes
 * of valid UTF-8 without NUL. Returns 0, -EINVAL (NULL, empty or contains
 * NUL), -ENAMETOOLONG or -EILSEQ.
 */
int pxc_name_check(const char *name, size_t len);

#endif
