/* See json.h. Every read of the document is guarded by an index < length check. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

const char JSON_ERR_OOM[] = "out of memory";

typedef struct {
    const unsigned char *s;
    size_t n;
    size_t i;
    json_error *err;
} reader;

static bool fail(reader *r, const char *message) {
    if (r->err->message == NULL) {
        r->err->message = message;
        r->err->offset = r->i;
    }
    return false;
}

static void skip_ws(reader *r) {
    while (r->i < r->n) {
        unsigned char c = r->s[r->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
        r->i++;
    }
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at s[at..at+4), which the caller has checked are inside the string. */
static long hex4(const unsigned char *s, size_t at) {
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = hex_value(s[at + k]);
        if (h < 0) return -1;
        v = (v << 4) | h;
    }
    return v;
}

static size_t put_utf8(unsigned char *out, unsigned long cp) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Length of the well-formed UTF-8 sequence starting at s[i] (i < end), or 0 if
 * it is malformed (overlong, surrogate, > U+10FFFF, truncated).
 */
static size_t utf8_len(const unsigned char *s, size_t i, size_t end) {
    unsigned char c = s[i];
    size_t need;
    unsigned long cp, min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (end - i <= need) return 0;
    for (size_t k = 1; k <= need; k++) {
        unsigned char cc = s[i + k];
        if ((cc & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return need + 1;
}

/*
 * Parses a string literal at r->i (which holds '"') in one pass. Decoded bytes go
 * to dst[0..dst_cap); past that they are only counted and *truncated is set, so
 * a string can be validated without storing it (dst == NULL, dst_cap == 0).
 * Every read is checked against r->n; decoding never grows the text, so a
 * buffer of (r->n - r->i) bytes always suffices.
 */
static bool parse_string_into(reader *r, unsigned char *dst, size_t dst_cap, size_t *out_len, bool *truncated) {
    const unsigned char *s = r->s;
    const size_t n = r->n;
    size_t i = r->i + 1;
    size_t o = 0;
    *truncated = false;
#define PUT(src, len)                                            \
    do {                                                         \
        if (o + (len) <= dst_cap) memcpy(dst + o, (src), (len)); \
        else *truncated = true;                                  \
        o += (len);                                              \
    } while (0)
    for (;;) {
        /* Fast path: a run of text that needs no decoding (printable ASCII other than
           '"' and '\\', and well-formed UTF-8 sequences) is validated, then copied in
           one go. wasm fuel counts operators, so plain ASCII is first skipped eight bytes
           at a time: stop at a word holding a byte >= 0x80, < 0x20, '"' or '\\'. The bit
           tests may stop early, never late; the byte loop then decides. */
        size_t run = i;
        for (;;) {
            while (n - run >= 8) {
                uint64_t x;
                memcpy(&x, s + run, 8);
                const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
                uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
                uint64_t special = (x & high) | ((x - ones * 0x20) & ~x & high) |
                                   ((q - ones) & ~q & high) | ((b - ones) & ~b & high);
                if (special) break;
                run += 8;
            }
            while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '\\' && s[run] != '"') run++;
            if (run >= n || s[run] < 0x80) break;
            /* Two-byte sequences (Latin, Greek, Cyrillic, ...) inline; others via utf8_len. */
            size_t k = (s[run] >= 0xC2 && s[run] <= 0xDF && n - run >= 2 && (s[run + 1] & 0xC0) == 0x80)
                           ? 2
                           : utf8_len(s, run, n);
            if (k == 0) break; /* malformed: reported below */
            run += k;
        }
        if (run > i) {
            PUT(s + i, run - i);
            i = run;
        }
        if (i >= n) {
            r->i = i;
            return fail(r, "unterminated string");
        }
        unsigned char c = s[i];
        if (c == '"') break;
        if (c < 0x20) {
            r->i = i;
            return fail(r, "control character in string (escape it)");
        }
        if (c == '\\') {
            if (n - i < 2) {
                r->i = i;
                return fail(r, "unterminated string");
            }
            unsigned char simple = 0;
            switch (s[i + 1]) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u': break;
            default:
                r->i = i;
                return fail(r, "invalid escape in string");
            }
            if (simple) {
                if (o < dst_cap) dst[o] = simple;
                else *truncated = true;
                o++;
                i += 2;
                continue;
            }
            long cp = (n - i >= 6) ? hex4(s, i + 2) : -1;
            if (cp < 0) {
                r->i = i;
                return fail(r, "\\u must be followed by 4 hex digits");
            }
            size_t used = 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = (n - i >= 12 && s[i + 6] == '\\' && s[i + 7] == 'u') ? hex4(s, i + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    r->i = i;
                    return fail(r, "unpaired UTF-16 surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                used = 12;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                r->i = i;
                return fail(r, "unpaired UTF-16 surrogate in \\u escape");
            }
            unsigned char tmp[4];
            size_t k = put_utf8(tmp, (unsigned long)cp);
            PUT(tmp, k);
            i += used;
            continue;
        }
        size_t k = utf8_len(s, i, n);
        if (k == 0) {
            r->i = i;
            return fail(r, "invalid UTF-8 in string");
        }
        PUT(s + i, k);
        i += k;
    }
#undef PUT
    *out_len = o;
    r->i = i + 1;
    return true;
}

/* Parses a string literal; when `out` is non-NULL returns it decoded in a new malloc'd, NUL-terminated buffer. */
static bool parse_string(reader *r, char **out, size_t *out_len) {
    size_t len;
    bool truncated;
    if (out == NULL) return parse_string_into(r, NULL, 0, &len, &truncated);
    size_t cap = r->n - r->i; /* >= decoded length + 1 (the opening quote is not copied) */
    unsigned char *buf = malloc(cap);
    if (buf == NULL) return fail(r, JSON_ERR_OOM);
    if (!parse_string_into(r, buf, cap - 1, &len, &truncated) || truncated) {
        free(buf);
        return truncated ? fail(r, "internal error: string buffer too small") : false;
    }
    buf[len] = 0;
    unsigned char *shrunk = realloc(buf, len + 1);
    *out = (char *)(shrunk ? shrunk : buf);
    *out_len = len;
    return true;
}

static bool parse_number(reader *r) {
    const unsigned char *s = r->s;
    size_t i = r->i;
    if (i < r->n && s[i] == '-') i++;
    if (i >= r->n) return fail(r, "truncated number");
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < r->n && s[i] >= '0' && s[i] <= '9') i++;
    } else {
        return fail(r, "invalid number");
    }
    if (i < r->n && s[i] == '.') {
        i++;
        size_t digits = i;
        while (i < r->n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == digits) { r->i = i; return fail(r, "digit expected after '.'"); }
    }
    if (i < r->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < r->n && (s[i] == '+' || s[i] == '-')) i++;
        size_t digits = i;
        while (i < r->n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == digits) { r->i = i; return fail(r, "digit expected in exponent"); }
    }
    r->i = i;
    return true;
}

