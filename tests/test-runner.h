/*
 * The test runner: every TEST runs in a child process of its own, so a
 * crash fails that test alone, under a timeout, with a check that it
 * leaves no file descriptor open. Each test is a process group of its
 * own, killed whole when the test ends, and dies with the runner: a
 * process a test started can never outlive it and hold the runner's
 * output open.
 */

#ifndef PIXCACHE_TEST_RUNNER_H
#define PIXCACHE_TEST_RUNNER_H

#ifdef NDEBUG
#error "the tests rely on assert(): build them without NDEBUG"
#endif

#include <assert.h>

#include "fd-util.h"

struct test {
	const char *name;
	void (*run)(void);
} __attribute__((aligned(16)));

#define TEST(name) \
	static void name(void); \
	const struct test test_##name \
		__attribute__((used, section("test_section"))) = { \
		#name, name \
	}; \
	static void name(void)

/** Ends the current test as skipped, printing why. */
__attribute__((noreturn, format(printf, 1, 2)))
void test_skip(const char *fmt, ...);

/** Ends the current test as failed, printing why. */
__attribute__((noreturn, format(printf, 1, 2)))
void test_fail(const char *fmt, ...);


/** The seconds a test may take, scaled by PXC_TEST_TIMEOUT_SCALE. */
unsigned test_timeout(void);

/**
 * fork() for tests: fails the test if this process runs more than one
 * thread (a lock another thread held at the fork stays held in the child
 * forever), and the child dies with its parent.
 */
int test_fork(void);

#endif
