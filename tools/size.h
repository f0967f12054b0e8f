#ifndef PIXCACHE_TOOLS_SIZE_H
#define PIXCACHE_TOOLS_SIZE_H

#include <stdint.h>

/**
 * Parses a byte count: digits, then optionally K, M or G (powers of
 * 1024), and optionally "B" or "iB" after it. Returns 0, or -1 for
 * anything else or an overflow.
 */
int pxc_parse_size(const char *text, uint64_t *bytes);

#endif
