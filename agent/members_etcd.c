/*
 * members_etcd.c - the pool's members, kept in etcd (members_etcd.h has the
 * contract).
 *
 * One thread, one loop:
 *
 *   register   POST /v3/lease/grant {TTL}, then /v3/kv/put of
 *              PREFIX/members/NODE_ID = advertise, under that lease
 *   list       POST /v3/kv/range over PREFIX/members/: the whole list, and
 *              the revision it is at (published)
 *   watch      POST /v3/watch from that revision + 1: a stream of JSON
 *              objects, one per batch of events, parsed as it arrives
 *              (json-c's incremental tokener); each PUT or DELETE changes
 *              the list (published)
 *   keepalive  POST /v3/lease/keepalive every ttl_s / 3 while watching; a
 *              lease etcd no longer knows (it expired while etcd or this
 *              node was away) means register again
 *
 * Any failure (etcd down, a broken stream) ends the watch; the thread
 * waits (1 s, doubling to 8 s), then registers and lists again.  Nothing is
 * published meanwhile, so the agent keeps the last list it had.  Keys and
 * values are base64 in the gateway's JSON (OpenSSL's EVP_EncodeBlock).
 * At stop the lease is revoked: the others see this node leave at once.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "members_etcd.h"
#include "placement.h"       /* MMC_PLACEMENT_MAX */
#include "timer.h"

#define CALL_TIMEOUT_MS 2000L
#define RETRY_MIN_MS    1000
#define RETRY_MAX_MS    8000

struct mmc_etcd {
	char endpoint[256], key[512], prefix[256], prefix_end[256], advertise[256];
	unsigned ttl_s;
	int event_fd, stop_fd;
	pthread_t thread;
	bool started;
	/* the thread's own */
	int64_t lease;
	int64_t revision;
	struct mmc_etcd_member list[MMC_PLACEMENT_MAX];
	int n;
	json_tokener *tok;
	bool watch_broken;
	/* published (lock) */
	pthread_mutex_t lock;
	struct mmc_etcd_member pub[MMC_PLACEMENT_MAX];
	int npub;
	bool fresh;
};

/* ---- JSON over HTTP ---- */

struct body { char *p; size_t len; };

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
	struct body *b = ud;
	char *q = realloc(b->p, b->len + sz * n + 1);

	if (!q)
		return 0;
	memcpy(q + b->len, p, sz * n);
	b->len += sz * n;
	q[b->len] = '\0';
	b->p = q;
	return sz * n;
}

/* POSTs json to endpoint + path; the answer parsed, or NULL (logged by the
 * caller).  Blocking, CALL_TIMEOUT_MS at most: this thread only. */
static json_object *call(struct mmc_etcd *e, const char *path, const char *json)
{
	CURL *h = curl_easy_init();
	struct body b = { 0 };
	char url[512];
	long code = 0;
	json_object *o = NULL;

	if (!h)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", e->endpoint, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CALL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200 && b.p)
		o = json_tokener_parse(b.p);
	curl_easy_cleanup(h);
	free(b.p);
	return o;
}

static void b64(const char *s, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
}

/* Decodes base64 s into out (max bytes, NUL-terminated): 0 or -1. */
static int unb64(const char *s, char *out, size_t max)
{
	size_t len = strlen(s), pad = 0;
	unsigned char tmp[1024];
	int n;

	if (len > 4 * ((sizeof(tmp) - 1) / 3) || len % 4)
		return -1;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
	while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
		pad++;
	if (n < 0 || (size_t)n - pad >= max)
		return -1;
	memcpy(out, tmp, (size_t)n - pad);
	out[n - pad] = '\0';
	return 0;
}

