/*
 * pixcache: the cache from the command line.
 *
 *   pixcache [--socket NAME] put [--realm R] [--replace] [--format F] NAME FILE
 *   pixcache [--socket NAME] get [--realm R] NAME -o FILE
 *   pixcache [--socket NAME] get --key TOKEN -o FILE
 *   pixcache [--socket NAME] rm [--realm R] NAME
 *   pixcache [--socket NAME] ls [--realm R] [--json]
 *   pixcache [--socket NAME] stat [--json]
 *
 * Exit status: 0 done, 1 not found or stale, 2 usage (or a file it cannot
 * read or write), 3 cannot connect or the connection failed, 4 refused.
 * Every error is one line on stderr.
 */

#define _GNU_SOURCE
#include <drm_fourcc.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-io.h"
#include "pixcache-client.h"

enum status {
	STATUS_OK = 0,
	STATUS_NOT_FOUND = 1,
	STATUS_USAGE = 2,
	STATUS_CONNECTION = 3,
	STATUS_REFUSED = 4,
};

struct cli {
	const char *socket;
	const char *realm;
	const char *output;
	const char *key;
	const char *format_name;
	bool replace;
	bool json;
	struct pixcache_client *client;
};

static void
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("pixcache: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *const usage_text =
	"usage: pixcache [--socket NAME] COMMAND ...\n"
	"  put [--realm R] [--replace] [--format F] NAME FILE   store a PNG "
	"or PAM; prints its key\n"
	"  get [--realm R] NAME -o FILE    write it as PNG or PAM (by "
	"extension)\n"
	"  get --key TOKEN -o FILE          the same, by key\n"
	"  rm [--realm R] NAME\n"
	"  ls [--realm R] [--json]\n"
	"  stat [--json]\n"
	"The socket is NAME, else $PIXCACHE_SOCKET, else $WAYLAND_DISPLAY.\n"
	"F: argb8888 (default), xrgb8888, abgr8888, xbgr8888, r8.\n"
	"Exit status: 0 done, 1 not found, 2 usage, 3 connection, "
	"4 refused.\n";

/* The exit status for an errno of the library. */
static enum status
status_of(int error)
{
	switch (error) {
	case 0:
		return STATUS_OK;
	case -ENOENT:
		return STATUS_NOT_FOUND;
	case -EINVAL:
	case -ENAMETOOLONG:
		return STATUS_USAGE;
	case -EACCES:
	case -EEXIST:
	case -EBUSY:
	case -EDQUOT:
	case -ENOSPC:
	case -EFBIG:
	case -ENOBUFS:
	case -EAGAIN:
	case -ECONNREFUSED:
		/* A call's -ECONNREFUSED is the manager's refused event; a
		 * socket that refuses is found at connect: status 3. */
		return STATUS_REFUSED;
	default:
		return STATUS_CONNECTION;
	}
}

/* What a failure means, in the words of the cache. */
static const char *
explain(int error)
{
	switch (error) {
	case -ENOENT:
		return "not in the cache";
	case -EACCES:
		return "the policy does not allow it";
	case -EEXIST:
		return "the name exists (use --replace to replace it)";
	case -EBUSY:
		return "another client is uploading it right now";
	case -EDQUOT:
		return "over the realm's quota";
	case -ENOSPC:
		return "over the cache's budget";
	case -EFBIG:
		return "larger than the manager takes";
	case -ENOBUFS:
		return "too many pixmaps held";
	case -EAGAIN:
		return "too much in flight; try again";
	case -ENOTCONN:
		return "no pixcache manager on this display";
	case -ECONNREFUSED:
		return "the manager refused this client";
	case -ETIMEDOUT:
		return "the manager did not answer in time";
	case -EINVAL:
		return "not a valid name";
	default:
		return strerror(-error);
	}
}

static int
connect_client(struct cli *cli)
{
	cli->client = pixcache_client_connect(cli->socket, NULL);
	if (cli->client == NULL) {
		const char *name = cli->socket ? cli->socket :
			getenv("PIXCACHE_SOCKET") ? getenv("PIXCACHE_SOCKET") :
			getenv("WAYLAND_DISPLAY") ? getenv("WAYLAND_DISPLAY") :
			"wayland-0";

		fail("cannot connect to %s: %s", name, strerror(errno));
		return STATUS_CONNECTION;
	}
	return STATUS_OK;
}

static const char *
realm_of(const struct cli *cli)
{
	return cli->realm ? cli->realm : "default";
}

static bool
parse_format(const char *name, uint32_t *format)
{
	static const struct {
		const char *name;
		uint32_t fourcc;
	} formats[] = {
		{ "argb8888", DRM_FORMAT_ARGB8888 },
		{ "xrgb8888", DRM_FORMAT_XRGB8888 },
		{ "abgr8888", DRM_FORMAT_ABGR8888 },
		{ "xbgr8888", DRM_FORMAT_XBGR8888 },
		{ "r8", DRM_FORMAT_R8 },
	};

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strcmp(name, formats[i].name) == 0) {
			*format = formats[i].fourcc;
			return true;
		}
	}
	return false;
}

