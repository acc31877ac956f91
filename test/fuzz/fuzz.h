/* fuzz.h: the entry point every fuzz target defines (libFuzzer's contract). */
#ifndef RUNNEL_TEST_FUZZ_H
#define RUNNEL_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Runs the decoders on one input.  Returns 0; a bug aborts the process. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
