/* load: the ingest benchmark's HTTP client (wrk2 is not packaged, and wrk cannot sign).
 *
 * Every request is a distinct, correctly signed Shopify delivery: the body template's order id
 * is replaced by a unique number of the same width and the body is HMAC-signed per request, so
 * each delivery is a new order (a new engine entity), not 100k updates of one order. The same
 * client drives the bare server, so both sides of the ratio pay the same client cost.
 *
 * Two modes, one thread, epoll, keep-alive, one request in flight per connection:
 *   closed loop (no -r): each connection sends its next request as soon as a reply arrives;
 *       this finds the maximum rate. Latency = reply time - send time.
 *   open loop (-r RATE): request k is due at start + k/RATE whatever the server does (a timerfd
 *       fires at each due time). A due request goes out on any idle connection; when none is
 *       idle it waits, and its latency is counted from its due time, not from when it was sent
 *       (no coordinated omission: a stalled server is charged for the requests it held up).
 *
 * Webhook ids: IDPREFIX-N (N counting up), or with -u random ones shaped like Shopify's
 * (UUIDs, seeded by IDPREFIX): a receiver's dedupe index meets those in random order, one
 * more index page written per delivery, where counting ids land next to each other.
 *
 * usage: load -a HOST:PORT -b BODYFILE -k SECRET -s SHOP -i IDPREFIX -c CONNS -d SECONDS
 *             [-r RATE] [-o ORDERID] [-u]
 * prints: BENCH requests=N duration_us=D non2xx=N sock_errors=N p50_us=N p99_us=N max_us=N
 *         p999_us=N unsent=N cpu_us=N (the client's own user + system time)
 * (unsent: open-loop requests due before the end that never found an idle connection; a
 * large number means the server fell behind the offered rate.) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define INBUF 16384

struct conn {
    int fd, busy;
    int64_t t0;                  /* ns: due time (open loop) or send time (closed loop) */
    char *out;
    size_t outlen, outoff;
    char in[INBUF];
    size_t inlen;
};

struct opts {
    const char *addr, *bodyfile, *secret, *shop, *idprefix, *orderid;
    int conns, uuids;
    double seconds, rate;
};

static struct {
    struct opts o;
    struct sockaddr_in sa;
    char *body;                  /* template */
    size_t bodylen;
    size_t *idpos, nidpos;       /* offsets of the order id in the template */
    uint64_t seq, idbase;        /* order ids: idbase + seq, unique across runs */
    uint32_t *lat;               /* us */
    size_t nlat, caplat;
    uint64_t non2xx, sockerr;
    int ep;
} g;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *m)
{
    perror(m);
    exit(1);
}

/* The next request: unique webhook id, event id and order id; signed body. */
static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* The webhook id of delivery n (see the top). */
static void webhook_id(char *out, size_t len, uint64_t n)
{
    if (!g.o.uuids) {
        snprintf(out, len, "%s-%llu", g.o.idprefix, (unsigned long long)n);
        return;
    }
    uint64_t seed = 1469598103934665603ULL;
    for (const char *p = g.o.idprefix; *p; p++) seed = (seed ^ (unsigned char)*p) * 1099511628211ULL;
    uint64_t a = splitmix(seed ^ n), b = splitmix(a ^ seed);
    snprintf(out, len, "%08llx-%04llx-4%03llx-%04llx-%012llx", (unsigned long long)(a >> 32),
             (unsigned long long)(a >> 16 & 0xffff), (unsigned long long)(a & 0xfff),
             (unsigned long long)(0x8000 | (b >> 48 & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffULL));
}

static void build(struct conn *c)
{
    static char body[1 << 20];
    char id[32], wid[160], sig[64], oid[64];
    unsigned char md[32];
    unsigned int mdlen = 0;
    uint64_t n = ++g.seq;
    size_t olen = strlen(g.o.orderid);
    memcpy(body, g.body, g.bodylen);
    /* Same width as the template's id, so the body length never changes. */
    snprintf(oid, sizeof oid, "%0*llu", (int)olen,
             (unsigned long long)(strtoull(g.o.orderid, NULL, 10) / 2 + g.idbase + n));
    for (size_t i = 0; i < g.nidpos; i++) memcpy(body + g.idpos[i], oid + strlen(oid) - olen, olen);
    HMAC(EVP_sha256(), g.o.secret, (int)strlen(g.o.secret), (unsigned char *)body, g.bodylen, md,
         &mdlen);
    EVP_EncodeBlock((unsigned char *)sig, md, 32);
    snprintf(id, sizeof id, "%llu", (unsigned long long)n);
    webhook_id(wid, sizeof wid, n);
    size_t cap = g.bodylen + 1024;
    if (!c->out) c->out = malloc(cap);
    int h = snprintf(c->out, cap,
                     "POST /webhooks/shopify HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "X-Shopify-Hmac-Sha256: %s\r\nX-Shopify-Topic: orders/create\r\n"
                     "X-Shopify-Shop-Domain: %s\r\nX-Shopify-API-Version: 2026-10\r\n"
                     "X-Shopify-Webhook-Id: %s\r\nX-Shopify-Event-Id: %s-e-%s\r\n"
                     "X-Shopify-Triggered-At: 2026-11-26T15:00:00.000Z\r\n\r\n",
                     g.o.addr, g.bodylen, sig, g.o.shop, wid, g.o.idprefix, id);
    memcpy(c->out + h, body, g.bodylen);
    c->outlen = (size_t)h + g.bodylen;
    c->outoff = 0;
}

static void conn_open(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&g.sa, sizeof g.sa) && errno != EINPROGRESS)
        die("connect");
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev)) die("epoll_ctl");
    c->busy = 0;
    c->inlen = 0;
}