/* ---- commands ---- */

static int
cmd_put(struct cli *cli, int argc, char **argv)
{
	uint32_t format = DRM_FORMAT_ARGB8888;
	struct pixcache_key key;
	pixman_image_t *image;
	char error[256], token[64];
	int ret;

	if (argc != 2) {
		fail("put wants NAME FILE");
		return STATUS_USAGE;
	}
	if (cli->format_name && !parse_format(cli->format_name, &format)) {
		fail("unknown format \"%s\"", cli->format_name);
		return STATUS_USAGE;
	}
	image = pxt_image_load(argv[1], error, sizeof(error));
	if (image == NULL) {
		fail("%s", error);
		return STATUS_USAGE;
	}
	ret = connect_client(cli);
	if (ret == STATUS_OK) {
		ret = pixcache_client_put(cli->client, realm_of(cli), argv[0],
			image, format, cli->replace ? PIXCACHE_PUT_REPLACE : 0,
			&key);
		if (ret < 0) {
			fail("put %s in %s: %s", argv[0], realm_of(cli),
				explain(ret));
		} else {
			pixcache_key_format(&key, token, sizeof(token));
			printf("%s\n", token);
		}
		ret = status_of(ret);
	}
	pixman_image_unref(image);
	return ret;
}

static int
save(struct pixcache_pixmap *pixmap, const char *path)
{
	pixman_image_t *image = pixcache_pixmap_create_pixman(pixmap);
	char error[256];
	int ret;

	if (image == NULL) {
		fail("%s: %s", path, strerror(errno));
		return STATUS_USAGE;
	}
	ret = pxt_image_save(path, image, error, sizeof(error));
	pixman_image_unref(image);
	if (ret < 0) {
		fail("%s", error);
		return STATUS_USAGE;
	}
	return STATUS_OK;
}

static int
cmd_get(struct cli *cli, int argc, char **argv)
{
	struct pixcache_pixmap *pixmap = NULL;
	struct pixcache_key key;
	int ret;

	if (cli->output == NULL || (cli->key == NULL) != (argc == 1) ||
			(cli->key != NULL && (argc != 0 || cli->realm))) {
		fail("get wants NAME -o FILE, or --key TOKEN -o FILE");
		return STATUS_USAGE;
	}
	if (cli->key != NULL && pixcache_key_parse(cli->key, &key) < 0) {
		fail("\"%s\" is not a key", cli->key);
		return STATUS_USAGE;
	}
	ret = connect_client(cli);
	if (ret != STATUS_OK) {
		return ret;
	}
	if (cli->key != NULL) {
		ret = pixcache_client_find_key(cli->client, &key, &pixmap);
		if (ret == -ENOENT) {
			fail("key %s: not in the cache (stale, or never was)",
				cli->key);
		} else if (ret < 0) {
			fail("key %s: %s", cli->key, explain(ret));
		}
	} else {
		ret = pixcache_client_find(cli->client, realm_of(cli), argv[0],
			&pixmap);
		if (ret < 0) {
			fail("get %s in %s: %s", argv[0], realm_of(cli),
				explain(ret));
		}
	}
	if (ret < 0) {
		return status_of(ret);
	}
	ret = save(pixmap, cli->output);
	pixcache_pixmap_unref(pixmap);
	return ret;
}

static int
cmd_rm(struct cli *cli, int argc, char **argv)
{
	int ret;

	if (argc != 1) {
		fail("rm wants NAME");
		return STATUS_USAGE;
	}
	ret = connect_client(cli);
	if (ret != STATUS_OK) {
		return ret;
	}
	ret = pixcache_client_remove(cli->client, realm_of(cli), argv[0]);
	if (ret < 0) {
		fail("rm %s in %s: %s", argv[0], realm_of(cli), explain(ret));
	}
	return status_of(ret);
}

/* A string as JSON: quotes, backslashes and control characters escaped. */
static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			printf("\\%c", c);
		} else if (c < 0x20) {
			printf("\\u%04x", c);
		} else {
			putchar(c);
		}
	}
	putchar('"');
}

struct listing {
	bool json;
	unsigned count;
};

