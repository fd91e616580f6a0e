#include "csimdjson.h"

#include <simdjson.h>

#include <cstring>
#include <new>
#include <type_traits>

using simdjson::dom::element;
using simdjson::dom::element_type;

static_assert(sizeof(element) == sizeof(csj_element), "csj_element must hold a dom::element");
static_assert(std::is_trivially_copyable<element>::value, "dom::element must be copyable as bytes");

struct csj_parser {
    simdjson::dom::parser parser;
    explicit csj_parser(size_t max_capacity) : parser(max_capacity) {}
};

static element unwrap(csj_element value) {
    element result;
    std::memcpy(static_cast<void *>(&result), &value, sizeof result);
    return result;
}

static csj_element wrap(element value) {
    csj_element result;
    std::memcpy(&result, static_cast<const void *>(&value), sizeof result);
    return result;
}

size_t csj_required_padding(void) { return simdjson::SIMDJSON_PADDING; }

// 32 bytes at a time into byte counters, which cannot overflow within 255 vectors; then summed.
typedef uint8_t csj_bytes32 __attribute__((vector_size(32)));

__attribute__((target_clones("avx2", "default")))
void csj_count_structure(const uint8_t *data, size_t length, size_t *commas, size_t *openings) {
    size_t comma_count = 0, opening_count = 0, i = 0;
    while (length - i >= sizeof(csj_bytes32)) {
        size_t vectors = (length - i) / sizeof(csj_bytes32);
        if (vectors > 255) vectors = 255;
        csj_bytes32 block_commas = {}, block_openings = {};
        for (size_t v = 0; v < vectors; v++, i += sizeof(csj_bytes32)) {
            csj_bytes32 x;
            std::memcpy(&x, data + i, sizeof x);
            // A true comparison is all ones (-1) in its byte.
            block_commas -= (csj_bytes32)(x == ',');
            block_openings -= (csj_bytes32)(((x | 0x20) == '{') | (x == ':'));  // '[' | 0x20 == '{'
        }
        for (size_t lane = 0; lane < sizeof(csj_bytes32); lane++) {
            comma_count += block_commas[lane];
            opening_count += block_openings[lane];
        }
    }
    for (; i < length; i++) {
        comma_count += data[i] == ',';
        opening_count += ((data[i] | 0x20) == '{') | (data[i] == ':');
    }
    *commas = comma_count;
    *openings = opening_count;
}

csj_parser *csj_parser_create(size_t max_capacity) { return new (std::nothrow) csj_parser(max_capacity); }

void csj_parser_destroy(csj_parser *parser) { delete parser; }

size_t csj_parser_capacity(const csj_parser *parser) { return parser->parser.capacity(); }

int csj_parse(csj_parser *parser, const uint8_t *data, size_t length, size_t spare, csj_element *root) {
    element parsed;
    auto error = parser->parser.parse(data, length, spare < simdjson::SIMDJSON_PADDING).get(parsed);
    if (error) return static_cast<int>(error);
    *root = wrap(parsed);
    return 0;
}

const char *csj_error_message(int code) { return simdjson::error_message(static_cast<simdjson::error_code>(code)); }

csj_type csj_type_of(csj_element value) {
    switch (unwrap(value).type()) {
    case element_type::ARRAY: return CSJ_ARRAY;
    case element_type::OBJECT: return CSJ_OBJECT;
    case element_type::INT64: return CSJ_INT64;
    case element_type::UINT64: return CSJ_UINT64;
    case element_type::DOUBLE: return CSJ_DOUBLE;
    case element_type::STRING: return CSJ_STRING;
    case element_type::BOOL: return CSJ_BOOL;
    case element_type::NULL_VALUE: return CSJ_NULL;
    }
    return CSJ_NULL;
}

int csj_bool(csj_element value) {
    bool result = false;
    return unwrap(value).get_bool().get(result) ? 0 : result;
}

int64_t csj_int64(csj_element value) {
    int64_t result = 0;
    return unwrap(value).get_int64().get(result) ? 0 : result;
}

double csj_double(csj_element value) {
    double result = 0;
    return unwrap(value).get_double().get(result) ? 0 : result;
}

const char *csj_string(csj_element value, size_t *length) {
    std::string_view text;
    if (unwrap(value).get_string().get(text)) {
        *length = 0;
        return nullptr;
    }
    *length = text.size();
    return text.data();
}

// simdjson saturates stored sizes at 0xFFFFFF; count longer containers by walking them.
template <typename Container>
static size_t count_members(Container container) {
    size_t count = container.size();
    if (count < 0xFFFFFF) return count;
    count = 0;
    for (auto member : container) {
        (void)member;
        ++count;
    }
    return count;
}

size_t csj_count(csj_element value) {
    element e = unwrap(value);
    simdjson::dom::array array;
    if (!e.get_array().get(array)) return count_members(array);
    simdjson::dom::object object;
    if (!e.get_object().get(object)) return count_members(object);
    return 0;
}

size_t csj_array_elements(csj_element value, csj_element *out, size_t capacity) {
    simdjson::dom::array array;
    if (unwrap(value).get_array().get(array)) return 0;
    size_t count = 0;
    for (element item : array) {
        if (count == capacity) break;
        out[count++] = wrap(item);
    }
    return count;
}

size_t csj_object_fields(csj_element value, csj_field *out, size_t capacity) {
    simdjson::dom::object object;
    if (unwrap(value).get_object().get(object)) return 0;
    size_t count = 0;
    for (auto field : object) {
        if (count == capacity) break;
        out[count++] = csj_field{field.key.data(), field.key.size(), wrap(field.value)};
    }
    return count;
}

// Copies an array's elements into `out` while `read` takes them (true when it wrote one, false,
// writing nothing, for one it refuses), stopping at the first it refuses.
template <typename Out, typename Read>
static size_t copy_array(csj_element value, Out *out, size_t capacity, Read read) {
    simdjson::dom::array array;
    if (unwrap(value).get_array().get(array)) return 0;
    size_t count = 0;
    for (element item : array) {
        if (count == capacity || !read(item, out[count])) break;
        count++;
    }
    return count;
}

// Reads an element of type `Stored` as an `Out`; false, writing nothing, for another type.
template <typename Stored, typename Out>
static bool read_as(element item, Out &out) {
    Stored stored;
    if (item.get<Stored>().get(stored)) return false;
    out = static_cast<Out>(stored);
    return true;
}

size_t csj_array_doubles(csj_element value, double *out, size_t capacity) {
    return copy_array(value, out, capacity, [](element item, double &out) { return read_as<double>(item, out); });
}

size_t csj_array_int64s(csj_element value, int64_t *out, size_t capacity) {
    return copy_array(value, out, capacity, [](element item, int64_t &out) { return read_as<int64_t>(item, out); });
}

size_t csj_array_flags(csj_element value, uint8_t *out, size_t capacity) {
    return copy_array(value, out, capacity, [](element item, uint8_t &out) {
        // Integers first: trainers' masks are 0/1 integers far more often than booleans.
        int64_t integer;
        if (!item.get<int64_t>().get(integer)) {
            if (integer != 0 && integer != 1) return false;
            out = static_cast<uint8_t>(integer);
            return true;
        }
        return read_as<bool>(item, out);
    });
}
