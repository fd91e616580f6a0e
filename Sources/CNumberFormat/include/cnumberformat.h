// Shortest round-trip formatting of doubles (C++17 std::to_chars), for writing JSON fast.
#ifndef CNUMBERFORMAT_H
#define CNUMBERFORMAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The most bytes one formatted double can take.
#define CNF_MAX_DOUBLE_LENGTH 32

/// Writes `count` doubles to `out` as JSON numbers separated by commas, each in its
/// shortest form that reads back as the same double (integral values keep a `.0`,
/// as `1.0`); NaN and infinities, which JSON cannot express, as `null`.
/// `out` must hold `count * CNF_MAX_DOUBLE_LENGTH` bytes. Returns the bytes written.
size_t cnf_write_doubles(const double *values, size_t count, char *out);

#ifdef __cplusplus
}
#endif

#endif
