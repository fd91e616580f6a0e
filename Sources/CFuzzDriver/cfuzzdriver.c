#include "cfuzzdriver.h"

#include <stddef.h>
#include <stdint.h>

// The fuzz target, defined in Swift with @_cdecl.
extern int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
// Defined by libFuzzer (LLVM 11+); weak, so a build without -sanitize=fuzzer links too.
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t)) __attribute__((weak));

int cfd_run_fuzzer(int argc, char **argv) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
