/* httpd: see httpd.h. Responses are counted where they leave: every connection's output buffer
 * gets a callback that reads the status line. That is the only place that also sees the replies
 * evhttp writes by itself (413 for an oversized body, 400 for a malformed request), which never
 * reach a handler in libevent 2.1. */
#include "httpd.h"

#include "log.h"
#include "metrics.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

int httpd_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon, *h = s;
    size_t hl;
    if (!s) return -1;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':') return -1;
        h = s + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen) return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || p < 0 || p > 65535) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static struct metric *code_series(struct httpd_listener *l, int code)
{
    if (code < 100 || code > 599) return NULL;
    struct metric **slot = &l->by_code[code / 100][code % 100];
    if (!*slot) {
        char labels[64];
        snprintf(labels, sizeof labels, "listener=\"%s\",code=\"%d\"", l->name, code);
        *slot = metrics_counter(l->metrics, "ezsync_http_responses_total", labels,
                                "HTTP responses sent, by listener and status code");
    }
    return *slot;
}

/* Output-buffer callback: a response starts with "HTTP/1.x NNN " at the offset where the
 * appended bytes begin. Bodies are appended separately and never start that way. */
static void count_response(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct httpd_listener *l = arg;
    char line[13];
    struct evbuffer_ptr pos;
    if (info->n_added < sizeof line) return;
    if (evbuffer_ptr_set(buf, &pos, info->orig_size, EVBUFFER_PTR_SET) ||
        evbuffer_copyout_from(buf, &pos, line, sizeof line) != (ev_ssize_t)sizeof line)
        return;
    if (memcmp(line, "HTTP/1.", 7) || line[8] != ' ' || line[12] != ' ') return;
    int code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    metrics_inc(code_series(l, code));
}

static struct bufferevent *new_connection(struct event_base *base, void *arg)
{
    struct httpd_listener *l = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev) {
        evbuffer_add_cb(bufferevent_get_output(bev), count_response, l);
        metrics_inc(l->connections);
    }
    return bev;
}

static void bound_address(struct httpd_listener *l, const char *host)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[80] = "";
    evutil_socket_t fd = evhttp_bound_socket_get_fd(l->sock);
    l->port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            l->port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            l->port = ntohs(a->sin6_port);
        }
    }
    if (!*ip) snprintf(ip, sizeof ip, "%s", host);
    snprintf(l->addr, sizeof l->addr, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, l->port);
}

int httpd_listen(struct httpd_listener *l, struct event_base *base, const char *name,
                 const char *hostport, long timeout_ms, long max_body, httpd_handler fn,
                 void *ud, struct metrics *m, char *err, size_t errlen)
{
    char host[64];
    int port;
    memset(l, 0, sizeof *l);
    l->name = name;
    l->metrics = m;
    if (httpd_parse_hostport(hostport, host, sizeof host, &port)) {
        snprintf(err, errlen, "%s listener: bad address '%s' (want host:port)", name, hostport);
        return -1;
    }
    l->http = evhttp_new(base);
    if (!l->http) {
        snprintf(err, errlen, "%s listener: out of memory", name);
        return -1;
    }
    char labels[48];
    snprintf(labels, sizeof labels, "listener=\"%s\"", name);
    l->connections = metrics_counter(m, "ezsync_http_connections_total", labels,
                                     "TCP connections accepted, by listener");
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    evhttp_set_timeout_tv(l->http, &tv);
    evhttp_set_max_body_size(l->http, max_body);
    evhttp_set_max_headers_size(l->http, 64 * 1024);
    /* Every method reaches the handler, so an unexpected one gets 405, not evhttp's 501. */
    evhttp_set_allowed_methods(l->http, 0x1ff);
    evhttp_set_default_content_type(l->http, "text/plain; charset=utf-8");
    evhttp_set_bevcb(l->http, new_connection, l);
    evhttp_set_gencb(l->http, fn, ud);
    l->sock = evhttp_bind_socket_with_handle(l->http, host, (ev_uint16_t)port);
    if (!l->sock) {
        snprintf(err, errlen, "%s listener: cannot listen on %s", name, hostport);
        evhttp_free(l->http);
        l->http = NULL;
        return -1;
    }
    bound_address(l, host);
    log_info("listening", "name", name, "addr", l->addr);
    return 0;
}

void httpd_stop_accepting(struct httpd_listener *l)
{
    if (l->http && l->sock) evhttp_del_accept_socket(l->http, l->sock);
    l->sock = NULL;
}

void httpd_close(struct httpd_listener *l)
{
    if (l->http) evhttp_free(l->http);
    l->http = NULL;
    l->sock = NULL;
}

void httpd_reply(struct evhttp_request *req, int code, const char *type, const char *body)
{
    struct evbuffer *out = evbuffer_new();
    const char *reason;
    switch (code) {
    case 200: reason = "OK"; break;
    case 400: reason = "Bad Request"; break;
    case 401: reason = "Unauthorized"; break;
    case 403: reason = "Forbidden"; break;
    case 404: reason = "Not Found"; break;
    case 405: reason = "Method Not Allowed"; break;
    case 413: reason = "Payload Too Large"; break;
    case 503: reason = "Service Unavailable"; break;
    default: reason = code < 400 ? "OK" : "Error"; break;
    }
    if (type)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    if (out && body) evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, code, reason, out);
    if (out) evbuffer_free(out);
}

void httpd_reply_error(struct evhttp_request *req, int code, const char *message)
{
    char body[256];
    snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", message);
    httpd_reply(req, code, "application/json", body);
}

/* Basic credentials' password (any user name), decoded into out; -1 when malformed. */
static int basic_password(const char *b64, char *out, size_t outlen)
{
    unsigned char dec[768];
    size_t n = strlen(b64);
    if (n == 0 || n % 4 || n / 4 * 3 >= sizeof dec) return -1;
    int len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    if (len < 0) return -1;
    while (len > 0 && b64[--n] == '=') len--; /* DecodeBlock counts padding as bytes */
    const unsigned char *colon = memchr(dec, ':', (size_t)len);
    if (!colon) return -1;
    size_t plen = (size_t)len - (size_t)(colon + 1 - dec);
    if (plen >= outlen) return -1;
    memcpy(out, colon + 1, plen);
    out[plen] = '\0';
    return 0;
}

int httpd_bearer_ok(struct evhttp_request *req, const char *token)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
    char pass[512];
    if (!token || !*token || !h) return 0;
    if (strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ') h++;
    } else if (strncasecmp(h, "Basic ", 6) == 0) {
        /* What a browser sends for the dashboard: the token as the password. */
        h += 6;
        while (*h == ' ') h++;
        if (basic_password(h, pass, sizeof pass)) return 0;
        h = pass;
    } else {
        return 0;
    }
    SHA256((const unsigned char *)token, strlen(token), want);
    SHA256((const unsigned char *)h, strlen(h), got);
    OPENSSL_cleanse(pass, sizeof pass);
    return CRYPTO_memcmp(want, got, sizeof want) == 0;
}

const char *httpd_path_ref(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *p = uri ? evhttp_uri_get_path(uri) : NULL;
    return p && *p ? p : "/";
}

const char *httpd_path(struct evhttp_request *req, char *buf, size_t len)
{
    snprintf(buf, len, "%s", httpd_path_ref(req));
    return buf;
}

const char *httpd_method_name(int cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "?";
    }
}