static const char *str_of(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* ---- the member list ---- */

static void publish(struct mmc_etcd *e)
{
	uint64_t one = 1;

	pthread_mutex_lock(&e->lock);
	memcpy(e->pub, e->list, (size_t)e->n * sizeof(e->list[0]));
	e->npub = e->n;
	e->fresh = true;
	pthread_mutex_unlock(&e->lock);
	(void)!write(e->event_fd, &one, sizeof(one));
}

/* A kv of the gateway's JSON: PUT (del false) or DELETE of a member. */
static void apply(struct mmc_etcd *e, json_object *kv, bool del)
{
	const char *k = str_of(kv, "key"), *v = str_of(kv, "value");
	char key[512], id[64], addr[256] = "";
	size_t plen = strlen(e->prefix);
	int i;

	if (!k || unb64(k, key, sizeof(key)) || strncmp(key, e->prefix, plen) ||
	    strlen(key + plen) >= sizeof(id) || !key[plen])
		return;
	strcpy(id, key + plen);
	if (!del && (!v || unb64(v, addr, sizeof(addr))))
		return;
	for (i = 0; i < e->n && strcmp(e->list[i].id, id); i++)
		;
	if (del) {
		if (i < e->n)
			e->list[i] = e->list[--e->n];
		return;
	}
	if (i == e->n) {
		if (e->n == MMC_PLACEMENT_MAX)
			return;
		e->n++;
	}
	strcpy(e->list[i].id, id);
	strcpy(e->list[i].addr, addr);
}

/* ---- the steps ---- */

static bool do_register(struct mmc_etcd *e)
{
	char req[1280], k64[700], v64[400];
	json_object *o;
	const char *id;

	snprintf(req, sizeof(req), "{\"TTL\": %u}", e->ttl_s);
	if (!(o = call(e, "/v3/lease/grant", req)))
		return false;
	id = str_of(o, "ID");
	e->lease = id ? strtoll(id, NULL, 10) : 0;
	json_object_put(o);
	if (!e->lease)
		return false;
	b64(e->key, strlen(e->key), k64);
	b64(e->advertise, strlen(e->advertise), v64);
	snprintf(req, sizeof(req), "{\"key\": \"%s\", \"value\": \"%s\", \"lease\": \"%" PRId64 "\"}",
		 k64, v64, e->lease);
	if (!(o = call(e, "/v3/kv/put", req)))
		return false;
	json_object_put(o);
	return true;
}

static bool do_list(struct mmc_etcd *e)
{
	char req[1024], p64[400], q64[400];
	json_object *o, *kvs, *hdr;
	const char *rev;

	b64(e->prefix, strlen(e->prefix), p64);
	b64(e->prefix_end, strlen(e->prefix_end), q64);
	snprintf(req, sizeof(req), "{\"key\": \"%s\", \"range_end\": \"%s\"}", p64, q64);
	if (!(o = call(e, "/v3/kv/range", req)))
		return false;
	e->n = 0;
	if (json_object_object_get_ex(o, "kvs", &kvs))
		for (size_t i = 0; i < json_object_array_length(kvs); i++)
			apply(e, json_object_array_get_idx(kvs, i), false);
	rev = json_object_object_get_ex(o, "header", &hdr) ? str_of(hdr, "revision") : NULL;
	e->revision = rev ? strtoll(rev, NULL, 10) : 0;
	json_object_put(o);
	publish(e);
	return true;
}

static bool keepalive(struct mmc_etcd *e)
{
	char req[128];
	json_object *o, *res;
	const char *ttl;
	bool ok;

	snprintf(req, sizeof(req), "{\"ID\": \"%" PRId64 "\"}", e->lease);
	if (!(o = call(e, "/v3/lease/keepalive", req)))
		return false;
	ttl = json_object_object_get_ex(o, "result", &res) ? str_of(res, "TTL") : NULL;
	ok = ttl && strtoll(ttl, NULL, 10) > 0;    /* 0 or absent: the lease is gone */
	json_object_put(o);
	return ok;
}

/* The watch stream's bytes: JSON objects back to back. */
static size_t watch_bytes(char *p, size_t sz, size_t n, void *ud)
{
	struct mmc_etcd *e = ud;
	size_t len = sz * n, off = 0;
	bool changed = false;

	while (off < len) {
		json_object *o = json_tokener_parse_ex(e->tok, p + off, (int)(len - off)),
			*res, *evs;
		size_t used = json_tokener_get_parse_end(e->tok);

		if (!o) {
			if (json_tokener_get_error(e->tok) != json_tokener_continue) {
				e->watch_broken = true;
				return 0;    /* ends the transfer */
			}
			break;           /* the rest of the object comes later */
		}
		off += used;
		json_tokener_reset(e->tok);
		if (json_object_object_get_ex(o, "result", &res) &&
		    json_object_object_get_ex(res, "events", &evs)) {
			for (size_t i = 0; i < json_object_array_length(evs); i++) {
				json_object *ev = json_object_array_get_idx(evs, i), *kv;
				const char *type = str_of(ev, "type");

				if (json_object_object_get_ex(ev, "kv", &kv)) {
					apply(e, kv, type && !strcmp(type, "DELETE"));
					changed = true;
				}
			}
		} else if (!json_object_object_get_ex(o, "result", &res)) {
			e->watch_broken = true;   /* {"error": ...} */
		} else {
			json_object *cn;          /* etcd ended the watch (compaction) */

			if (json_object_object_get_ex(res, "canceled", &cn) &&
			    json_object_get_boolean(cn))
				e->watch_broken = true;
		}
		json_object_put(o);
	}
	if (changed)
		publish(e);
	return len;
}

/* Watches from the listed revision until the stream breaks, the lease is
 * lost or stop; keeps the lease alive meanwhile. */
static void do_watch(struct mmc_etcd *e)
{
	char req[1024], p64[400], q64[400], url[512];
	CURLM *m = curl_multi_init();
	CURL *h = curl_easy_init();
	struct curl_waitfd stop = { .fd = e->stop_fd, .events = CURL_WAIT_POLLIN };
	uint64_t next_ka = mmc_now_ns() + (uint64_t)e->ttl_s * 1000000000ull / 3;
	int running = 1;

	b64(e->prefix, strlen(e->prefix), p64);
	b64(e->prefix_end, strlen(e->prefix_end), q64);
	snprintf(req, sizeof(req), "{\"create_request\": {\"key\": \"%s\", \"range_end\": "
		 "\"%s\", \"start_revision\": \"%" PRId64 "\"}}", p64, q64, e->revision + 1);
	snprintf(url, sizeof(url), "%s/v3/watch", e->endpoint);
	e->watch_broken = false;
	json_tokener_reset(e->tok);
	if (!m || !h)
		goto out;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, req);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CALL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_bytes);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, e);
	curl_multi_add_handle(m, h);
	while (running && !e->watch_broken) {
		uint64_t now = mmc_now_ns();
		int nfds = 0;

		if (now >= next_ka) {
			if (!keepalive(e)) {
				log_warn("[cluster] etcd: our lease is gone: registering again");
				break;
			}
			next_ka = now + (uint64_t)e->ttl_s * 1000000000ull / 3;
		}
		curl_multi_poll(m, &stop, 1, (int)((next_ka - now) / 1000000) + 1, &nfds);
		if (stop.revents) {
			running = 0;
			break;
		}
		curl_multi_perform(m, &running);
	}
	curl_multi_remove_handle(m, h);
