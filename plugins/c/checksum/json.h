/*
 * Minimal JSON support for C plugins: read the top-level fields of an
 * arguments object, and build JSON text safely.
 *
 * The reader validates the whole document (RFC 8259 syntax, UTF-8, nesting
 * depth) in one pass and never reads outside [doc, doc + len). Fields the
 * caller asks for are extracted; everything else is validated and skipped.
 * All errors are reported as a static message plus a byte offset, never by
 * aborting.
 */
#ifndef TOOLHOST_C_JSON_H
#define TOOLHOST_C_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JSON_ABSENT = 0,
    JSON_STRING,
    JSON_NUMBER,
    JSON_TRUE,
    JSON_FALSE,
    JSON_NULL,
    JSON_OBJECT,
    JSON_ARRAY,
} json_type;

/* One top-level field the caller wants. Set `key`; the parser fills the rest. */
typedef struct {
    const char *key;  /* NUL-terminated field name, < 64 bytes (compared byte-wise after unescaping) */
    json_type type;   /* JSON_ABSENT when the object has no such key */
    char *str;        /* JSON_STRING: the decoded value, malloc'd, NUL-terminated (may hold NULs) */
    size_t str_len;   /* JSON_STRING: decoded length in bytes */
    const char *raw;  /* any type: the value's raw text inside the document */
    size_t raw_len;
} json_field;

typedef struct {
    const char *message; /* static text; NULL when there was no error */
    size_t offset;       /* byte offset of the error in the document */
} json_error;

/* json_error.message when an allocation failed (compare by pointer). */
extern const char JSON_ERR_OOM[];

/* Maximum nesting of arrays/objects accepted (deeper input is rejected, not recursed into). */
#define JSON_MAX_DEPTH 64

/*
 * Parses `doc` (`len` bytes, need not be NUL-terminated) as one JSON object and
 * fills `fields`. A repeated key keeps its last value. Returns true on success;
 * on failure returns false, fills `err`, and leaves no allocations behind.
 * On success the caller owns the field strings: free them with json_fields_free.
 */
bool json_read_fields(const char *doc, size_t len, json_field *fields, size_t nfields, json_error *err);

/* Frees the strings json_read_fields allocated and resets the fields to absent. */
void json_fields_free(json_field *fields, size_t nfields);

/*
 * Reads an integer field value (`raw`/`raw_len` of a JSON_NUMBER). Accepts an
 * optional minus, digits, and a fraction of zeros only (`16.0`); no exponent.
 * Returns false if the number is not such an integer or is outside [min, max].
 */
bool json_number_to_i64(const char *raw, size_t raw_len, int64_t min, int64_t max, int64_t *out);

/* A growable output buffer. On allocation failure it sets `oom` and ignores further appends. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
} json_buf;

void jb_init(json_buf *b);
void jb_free(json_buf *b);
void jb_bytes(json_buf *b, const void *data, size_t n);
void jb_str(json_buf *b, const char *s);     /* raw text, NUL-terminated */
void jb_u64(json_buf *b, uint64_t v);        /* decimal */
void jb_hex32(json_buf *b, uint32_t v);      /* 8 lowercase hex digits */
/* A JSON string literal (with quotes) for `n` bytes of UTF-8 text. */
void jb_json_string(json_buf *b, const char *s, size_t n);
/* Hands the buffer over: returns data (malloc'd, not NUL-terminated) and resets b. */
char *jb_take(json_buf *b, size_t *len);

#endif
