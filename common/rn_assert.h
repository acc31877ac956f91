/* rn_assert.h: assertions that stay on in every build. */
#ifndef RUNNEL_COMMON_ASSERT_H
#define RUNNEL_COMMON_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

/* An assertion documents an invariant; breaking one is a bug, and the process
 * stops rather than go on with state it cannot trust. */
#define RN_ASSERT(cond)                                                                  \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "assertion failed: %s (%s:%d, %s)\n", #cond, __FILE__, \
				__LINE__, __func__);                                     \
			abort();                                                         \
		}                                                                        \
	} while (0)

#define RN_UNREACHABLE() RN_ASSERT(0 && "unreachable")

#define RN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