static bool parse_literal(reader *r, const char *word, json_type t, json_type *type) {
    size_t k = strlen(word);
    if (r->n - r->i < k || memcmp(r->s + r->i, word, k) != 0) {
        return fail(r, "invalid literal (expected true, false or null)");
    }
    r->i += k;
    *type = t;
    return true;
}

static bool parse_value(reader *r, int depth, json_type *type);

static bool parse_array(reader *r, int depth) {
    r->i++; /* '[' */
    skip_ws(r);
    if (r->i < r->n && r->s[r->i] == ']') { r->i++; return true; }
    for (;;) {
        json_type t;
        if (!parse_value(r, depth, &t)) return false;
        skip_ws(r);
        if (r->i >= r->n) return fail(r, "unterminated array");
        unsigned char c = r->s[r->i++];
        if (c == ']') return true;
        if (c != ',') { r->i--; return fail(r, "expected ',' or ']' in array"); }
    }
}

/* Parses an object; at depth 1 (the top level) fills `fields`. */
static bool parse_object(reader *r, int depth, json_field *fields, size_t nfields) {
    r->i++; /* '{' */
    skip_ws(r);
    if (r->i < r->n && r->s[r->i] == '}') { r->i++; return true; }
    for (;;) {
        skip_ws(r);
        if (r->i >= r->n || r->s[r->i] != '"') return fail(r, "expected a string key in object");
        json_field *want = NULL;
        /* Keys are decoded into a small stack buffer; a longer key cannot match. */
        unsigned char key[64];
        size_t key_len = 0;
        bool long_key = false;
        if (!parse_string_into(r, key, nfields > 0 ? sizeof key : 0, &key_len, &long_key)) return false;
        for (size_t f = 0; f < nfields && !long_key; f++) {
            if (strlen(fields[f].key) == key_len && memcmp(fields[f].key, key, key_len) == 0) {
                want = &fields[f];
            }
        }
        skip_ws(r);
        if (r->i >= r->n || r->s[r->i] != ':') return fail(r, "expected ':' after object key");
        r->i++;
        skip_ws(r);
        size_t value_start = r->i;
        if (want != NULL) {
            /* A repeated key keeps its last value. */
            free(want->str);
            want->str = NULL;
            want->str_len = 0;
            want->type = JSON_ABSENT;
            if (r->i < r->n && r->s[r->i] == '"') {
                if (!parse_string(r, &want->str, &want->str_len)) return false;
                want->type = JSON_STRING;
            } else if (!parse_value(r, depth, &want->type)) {
                want->type = JSON_ABSENT;
                return false;
            }
            want->raw = (const char *)r->s + value_start;
            want->raw_len = r->i - value_start;
        } else {
            json_type t;
            if (!parse_value(r, depth, &t)) return false;
        }
        skip_ws(r);
        if (r->i >= r->n) return fail(r, "unterminated object");
        unsigned char c = r->s[r->i++];
        if (c == '}') return true;
        if (c != ',') { r->i--; return fail(r, "expected ',' or '}' in object"); }
    }
}

