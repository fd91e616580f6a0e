#include "cnumberformat.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

size_t cnf_write_doubles(const double *values, size_t count, char *out) {
    char *cursor = out;
    // Runs of one value (per-token gradients are constant across a row) are
    // formatted once and copied: the bytes are identical either way.
    uint64_t previous_bits = 0;
    const char *previous = nullptr;
    size_t previous_length = 0;
    for (size_t index = 0; index < count; ++index) {
        if (index > 0) *cursor++ = ',';
        uint64_t bits;
        std::memcpy(&bits, &values[index], sizeof bits);
        if (previous != nullptr && bits == previous_bits) {
            std::memcpy(cursor, previous, previous_length);
            cursor += previous_length;
            continue;
        }
        char *start = cursor;
        if (!std::isfinite(values[index])) {
            std::memcpy(cursor, "null", 4);
            cursor += 4;
            continue;
        }
        cursor = std::to_chars(cursor, cursor + CNF_MAX_DOUBLE_LENGTH - 3, values[index]).ptr;
        bool integral = true;
        for (char *c = start; c < cursor; ++c) {
            if (*c == '.' || *c == 'e' || *c == 'n' || *c == 'i') {
                integral = false;
                break;
            }
        }
        if (integral) {
            *cursor++ = '.';
            *cursor++ = '0';
        }
        previous_bits = bits;
        previous = start;
        previous_length = static_cast<size_t>(cursor - start);
    }
    return static_cast<size_t>(cursor - out);
}
