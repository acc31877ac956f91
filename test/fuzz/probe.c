/* probe.c: links only when the compiler provides libFuzzer (a configure-time check). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
