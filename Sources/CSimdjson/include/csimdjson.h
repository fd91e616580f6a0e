// A thin C interface to simdjson's DOM parser: parse a buffer, then walk the
// document. It knows no schema; Swift does all interpretation and validation.
#ifndef CSIMDJSON_H
#define CSIMDJSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A parser and the document it last parsed. Not thread-safe; reuse it serially.
typedef struct csj_parser csj_parser;

/// A value inside the parser's current document (a copy of simdjson's dom::element).
/// Valid until the parser parses again or is freed.
typedef struct { uint64_t opaque[2]; } csj_element;

typedef enum {
    CSJ_ARRAY, CSJ_OBJECT, CSJ_INT64, CSJ_UINT64, CSJ_DOUBLE, CSJ_STRING, CSJ_BOOL, CSJ_NULL
} csj_type;

/// One member of an object; `key` is not NUL-terminated.
typedef struct {
    const char *key;
    size_t key_length;
    csj_element value;
} csj_field;

/// Bytes of readable memory simdjson needs after the document to avoid copying it.
size_t csj_required_padding(void);

/// Counts the commas, and the bytes that open an array, an object or a member's value (`[`, `{`
/// and `:`), of `length` bytes at `data`, inside strings too: what parsing a document holds
/// grows with them. Several bytes per cycle.
void csj_count_structure(const uint8_t *data, size_t length, size_t *commas, size_t *openings);

/// A parser accepting documents of up to `max_capacity` bytes (nesting up to 1024); NULL if out of memory.
csj_parser *csj_parser_create(size_t max_capacity);
void csj_parser_destroy(csj_parser *parser);
/// The largest document the parser's buffers hold now (they grow to each document parsed).
size_t csj_parser_capacity(const csj_parser *parser);

/// Parses `length` bytes at `data`. `spare` is how many readable bytes follow the
/// document: with at least csj_required_padding() of them the buffer is used in
/// place, otherwise copied. Returns 0 and sets `root`, or a simdjson error code.
int csj_parse(csj_parser *parser, const uint8_t *data, size_t length, size_t spare, csj_element *root);

/// simdjson's description of an error code.
const char *csj_error_message(int code);

csj_type csj_type_of(csj_element element);
/// The boolean, integer or double value; 0 for other types.
int csj_bool(csj_element element);
int64_t csj_int64(csj_element element);
double csj_double(csj_element element);
/// The string's UTF-8 bytes (not NUL-terminated) and length; NULL for other types.
const char *csj_string(csj_element element, size_t *length);

/// The number of elements of an array or fields of an object; 0 for other types.
size_t csj_count(csj_element element);
/// Copies up to `capacity` elements of an array to `out`; returns how many.
size_t csj_array_elements(csj_element array, csj_element *out, size_t capacity);
/// Copies up to `capacity` fields of an object, in document order, to `out`; returns how many.
size_t csj_object_fields(csj_element object, csj_field *out, size_t capacity);
/// Writes an array's numbers as doubles to `out` (up to `capacity`). Returns the
/// index of the first element that is not a number, or the count when all are.
size_t csj_array_doubles(csj_element array, double *out, size_t capacity);
/// Writes an array's integers (those that fit int64) to `out`; returns the index of
/// the first element that is not one, or the count when all are.
size_t csj_array_int64s(csj_element array, int64_t *out, size_t capacity);
/// Writes an array's flags (booleans, or the integers 0 and 1) as 0/1 bytes to `out`; returns
/// the index of the first element that is neither, or the count when all are.
size_t csj_array_flags(csj_element array, uint8_t *out, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
