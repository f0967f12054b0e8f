#include <stdint.h>
#include <string.h>

#include "utf8.h"

/*
 * The bounds of the second byte depend on the first (RFC 3629, table 3-7
 * of Unicode): that is what rules out overlong forms, surrogates and code
 * points above U+10FFFF. Later continuation bytes are always 80..BF.
 */
static bool
second_byte_ok(uint8_t lead, uint8_t b)
{
	switch (lead) {
	case 0xe0:
		return b >= 0xa0 && b <= 0xbf;
	case 0xed:
		return b >= 0x80 && b <= 0x9f;
	case 0xf0:
		return b >= 0x90 && b <= 0xbf;
	case 0xf4:
		return b >= 0x80 && b <= 0x8f;
	default:
		return b >= 0x80 && b <= 0xbf;
	}
}

static size_t
sequence_length(uint8_t lead)
{
	if (lead < 0x80) {
		return 1;
	} else if (lead >= 0xc2 && lead <= 0xdf) {
		return 2;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		return 3;
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		return 4;
	}
	return 0;
}

/* Names are mostly ASCII: skip it eight bytes at a time. */
static size_t
ascii_prefix(const uint8_t *p, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		if (w & UINT64_C(0x8080808080808080)) {
			break;
		}
	}
	while (i < len && p[i] < 0x80) {
		i++;
	}
	return i;
}

bool
pxc_utf8_valid(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = ascii_prefix(p, len);

	while (i < len) {
		size_t n = sequence_length(p[i]);

		if (n == 0 || n > len - i) {
			return false;
		}
		if (n > 1 && !second_byte_ok(p[i], p[i + 1])) {
			return false;
		}
		for (size_t k = 2; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				return false;
			}
		}
		i += n;
	}
	return true;
}
