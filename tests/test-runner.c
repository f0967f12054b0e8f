#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-runner.h"

#define EXIT_SKIP 77
#define DEFAULT_TIMEOUT 120

extern const struct test __start_test_section, __stop_test_section;

void
test_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "SKIP: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(EXIT_SKIP);
}

void
test_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

/* Threads of this process. */
static int
count_threads(void)
{
	return test_count_entries("/proc/self/task");
}

/* Dies when the parent does; if it died already, dies now. */
static void
die_with_parent(pid_t parent)
{
	assert(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0);
	if (getppid() != parent) {
		_exit(EXIT_FAILURE);
	}
}

/* ThreadSanitizer runs a thread of its own in every process. */
#ifdef __SANITIZE_THREAD__
#define OWN_THREADS 2
#else
#define OWN_THREADS 1
#endif

int
test_fork(void)
{
	pid_t parent = getpid();
	int threads = count_threads();
	pid_t pid;

	if (threads != OWN_THREADS) {
		test_fail("fork() from a process of %d threads", threads);
	}
	fflush(NULL);
	pid = fork();
	assert(pid >= 0);
	if (pid == 0) {
		die_with_parent(parent);
	}
	return pid;
}

unsigned
test_timeout(void)
{
	const char *scale = getenv("PXC_TEST_TIMEOUT_SCALE");
	unsigned s = scale ? (unsigned)atoi(scale) : 1;

	return DEFAULT_TIMEOUT * (s > 0 ? s : 1);
}

static void
run_child(const struct test *t, pid_t runner)
{
	struct rlimit no_core = { 0, 0 };
	int fds;

	die_with_parent(runner);
	/* A group of its own: the runner kills it whole when it ends. */
	assert(setpgid(0, 0) == 0);
	setrlimit(RLIMIT_CORE, &no_core);
	/* A test that aborts must not lose what it printed. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(test_timeout());
	fds = test_count_fds();
	t->run();
	if (test_count_fds() != fds) {
		fprintf(stderr, "FAIL: %d file descriptors before, %d after\n",
			fds, test_count_fds());
		exit(EXIT_FAILURE);
	}
	exit(EXIT_SUCCESS);
}

enum outcome { PASSED, FAILED, SKIPPED };

static enum outcome
run_test(const struct test *t)
{
	struct timespec start, end;
	const char *verdict;
	enum outcome outcome;
	pid_t runner = getpid();
	int status;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &start);
	fflush(NULL);
	pid = fork();
	assert(pid >= 0);
	if (pid == 0) {
		run_child(t, runner);
	}
	/* Set here too, so the kill below finds the group either way. */
	setpgid(pid, pid);
	while (waitpid(pid, &status, 0) < 0) {
		assert(errno == EINTR);
	}
	/* Whatever the test started and left behind goes with it. */
	kill(-pid, SIGKILL);
	clock_gettime(CLOCK_MONOTONIC, &end);

	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SUCCESS) {
		outcome = PASSED;
		verdict = "pass";
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP) {
		outcome = SKIPPED;
		verdict = "skip";
	} else {
		outcome = FAILED;
		verdict = "FAIL";
	}
	printf("test \"%s\":\t%s", t->name, verdict);
	if (WIFSIGNALED(status)) {
		printf(" (signal %d: %s)", WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	} else if (outcome == FAILED) {
		printf(" (exit status %d)", WEXITSTATUS(status));
	}
	printf(" %.3f s\n", (double)(end.tv_sec - start.tv_sec) +
		(double)(end.tv_nsec - start.tv_nsec) / 1e9);
	return outcome;
}

int
main(int argc, char *argv[])
{
	const struct test *t;
	int counts[3] = { 0 };
	int matched = 0;

	if (argc == 2 && getenv("PXC_TEST_NO_FORK") != NULL) {
		for (t = &__start_test_section; t < &__stop_test_section; t++) {
			if (strcmp(t->name, argv[1]) == 0) {
				t->run();
				return EXIT_SUCCESS;
			}
		}
		fprintf(stderr, "no test named %s\n", argv[1]);
		return EXIT_FAILURE;
	}

	for (t = &__start_test_section; t < &__stop_test_section; t++) {
		if (argc == 2 && strcmp(t->name, argv[1]) != 0) {
			continue;
		}
		matched++;
		counts[run_test(t)]++;
	}
	if (argc == 2 && matched == 0) {
		fprintf(stderr, "no test named %s\n", argv[1]);
		return EXIT_FAILURE;
	}
	printf("%d passed, %d failed, %d skipped\n", counts[PASSED],
		counts[FAILED], counts[SKIPPED]);
	if (counts[FAILED] > 0) {
		return EXIT_FAILURE;
	}
	return counts[PASSED] == 0 && counts[SKIPPED] > 0 ? EXIT_SKIP : 0;
}