static void
list_entry(void *data, const struct pixcache_entry_info *info)
{
	struct listing *listing = data;
	char token[64], fourcc[5];

	pixcache_key_format(&info->key, token, sizeof(token));
	for (int i = 0; i < 4; i++) {
		char c = (char)(info->format >> (8 * i));

		fourcc[i] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	fourcc[4] = '\0';
	if (!listing->json) {
		printf("%s\t%ux%u\t%s\t%s\n", info->name ? info->name : "-",
			info->width, info->height, fourcc, token);
	} else {
		printf("%s\n  {\"name\": ", listing->count ? "," : "");
		if (info->name != NULL) {
			print_json_string(info->name);
		} else {
			printf("null");
		}
		printf(", \"width\": %u, \"height\": %u, \"format\": \"%s\", "
			"\"key\": \"%s\"}", info->width, info->height, fourcc,
			token);
	}
	listing->count++;
}

static int
cmd_ls(struct cli *cli, int argc, char **argv)
{
	struct listing listing = { cli->json, 0 };
	int ret;

	if (argc != 0) {
		fail("ls takes no names");
		return STATUS_USAGE;
	}
	ret = connect_client(cli);
	if (ret != STATUS_OK) {
		return ret;
	}
	if (cli->json) {
		printf("[");
	}
	ret = pixcache_client_list(cli->client, realm_of(cli), list_entry,
		&listing);
	if (cli->json) {
		printf("%s]\n", listing.count ? "\n" : "");
	}
	if (ret < 0) {
		fail("ls %s: %s", realm_of(cli), explain(ret));
	}
	return status_of(ret);
}

static int
cmd_stat(struct cli *cli, int argc, char **argv)
{
	struct pixcache_client_stats s;
	int ret;

	if (argc != 0) {
		fail("stat takes no arguments");
		return STATUS_USAGE;
	}
	ret = connect_client(cli);
	if (ret != STATUS_OK) {
		return ret;
	}
	ret = pixcache_client_get_stats(cli->client, &s);
	if (ret < 0) {
		fail("stat: %s", explain(ret));
		return status_of(ret);
	}
	printf(cli->json ?
		"{\"entries\": %" PRIu64 ", \"realms\": %" PRIu64
		", \"clients\": %" PRIu64 ", \"indexed_bytes\": %" PRIu64
		", \"leased_bytes\": %" PRIu64 ", \"budget\": %" PRIu64
		", \"hits\": %" PRIu64 ", \"misses\": %" PRIu64
		", \"evictions\": %" PRIu64 "}\n" :
		"entries %" PRIu64 "\nrealms %" PRIu64 "\nclients %" PRIu64
		"\nindexed_bytes %" PRIu64 "\nleased_bytes %" PRIu64
		"\nbudget %" PRIu64 "\nhits %" PRIu64 "\nmisses %" PRIu64
		"\nevictions %" PRIu64 "\n",
		s.entries, s.realms, s.clients, s.indexed_bytes, s.leased_bytes,
		s.budget, s.hits, s.misses, s.evictions);
	return STATUS_OK;
}

/* ---- the command line ---- */

static const struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *options;		/* which of the options it takes */
} commands[] = {
	{ "put", cmd_put, "rRf" },
	{ "get", cmd_get, "rok" },
	{ "rm", cmd_rm, "r" },
	{ "ls", cmd_ls, "rj" },
	{ "stat", cmd_stat, "j" },
};

static int
parse_command_options(struct cli *cli, const struct command *command,
	int argc, char **argv)
{
	static const struct option options[] = {
		{ "realm", required_argument, NULL, 'r' },
		{ "replace", no_argument, NULL, 'R' },
		{ "format", required_argument, NULL, 'f' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* Our own one-line errors; GNU getopt permutes, so options may
	 * follow the names. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
		if (c == '?' || strchr(command->options, c) == NULL) {
			fail("%s: option %s does not apply", command->name,
				argv[optind - 1]);
			return -1;
		}
		switch (c) {
		case 'r':
			cli->realm = optarg;
			break;
		case 'R':
			cli->replace = true;
			break;
		case 'f':
			cli->format_name = optarg;
			break;
		case 'k':
			cli->key = optarg;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'o':
			cli->output = optarg;
			break;
		}
	}
	return optind;
}

int
main(int argc, char *argv[])
{
	struct cli cli = { NULL };
	int i = 1, ret;

	if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
		cli.socket = argv[2];
		i = 3;
	} else if (argc > 1 && strncmp(argv[1], "--socket=", 9) == 0) {
		cli.socket = argv[1] + 9;
		i = 2;
	}
	if (i < argc && (strcmp(argv[i], "--help") == 0 ||
			strcmp(argv[i], "-h") == 0)) {
		fputs(usage_text, stdout);
		return STATUS_OK;
	}
	for (size_t c = 0; i < argc &&
			c < sizeof(commands) / sizeof(commands[0]); c++) {
		int next;

		if (strcmp(argv[i], commands[c].name) != 0) {
			continue;
		}
		/* Options may come anywhere after the command. */
		next = parse_command_options(&cli, &commands[c], argc - i,
			argv + i);
		if (next < 0) {
			return STATUS_USAGE;
		}
		ret = commands[c].run(&cli, argc - i - next, argv + i + next);
		pixcache_client_destroy(cli.client);
		return ret;
	}
	if (i < argc) {
		fail("unknown command \"%s\" (see pixcache --help)", argv[i]);
	} else {
		fail("no command given (see pixcache --help)");
	}
	return STATUS_USAGE;
}