static void conn_reset(struct conn *c)
{
    g.sockerr++;
    close(c->fd);
    conn_open(c);
}

static void flush_out(struct conn *c)
{
    while (c->busy && c->outoff < c->outlen) {
        ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (w < 0) {
            if (errno == EAGAIN || errno == ENOTCONN) return;
            conn_reset(c);
            return;
        }
        c->outoff += (size_t)w;
    }
}

static void send_req(struct conn *c, int64_t t0)
{
    build(c);
    c->busy = 1;
    c->t0 = t0;
    c->inlen = 0;
    flush_out(c);
}

static void record(int64_t ns)
{
    if (g.nlat == g.caplat) {
        g.caplat = g.caplat ? g.caplat * 2 : 1 << 16;
        g.lat = realloc(g.lat, g.caplat * sizeof *g.lat);
        if (!g.lat) die("realloc");
    }
    g.lat[g.nlat++] = (uint32_t)(ns / 1000);
}

/* 1 when a whole reply is in c->in (it is then consumed). */
static int parse_reply(struct conn *c, int *status)
{
    c->in[c->inlen < INBUF ? c->inlen : INBUF - 1] = '\0';
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end) return 0;
    size_t hlen = (size_t)(end - c->in) + 4;
    long clen = 0;
    for (char *p = strchr(c->in, '\n'); p && p < end; p = strchr(p + 1, '\n'))
        if (strncasecmp(p + 1, "content-length:", 15) == 0) clen = strtol(p + 16, NULL, 10);
    if (c->inlen < hlen + (size_t)clen) return 0;
    *status = atoi(c->in + 9);
    memmove(c->in, c->in + hlen + clen, c->inlen - hlen - (size_t)clen);
    c->inlen -= hlen + (size_t)clen;
    return 1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
    if (!g.nlat) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(g.nlat - 1) + 0.5);
    return g.lat[i];
}

static void load_body(void)
{
    FILE *f = fopen(g.o.bodyfile, "rb");
    if (!f) die(g.o.bodyfile);
    g.body = malloc(1 << 20);
    g.bodylen = fread(g.body, 1, (1 << 20) - 1, f);
    fclose(f);
    g.body[g.bodylen] = '\0';
    size_t olen = strlen(g.o.orderid);
    g.idpos = calloc(64, sizeof *g.idpos);
    for (char *p = g.body; (p = strstr(p, g.o.orderid)) && g.nidpos < 64; p += olen)
        g.idpos[g.nidpos++] = (size_t)(p - g.body);
}

