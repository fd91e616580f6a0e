#include "closskernel.h"

#include <math.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/// Lanes of partial sums: independent chains the compiler keeps in vector registers.
#define LANES 8

/// The hot passes are compiled twice, for AVX2 and for any x86-64, and the loader picks the
/// one the CPU runs; results are the same (the lanes fix the order of every addition).
#if defined(__x86_64__) && defined(__linux__)
#define MULTIVERSIONED __attribute__((target_clones("avx2", "default")))
#else
#define MULTIVERSIONED
#endif

static inline double from_float64(double x) { return x; }
static inline double from_float32(float x) { return (double)x; }

/// The loops of one row: TERM (of x, each value in turn) added to the lanes, for rows without
/// flags (SUM_EVERY) and with them (SUM_SELECTED). Each is written out once per value of
/// `magnitudes` rather than testing it per value: clang unswitches such a test only at -O3, and
/// SwiftPM builds C at -O2.
#define SUM_EVERY(CONVERT, TERM)                                                                           \
    for (; i + LANES <= end; i += LANES)                                                                   \
        for (int k = 0; k < LANES; k++) {                                                                  \
            double x = CONVERT(values[i + k]);                                                             \
            sum[k] += TERM;                                                                                \
            nonfinite[k] += x - x;                                                                         \
        }                                                                                                  \
    for (int k = 0; i < end; i++, k++) {                                                                   \
        double x = CONVERT(values[i]);                                                                     \
        sum[k] += TERM;                                                                                    \
        nonfinite[k] += x - x;                                                                             \
    }

#define SUM_SELECTED(CONVERT, TERM)                                                                        \
    for (; i + LANES <= end; i += LANES)                                                                   \
        for (int k = 0; k < LANES; k++) {                                                                  \
            double x = CONVERT(values[i + k]);                                                             \
            sum[k] += flags[i + k] ? TERM : 0.0;                                                           \
            nonfinite[k] += x - x;                                                                         \
            count[k] += flags[i + k] != 0;                                                                 \
        }                                                                                                  \
    for (int k = 0; i < end; i++, k++) {                                                                   \
        double x = CONVERT(values[i]);                                                                     \
        sum[k] += flags[i] ? TERM : 0.0;                                                                   \
        nonfinite[k] += x - x;                                                                             \
        count[k] += flags[i] != 0;                                                                         \
    }

/// Sums one row in LANES interleaved chains; the tail joins the chains it falls in, so the
/// result depends only on the values and their positions in the row.
#define DEFINE_ROW_SUMS(NAME, TYPE, CONVERT)                                                                \
    static inline __attribute__((always_inline)) void NAME(const TYPE *values, const uint8_t *flags, const intptr_t *offsets, intptr_t rows, \
                     int magnitudes, double *sums, intptr_t *counts, uint8_t *finite) {                     \
        for (intptr_t row = 0; row < rows; row++) {                                                        \
            const intptr_t start = offsets[row], end = offsets[row + 1];                                   \
            double sum[LANES] = {0}, nonfinite[LANES] = {0};                                               \
            intptr_t count[LANES] = {0};                                                                   \
            intptr_t i = start;                                                                            \
            if (flags) {                                                                                   \
                if (magnitudes) {                                                                          \
                    SUM_SELECTED(CONVERT, fabs(x))                                                         \
                } else {                                                                                   \
                    SUM_SELECTED(CONVERT, x)                                                               \
                }                                                                                          \
            } else {                                                                                       \
                if (magnitudes) {                                                                          \
                    SUM_EVERY(CONVERT, fabs(x))                                                            \
                } else {                                                                                   \
                    SUM_EVERY(CONVERT, x)                                                                  \
                }                                                                                          \
                count[0] = end - start;                                                                    \
            }                                                                                              \
            sums[row] = ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7])); \
            counts[row] = ((count[0] + count[1]) + (count[2] + count[3])) + ((count[4] + count[5]) + (count[6] + count[7])); \
            double checked = ((nonfinite[0] + nonfinite[1]) + (nonfinite[2] + nonfinite[3]))               \
                           + ((nonfinite[4] + nonfinite[5]) + (nonfinite[6] + nonfinite[7]));              \
            finite[row] = checked == 0.0;                                                                  \
        }                                                                                                  \
    }

DEFINE_ROW_SUMS(row_sums_float64, double, from_float64)
DEFINE_ROW_SUMS(row_sums_float32, float, from_float32)
DEFINE_ROW_SUMS(row_sums_float16, uint16_t, pl_float16_to_double)
DEFINE_ROW_SUMS(row_sums_bfloat16, uint16_t, pl_bfloat16_to_double)

