#include <stdint.h>

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

bool
pxc_utf8_valid(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

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
