/*
 * The harness's own checks must be able to fail. A wrong expectation of
 * a protocol error (the interface, the object or the code) fails the test
 * in a child, with a message that says what was expected and what came.
 */

#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server-harness.h"
#include "test-runner.h"

struct expectation {
	struct th_client *client;
	const struct wl_interface *interface;
	uint32_t id;
	uint32_t code;
};

/* Reads fd to its end into buf, a string. */
static void
read_all(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0) {
		n += (size_t)r;
	}
	buf[n] = '\0';
}

/*
 * Checks e in a child, its stderr into msg: whether it failed the test
 * there. The child pumps a copy of the server: the parent's is untouched.
 */
static bool
fails(const struct expectation *e, char *msg, size_t size)
{
	int out[2], status;
	pid_t pid;

	assert(pipe(out) == 0);
	pid = test_fork();
	if (pid == 0) {
		assert(dup2(out[1], STDERR_FILENO) == STDERR_FILENO);
		th_expect_protocol_error(e->client, e->interface, e->id,
			e->code);
		_exit(0);
	}
	close(out[1]);
	read_all(out[0], msg, size);
	close(out[0]);
	assert(waitpid(pid, &status, 0) == pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* e fails, saying what it expected and what came. */
static void
assert_fails(const struct expectation *e, const char *says)
{
	char msg[512];

	if (!fails(e, msg, sizeof(msg))) {
		test_fail("a wrong expectation passed: %s", says);
	}
	if (strstr(msg, says) == NULL) {
		test_fail("the failure said \"%s\", not \"%s\"", msg, says);
	}
}

TEST(a_wrong_interface_object_or_code_fails)
{
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *a = th_client_connect(server);
	struct pixcache_realm_v1 *realm, *again;
	struct expectation e;
	uint32_t id = th_id(a->manager);
	char says[256];

	realm = pixcache_manager_v1_get_realm(a->manager, "default");
	again = pixcache_manager_v1_get_realm(a->manager, "default");
	assert(!th_roundtrip(a));

	/* batch's bad_usage is 0 too: the case the code alone missed. */
	e = (struct expectation){ a, &pixcache_batch_v1_interface, id,
		PIXCACHE_BATCH_V1_ERROR_BAD_USAGE };
	snprintf(says, sizeof(says), "expected pixcache_batch_v1@%u error 0, "
		"got pixcache_manager_v1@%u error 0", id, id);
	assert_fails(&e, says);

	e = (struct expectation){ a, &pixcache_manager_v1_interface,
		th_id(realm), PIXCACHE_MANAGER_V1_ERROR_REALM_BOUND };
	snprintf(says, sizeof(says), "expected pixcache_manager_v1@%u "
		"error 0, got pixcache_manager_v1@%u error 0", th_id(realm),
		id);
	assert_fails(&e, says);

	e = (struct expectation){ a, &pixcache_manager_v1_interface, id, 1 };
	snprintf(says, sizeof(says), "expected pixcache_manager_v1@%u "
		"error 1, got pixcache_manager_v1@%u error 0", id, id);
	assert_fails(&e, says);

	/* The right one passes, here and in a child. */
	e = (struct expectation){ a, &pixcache_manager_v1_interface, id,
		PIXCACHE_MANAGER_V1_ERROR_REALM_BOUND };
	th_expect_protocol_error(a, e.interface, e.id, e.code);
	assert(!fails(&e, says, sizeof(says)));

	pixcache_realm_v1_destroy(realm);
	pixcache_realm_v1_destroy(again);
	th_client_disconnect(a);
	th_server_destroy(server);
}

TEST(a_client_alive_fails_an_expected_error)
{
	struct th_server *server = th_server_create(NULL, NULL);
	struct th_client *a = th_client_connect(server);
	struct expectation e = { a, &pixcache_manager_v1_interface,
		th_id(a->manager), PIXCACHE_MANAGER_V1_ERROR_REALM_BOUND };

	assert_fails(&e, "but the client is alive");
	/* The child's roundtrip was its own. */
	assert(th_roundtrip(a));
	th_client_disconnect(a);
	th_server_destroy(server);
}
