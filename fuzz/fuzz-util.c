#define _GNU_SOURCE
#include <assert.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "fuzz-util.h"

long
fuzz_send(int fd, const uint8_t *bytes, size_t size, int nfds)
{
	int fds[8];
	long ret;

	assert(nfds >= 0 && nfds <= 8);
	if (size == 0) {
		return 0;
	}
	for (int i = 0; i < nfds; i++) {
		fds[i] = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		assert(fds[i] >= 0);
		assert(ftruncate(fds[i], i % 2 ? 4096 : 1024) == 0);
		fcntl(fds[i], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			(i % 4 < 2 ? F_SEAL_WRITE : F_SEAL_FUTURE_WRITE));
	}
	ret = test_send_with_fds(fd, bytes, size, fds, nfds, MSG_NOSIGNAL);
	for (int i = 0; i < nfds; i++) {
		close(fds[i]);
	}
	return ret;
}