int main(int argc, char **argv)
{
    int ch;
    g.o = (struct opts){ .conns = 32, .seconds = 10, .idprefix = "load", .shop = "shop",
                         .secret = "secret", .orderid = "820982911946154508" };
    while ((ch = getopt(argc, argv, "a:b:k:s:i:c:d:r:o:u")) != -1) {
        switch (ch) {
        case 'a': g.o.addr = optarg; break;
        case 'b': g.o.bodyfile = optarg; break;
        case 'k': g.o.secret = optarg; break;
        case 's': g.o.shop = optarg; break;
        case 'i': g.o.idprefix = optarg; break;
        case 'c': g.o.conns = atoi(optarg); break;
        case 'd': g.o.seconds = atof(optarg); break;
        case 'r': g.o.rate = atof(optarg); break;
        case 'o': g.o.orderid = optarg; break;
        case 'u': g.o.uuids = 1; break;
        default: fprintf(stderr, "usage: see the comment at the top of load.c\n"); return 2;
        }
    }
    if (!g.o.addr || !g.o.bodyfile || g.o.conns < 1) return 2;
    char host[64];
    const char *colon = strrchr(g.o.addr, ':');
    if (!colon || (size_t)(colon - g.o.addr) >= sizeof host) return 2;
    memcpy(host, g.o.addr, (size_t)(colon - g.o.addr));
    host[colon - g.o.addr] = '\0';
    g.sa.sin_family = AF_INET;
    g.sa.sin_port = htons((uint16_t)atoi(colon + 1));
    inet_pton(AF_INET, host, &g.sa.sin_addr);
    load_body();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    g.idbase = ((uint64_t)rt.tv_sec * 1000000 + (uint64_t)rt.tv_nsec / 1000) % 100000000000000ULL;

    g.ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *cs = calloc((size_t)g.o.conns, sizeof *cs);
    for (int i = 0; i < g.o.conns; i++) conn_open(&cs[i]);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
    if (tfd < 0 || epoll_ctl(g.ep, EPOLL_CTL_ADD, tfd, &tev)) die("timerfd");

    int64_t start = now_ns(), stop = start + (int64_t)(g.o.seconds * 1e9);
    double interval = g.o.rate > 0 ? 1e9 / g.o.rate : 0;
    uint64_t due = 0;            /* open loop: requests due so far (sent or waiting) */
    uint64_t sent = 0;
    if (!g.o.rate)
        for (int i = 0; i < g.o.conns; i++) send_req(&cs[i], now_ns());

    struct epoll_event evs[256];
    for (;;) {
        int64_t t = now_ns();
        if (t >= stop) break;
        if (g.o.rate) {
            /* Everything due by now goes out on idle connections; the rest waits, timed
             * from its due time. */
            while (due < (uint64_t)((double)(t - start) / interval) + 1) due++;
            for (int i = 0; i < g.o.conns && sent < due; i++)
                if (!cs[i].busy) {
                    send_req(&cs[i], start + (int64_t)((double)sent * interval));
                    sent++;
                }
            struct itimerspec its = { { 0, 0 }, { 0, 0 } };
            int64_t next = start + (int64_t)((double)due * interval);
            its.it_value.tv_sec = next / 1000000000;
            its.it_value.tv_nsec = next % 1000000000;
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        int n = epoll_wait(g.ep, evs, 256, 100);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (!c) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0) { /* raced: nothing to do */ }
                continue;
            }
            if (evs[k].events & (EPOLLERR | EPOLLHUP)) {
                if (c->busy && !g.o.rate) { conn_reset(c); send_req(c, now_ns()); }
                else conn_reset(c);
                continue;
            }
            if (evs[k].events & EPOLLOUT) flush_out(c);
            if (!(evs[k].events & EPOLLIN)) continue;
            for (;;) {
                ssize_t r = read(c->fd, c->in + c->inlen, INBUF - 1 - c->inlen);
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) {
                    int was = c->busy;
                    conn_reset(c);
                    if (was && !g.o.rate) send_req(c, now_ns());
                    break;
                }
                c->inlen += (size_t)r;
                int status;
                while (c->busy && parse_reply(c, &status)) {
                    int64_t done = now_ns();
                    if (done < stop) {
                        record(done - c->t0);
                        if (status < 200 || status > 299) g.non2xx++;
                    }
                    c->busy = 0;
                    if (!g.o.rate) send_req(c, done);
                    else if (sent < due) {
                        send_req(c, start + (int64_t)((double)sent * interval));
                        sent++;
                    }
                }
            }
        }
    }
    qsort(g.lat, g.nlat, sizeof *g.lat, cmp_u32);
    /* the client's own CPU: it shares the machine with the server it measures */
    struct rusage ru;
    long long cpu_us = getrusage(RUSAGE_SELF, &ru) ? -1
        : (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    printf("BENCH requests=%zu duration_us=%lld non2xx=%llu sock_errors=%llu p50_us=%u p99_us=%u "
           "max_us=%u p999_us=%u unsent=%llu cpu_us=%lld\n",
           g.nlat, (long long)((stop - start) / 1000), (unsigned long long)g.non2xx,
           (unsigned long long)g.sockerr, pct(50), pct(99), g.nlat ? g.lat[g.nlat - 1] : 0,
           pct(99.9), (unsigned long long)(due > sent ? due - sent : 0), cpu_us);
    return 0;
}
