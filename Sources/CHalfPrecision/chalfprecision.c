// The decoders are inline in include/chalfprecision.h; the float32 narrowing is here.
#include "chalfprecision.h"

#include <math.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pl_narrow_to_float32 writes the host's floats as little-endian bytes"
#endif

/// Compiled for AVX2 beside plain x86-64, as the loss kernel is; one loop the compiler
/// vectorises, the conversion and the range test together.
#if defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
int pl_narrow_to_float32(const double *values, intptr_t count, void *out) {
    // float32 rounds a magnitude at least halfway from its largest finite value to 2^128 to
    // infinity (a tie goes to the even 2^128).
    const double halfway = 0x1.ffffffp127;
    float *floats = out;
    int overflowed = 0;
    for (intptr_t i = 0; i < count; i++) {
        floats[i] = (float)values[i];
        overflowed |= fabs(values[i]) >= halfway;
    }
    return overflowed;
}
