/*
 * File descriptors, for the tests and the fuzzers alike: counting the
 * process's, and sending bytes with some over a socket as a peer would.
 */

#ifndef PIXCACHE_FD_UTIL_H
#define PIXCACHE_FD_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/** Entries of a /proc folder, "." and ".." aside. */
int test_count_entries(const char *path);

/** Open file descriptors of this process. */
int test_count_fds(void);

/**
 * sendmsg() of size bytes with nfds (at most 8) fds as SCM_RIGHTS, with
 * flags. Returns what sendmsg() returned.
 */
ssize_t test_send_with_fds(int sock, const void *bytes, size_t size,
	const int *fds, int nfds, int flags);

#endif
