#define _GNU_SOURCE
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-util.h"

int
fuzz_count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *d;
	int n = 0;

	assert(dir != NULL);
	while ((d = readdir(dir)) != NULL) {
		n += d->d_name[0] != '.';
	}
	closedir(dir);
	return n;
}

long
fuzz_send(int fd, const uint8_t *bytes, size_t size, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = { (void *)bytes, size };
	struct msghdr hdr = { .msg_iov = &iov, .msg_iovlen = 1 };
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
	if (nfds > 0) {
		struct cmsghdr *cmsg;

		hdr.msg_control = control;
		hdr.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cmsg = CMSG_FIRSTHDR(&hdr);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
	}
	ret = sendmsg(fd, &hdr, MSG_NOSIGNAL);
	for (int i = 0; i < nfds; i++) {
		close(fds[i]);
	}
	return ret;
}
