/*
 * SipHash, the keyed hash for names: without the key, an attacker cannot
 * choose names that collide, so the name index stays O(1) against names
 * from hostile clients.
 */

#ifndef PIXCACHE_SIPHASH_H
#define PIXCACHE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/** SipHash-1-3: one compression and three finalisation rounds. */
uint64_t pxc_siphash13(const uint64_t key[2], const void *data, size_t len);

/** SipHash-2-4, the reference variant; only used to check the rounds. */
uint64_t pxc_siphash24(const uint64_t key[2], const void *data, size_t len);

#endif
