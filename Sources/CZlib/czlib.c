#include "czlib.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/// zlib's counters are 32-bit (uInt); feed and drain it in steps no larger than this.
static const size_t step = 1u << 30;

/// Runs `zlib_function` (inflate or deflate) once over what is left of `in` and of `out`,
/// at most `step` bytes of each, and advances `*consumed` and `*produced` by what it used.
static int advance(int (*zlib_function)(z_streamp, int), z_stream *stream, int flush,
                   const uint8_t *in, size_t in_length, size_t *consumed,
                   uint8_t *out, size_t capacity, size_t *produced) {
    size_t available_in = in_length - *consumed, available_out = capacity - *produced;
    stream->next_in = (Bytef *)(in + *consumed);
    stream->avail_in = (uInt)(available_in < step ? available_in : step);
    stream->next_out = out + *produced;
    stream->avail_out = (uInt)(available_out < step ? available_out : step);
    uInt offered_in = stream->avail_in, offered_out = stream->avail_out;
    int result = zlib_function(stream, flush);
    *consumed += offered_in - stream->avail_in;
    *produced += offered_out - stream->avail_out;
    return result;
}

int czl_inflate(const uint8_t *in, size_t in_length, size_t limit, size_t padding,
                czl_may_hold may_hold, void *context, uint8_t **out, size_t *out_length) {
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    // 15 + 32: a 32 KiB window, and detect the gzip or zlib header automatically.
    if (inflateInit2(&stream, 15 + 32) != Z_OK) return CZL_NO_MEMORY;

    size_t capacity = in_length < limit / 4 ? in_length * 4 + 1024 : limit;
    if (capacity > limit) capacity = limit;
    if (!may_hold(context, capacity)) { inflateEnd(&stream); return CZL_REFUSED; }
    uint8_t *buffer = malloc(capacity + padding);
    if (buffer == NULL) { inflateEnd(&stream); return CZL_NO_MEMORY; }

    size_t consumed = 0, produced = 0;
    int status = CZL_TRUNCATED;
    for (;;) {
        if (produced == capacity) {
            if (capacity == limit) { status = CZL_TOO_LARGE; break; }
            size_t grown = capacity > limit / 2 ? limit : capacity * 2;
            if (!may_hold(context, grown)) { status = CZL_REFUSED; break; }
            uint8_t *larger = realloc(buffer, grown + padding);
            if (larger == NULL) { status = CZL_NO_MEMORY; break; }
            buffer = larger;
            capacity = grown;
        }
        int result = advance(inflate, &stream, Z_NO_FLUSH, in, in_length, &consumed, buffer, capacity, &produced);
        if (result == Z_STREAM_END) {
            if (consumed == in_length) { status = CZL_OK; break; }
            // Another gzip member follows (RFC 1952 allows several).
            if (inflateReset(&stream) != Z_OK) { status = CZL_CORRUPT; break; }
            continue;
        }
        if (result == Z_NEED_DICT || result == Z_DATA_ERROR || result == Z_STREAM_ERROR) { status = CZL_CORRUPT; break; }
        if (result == Z_MEM_ERROR) { status = CZL_NO_MEMORY; break; }
        // Z_OK or Z_BUF_ERROR: progress is possible only with more input or more room.
        if (consumed == in_length && produced < capacity) { status = CZL_TRUNCATED; break; }
    }
    inflateEnd(&stream);
    if (status != CZL_OK) { free(buffer); return status; }
    memset(buffer + produced, 0, padding);
    *out = buffer;
    *out_length = produced;
    return CZL_OK;
}

int czl_gzip(const uint8_t *in, size_t in_length, int level, uint8_t **out, size_t *out_length) {
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    // 15 + 16: a 32 KiB window with a gzip header and trailer.
    if (deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return CZL_NO_MEMORY;
    size_t capacity = deflateBound(&stream, (uLong)in_length);
    uint8_t *buffer = malloc(capacity);
    if (buffer == NULL) { deflateEnd(&stream); return CZL_NO_MEMORY; }
    size_t consumed = 0, produced = 0;
    int result;
    do {
        int flush = in_length - consumed <= step ? Z_FINISH : Z_NO_FLUSH;
        result = advance(deflate, &stream, flush, in, in_length, &consumed, buffer, capacity, &produced);
    } while (result == Z_OK);
    deflateEnd(&stream);
    if (result != Z_STREAM_END) { free(buffer); return CZL_NO_MEMORY; }
    *out = buffer;
    *out_length = produced;
    return CZL_OK;
}
