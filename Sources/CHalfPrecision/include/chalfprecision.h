#ifndef CHALFPRECISION_H
#define CHALFPRECISION_H

// The two 16-bit float formats tensors arrive in, read exactly: the one decoder of each that
// the loss kernel's loops, TokenValues and the safetensors reader share.

#include <stdint.h>
#include <string.h>

/// bfloat16 bits (the high half of a float32) as a double, exactly. Inline, so that the loss
/// kernel's loops vectorise it and single values are read with it.
static inline double pl_bfloat16_to_double(uint16_t bits) {
    uint32_t widened = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &widened, sizeof value);
    return (double)value;
}

/// IEEE binary16 bits as a double, exactly (every half is a double); inline like
/// pl_bfloat16_to_double.
static inline double pl_float16_to_double(uint16_t bits) {
    uint32_t sign = (uint32_t)(bits & 0x8000u) << 16;
    uint32_t exponent = (bits >> 10) & 0x1fu;
    uint32_t mantissa = bits & 0x3ffu;
    if (exponent == 0) {
        double magnitude = (double)mantissa * 0x1p-24;
        return sign ? -magnitude : magnitude;
    }
    uint32_t widened = exponent == 31 ? (sign | 0x7f800000u | (mantissa << 13))
                                      : (sign | ((exponent + 112u) << 23) | (mantissa << 13));
    float value;
    memcpy(&value, &widened, sizeof value);
    return (double)value;
}

/// Writes `count` doubles to `out` as float32 (little-endian, unaligned allowed), rounding to
/// nearest; returns whether one of them was finite and rounded to ±inf, or was ±inf.
int pl_narrow_to_float32(const double *values, intptr_t count, void *out);

#endif
