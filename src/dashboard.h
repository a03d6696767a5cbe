/* dashboard: the admin listener's page at `/`, for a merchant who would rather look than read
 * logs: jobs by state, throughput, rate-limit budgets, rules (reload), dead letters (retry). The
 * page is src/dashboard.html, embedded at build time; it reads the same /api/v1 endpoints. */
#ifndef EZ_DASHBOARD_H
#define EZ_DASHBOARD_H

struct admin;

int dashboard_register(struct admin *a);

#endif