/// pl_row_sums' loops (magnitudes off) that also add each selected value of `other` to lanes
/// of its own: one pass over the flags for both arrays, and no finiteness test of `other`.
/// Every value of `other` is read, selected or not: a conditional read is a masked load.
#define SUM_EVERY_PAIRED(CONVERT)                                                                          \
    for (; i + LANES <= end; i += LANES)                                                                   \
        for (int k = 0; k < LANES; k++) {                                                                  \
            double x = CONVERT(values[i + k]);                                                             \
            sum[k] += x;                                                                                   \
            other_sum[k] += CONVERT(other[i + k]);                                                         \
            nonfinite[k] += x - x;                                                                         \
        }                                                                                                  \
    for (int k = 0; i < end; i++, k++) {                                                                   \
        double x = CONVERT(values[i]);                                                                     \
        sum[k] += x;                                                                                       \
        other_sum[k] += CONVERT(other[i]);                                                                 \
        nonfinite[k] += x - x;                                                                             \
    }

#define SUM_SELECTED_PAIRED(CONVERT)                                                                       \
    for (; i + LANES <= end; i += LANES)                                                                   \
        for (int k = 0; k < LANES; k++) {                                                                  \
            double x = CONVERT(values[i + k]), y = CONVERT(other[i + k]);                                  \
            sum[k] += flags[i + k] ? x : 0.0;                                                              \
            other_sum[k] += flags[i + k] ? y : 0.0;                                                        \
            nonfinite[k] += x - x;                                                                         \
            count[k] += flags[i + k] != 0;                                                                 \
        }                                                                                                  \
    for (int k = 0; i < end; i++, k++) {                                                                   \
        double x = CONVERT(values[i]), y = CONVERT(other[i]);                                              \
        sum[k] += flags[i] ? x : 0.0;                                                                      \
        other_sum[k] += flags[i] ? y : 0.0;                                                                \
        nonfinite[k] += x - x;                                                                             \
        count[k] += flags[i] != 0;                                                                         \
    }

#define LANE_TOTAL(A) (((A[0] + A[1]) + (A[2] + A[3])) + ((A[4] + A[5]) + (A[6] + A[7])))

#define DEFINE_ROW_SUMS_PAIRED(NAME, TYPE, CONVERT)                                                         \
    static inline __attribute__((always_inline)) void NAME(const TYPE *values, const TYPE *other,          \
        const uint8_t *flags, const intptr_t *offsets, intptr_t rows, double *sums, double *other_sums,    \
        intptr_t *counts, uint8_t *finite) {                                                               \
        for (intptr_t row = 0; row < rows; row++) {                                                        \
            const intptr_t start = offsets[row], end = offsets[row + 1];                                   \
            double sum[LANES] = {0}, other_sum[LANES] = {0}, nonfinite[LANES] = {0};                       \
            intptr_t count[LANES] = {0};                                                                   \
            intptr_t i = start;                                                                            \
            if (flags) {                                                                                   \
                SUM_SELECTED_PAIRED(CONVERT)                                                               \
            } else {                                                                                       \
                SUM_EVERY_PAIRED(CONVERT)                                                                  \
                count[0] = end - start;                                                                    \
            }                                                                                              \
            sums[row] = LANE_TOTAL(sum);                                                                   \
            other_sums[row] = LANE_TOTAL(other_sum);                                                       \
            counts[row] = LANE_TOTAL(count);                                                               \
            finite[row] = LANE_TOTAL(nonfinite) == 0.0;                                                    \
        }                                                                                                  \
    }

DEFINE_ROW_SUMS_PAIRED(row_sums_paired_float64, double, from_float64)
DEFINE_ROW_SUMS_PAIRED(row_sums_paired_float32, float, from_float32)
DEFINE_ROW_SUMS_PAIRED(row_sums_paired_float16, uint16_t, pl_float16_to_double)
DEFINE_ROW_SUMS_PAIRED(row_sums_paired_bfloat16, uint16_t, pl_bfloat16_to_double)

MULTIVERSIONED void pl_row_sums_paired(const void *values, const void *other, pl_dtype dtype, const uint8_t *flags,
                                       const intptr_t *offsets, intptr_t rows, double *sums, double *other_sums,
                                       intptr_t *counts, uint8_t *finite) {
    switch (dtype) {
    case PL_FLOAT64:
        row_sums_paired_float64(values, other, flags, offsets, rows, sums, other_sums, counts, finite);
        break;
    case PL_FLOAT32:
        row_sums_paired_float32(values, other, flags, offsets, rows, sums, other_sums, counts, finite);
        break;
    case PL_FLOAT16:
        row_sums_paired_float16(values, other, flags, offsets, rows, sums, other_sums, counts, finite);
        break;
    case PL_BFLOAT16:
        row_sums_paired_bfloat16(values, other, flags, offsets, rows, sums, other_sums, counts, finite);
        break;
    }
}

