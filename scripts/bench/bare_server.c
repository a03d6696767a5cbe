/* bare_server: the benchmark's baseline. A libevent evhttp server that answers 200 to every
 * request without doing any work, configured like ezsync's public listener (same body limit and
 * timeouts), so the ratio measures what ezsync's own work costs.
 * usage: bare_server PORTFILE   (listens on 127.0.0.1:0, writes the port to PORTFILE) */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, "{\"ok\":true}\n", 12);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bare_server PORTFILE\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    struct timeval tv = { 10, 0 };
    evhttp_set_timeout_tv(http, &tv);
    evhttp_set_max_body_size(http, 1048576);
    evhttp_set_gencb(http, on_request, NULL);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (!sock) {
        perror("bind");
        return 1;
    }
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &len);
    FILE *f = fopen(argv[1], "w");
    if (!f) return 1;
    fprintf(f, "%d\n", ntohs(sin.sin_port));
    fclose(f);
    struct event *term = evsignal_new(base, SIGTERM, on_term, base);
    event_add(term, NULL);
    event_base_dispatch(base);
    event_free(term);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
