/*
 * metrics.c - GET /metrics for Prometheus (metrics.h has the contract).
 *
 * libmicrohttpd in its epoll mode, without a thread: the agent's loop
 * watches MHD's epoll descriptor and calls MHD_run() when it is readable
 * and on the stats timer (so that idle connections time out).  A scrape
 * refreshes the agent's figures (mmc_stats_refresh, as the stats file does)
 * and writes them in Prometheus' text format (version 0.0.4) into one
 * buffer that MHD frees once sent.
 *
 * Names: mmc_ + the figure's name from MMC_STATS_FIELDS, counters with
 * _total; the unit is in the name already (_bytes, _pct).  promtool check
 * metrics passes on the output (tests/test_metrics.sh).
 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"

static const uint64_t bucket0_ns[MMC_HIST_COUNT] = {
#define MMC_HIST_BASE_(name, base, help) base,
	MMC_HISTS(MMC_HIST_BASE_)
#undef MMC_HIST_BASE_
};

void mmc_metrics_observe(struct mmc_metrics *m, enum mmc_hist_id h, uint64_t ns)
{
	unsigned b = 0;

	while (b < MMC_HIST_BUCKETS && ns > bucket0_ns[h] << b)
		b++;
	mmc_metrics_add(m, h, b, 1, ns);
}

void mmc_metrics_add(struct mmc_metrics *m, enum mmc_hist_id h, unsigned b, uint64_t n,
		     uint64_t sum_ns)
{
	struct mmc_hist *x = &m->hist[h];

	x->bucket[b] += n;
	x->count += n;
	x->sum_ns += sum_ns;
}

/* ---- the page ---- */

static void put_figures(FILE *f, struct mmc_agent *ag)
{
#define MMC_PROM_(name, kind, unit, help) \
	fprintf(f, "# HELP mmc_%s%s %s\n# TYPE mmc_%s%s %s\nmmc_%s%s %llu\n", \
		#name, MMC_STAT_##kind ? "_total" : "", help, \
		#name, MMC_STAT_##kind ? "_total" : "", MMC_STAT_##kind ? "counter" : "gauge", \
		#name, MMC_STAT_##kind ? "_total" : "", \
		(unsigned long long)ag->stats.v[MMC_STAT_ID_##name]);
	MMC_STATS_FIELDS(MMC_PROM_)
#undef MMC_PROM_
}

static void put_hist(FILE *f, const char *name, uint64_t base, const char *help,
		     const struct mmc_hist *h)
{
	uint64_t cum = 0;

	fprintf(f, "# HELP mmc_%s_seconds %s\n# TYPE mmc_%s_seconds histogram\n",
		name, help, name);
	for (unsigned b = 0; b < MMC_HIST_BUCKETS; b++) {
		cum += h->bucket[b];
		fprintf(f, "mmc_%s_seconds_bucket{le=\"%g\"} %llu\n", name,
			(double)(base << b) / 1e9, (unsigned long long)cum);
	}
	fprintf(f, "mmc_%s_seconds_bucket{le=\"+Inf\"} %llu\n", name,
		(unsigned long long)h->count);
	fprintf(f, "mmc_%s_seconds_sum %.9f\nmmc_%s_seconds_count %llu\n", name,
		(double)h->sum_ns / 1e9, name, (unsigned long long)h->count);
}

/* s as a label value: \\, \" and newlines escaped (ids and addresses
 * come from the config or etcd). */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void put_members(FILE *f, struct mmc_agent *ag)
{
	const struct mmc_peer *p = mmc_object_remote_peer(ag);
	struct mmc_peer_member_info mi;

	if (!p)
		return;
	fprintf(f, "# HELP mmc_member_up 1 if the pool's member answers, 0 if it is "
		"marked down\n# TYPE mmc_member_up gauge\n");
	for (int i = 0; i < mmc_peer_count(p); i++)
		if (!mmc_peer_member_info(p, i, &mi)) {
			fputs("mmc_member_up{member=\"", f);
			put_label(f, mi.id);
			fputs("\",address=\"", f);
			put_label(f, mi.where);
			fprintf(f, "\"} %d\n", mi.up);
		}
}

static char *page(struct mmc_agent *ag, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	mmc_stats_refresh(ag);
	put_figures(f, ag);
#define MMC_PROM_HIST_(name, base, help) \
	put_hist(f, #name, base, help, &ag->metrics.hist[MMC_HIST_##name]);
	MMC_HISTS(MMC_PROM_HIST_)
#undef MMC_PROM_HIST_
	put_members(f, ag);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	static const char not_found[] = "only GET /metrics here\n";
	struct mmc_agent *ag = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	size_t len = 0;
	char *body;

	(void)version;
	(void)upload;
	(void)state;
	if (*upload_len)
		return MHD_NO;               /* a GET has no body */
	if (strcmp(method, "GET") || strcmp(url, "/metrics")) {
		r = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)not_found,
						    MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else if ((body = page(ag, &len))) {
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (r)
			MHD_add_response_header(r, "Content-Type",
						"text/plain; version=0.0.4; charset=utf-8");
	} else {
		return MHD_NO;               /* out of memory: the connection closes */
	}
	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- life ---- */

int mmc_metrics_start(struct mmc_agent *ag)
{
	const char *l = ag->cfg.metrics_listen;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	char host[128] = "127.0.0.1", port[128];
	const char *colon = strrchr(l, ':');
	unsigned flags = MHD_USE_EPOLL;
	int r;

	if (!l[0])
		return 0;
	if (colon) {
		size_t n = (size_t)(colon - l);

		if (n >= 2 && l[0] == '[' && l[n - 1] == ']') {
			l++;
			n -= 2;
		}
		snprintf(host, sizeof(host), "%.*s", (int)n, l);
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		snprintf(port, sizeof(port), "%s", l);
	}
	if ((r = getaddrinfo(host, port, &hints, &ai))) {
		log_err("[metrics] listen '%s': %s", ag->cfg.metrics_listen, gai_strerror(r));
		return -EINVAL;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	ag->metrics.httpd = MHD_start_daemon(flags, 0, NULL, NULL, answer, ag,
					     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
					     MHD_OPTION_CONNECTION_LIMIT, 16u,
					     MHD_OPTION_CONNECTION_TIMEOUT, 5u,
					     MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!ag->metrics.httpd) {
		log_err("[metrics] cannot serve on '%s' (in use, or not an address of this "
			"host)", ag->cfg.metrics_listen);
		return -EADDRNOTAVAIL;
	}
	log_info("[metrics] Prometheus metrics at http://%s:%s/metrics", host, port);
	return 0;
}

void mmc_metrics_stop(struct mmc_agent *ag)
{
	if (ag->metrics.httpd)
		MHD_stop_daemon(ag->metrics.httpd);
	ag->metrics.httpd = NULL;
}

int mmc_metrics_fd(struct mmc_agent *ag)
{
	const union MHD_DaemonInfo *i;

	if (!ag->metrics.httpd)
		return -1;
	i = MHD_get_daemon_info(ag->metrics.httpd, MHD_DAEMON_INFO_EPOLL_FD);
	return i ? i->epoll_fd : -1;
}

void mmc_metrics_run(struct mmc_agent *ag)
{
	if (ag->metrics.httpd)
		(void)MHD_run(ag->metrics.httpd);
}