out:
	curl_easy_cleanup(h);
	curl_multi_cleanup(m);
}

static bool stopping(struct mmc_etcd *e, int wait_ms)
{
	struct pollfd p = { .fd = e->stop_fd, .events = POLLIN };

	return poll(&p, 1, wait_ms) > 0;
}

static void *run(void *arg)
{
	struct mmc_etcd *e = arg;
	int backoff = RETRY_MIN_MS;

	while (!stopping(e, 0)) {
		if (!do_register(e) || !do_list(e)) {
			log_warn("[cluster] etcd at %s does not answer: keeping the last "
				 "membership, trying again in %d ms", e->endpoint, backoff);
			if (stopping(e, backoff))
				break;
			backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
			continue;
		}
		backoff = RETRY_MIN_MS;
		do_watch(e);
		if (!stopping(e, 0) && stopping(e, RETRY_MIN_MS / 4))
			break;               /* a broken watch: a short pause, then again */
	}
	return NULL;
}

/* ---- life ---- */

int mmc_etcd_start(const struct mmc_etcd_config *cfg, struct mmc_etcd **out,
		   char *err, size_t errlen)
{
	struct mmc_etcd *e = calloc(1, sizeof(*e));
	size_t n;

	if (!e)
		return -ENOMEM;
	snprintf(e->endpoint, sizeof(e->endpoint), "%s", cfg->endpoint);
	n = strlen(e->endpoint);
	while (n && e->endpoint[n - 1] == '/')
		e->endpoint[--n] = '\0';
	snprintf(e->prefix, sizeof(e->prefix), "%smembers/", cfg->prefix);
	snprintf(e->prefix_end, sizeof(e->prefix_end), "%s", e->prefix);
	e->prefix_end[strlen(e->prefix_end) - 1]++;            /* '/' + 1 */
	snprintf(e->key, sizeof(e->key), "%s%s", e->prefix, cfg->node_id);
	snprintf(e->advertise, sizeof(e->advertise), "%s", cfg->advertise);
	e->ttl_s = cfg->ttl_s;
	e->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->tok = json_tokener_new();
	pthread_mutex_init(&e->lock, NULL);
	if (e->event_fd < 0 || e->stop_fd < 0 || !e->tok ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "[cluster] etcd: cannot set up (%s)", strerror(errno));
		mmc_etcd_stop(e);
		return -ENOMEM;
	}
	if (pthread_create(&e->thread, NULL, run, e)) {
		snprintf(err, errlen, "[cluster] etcd: cannot start its thread");
		mmc_etcd_stop(e);
		return -EAGAIN;
	}
	e->started = true;
	*out = e;
	return 0;
}

void mmc_etcd_stop(struct mmc_etcd *e)
{
	uint64_t one = 1;
	char req[128];
	json_object *o;

	if (!e)
		return;
	if (e->started) {
		(void)!write(e->stop_fd, &one, sizeof(one));
		pthread_join(e->thread, NULL);
		if (e->lease) {              /* leave now, not when the lease expires */
			snprintf(req, sizeof(req), "{\"ID\": \"%" PRId64 "\"}", e->lease);
			if ((o = call(e, "/v3/lease/revoke", req)))
				json_object_put(o);
		}
	}
	if (e->tok)
		json_tokener_free(e->tok);
	if (e->event_fd >= 0)
		close(e->event_fd);
	if (e->stop_fd >= 0)
		close(e->stop_fd);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

int mmc_etcd_fd(const struct mmc_etcd *e)
{
	return e->event_fd;
}

int mmc_etcd_members(struct mmc_etcd *e, struct mmc_etcd_member *out, int max)
{
	uint64_t v;
	int n;

	(void)!read(e->event_fd, &v, sizeof(v));
	pthread_mutex_lock(&e->lock);
	if (!e->fresh) {
		pthread_mutex_unlock(&e->lock);
		return -EAGAIN;
	}
	n = e->npub < max ? e->npub : max;
	memcpy(out, e->pub, (size_t)n * sizeof(*out));
	e->fresh = false;
	pthread_mutex_unlock(&e->lock);
	return n;
}
