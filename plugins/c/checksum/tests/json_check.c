/*
 * Native test driver for ../json.c (built by run.sh with ASan/UBSan).
 * Reads one hex-encoded document per stdin line and prints, per line:
 *   "ok <hex of decoded \"text\" or -> <type of \"n\"> <int of \"n\" or ->"   or   "err"
 */
#include "../json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unhex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int main(void) {
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\n") / 2;
        /* Exactly-sized heap copy so ASan catches any read past the end. */
        char *doc = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) doc[i] = (char)(unhex(line[2 * i]) << 4 | unhex(line[2 * i + 1]));
        json_field f[2] = {{.key = "text"}, {.key = "n"}};
        json_error e;
        if (!json_read_fields(doc, n, f, 2, &e)) {
            printf("err\n");
        } else {
            printf("ok ");
            if (f[0].type == JSON_STRING) {
                for (size_t i = 0; i < f[0].str_len; i++) printf("%02x", (unsigned char)f[0].str[i]);
                if (f[0].str_len == 0) printf("=");
            } else {
                printf("-");
            }
            int64_t v;
            printf(" %d ", (int)f[1].type);
            if (f[1].type == JSON_NUMBER && json_number_to_i64(f[1].raw, f[1].raw_len, INT64_MIN, INT64_MAX, &v))
                printf("%lld\n", (long long)v);
            else
                printf("-\n");
            json_fields_free(f, 2);
        }
        free(doc);
    }
    /* The output builder: every byte value escapes to valid JSON. */
    json_buf b;
    jb_init(&b);
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    jb_json_string(&b, all, 128); /* ASCII half: must round-trip */
    jb_str(&b, " ");
    jb_u64(&b, UINT64_MAX);
    jb_str(&b, " ");
    jb_hex32(&b, 0xdeadbeef);
    size_t len;
    char *out = jb_take(&b, &len);
    fprintf(stderr, "builder: %.*s\n", (int)len, out);
    free(out);
    return 0;
}
