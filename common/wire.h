/*
 * 64-bit values on the wire: the protocol carries each as two uint32
 * arguments, high word first. Every key, token and counter is split and
 * joined here.
 */

#ifndef PIXCACHE_WIRE_H
#define PIXCACHE_WIRE_H

#include <stdint.h>

static inline uint32_t
pxc_wire_hi(uint64_t value)
{
	return (uint32_t)(value >> 32);
}

static inline uint32_t
pxc_wire_lo(uint64_t value)
{
	return (uint32_t)value;
}

static inline uint64_t
pxc_wire_join(uint32_t hi, uint32_t lo)
{
	return (uint64_t)hi << 32 | lo;
}

#endif