static bool parse_value(reader *r, int depth, json_type *type) {
    skip_ws(r);
    if (r->i >= r->n) return fail(r, "unexpected end of input");
    unsigned char c = r->s[r->i];
    switch (c) {
    case '{':
    case '[':
        if (depth + 1 > JSON_MAX_DEPTH) return fail(r, "nesting too deep");
        *type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
        return c == '{' ? parse_object(r, depth + 1, NULL, 0) : parse_array(r, depth + 1);
    case '"':
        *type = JSON_STRING;
        return parse_string(r, NULL, NULL);
    case 't':
        return parse_literal(r, "true", JSON_TRUE, type);
    case 'f':
        return parse_literal(r, "false", JSON_FALSE, type);
    case 'n':
        return parse_literal(r, "null", JSON_NULL, type);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            *type = JSON_NUMBER;
            return parse_number(r);
        }
        return fail(r, "unexpected character");
    }
}

bool json_read_fields(const char *doc, size_t len, json_field *fields, size_t nfields, json_error *err) {
    reader r = {(const unsigned char *)doc, len, 0, err};
    err->message = NULL;
    err->offset = 0;
    for (size_t f = 0; f < nfields; f++) {
        fields[f].type = JSON_ABSENT;
        fields[f].str = NULL;
        fields[f].str_len = 0;
        fields[f].raw = NULL;
        fields[f].raw_len = 0;
    }
    if (doc == NULL && len > 0) return fail(&r, "no document");
    skip_ws(&r);
    if (r.i >= r.n || r.s[r.i] != '{') {
        fail(&r, "arguments must be a JSON object");
        json_fields_free(fields, nfields);
        return false;
    }
    if (!parse_object(&r, 1, fields, nfields)) {
        json_fields_free(fields, nfields);
        return false;
    }
    skip_ws(&r);
    if (r.i != r.n) {
        fail(&r, "trailing characters after the JSON object");
        json_fields_free(fields, nfields);
        return false;
    }
    return true;
}

void json_fields_free(json_field *fields, size_t nfields) {
    for (size_t f = 0; f < nfields; f++) {
        free(fields[f].str);
        fields[f].str = NULL;
        fields[f].str_len = 0;
        fields[f].type = JSON_ABSENT;
        fields[f].raw = NULL;
        fields[f].raw_len = 0;
    }
}

bool json_number_to_i64(const char *raw, size_t raw_len, int64_t min, int64_t max, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < raw_len && raw[i] == '-') { neg = true; i++; }
    if (i >= raw_len || raw[i] < '0' || raw[i] > '9') return false;
    uint64_t mag = 0;
    const uint64_t cap = (uint64_t)INT64_MAX + 1; /* magnitude of INT64_MIN */
    for (; i < raw_len && raw[i] >= '0' && raw[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(raw[i] - '0');
        if (mag > (cap - d) / 10) return false; /* would exceed 2^63 */
        mag = mag * 10 + d;
    }
    if (i < raw_len && raw[i] == '.') {
        for (i++; i < raw_len && raw[i] == '0'; i++) {}
    }
    if (i != raw_len) return false; /* a non-zero fraction, or an exponent */
    int64_t v;
    if (neg) {
        v = (mag == cap) ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return false;
        v = (int64_t)mag;
    }
    if (v < min || v > max) return false;
    *out = v;
    return true;
}

/* ---- output ---- */

void jb_init(json_buf *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = false;
}

void jb_free(json_buf *b) {
    free(b->data);
    jb_init(b);
}

static bool jb_reserve(json_buf *b, size_t extra) {
    if (b->oom) return false;
    if (extra > SIZE_MAX - b->len) { b->oom = true; return false; }
    size_t need = b->len + extra;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) { cap = need; break; }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) { b->oom = true; return false; }
    b->data = p;
    b->cap = cap;
    return true;
}

void jb_bytes(json_buf *b, const void *data, size_t n) {
    if (n == 0 || !jb_reserve(b, n)) return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

void jb_str(json_buf *b, const char *s) { jb_bytes(b, s, strlen(s)); }

void jb_u64(json_buf *b, uint64_t v) {
    char tmp[20];
    size_t k = sizeof tmp;
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    jb_bytes(b, tmp + k, sizeof tmp - k);
}

static const char HEX[] = "0123456789abcdef";

void jb_hex32(json_buf *b, uint32_t v) {
    char tmp[8];
    for (int k = 7; k >= 0; k--) {
        tmp[k] = HEX[v & 0xF];
        v >>= 4;
    }
    jb_bytes(b, tmp, 8);
}

void jb_json_string(json_buf *b, const char *s, size_t n) {
    /* Worst case every byte becomes \u00XX. */
    if (n > (SIZE_MAX - 2) / 6) { b->oom = true; return; }
    if (!jb_reserve(b, n * 6 + 2)) return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        case '\b': *o++ = '\\'; *o++ = 'b'; break;
        case '\f': *o++ = '\\'; *o++ = 'f'; break;
        default:
            if (c < 0x20 || c == 0x7F) {
                *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = HEX[c >> 4]; *o++ = HEX[c & 0xF];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

char *jb_take(json_buf *b, size_t *len) {
    char *d = b->data;
    *len = b->len;
    jb_init(b);
    return d;
}
