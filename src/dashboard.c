/* dashboard: see dashboard.h. */
#include "dashboard.h"

#include "admin.h"
#include "dashboard_html.h" /* generated from src/dashboard.html: dashboard_html[] */

#include <event2/http.h>

static void on_page(struct evhttp_request *req, void *ud)
{
    (void)ud;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    httpd_reply(req, 200, "text/html; charset=utf-8", dashboard_html);
}

int dashboard_register(struct admin *a)
{
    return admin_route(a, ADMIN_GET, "/", on_page, NULL);
}
