/* Unit tests for src/notify.c: Slack webhook payload and classification against a loopback HTTP
 * server; the RFC 5322 message; SMTP delivery through libcurl against a minimal loopback SMTP
 * sink (libevent bufferevents) that records the envelope and the DATA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "log.h"
#include "net_testsrv.h"
#include "notify.h"

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct got {
    int done;
    enum remote_class cls;
    long status;
    char error[512];
};

static void on_done(void *ud, const struct remote_result *r)
{
    struct got *g = ud;
    g->done++;
    g->cls = r->cls;
    g->status = r->status;
    snprintf(g->error, sizeof g->error, "%s", r->error ? r->error : "");
}

/* ---- a minimal SMTP sink ------------------------------------------------------------------- */

struct smtp_sink {
    struct evconnlistener *lis;
    int port;
    int reject_rcpt;         /* answer RCPT with 550 */
    int in_data;
    char mail_from[128];
    char rcpt[4][128];
    int nrcpt;
    char data[8192];
    size_t data_len;
    int messages;
};

static void smtp_say(struct bufferevent *bev, const char *line)
{
    bufferevent_write(bev, line, strlen(line));
}

static void smtp_read(struct bufferevent *bev, void *arg)
{
    struct smtp_sink *s = arg;
    char *line;
    size_t n;
    while ((line = evbuffer_readln(bufferevent_get_input(bev), &n, EVBUFFER_EOL_CRLF))) {
        if (s->in_data) {
            if (strcmp(line, ".") == 0) {
                s->in_data = 0;
                s->messages++;
                smtp_say(bev, "250 2.0.0 queued\r\n");
            } else if (s->data_len + n + 2 < sizeof s->data) {
                memcpy(s->data + s->data_len, line, n);
                memcpy(s->data + s->data_len + n, "\r\n", 2);
                s->data_len += n + 2;
                s->data[s->data_len] = '\0';
            }
        } else if (strncasecmp(line, "EHLO", 4) == 0 || strncasecmp(line, "HELO", 4) == 0) {
            smtp_say(bev, "250-sink.test\r\n250 8BITMIME\r\n");
        } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            snprintf(s->mail_from, sizeof s->mail_from, "%s", line + 10);
            smtp_say(bev, "250 2.1.0 ok\r\n");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
            if (s->nrcpt < 4) snprintf(s->rcpt[s->nrcpt++], sizeof s->rcpt[0], "%s", line + 8);
            smtp_say(bev, s->reject_rcpt ? "550 5.1.1 no such user\r\n" : "250 2.1.5 ok\r\n");
        } else if (strcasecmp(line, "DATA") == 0) {
            s->in_data = 1;
            smtp_say(bev, "354 go ahead\r\n");
        } else if (strcasecmp(line, "QUIT") == 0) {
            smtp_say(bev, "221 bye\r\n");
        } else {
            smtp_say(bev, "250 ok\r\n");
        }
        free(line);
    }
}

static void smtp_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) bufferevent_free(bev);
}

static void smtp_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                        int len, void *arg)
{
    (void)sa;
    (void)len;
    struct bufferevent *bev = bufferevent_socket_new(evconnlistener_get_base(lis), fd,
                                                     BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, smtp_read, NULL, smtp_event, arg);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    smtp_say(bev, "220 sink.test ESMTP\r\n");
}

/* libcurl's SMTP "done" phase waits for the reply to the final "." with a blocking poll (curl
 * issue #8555), so the sink must not share the test's event loop: it runs in a child process
 * and records into shared memory. */
static struct smtp_sink *smtp_start(int reject_rcpt, pid_t *pid)
{
    struct smtp_sink *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                               -1, 0);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    assert_true(s != MAP_FAILED);
    memset(s, 0, sizeof *s);
    s->reject_rcpt = reject_rcpt;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    s->port = ntohs(sin.sin_port);
    fflush(NULL);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        struct event_base *base = event_base_new();
        evutil_make_socket_nonblocking(fd);
        s->lis = evconnlistener_new(base, smtp_accept, s, LEV_OPT_CLOSE_ON_FREE, 16, fd);
        event_base_dispatch(base);
        _exit(0);
    }
    close(fd);
    return s;
}

static void smtp_stop(struct smtp_sink *s, pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    munmap(s, sizeof *s);
}

