#ifndef CFUZZDRIVER_H
#define CFUZZDRIVER_H

/// Runs libFuzzer's driver on the program's LLVMFuzzerTestOneInput when the program is
/// linked with -sanitize=fuzzer; returns -1 without doing anything when it is not.
int cfd_run_fuzzer(int argc, char **argv);

#endif
