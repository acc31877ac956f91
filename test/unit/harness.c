/* harness.c: registration, running and temporary directories for unit tests. */
#include "test/unit/harness.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

struct harness_test harness_tests[HARNESS_MAX_TESTS];
int harness_test_count;
int harness_current_failed;

static char tmp_root[512];
static int tmp_seq;

void harness_register(const char *name, harness_fn fn)
{
	if (harness_test_count >= HARNESS_MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		abort();
	}
	harness_tests[harness_test_count].name = name;
	harness_tests[harness_test_count].fn = fn;
	harness_test_count++;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tmp_root(void)
{
	if (tmp_root[0])
		nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *harness_tmpdir(void)
{
	static char dir[600];
	if (!tmp_root[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmp_root, sizeof(tmp_root), "%s/runnel-unit-XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmp_root)) {
			perror("mkdtemp");
			abort();
		}
		atexit(remove_tmp_root);
	}
	snprintf(dir, sizeof(dir), "%s/t%d", tmp_root, ++tmp_seq);
	if (mkdir(dir, 0700) != 0) {
		perror("mkdir");
		abort();
	}
	return dir;
}

int harness_free_port(void)
{
	static unsigned seed;
	if (!seed)
		seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
	for (int attempt = 0; attempt < 500; attempt++) {
		int port = 20000 + (int)(rand_r(&seed) % 12000);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			break;
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	fprintf(stderr, "no free port between 20000 and 32000\n");
	abort();
}

int harness_run(int argc, char **argv)
{
	int passed = 0, failed = 0;
	for (int i = 0; i < harness_test_count; i++) {
		if (argc > 1 && strcmp(argv[1], harness_tests[i].name) != 0)
			continue;
		harness_current_failed = 0;
		harness_tests[i].fn();
		if (harness_current_failed) {
			printf("FAIL %s\n", harness_tests[i].name);
			failed++;
		} else {
			printf("ok   %s\n", harness_tests[i].name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%d tests: %d passed, %d failed\n", passed + failed, passed, failed);
	return failed ? 1 : (passed ? 0 : 1);
}
