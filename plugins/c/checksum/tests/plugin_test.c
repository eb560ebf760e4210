/*
 * Native test of the whole guest (checksum.c + json.c + generated bindings) under
 * ASan/LSan/UBSan, built by run.sh. It calls the export functions the way the
 * bindings do: arguments heap-allocated and handed over (the callee frees them),
 * results released with the generated *_free helpers (what post-return does).
 * LeakSanitizer then reports any allocation the plugin forgot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* Host imports, stubbed. */
static int log_calls;
void __wasm_import_toolhost_plugin_host_log(int32_t level, uint8_t *ptr, size_t len) {
    (void)level;
    (void)ptr;
    (void)len;
    log_calls++;
}
void __wasm_import_toolhost_plugin_host_progress(double a, int32_t b, double c, int32_t d, uint8_t *e, size_t f) {
    (void)a; (void)b; (void)c; (void)d; (void)e; (void)f;
}
void __wasm_import_toolhost_plugin_host_emit(uint8_t *p, size_t n) { (void)p; (void)n; }
void __wasm_import_toolhost_plugin_host_config(uint8_t *p, size_t n, uint8_t *ret) {
    (void)p; (void)n;
    *ret = 0; /* none */
}
/* 0.2 imports the plugin never calls; the generated wrappers still reference them. */
void __wasm_import_toolhost_plugin_host_elicit(int32_t a, uint8_t *b, size_t c, uint8_t *d, size_t e, uint8_t *f,
                                               size_t g, uint8_t *ret) {
    (void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g; (void)ret;
    abort();
}
void __wasm_import_toolhost_plugin_host_sample(uint8_t *a, size_t b, int32_t c, uint8_t *d, size_t e, int32_t f,
                                               int32_t g, double h, uint8_t *i, size_t j, uint8_t *k, size_t l,
                                               uint8_t *ret) {
    (void)a; (void)b; (void)c; (void)d; (void)e; (void)f; (void)g; (void)h; (void)i; (void)j; (void)k; (void)l;
    (void)ret;
    abort();
}
void __wasm_import_toolhost_plugin_host_resource_updated(uint8_t *p, size_t n) { (void)p; (void)n; abort(); }

/* Defined natively by wit-bindgen's wasm object, which a native link cannot use. */
void __component_type_object_force_link_plugin(void) {}

static int failures, checks;

static plugin_string_t owned(const char *s, size_t n) {
    plugin_string_t r;
    plugin_string_dup_n(&r, s, n);
    return r;
}

/* Returns 1 ok, 0 tool error; copies the value/message text into out (NUL-terminated). */
static int call(const char *tool, const char *args, size_t args_len, char *out, size_t out_cap, int *kind) {
    plugin_string_t name = owned(tool, strlen(tool));
    plugin_string_t a = owned(args, args_len);
    toolhost_plugin_types_call_context_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.call_id = owned("call-1", 6);
    ctx.request_id.is_some = true;
    ctx.request_id.val = owned("req", 3);
    ctx.attempt = 1;
    ctx.metadata.len = 1;
    ctx.metadata.ptr = malloc(sizeof *ctx.metadata.ptr);
    ctx.metadata.ptr[0].f0 = owned("k", 1);
    ctx.metadata.ptr[0].f1 = owned("v", 1);
    toolhost_plugin_types_tool_output_t ret;
    toolhost_plugin_types_tool_error_t err;
    bool ok = exports_toolhost_plugin_tool_call(&name, &a, &ctx, &ret, &err);
    const plugin_string_t *s = ok ? (ret.value.is_some ? &ret.value.val : NULL) : &err.message;
    size_t n = s ? (s->len < out_cap - 1 ? s->len : out_cap - 1) : 0;
    if (n) memcpy(out, s->ptr, n);
    out[n] = 0;
    if (ok) {
        *kind = -1;
        toolhost_plugin_types_tool_output_free(&ret);
    } else {
        *kind = err.kind;
        toolhost_plugin_types_tool_error_free(&err);
    }
    return ok;
}

static void expect(const char *tool, const char *args, int want_ok, const char *want) {
    char out[4096];
    int kind;
    int ok = call(tool, args, strlen(args), out, sizeof out, &kind);
    checks++;
    if (ok != want_ok || (want && strstr(out, want) == NULL)) {
        failures++;
        printf("FAIL %s %s -> ok=%d kind=%d %s\n", tool, args, ok, kind, out);
    }
}

int main(void) {
    exports_toolhost_plugin_tool_list_tool_descriptor_t d;
    exports_toolhost_plugin_tool_describe(&d);
    checks++;
    if (d.len != 2) failures++;
    for (size_t i = 0; i < d.len; i++) {
        const toolhost_plugin_types_tool_descriptor_t *t = &d.ptr[i];
        checks++;
        if (!t->title.is_some || t->title.val.len == 0 || !t->idempotent || !t->annotations.read_only ||
            t->annotations.destructive || !t->annotations.idempotent || t->annotations.open_world ||
            t->icons.len != 0 || t->long_running) {
            failures++;
            printf("FAIL descriptor %zu: title, annotations, icons or long-running\n", i);
        }
    }
    exports_toolhost_plugin_tool_list_tool_descriptor_free(&d);

    expect("c.checksum", "{\"text\":\"hello\"}", 1, "\"value\":907060870");
    expect("c.checksum", "{\"text\":\"hello\",\"algorithm\":\"adler32\"}", 1, "\"hex\":\"062c0215\"");
    expect("c.checksum", "{\"text\":\"\"}", 1, "\"value\":0,");
    expect("c.checksum", "{\"text\":\"68 65 6c 6c 6f\",\"encoding\":\"hex\"}", 1, "3610a686");
    expect("c.checksum", "{\"text\":\"6\",\"encoding\":\"hex\"}", 0, "not hex");
    expect("c.checksum", "{\"text\":\"x\",\"encoding\":\"base64\"}", 0, "encoding");
    expect("c.checksum", "{\"text\":\"x\",\"algorithm\":\"md5\"}", 0, "algorithm");
    expect("c.checksum", "{\"text\":\"x\",\"algorithm\":7}", 0, "algorithm");
    expect("c.checksum", "{}", 0, "missing");
    expect("c.checksum", "{\"text\":null}", 0, "must be a string");
    expect("c.checksum", "{\"text\":\"a\"", 0, "not valid JSON");
    expect("c.checksum", "[1]", 0, "must be a JSON object");
    expect("c.hexdump", "{\"text\":\"hi\",\"max_bytes\":0}", 0, "max_bytes");
    expect("c.hexdump", "{\"text\":\"hi\",\"max_bytes\":1.5}", 0, "max_bytes");
    expect("c.hexdump", "{\"text\":\"hi\",\"max_bytes\":1}", 1, "\"truncated\":true");
    expect("c.hexdump", "{\"text\":\"\"}", 1, "\"bytes\":0");
    expect("nope", "{}", 0, "no tool named");

    /* Every truncation and one-byte corruption of a valid call: never a crash, and a
       malformed document is always an invalid-input error. */
    const char *base = "{\"text\":\"h\\u00e9llo \\ud83d\\ude00 \\\"q\\\" \\\\ \\n\",\"algorithm\":\"fnv1a32\",\"x\":[1,{\"y\":-2.5e3},true,null]}";
    size_t bl = strlen(base);
    char buf[512], out[4096];
    int kind, runs = 0;
    for (size_t cut = 0; cut <= bl; cut++) {
        call("c.checksum", base, cut, out, sizeof out, &kind);
        checks++;
        if (cut < bl && kind != TOOLHOST_PLUGIN_TYPES_ERROR_KIND_INVALID_INPUT) {
            failures++;
            printf("FAIL truncated at %zu accepted: %s\n", cut, out);
        }
        runs++;
    }
    const char subst[] = "{}[]\",:\\u0 aZ\x01\xff";
    for (size_t i = 0; i < bl; i++) {
        for (size_t k = 0; k < sizeof subst - 1; k++) {
            memcpy(buf, base, bl);
            buf[i] = subst[k];
            call(i % 2 ? "c.checksum" : "c.hexdump", buf, bl, out, sizeof out, &kind);
            runs++;
        }
    }
    printf("%d fuzz calls, %d log lines\n", runs, log_calls);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
