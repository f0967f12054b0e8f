#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "size.h"

int
pxc_parse_size(const char *text, uint64_t *bytes)
{
	unsigned long long n;
	unsigned shift = 0;
	char *end;

	if (!isdigit((unsigned char)text[0])) {
		return -1;
	}
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno != 0) {
		return -1;
	}
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (shift != 0 && strcmp(end, "iB") == 0) {
		end += 2;
	} else if (toupper((unsigned char)*end) == 'B') {
		end++;
	}
	if (*end != '\0' || (shift != 0 && n > (UINT64_MAX >> shift))) {
		return -1;
	}
	*bytes = (uint64_t)n << shift;
	return 0;
}
