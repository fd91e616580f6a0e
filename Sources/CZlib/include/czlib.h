#ifndef CZLIB_H
#define CZLIB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Results of czl_inflate.
enum czl_status {
    CZL_OK = 0,
    CZL_CORRUPT = 1,    ///< not gzip or zlib data, or a checksum failed
    CZL_TOO_LARGE = 2,  ///< would inflate to more than the limit
    CZL_TRUNCATED = 3,  ///< the stream ends before its end marker
    CZL_NO_MEMORY = 4,
    CZL_REFUSED = 5,    ///< `may_hold` refused the room the output needed
};

/// Asked before the output buffer grows to `bytes` (plus padding); nonzero allows it.
typedef int (*czl_may_hold)(void *context, size_t bytes);

/// Inflates gzip (one or more members) or zlib data from `in`. On CZL_OK, `*out` is a
/// malloc'd buffer of `*out_length` bytes followed by `padding` zero bytes, which the
/// caller frees. The output never exceeds `limit` bytes: inflation stops as soon as it would.
/// Every allocation of the output buffer is first offered to `may_hold(context, capacity)`.
int czl_inflate(const uint8_t *in, size_t in_length, size_t limit, size_t padding,
                czl_may_hold may_hold, void *context, uint8_t **out, size_t *out_length);

/// Compresses `in` as one gzip member at `level` (1-9). On success returns 0 and `*out`
/// is a malloc'd buffer of `*out_length` bytes, which the caller frees.
int czl_gzip(const uint8_t *in, size_t in_length, int level, uint8_t **out, size_t *out_length);

#ifdef __cplusplus
}
#endif

#endif
