/* harness.h: a minimal unit-test harness (one executable per module). */
#ifndef RUNNEL_TEST_HARNESS_H
#define RUNNEL_TEST_HARNESS_H

/*
 * Usage:
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   int main(int argc, char **argv) { return harness_run(argc, argv); }
 * Tests register themselves with a constructor; `prog NAME` runs only NAME.
 * A failing CHECK prints the file, line and values and fails the test; the
 * process exits non-zero when any test failed.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*harness_fn)(void);

struct harness_test {
	const char *name;
	harness_fn fn;
};

#define HARNESS_MAX_TESTS 512
extern struct harness_test harness_tests[HARNESS_MAX_TESTS];
extern int harness_test_count;
extern int harness_current_failed;

void harness_register(const char *name, harness_fn fn);
int harness_run(int argc, char **argv);
/* A fresh empty directory under $TMPDIR for this test; removed at exit. */
const char *harness_tmpdir(void);
/* A TCP port on 127.0.0.1 that was free a moment ago, chosen below the
 * kernel's ephemeral range (32768 and up by default): outgoing connections
 * made while a test's node is down cannot then take its port before the
 * node restarts on it. */
int harness_free_port(void);

#define TEST(name)                                                     \
	static void test_##name(void);                                 \
	__attribute__((constructor)) static void register_##name(void) \
	{                                                              \
		harness_register(#name, test_##name);                  \
	}                                                              \
	static void test_##name(void)

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			harness_current_failed = 1;                                     \
			return;                                                         \
		}                                                                       \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                \
	do {                                                                              \
		long long va_ = (long long)(a), vb_ = (long long)(b);                     \
		if (va_ != vb_) {                                                         \
			fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, \
				__LINE__, #a, #b, va_, vb_);                              \
			harness_current_failed = 1;                                       \
			return;                                                           \
		}                                                                         \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                \
	do {                                                                              \
		const char *sa_ = (a), *sb_ = (b);                                        \
		if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                              \
			fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n",   \
				__FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)",         \
				sb_ ? sb_ : "(null)");                                    \
			harness_current_failed = 1;                                       \
			return;                                                           \
		}                                                                         \
	} while (0)

#define CHECK_OK(expr) CHECK_EQ_INT((expr), 0)

#endif
