/* libFuzzer target: a delivery's headers ("Name: value" lines) as the webhook receiver checks
 * them and stores them with the event. Whatever the names and values hold (any bytes, bad
 * UTF-8, quotes, control characters), the stored headers must be valid JSON: jansson parses
 * each one back, and a failure aborts. */
#include "ingest.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct evkeyvalq h;
    TAILQ_INIT(&h);
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        const char *value = colon + 1;
        while (*value == ' ') value++;
        (void)evhttp_add_header(&h, line, value); /* refuses what HTTP cannot carry */
    }
    struct ingest_delivery d;
    const char *why = NULL;
    (void)ingest_check_headers(&h, "shop.myshopify.com", &d, &why);
    char *json = ingest_headers_json(&h);
    if (json) {
        json_error_t e;
        json_t *v = json_loads(json, 0, &e);
        if (!v || !json_is_object(v)) {
            fprintf(stderr, "fuzz_headers: not a JSON object: %s\n%s\n", e.text, json);
            abort();
        }
        json_decref(v);
        free(json);
    }
    evhttp_clear_headers(&h);
    free(text);
    return 0;
}