/* ---- fixture ------------------------------------------------------------------------------- */

struct fx {
    struct event_base *base;
    struct testsrv srv;
    struct testsrv_script script;
    struct smtp_sink *smtp_shared;
    pid_t smtp_pid;
    struct http_client *http;
    struct notify *n;
};

static struct fx *fx_new(const struct testsrv_canned *list, int n, int reject_rcpt)
{
    struct fx *f = calloc(1, sizeof *f);
    char slack[96], smtp[64];
    f->base = event_base_new();
    f->script = (struct testsrv_script){ list, n };
    assert_int_equal(testsrv_start(&f->srv, f->base, testsrv_canned_handler, &f->script), 0);
    f->smtp_shared = smtp_start(reject_rcpt, &f->smtp_pid);
    assert_int_equal(http_client_new(&f->http, f->base, NULL), 0);
    snprintf(slack, sizeof slack, "http://127.0.0.1:%d/services/T0/B0/secret", f->srv.port);
    snprintf(smtp, sizeof smtp, "smtp://127.0.0.1:%d", f->smtp_shared->port);
    struct notify_opts o = { slack, smtp, NULL, NULL, "ezsync@shop.example",
                             "ops@shop.example, owner@shop.example", 100, 0, 3000 };
    assert_int_equal(notify_new(&f->n, f->base, f->http, &o), 0);
    return f;
}

static void fx_free(struct fx *f)
{
    notify_free(f->n);
    http_client_free(f->http);
    testsrv_stop(&f->srv);
    smtp_stop(f->smtp_shared, f->smtp_pid);
    event_base_free(f->base);
    free(f);
}

static void test_slack_payload(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, "ok" } };
    struct fx *f = fx_new(c, 1, 0);
    struct got g = { 0 };
    assert_int_equal(notify_send(f->n, "slack", "{\"text\":\"3 orders failed\",\"subject\":\"s\"}",
                                 on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 3000));
    assert_int_equal(g.cls, REMOTE_OK);
    const struct testsrv_req *r = &f->srv.reqs[0];
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->uri, "/services/T0/B0/secret");
    assert_string_equal(r->body, "{\"text\":\"3 orders failed\"}");
    assert_string_equal(testsrv_header(r, "content-type"), "application/json");
    memset(&g, 0, sizeof g);
    assert_int_equal(notify_send(f->n, "slack", "\"plain \\u00e9\"", on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 3000));
    assert_string_equal(f->srv.reqs[1].body, "{\"text\":\"plain \xc3\xa9\"}");
    /* unknown channel, no text */
    assert_int_equal(notify_send(f->n, "pager", "\"x\"", on_done, &g), -1);
    assert_int_equal(notify_send(f->n, "slack", "{\"subject\":\"x\"}", on_done, &g), -1);
    fx_free(f);
}

static void test_slack_classification(void **state)
{
    (void)state;
    static const struct { int status; const char *hdr, *body; enum remote_class want; int nreq; } t[] = {
        { 404, NULL, "no_service", REMOTE_PERMANENT, 1 },
        { 410, NULL, "channel_is_archived", REMOTE_PERMANENT, 1 },
        { 500, NULL, "", REMOTE_TRANSIENT, 1 },
        { 429, "Retry-After: 0.05", "", REMOTE_TRANSIENT, 4 }, /* 1 + 3 resends */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct testsrv_canned c[] = { { t[i].status, t[i].hdr, t[i].body } };
        struct fx *f = fx_new(c, 1, 0);
        struct got g = { 0 };
        assert_int_equal(notify_send(f->n, "slack", "\"x\"", on_done, &g), 0);
        assert_true(testsrv_run_until(f->base, &g.done, 5000));
        if (g.cls != t[i].want) fail_msg("case %zu: class %d want %d", i, g.cls, t[i].want);
        assert_int_equal(f->srv.nreq, t[i].nreq);
        assert_null(strstr(g.error, "secret"));
        fx_free(f);
    }
}

