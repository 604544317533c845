/* The libFuzzer entry point every tests/fuzz/fuzz_*.c target defines; driver.c calls it for
 * each file of a corpus so that the corpora run under gcc as regression tests. */
#ifndef TP_FUZZ_H
#define TP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
