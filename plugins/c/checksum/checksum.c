/*
 * toolhost example plugin `checksum`, in C: checksums and hexdumps of text.
 *
 * | tool         | args                                                   | result |
 * |--------------|--------------------------------------------------------|--------|
 * | `c.checksum` | `{"text", "algorithm"?: "crc32"|"adler32"|"fnv1a32", "encoding"?: "utf8"|"hex"}` | value `{"algorithm","value","hex","bytes"}` |
 * | `c.hexdump`  | `{"text", "max_bytes"?: 1..65536 (4096), "encoding"?}` | a `hexdump -C` text block; value `{"bytes","shown","truncated"}` |
 *
 * `encoding: "hex"` means `text` holds the bytes as hex digits (whitespace between
 * bytes allowed), so binary data can be checked too.
 *
 * Contract: toolhost:plugin@0.2.0 (wit/plugin.wit, world `plugin`).
 *
 * Ownership (wit-bindgen C): the arguments of an export belong to the callee, so
 * `call` frees `name`, `args` and `ctx`; everything returned is malloc'd and freed
 * by the generated post-return functions after the host has copied it.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "plugin.h"

typedef toolhost_plugin_types_tool_output_t tool_output;
typedef toolhost_plugin_types_tool_error_t tool_error;
typedef toolhost_plugin_types_error_kind_t error_kind;

#define KIND_INVALID_INPUT TOOLHOST_PLUGIN_TYPES_ERROR_KIND_INVALID_INPUT
#define KIND_INTERNAL TOOLHOST_PLUGIN_TYPES_ERROR_KIND_INTERNAL

#define HEXDUMP_DEFAULT 4096
#define HEXDUMP_MAX 65536

/* ---- checksums --------------------------------------------------------- */