static void test_email_format(void **state)
{
    (void)state;
    time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
    char *m = notify_format_email("ezsync@shop.example", "ops@shop.example",
                                  "Réconciliation: 3 écarts — commandes à vérifier aujourd'hui "
                                  "avant midi\r\nBcc: evil@x",
                                  "Bonjour,\nligne é\n", now);
    assert_non_null(m);
    assert_non_null(strstr(m, "Date: Wed, 21 Oct 2015 07:28:00 +0000\r\n"));
    assert_non_null(strstr(m, "From: <ezsync@shop.example>\r\n"));
    assert_non_null(strstr(m, "To: ops@shop.example\r\n"));
    assert_non_null(strstr(m, "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(m, "@shop.example>\r\n"));
    assert_non_null(strstr(m, "Message-ID: <"));
    assert_non_null(strstr(m, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
    assert_null(strstr(m, "\nBcc:")); /* CR/LF in a subject never start a header */
    /* every line <= 78 chars, CRLF-terminated */
    for (char *p = m; *p;) {
        char *e = strstr(p, "\r\n");
        assert_non_null(e);
        assert_true(e - p <= 78);
        p = e + 2;
    }
    /* the body decodes back to the text */
    char *body = strstr(m, "\r\n\r\n") + 4;
    unsigned char dec[256];
    int n = EVP_DecodeBlock(dec, (unsigned char *)body, (int)strcspn(body, "\r"));
    assert_true(n >= 18);
    assert_memory_equal(dec, "Bonjour,\nligne \xc3\xa9\n", 18);
    free(m);
    m = notify_format_email("a@b.c", "d@e.f", "plain subject", "x", now);
    assert_non_null(strstr(m, "Subject: plain subject\r\n"));
    free(m);
}

static void test_smtp_delivery(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, "ok" } };
    struct fx *f = fx_new(c, 1, 0);
    struct got g = { 0 };
    assert_int_equal(notify_send(f->n, "email", "{\"text\":\"2 mismatches\\nsee report\","
                                                "\"subject\":\"Daily reconciliation\"}", on_done, &g),
                     0);
    assert_true(testsrv_run_until(f->base, &g.done, 5000));
    if (g.cls != REMOTE_OK) fail_msg("smtp: %s", g.error);
    assert_int_equal(g.status, 250);
    assert_int_equal(f->smtp_shared->messages, 1);
    assert_non_null(strstr(f->smtp_shared->mail_from, "<ezsync@shop.example>"));
    assert_int_equal(f->smtp_shared->nrcpt, 2);
    assert_non_null(strstr(f->smtp_shared->rcpt[0], "<ops@shop.example>"));
    assert_non_null(strstr(f->smtp_shared->rcpt[1], "<owner@shop.example>"));
    assert_non_null(strstr(f->smtp_shared->data, "Subject: Daily reconciliation\r\n"));
    assert_non_null(strstr(f->smtp_shared->data, "Message-ID: <"));
    /* the default subject is the text's first line */
    memset(&g, 0, sizeof g);
    f->smtp_shared->data_len = 0;
    assert_int_equal(notify_send(f->n, "email", "\"first line\\nsecond\"", on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 5000));
    assert_int_equal(g.cls, REMOTE_OK);
    assert_non_null(strstr(f->smtp_shared->data, "Subject: first line\r\n"));
    fx_free(f);
}

static void test_smtp_rejection_is_permanent(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, "ok" } };
    struct fx *f = fx_new(c, 1, 1);
    struct got g = { 0 };
    assert_int_equal(notify_send(f->n, "email", "\"x\"", on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 5000));
    assert_int_equal(g.cls, REMOTE_PERMANENT);
    assert_int_equal(g.status, 550);
    assert_int_equal(f->smtp_shared->messages, 0);
    fx_free(f);
}

static void test_unconfigured_email(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct http_client *http;
    struct notify *n;
    struct got g = { 0 };
    assert_int_equal(http_client_new(&http, base, NULL), 0);
    struct notify_opts o = { 0 };
    assert_int_equal(notify_new(&n, base, http, &o), 0);
    assert_int_equal(notify_send(n, "email", "\"x\"", on_done, &g), -1);
    assert_int_equal(notify_send(n, "slack", "\"x\"", on_done, &g), -1);
    notify_free(n);
    http_client_free(http);
    event_base_free(base);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack_payload),
        cmocka_unit_test(test_slack_classification),
        cmocka_unit_test(test_email_format),
        cmocka_unit_test(test_smtp_delivery),
        cmocka_unit_test(test_smtp_rejection_is_permanent),
        cmocka_unit_test(test_unconfigured_email),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
