/*
 * What both fuzzers need besides tests/fd-util.h: sending bytes with
 * sealed memfds over a socket, as a peer would.
 */

#ifndef PIXCACHE_FUZZ_UTIL_H
#define PIXCACHE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "fd-util.h"

/*
 * Sends size bytes on fd with nfds (at most 8) fresh memfds: 1 KiB and
 * 4 KiB in turn, sealed against shrinking and growing, and against writing
 * (half of them only against future writes). A peer that hung up is an
 * outcome, not an error: returns what sendmsg() did.
 */
long fuzz_send(int fd, const uint8_t *bytes, size_t size, int nfds);

#endif