static uint32_t crc32_ieee(const unsigned char *p, size_t n) {
    static uint32_t table[256];
    static int ready = 0;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t adler32(const unsigned char *p, size_t n) {
    uint32_t a = 1, b = 0;
    while (n > 0) {
        size_t chunk = n < 5552 ? n : 5552; /* largest run without uint32 overflow */
        n -= chunk;
        while (chunk--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return (b << 16) | a;
}

static uint32_t fnv1a32(const unsigned char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

typedef struct {
    const char *name;
    uint32_t (*fn)(const unsigned char *, size_t);
} algorithm;

static const algorithm ALGORITHMS[] = {
    {"crc32", crc32_ieee},
    {"adler32", adler32},
    {"fnv1a32", fnv1a32},
};
#define N_ALGORITHMS (sizeof ALGORITHMS / sizeof ALGORITHMS[0])

/* ---- results ------------------------------------------------------------ */

/* Moves a finished buffer into a component string (NULL/0 when empty, as the bindings expect). */
static plugin_string_t take_string(json_buf *b) {
    plugin_string_t s;
    size_t len;
    char *data = jb_take(b, &len);
    if (len == 0) {
        free(data);
        s.ptr = NULL;
        s.len = 0;
    } else {
        s.ptr = (uint8_t *)data;
        s.len = len;
    }
    return s;
}

/* Fills `err` (message copied). `details` is a JSON text or NULL. Returns false for `return fail(...)`. */
static bool set_error(tool_error *err, error_kind kind, json_buf *message, const char *details) {
    memset(err, 0, sizeof *err);
    err->kind = kind;
    if (message->oom) {
        jb_free(message);
        jb_str(message, "out of memory");
    }
    err->message = take_string(message);
    if (details != NULL) {
        err->details.is_some = true;
        plugin_string_dup(&err->details.val, details);
    }
    return false;
}

static bool error_text(tool_error *err, error_kind kind, const char *text) {
    json_buf m;
    jb_init(&m);
    jb_str(&m, text);
    return set_error(err, kind, &m, NULL);
}

/* ---- argument handling -------------------------------------------------- */

enum { F_TEXT, F_ALGORITHM, F_ENCODING, F_MAX_BYTES, N_FIELDS };

typedef struct {
    json_field f[N_FIELDS];
    const unsigned char *data; /* the bytes to process (text, or decoded hex) */
    size_t len;
} args_t;

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex digits in place (output is never longer than input). */
static bool decode_hex(char *s, size_t n, size_t *out_len, size_t *bad_at) {
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            i++;
            continue;
        }
        int hi = hexval(c);
        int lo = (i + 1 < n) ? hexval((unsigned char)s[i + 1]) : -1;
        if (hi < 0 || lo < 0) {
            *bad_at = (hi < 0) ? i : i + 1;
            return false;
        }
        s[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    *out_len = o;
    return true;
}

/* Reads and checks the arguments both tools share. On failure fills `err`, frees everything. */
static bool read_args(const plugin_string_t *raw, args_t *a, tool_error *err) {
    static const char *const keys[N_FIELDS] = {"text", "algorithm", "encoding", "max_bytes"};
    for (int k = 0; k < N_FIELDS; k++) a->f[k].key = keys[k];
    json_error je;
    if (!json_read_fields((const char *)raw->ptr, raw->len, a->f, N_FIELDS, &je)) {
        if (je.message == JSON_ERR_OOM) return error_text(err, KIND_INTERNAL, "out of memory reading the arguments");
        json_buf m, d;
        jb_init(&m);
        jb_init(&d);
        jb_str(&m, "arguments are not valid JSON: ");
        jb_str(&m, je.message);
        jb_str(&m, " at byte ");
        jb_u64(&m, je.offset);
        jb_str(&d, "{\"offset\":");
        jb_u64(&d, je.offset);
        jb_str(&d, "}");
        jb_bytes(&d, "", 1); /* NUL for plugin_string_dup */
        bool r = set_error(err, KIND_INVALID_INPUT, &m, d.oom ? NULL : d.data);
        jb_free(&d);
        return r;
    }
    json_field *text = &a->f[F_TEXT];
    if (text->type != JSON_STRING) {
        const char *why = text->type == JSON_ABSENT ? "missing required string field `text`" : "`text` must be a string";
        json_fields_free(a->f, N_FIELDS);
        return error_text(err, KIND_INVALID_INPUT, why);
    }
    json_field *enc = &a->f[F_ENCODING];
    bool hex = false;
    if (enc->type == JSON_STRING && strcmp(enc->str, "hex") == 0 && enc->str_len == 3) {
        hex = true;
    } else if (enc->type != JSON_ABSENT && !(enc->type == JSON_STRING && enc->str_len == 4 && strcmp(enc->str, "utf8") == 0)) {
        json_fields_free(a->f, N_FIELDS);
        return error_text(err, KIND_INVALID_INPUT, "`encoding` must be \"utf8\" or \"hex\"");
    }
    a->len = text->str_len;
    if (hex) {
        size_t bad = 0;
        if (!decode_hex(text->str, text->str_len, &a->len, &bad)) {
            json_fields_free(a->f, N_FIELDS);
            json_buf m;
            jb_init(&m);
            jb_str(&m, "`text` is not hex (encoding \"hex\"): expected pairs of hex digits, problem at byte ");
            jb_u64(&m, bad);
            return set_error(err, KIND_INVALID_INPUT, &m, NULL);
        }
    }
    a->data = (const unsigned char *)text->str;
    return true;
}

/* ---- tools -------------------------------------------------------------- */

static bool tool_checksum(args_t *a, tool_output *out, tool_error *err) {
    const algorithm *alg = &ALGORITHMS[0];
    json_field *f = &a->f[F_ALGORITHM];
    if (f->type != JSON_ABSENT) {
        alg = NULL;
        for (size_t k = 0; f->type == JSON_STRING && k < N_ALGORITHMS; k++) {
            if (strlen(ALGORITHMS[k].name) == f->str_len && strcmp(ALGORITHMS[k].name, f->str) == 0) alg = &ALGORITHMS[k];
        }
        if (alg == NULL) return error_text(err, KIND_INVALID_INPUT, "`algorithm` must be one of \"crc32\", \"adler32\", \"fnv1a32\"");
    }
    uint32_t v = alg->fn(a->data, a->len);
    json_buf b;
    jb_init(&b);
    jb_str(&b, "{\"algorithm\":");
    jb_json_string(&b, alg->name, strlen(alg->name));
    jb_str(&b, ",\"value\":");
    jb_u64(&b, v);
    jb_str(&b, ",\"hex\":\"");
    jb_hex32(&b, v);
    jb_str(&b, "\",\"bytes\":");
    jb_u64(&b, a->len);
    jb_str(&b, "}");
    if (b.oom) {
        jb_free(&b);
        return error_text(err, KIND_INTERNAL, "out of memory");
    }
    out->value.is_some = true;
    out->value.val = take_string(&b);
    return true;
}

static const char HEXDIGITS[] = "0123456789abcdef";

static void put_hex8(json_buf *b, size_t v) {
    char t[8];
    for (int k = 7; k >= 0; k--) {
        t[k] = HEXDIGITS[v & 0xF];
        v >>= 4;
    }
    jb_bytes(b, t, 8);
}

/* The output of `hexdump -C -v` for p[0..n). */
static void hexdump(json_buf *b, const unsigned char *p, size_t n) {
    for (size_t off = 0; off < n; off += 16) {
        size_t row = n - off < 16 ? n - off : 16;
        char line[80];
        size_t o = 0;
        for (int k = 7; k >= 0; k--) line[o + (size_t)(7 - k)] = HEXDIGITS[(off >> (4 * k)) & 0xF];
        o += 8;
        line[o++] = ' ';
        line[o++] = ' ';
        for (size_t j = 0; j < 16; j++) {
            if (j < row) {
                line[o++] = HEXDIGITS[p[off + j] >> 4];
                line[o++] = HEXDIGITS[p[off + j] & 0xF];
            } else {
                line[o++] = ' ';
                line[o++] = ' ';
            }
            line[o++] = ' ';
            if (j == 7) line[o++] = ' ';
        }
        line[o++] = ' ';
        line[o++] = '|';
        for (size_t j = 0; j < row; j++) {
            unsigned char c = p[off + j];
            line[o++] = (c >= 0x20 && c < 0x7F) ? (char)c : '.';
        }
        line[o++] = '|';
        line[o++] = '\n';
        jb_bytes(b, line, o);
    }
    if (n > 0) {
        put_hex8(b, n);
        jb_bytes(b, "\n", 1);
    }
}

static bool tool_hexdump(args_t *a, tool_output *out, tool_error *err) {
    int64_t max = HEXDUMP_DEFAULT;
    json_field *f = &a->f[F_MAX_BYTES];
    if (f->type != JSON_ABSENT &&
        (f->type != JSON_NUMBER || !json_number_to_i64(f->raw, f->raw_len, 1, HEXDUMP_MAX, &max))) {
        return error_text(err, KIND_INVALID_INPUT, "`max_bytes` must be an integer from 1 to 65536");
    }
    size_t shown = a->len < (size_t)max ? a->len : (size_t)max;
    json_buf text, value;
    jb_init(&text);
    jb_init(&value);
    hexdump(&text, a->data, shown);
    if (shown < a->len) {
        jb_str(&text, "... ");
        jb_u64(&text, a->len - shown);
        jb_str(&text, " more bytes not shown (max_bytes = ");
        jb_u64(&text, (uint64_t)max);
        jb_str(&text, ")\n");
    }
    jb_str(&value, "{\"bytes\":");
    jb_u64(&value, a->len);
    jb_str(&value, ",\"shown\":");
    jb_u64(&value, shown);
    jb_str(&value, shown < a->len ? ",\"truncated\":true}" : ",\"truncated\":false}");
    toolhost_plugin_types_content_t *blocks = malloc(sizeof *blocks);
    if (text.oom || value.oom || blocks == NULL) {
        jb_free(&text);
        jb_free(&value);
        free(blocks);
        return error_text(err, KIND_INTERNAL, "out of memory");
    }
    blocks[0].tag = TOOLHOST_PLUGIN_TYPES_CONTENT_TEXT;
    blocks[0].val.text = take_string(&text);
    out->content.ptr = blocks;
    out->content.len = 1;
    out->value.is_some = true;
    out->value.val = take_string(&value);
    return true;
}

/* ---- exports ------------------------------------------------------------ */

static const char TEXT_PROP[] =
    "\"text\":{\"type\":\"string\",\"description\":\"The input: UTF-8 text, or hex digits when encoding is \\\"hex\\\".\"},"
    "\"encoding\":{\"type\":\"string\",\"enum\":[\"utf8\",\"hex\"],\"default\":\"utf8\","
    "\"description\":\"How to read `text`: its UTF-8 bytes, or hex-encoded bytes (e.g. \\\"de ad be ef\\\").\"}";

static const struct {
    const char *name;
    const char *title;
    const char *description;
    const char *input_schema;
    const char *output_schema;
} TOOLS[] = {
    {
        "c.checksum",
        "Checksum",
        "Compute a 32-bit checksum (crc32 as in zlib/PNG, adler32 as in zlib, or FNV-1a) of a text's "
        "UTF-8 bytes or of hex-encoded bytes. Returns the checksum as a number and as 8 hex digits.",
        "{\"type\":\"object\",\"properties\":{",
        "{\"type\":\"object\",\"properties\":{"
        "\"algorithm\":{\"type\":\"string\"},"
        "\"value\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":4294967295},"
        "\"hex\":{\"type\":\"string\",\"pattern\":\"^[0-9a-f]{8}$\"},"
        "\"bytes\":{\"type\":\"integer\",\"minimum\":0}},"
        "\"required\":[\"algorithm\",\"value\",\"hex\",\"bytes\"]}",
    },
    {
        "c.hexdump",
        "Hex dump",
        "Show the bytes of a text (or of hex-encoded bytes) as a `hexdump -C` style block: offset, "
        "16 bytes in hex, and their printable ASCII.",
        "{\"type\":\"object\",\"properties\":{",
        "{\"type\":\"object\",\"properties\":{"
        "\"bytes\":{\"type\":\"integer\",\"minimum\":0},"
        "\"shown\":{\"type\":\"integer\",\"minimum\":0},"
        "\"truncated\":{\"type\":\"boolean\"}},"
        "\"required\":[\"bytes\",\"shown\",\"truncated\"]}",
    },
};
#define N_TOOLS (sizeof TOOLS / sizeof TOOLS[0])

/* The tool-specific part of each input schema, after the shared properties. */
static const char *const SCHEMA_TAIL[N_TOOLS] = {
    ",\"algorithm\":{\"type\":\"string\",\"enum\":[\"crc32\",\"adler32\",\"fnv1a32\"],\"default\":\"crc32\","
    "\"description\":\"Checksum algorithm.\"}},"
    "\"required\":[\"text\"],\"additionalProperties\":false}",
    ",\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":65536,\"default\":4096,"
    "\"description\":\"Dump at most this many bytes.\"}},"
    "\"required\":[\"text\"],\"additionalProperties\":false}",
};

void exports_toolhost_plugin_tool_describe(exports_toolhost_plugin_tool_list_tool_descriptor_t *ret) {
    toolhost_plugin_types_tool_descriptor_t *d = calloc(N_TOOLS, sizeof *d);
    if (d == NULL) abort(); /* nothing useful to return without memory */
    for (size_t i = 0; i < N_TOOLS; i++) {
        plugin_string_dup(&d[i].name, TOOLS[i].name);
        d[i].title.is_some = true;
        plugin_string_dup(&d[i].title.val, TOOLS[i].title);
        plugin_string_dup(&d[i].description, TOOLS[i].description);
        json_buf s;
        jb_init(&s);
        jb_str(&s, TOOLS[i].input_schema);
        jb_str(&s, TEXT_PROP);
        jb_str(&s, SCHEMA_TAIL[i]);
        if (s.oom) abort();
        d[i].input_schema = take_string(&s);
        d[i].output_schema.is_some = true;
        plugin_string_dup(&d[i].output_schema.val, TOOLS[i].output_schema);
        d[i].idempotent = true;
        /* Pure functions of the arguments: nothing changed, nothing outside reached. */
        d[i].annotations.read_only = true;
        d[i].annotations.destructive = false;
        d[i].annotations.idempotent = true;
        d[i].annotations.open_world = false;
        /* icons: none ({NULL, 0} from calloc); long_running: false. */
        d[i].long_running = false;
    }
    ret->ptr = d;
    ret->len = N_TOOLS;
}

bool exports_toolhost_plugin_tool_call(plugin_string_t *name, exports_toolhost_plugin_tool_json_t *args,
                                       exports_toolhost_plugin_tool_call_context_t *ctx,
                                       exports_toolhost_plugin_tool_tool_output_t *ret,
                                       exports_toolhost_plugin_tool_tool_error_t *err) {
    memset(ret, 0, sizeof *ret);
    int tool = -1;
    for (size_t i = 0; i < N_TOOLS; i++) {
        if (strlen(TOOLS[i].name) == name->len && memcmp(TOOLS[i].name, name->ptr, name->len) == 0) tool = (int)i;
    }
    bool ok;
    args_t a;
    if (tool < 0) {
        json_buf m;
        jb_init(&m);
        jb_str(&m, "no tool named ");
        jb_json_string(&m, (const char *)name->ptr, name->len);
        jb_str(&m, " in plugin checksum");
        ok = set_error(err, TOOLHOST_PLUGIN_TYPES_ERROR_KIND_NOT_FOUND, &m, NULL);
    } else if (!read_args(args, &a, err)) {
        ok = false;
    } else {
        ok = tool == 0 ? tool_checksum(&a, ret, err) : tool_hexdump(&a, ret, err);
        if (ok) {
            json_buf m;
            jb_init(&m);
            jb_str(&m, TOOLS[tool].name);
            jb_str(&m, ": ");
            jb_u64(&m, a.len);
            jb_str(&m, " bytes");
            if (!m.oom) {
                plugin_string_t msg = {(uint8_t *)m.data, m.len};
                toolhost_plugin_host_log(TOOLHOST_PLUGIN_HOST_LOG_LEVEL_DEBUG, &msg); /* borrowed */
            }
            jb_free(&m);
        }
        json_fields_free(a.f, N_FIELDS);
    }
    /* Export arguments are owned by the callee. */
    plugin_string_free(name);
    exports_toolhost_plugin_tool_json_free(args);
    exports_toolhost_plugin_tool_call_context_free(ctx);
    return ok;
}
