/* journal: see journal.h. */
#include "journal.h"

#include "log.h"
#include "store.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *journal_remote_name(int kind)
{
    switch (kind) {
    case 0: return "shopify";
    case 1: return "orderez";
    case 2: return "notify";
    default: return "unknown";
    }
}

void journal_hash(const struct journal_request *req, char out[JOURNAL_HASH_LEN + 1])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char kind[16];
    snprintf(kind, sizeof kind, "%d", req->kind);
    const char *parts[] = { kind, req->method ? req->method : "", req->path ? req->path : "",
                            req->body ? req->body : "" };
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    memset(md, 0, sizeof md);
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1); /* with the NUL */
        EVP_DigestFinal_ex(ctx, md, &mdlen);
    }
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[JOURNAL_HASH_LEN] = '\0';
}

void journal_idem_key(int64_t event_id, int step, char out[JOURNAL_IDEM_KEY_LEN])
{
    snprintf(out, JOURNAL_IDEM_KEY_LEN, "ezsync-ev%" PRId64 "-%d", event_id, step);
}

char *journal_request_json(const struct journal_request *req)
{
    json_t *o = json_pack("{s:i, s:s, s:s?, s:s?, s:s?}", "kind", req->kind,
                          "remote", journal_remote_name(req->kind), "method", req->method,
                          "path", req->path, "body", req->body);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static int diverge(struct store *st, int64_t job_id, int step, const char *entity)
{
    int dropped = 0;
    char detail[256];
    if (store_begin(st)) return -1;
    if (store_journal_truncate(st, job_id, step, &dropped)) goto fail;
    snprintf(detail, sizeof detail,
             "job %" PRId64 " step %d: the request differs from the journal (rules changed?);"
             " dropped %d recorded step(s) from step %d on and continued live",
             job_id, step, dropped, step);
    if (store_audit_add(st, job_id, entity ? entity : "", "journal_diverged", detail)) goto fail;
    if (store_commit(st)) return -1;
    char sjob[24], sstep[16];
    snprintf(sjob, sizeof sjob, "%" PRId64, job_id);
    snprintf(sstep, sizeof sstep, "%d", step);
    log_warn("journal diverged: continuing live", "job_id", sjob, "step", sstep,
             "entity", entity);
    return 0;
fail:
    store_rollback(st);
    return -1;
}

int journal_lookup(struct store *st, int64_t job_id, int step, const char *hash,
                   const char *entity, int *status, char **response)
{
    struct store_journal e;
    *status = 0;
    *response = NULL;
    int rc = store_journal_get(st, job_id, step, &e);
    if (rc == STORE_NOTFOUND) return JOURNAL_MISS;
    if (rc) return -1;
    if (e.request_hash && strcmp(e.request_hash, hash) == 0) {
        *status = e.status;
        *response = e.response;
        e.response = NULL;
        store_journal_free(&e);
        return JOURNAL_REPLAY;
    }
    store_journal_free(&e);
    return diverge(st, job_id, step, entity) ? -1 : JOURNAL_DIVERGED;
}

int journal_record(struct store *st, int64_t job_id, int step,
                   const struct journal_request *req, const char *hash, int status,
                   const char *response)
{
    char *request = journal_request_json(req);
    struct store_journal e = {
        .job_id = job_id, .step = step, .remote = (char *)journal_remote_name(req->kind),
        .request_hash = (char *)hash, .request = request, .status = status,
        .response = (char *)(response ? response : ""),
    };
    int rc = -1;
    if (!request) goto cleanup;
    rc = store_journal_put(st, &e);
cleanup:
    free(request);
    return rc;
}

char *journal_failed_request_json(const struct journal_request *req, long status,
                                  const char *body, const char *error, size_t body_max)
{
    char *text = journal_request_json(req);
    json_t *r = text ? json_loads(text, 0, NULL) : NULL;
    size_t blen = body ? strlen(body) : 0;
    if (blen > body_max) {
        blen = body_max;
        while (blen > 0 && ((unsigned char)body[blen] & 0xC0) == 0x80) blen--; /* UTF-8 */
    }
    /* "O", not "o": a pack that fails (a body that is not UTF-8) drops what it was given, and
     * r is needed for the second one (with "o" the retry read freed memory). */
    json_t *o = json_pack("{s:O?, s:I, s:s%, s:s?}", "request", r, "status", (json_int_t)status,
                          "response", body ? body : "", blen, "error", error);
    if (!o) /* a body that is not UTF-8: keep the rest */
        o = json_pack("{s:O?, s:I, s:s?}", "request", r, "status", (json_int_t)status, "error",
                      error);
    char *out = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    json_decref(r);
    free(text);
    return out;
}
