#ifndef CLOSSKERNEL_H
#define CLOSSKERNEL_H

#include <stdint.h>
#include <chalfprecision.h>

/// The element types per-token values arrive in.
typedef enum { PL_FLOAT64 = 0, PL_FLOAT32 = 1, PL_FLOAT16 = 2, PL_BFLOAT16 = 3 } pl_dtype;

/// For each row r (elements offsets[r] ..< offsets[r + 1] of `values`): the sum of the selected
/// values (flags[i] != 0; every value when `flags` is NULL), or of their magnitudes when
/// `magnitudes` is set, accumulated in double in eight interleaved lanes combined in a fixed
/// order; how many were selected; and whether every value of the row, selected or not, is finite.
void pl_row_sums(const void *values, pl_dtype dtype, const uint8_t *flags, const intptr_t *offsets, intptr_t rows,
                 int magnitudes, double *sums, intptr_t *counts, uint8_t *finite);

/// pl_row_sums (magnitudes off) of `values`, and in the same pass `other_sums`: each row's sum
/// of the selected values of `other`, of the same type and rows, whose finiteness is not tested
/// (a non-finite selected value makes its row's sum non-finite).
void pl_row_sums_paired(const void *values, const void *other, pl_dtype dtype, const uint8_t *flags,
                        const intptr_t *offsets, intptr_t rows, double *sums, double *other_sums, intptr_t *counts,
                        uint8_t *finite);

/// Token gradients of rows whose selected tokens share one gradient: out[i] = (selected[i] ?
/// row_gradients[r] : 0) + (direct[i] ? coefficient : 0). A NULL `selected` selects every token;
/// a NULL `direct` means `selected`. Returns whether every value written is finite.
int pl_fill_gradients(const uint8_t *selected, const uint8_t *direct, const intptr_t *offsets, intptr_t rows,
                      const double *row_gradients, double coefficient, double *out);

/// Whether every selected value (flags as in pl_row_sums) is exactly a bfloat16 value; sets
/// how many were selected and whether any is non-zero. Stops at the first that is not.
int pl_all_bfloat16(const void *values, pl_dtype dtype, const uint8_t *flags, intptr_t count,
                    intptr_t *selected, int *nonzero);

/// The index of the first byte that is neither 0 nor 1, or -1.
intptr_t pl_first_non_binary(const uint8_t *bytes, intptr_t count);

/// flags[i] = labels[i] != pad.
void pl_flags_from_labels(const int64_t *labels, intptr_t count, int64_t pad, uint8_t *flags);

/// Where the allocator is glibc's: serve buffers up to 32 MiB from the heap and trim it only
/// once `retained_bytes` are free at its top, so freed buffers are reused, not remapped.
void pl_retain_freed_buffers(int retained_bytes);

#endif
