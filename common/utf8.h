#ifndef PIXCACHE_UTF8_H
#define PIXCACHE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/**
 * Whether s[0..len) is well-formed UTF-8 (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF, no truncated sequence.
 */
bool pxc_utf8_valid(const char *s, size_t len);

#endif
