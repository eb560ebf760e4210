/* The `{{name}}` toolhost plugin: one tool, `{{name}}.hello`.
 * The contract is wit/plugin.wit (toolhost:plugin@0.2.0, world `plugin`).
 * Bindings come from `wit-bindgen c wit --world plugin` (see build.sh). Ownership rules of the
 * generated code: export arguments are owned by this function (free them), results are owned
 * by the caller (allocate them with malloc / plugin_string_dup). */
#include "plugin.h"

#include <stdlib.h>
#include <string.h>

#define TOOL "{{name}}.hello"

void exports_toolhost_plugin_tool_describe(exports_toolhost_plugin_tool_list_tool_descriptor_t *ret) {
    toolhost_plugin_types_tool_descriptor_t *d = calloc(1, sizeof *d);
    if (d == NULL) abort();
    plugin_string_dup(&d->name, TOOL);
    d->title.is_some = true;
    plugin_string_dup(&d->title.val, "Say hello");
    plugin_string_dup(&d->description, "Greet someone by name.");
    plugin_string_dup(&d->input_schema,
                      "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\","
                      "\"pattern\":\"^[^\\\"\\\\\\\\]*$\",\"description\":\"Who to greet\"}},"
                      "\"required\":[\"name\"]}");
    d->idempotent = true;
    /* Hints for clients: it changes nothing, the same name gives the same greeting, and it
     * reaches nothing outside the call. icons stay empty ({NULL, 0}), long_running false. */
    d->annotations.read_only = true;
    d->annotations.destructive = false;
    d->annotations.idempotent = true;
    d->annotations.open_world = false;
    d->long_running = false;
    ret->ptr = d;
    ret->len = 1;
}

/* The characters of the top-level string field `"key"` in `json`, or NULL. The host has
 * validated `json` against the input schema, which forbids quotes and backslashes in it. */
static const char *string_field(const char *json, size_t len, const char *key, size_t *out) {
    size_t k = strlen(key);
    for (size_t i = 0; i + k + 2 < len; i++) {
        if (json[i] != '"' || memcmp(json + i + 1, key, k) != 0 || json[i + k + 1] != '"') continue;
        size_t j = i + k + 2;
        while (j < len && (json[j] == ' ' || json[j] == ':')) j++;
        if (j >= len || json[j] != '"') return NULL;
        size_t start = ++j;
        while (j < len && json[j] != '"') j++;
        if (j >= len) return NULL;
        *out = j - start;
        return json + start;
    }
    return NULL;
}

bool exports_toolhost_plugin_tool_call(plugin_string_t *name, exports_toolhost_plugin_tool_json_t *args,
                                       exports_toolhost_plugin_tool_call_context_t *ctx,
                                       exports_toolhost_plugin_tool_tool_output_t *ret,
                                       exports_toolhost_plugin_tool_tool_error_t *err) {
    bool ok = false;
    memset(ret, 0, sizeof *ret);
    if (name->len != strlen(TOOL) || memcmp(name->ptr, TOOL, name->len) != 0) {
        memset(err, 0, sizeof *err);
        err->kind = TOOLHOST_PLUGIN_TYPES_ERROR_KIND_NOT_FOUND;
        plugin_string_dup(&err->message, "no such tool in plugin {{name}}");
    } else {
        size_t n = 5;
        const char *who = string_field((const char *)args->ptr, args->len, "name", &n);
        if (who == NULL) who = "world", n = 5;
        const char *pre = "{\"greeting\":\"Hello, ", *post = "!\"}";
        size_t total = strlen(pre) + n + strlen(post);
        char *v = malloc(total);
        if (v == NULL) abort();
        memcpy(v, pre, strlen(pre));
        memcpy(v + strlen(pre), who, n);
        memcpy(v + strlen(pre) + n, post, strlen(post));
        ret->value.is_some = true;
        ret->value.val.ptr = (uint8_t *)v;
        ret->value.val.len = total;
        plugin_string_t msg;
        plugin_string_set(&msg, "{{name}}.hello called"); /* borrowed, not freed */
        toolhost_plugin_host_log(TOOLHOST_PLUGIN_HOST_LOG_LEVEL_DEBUG, &msg);
        ok = true;
    }
    plugin_string_free(name);
    exports_toolhost_plugin_tool_json_free(args);
    exports_toolhost_plugin_tool_call_context_free(ctx);
    return ok;
}
