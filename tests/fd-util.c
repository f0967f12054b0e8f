#define _GNU_SOURCE
#include <assert.h>
#include <dirent.h>
#include <string.h>
#include <sys/socket.h>

#include "fd-util.h"

int
test_count_entries(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	int n = 0;

	assert(dir != NULL);
	while ((d = readdir(dir)) != NULL) {
		n += d->d_name[0] != '.';
	}
	closedir(dir);
	return n;
}

int
test_count_fds(void)
{
	return test_count_entries("/proc/self/fd");
}

ssize_t
test_send_with_fds(int sock, const void *bytes, size_t size, const int *fds,
	int nfds, int flags)
{
	char control[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = { (void *)bytes, size };
	struct msghdr hdr = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert(nfds >= 0 && nfds <= 8);
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
	return sendmsg(sock, &hdr, flags);
}