MULTIVERSIONED void pl_row_sums(const void *values, pl_dtype dtype, const uint8_t *flags, const intptr_t *offsets, intptr_t rows,
                 int magnitudes, double *sums, intptr_t *counts, uint8_t *finite) {
    switch (dtype) {
    case PL_FLOAT64: row_sums_float64(values, flags, offsets, rows, magnitudes, sums, counts, finite); break;
    case PL_FLOAT32: row_sums_float32(values, flags, offsets, rows, magnitudes, sums, counts, finite); break;
    case PL_FLOAT16: row_sums_float16(values, flags, offsets, rows, magnitudes, sums, counts, finite); break;
    case PL_BFLOAT16: row_sums_bfloat16(values, flags, offsets, rows, magnitudes, sums, counts, finite); break;
    }
}

/// Each combination of `selected` and `direct` has a loop of its own, with no test of a
/// pointer in it, so that every one of them is vectorised.
MULTIVERSIONED int pl_fill_gradients(const uint8_t *selected, const uint8_t *direct, const intptr_t *offsets,
                                     intptr_t rows, const double *row_gradients, double coefficient, double *out) {
    int finite = 1;
    for (intptr_t row = 0; row < rows; row++) {
        const intptr_t start = offsets[row], end = offsets[row + 1];
        const double gradient = row_gradients[row];
        const double both = gradient + coefficient;
        // Every value written is one of these (or 0): checking them checks the row.
        finite &= isfinite(both) && (direct == NULL || (isfinite(gradient) && isfinite(coefficient)));
        if (direct && selected) {
            for (intptr_t i = start; i < end; i++)
                out[i] = (selected[i] ? gradient : 0.0) + (direct[i] ? coefficient : 0.0);
        } else if (direct) {
            for (intptr_t i = start; i < end; i++) out[i] = gradient + (direct[i] ? coefficient : 0.0);
        } else if (selected) {
            for (intptr_t i = start; i < end; i++) out[i] = selected[i] ? both : 0.0;
        } else {
            for (intptr_t i = start; i < end; i++) out[i] = both;
        }
    }
    return finite;
}

/// A double that is exactly a float whose low 16 bits are 0.
static inline int is_bfloat16(double x) {
    float single = (float)x;
    uint32_t bits;
    memcpy(&bits, &single, sizeof bits);
    return (double)single == x && (bits & 0xffffu) == 0;
}

#define DEFINE_ALL_BFLOAT16(NAME, TYPE, CONVERT)                                                          \
    static int NAME(const TYPE *values, const uint8_t *flags, intptr_t count, intptr_t *selected, int *nonzero) { \
        intptr_t taken = 0;                                                                                \
        int any = 0;                                                                                       \
        for (intptr_t i = 0; i < count; i++) {                                                             \
            if (flags && !flags[i]) continue;                                                              \
            double x = CONVERT(values[i]);                                                                 \
            if (!is_bfloat16(x)) return 0;                                                                 \
            taken++;                                                                                       \
            any |= x != 0.0;                                                                               \
        }                                                                                                  \
        *selected = taken;                                                                                 \
        *nonzero = any;                                                                                    \
        return 1;                                                                                          \
    }

DEFINE_ALL_BFLOAT16(all_bfloat16_float64, double, from_float64)
DEFINE_ALL_BFLOAT16(all_bfloat16_float32, float, from_float32)
DEFINE_ALL_BFLOAT16(all_bfloat16_float16, uint16_t, pl_float16_to_double)
DEFINE_ALL_BFLOAT16(all_bfloat16_bfloat16, uint16_t, pl_bfloat16_to_double)

int pl_all_bfloat16(const void *values, pl_dtype dtype, const uint8_t *flags, intptr_t count,
                    intptr_t *selected, int *nonzero) {
    switch (dtype) {
    case PL_FLOAT64: return all_bfloat16_float64(values, flags, count, selected, nonzero);
    case PL_FLOAT32: return all_bfloat16_float32(values, flags, count, selected, nonzero);
    case PL_FLOAT16: return all_bfloat16_float16(values, flags, count, selected, nonzero);
    case PL_BFLOAT16: return all_bfloat16_bfloat16(values, flags, count, selected, nonzero);
    }
    return 0;
}

intptr_t pl_first_non_binary(const uint8_t *bytes, intptr_t count) {
    // Blocks without a branch per byte; the block that has one is searched again.
    const intptr_t block = 64;
    for (intptr_t start = 0; start < count; start += block) {
        const intptr_t end = start + block < count ? start + block : count;
        uint8_t high = 0;
        for (intptr_t i = start; i < end; i++) high |= bytes[i] & 0xfe;
        if (high)
            for (intptr_t i = start; i < end; i++)
                if (bytes[i] > 1) return i;
    }
    return -1;
}

void pl_flags_from_labels(const int64_t *labels, intptr_t count, int64_t pad, uint8_t *flags) {
    for (intptr_t i = 0; i < count; i++) flags[i] = labels[i] != pad;
}

void pl_retain_freed_buffers(int retained_bytes) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, retained_bytes);
#else
    (void)retained_bytes;
#endif
}
