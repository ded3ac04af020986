/*
 * trace_load.c - a Mooncake trace file into the arrays the replay and the
 * offline caches walk.
 *
 * Each line is a JSON object (json-c parses it) with "timestamp" (ms),
 * "input_length" (tokens) and "hash_ids" (the prompt's 512-token blocks).
 * A block's identity is its position in a chain, as an engine keys its KV
 * pages: chain(i) = XXH3(chain(i-1), hash_id(i)), chain(-1) = the seed.  Two
 * requests share a block only if they share the whole prefix up to it.
 * Chains are then numbered densely in order of first appearance, so the
 * caches use arrays instead of hash maps, and each number gets its mmc key:
 * 64 hex characters derived from the chain hash, then "_0_k" (SGLang's
 * shape).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <xxhash.h>

#include "trace.h"

/* chain hash -> dense id, open addressing; slots hold id + 1 (0 = empty). */
struct idmap {
	uint32_t *slot;
	uint64_t mask;
};

static int idmap_init(struct idmap *m, uint64_t nrefs)
{
	uint64_t n = 1024;

	while (n < 2 * nrefs)
		n <<= 1;
	m->slot = calloc(n, sizeof(*m->slot));
	m->mask = n - 1;
	return m->slot ? 0 : -ENOMEM;
}

/* The dense id of hash h, appending it to t->chain when new. */
static uint32_t idmap_get(struct idmap *m, struct trace *t, uint64_t h)
{
	for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
		uint32_t s = m->slot[i];

		if (!s) {
			t->chain[t->ndistinct] = h;
			m->slot[i] = ++t->ndistinct;
			return t->ndistinct - 1;
		}
		if (t->chain[s - 1] == h)
			return s - 1;
	}
}

static void make_key(uint8_t *p, uint64_t h)
{
	static const char hex[] = "0123456789abcdef";

	for (int w = 0; w < KEY_HEX / 16; w++) {
		uint64_t v = mix64(h + (uint64_t)w * 0x632be59bd9b4e019ull);

		for (int i = 0; i < 16; i++)
			*p++ = (uint8_t)hex[(v >> (60 - 4 * i)) & 15];
	}
	memcpy(p, KEY_SUFFIX, sizeof(KEY_SUFFIX) - 1);
}

static int grow(void **p, uint64_t *cap, uint64_t need, size_t elem)
{
	uint64_t n = *cap ? *cap : 4096;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* One JSON object, alone on its line (only white space may follow), or
 * NULL. */
static struct json_object *parse_object(const char *line)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	size_t len = strlen(line), end;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  strspn(line + end, " \t\r\n") != len - end)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* One line into t->reqs[t->nreqs] and its references, as raw 64-bit hash
 * ids appended to *raw (turned into chains later).  -EINVAL with err on bad
 * input. */
static int parse_line(struct trace *t, const char *line, uint64_t **raw,
		      uint64_t *refcap, char *err, size_t errlen)
{
	struct json_object *o = parse_object(line), *ts, *in, *ids;
	struct trace_req *r = &t->reqs[t->nreqs];
	size_t n;
	int ret = -EINVAL;

	if (!o || !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "not one JSON object on its own line");
		goto out;
	}
	if (!json_object_object_get_ex(o, "timestamp", &ts) ||
	    !json_object_object_get_ex(o, "input_length", &in) ||
	    !json_object_object_get_ex(o, "hash_ids", &ids) ||
	    !json_object_is_type(ids, json_type_array)) {
		snprintf(err, errlen, "needs timestamp, input_length and a hash_ids array");
		goto out;
	}
	n = json_object_array_length(ids);
	if ((!json_object_is_type(ts, json_type_int) &&
	     !json_object_is_type(ts, json_type_double)) ||
	    !json_object_is_type(in, json_type_int)) {
		snprintf(err, errlen, "timestamp and input_length must be numbers");
		goto out;
	}
	if (!(json_object_get_double(ts) >= 0 && json_object_get_double(ts) < 1e15) ||
	    json_object_get_int64(in) < 0 || json_object_get_int64(in) > UINT32_MAX ||
	    n > MMC_BATCH_MAX) {
		snprintf(err, errlen, "timestamp or input_length out of range, or over %d "
			 "blocks", MMC_BATCH_MAX);
		goto out;
	}
	r->ts_ms = (uint64_t)json_object_get_double(ts);
	r->input_tokens = (uint32_t)json_object_get_int64(in);
	r->first = (uint32_t)t->nrefs;
	r->nblocks = (uint32_t)n;
	ret = grow((void **)raw, refcap, t->nrefs + n, sizeof(**raw));
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(ids, i);

		if (!json_object_is_type(v, json_type_int)) {
			snprintf(err, errlen, "hash_ids[%zu] is not an integer", i);
			ret = -EINVAL;
			goto out;
		}
		(*raw)[t->nrefs++] = (uint64_t)json_object_get_int64(v);
	}
	if (n > t->max_blocks)
		t->max_blocks = (uint32_t)n;
	t->nreqs++;
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

/* Raw hash ids -> dense chain ids in t->blocks, keys. */
static int number_chains(struct trace *t, const uint64_t *raw, uint64_t seed)
{
	struct idmap m;

	if (idmap_init(&m, t->nrefs))
		return -ENOMEM;
	t->chain = malloc((t->nrefs ? t->nrefs : 1) * sizeof(*t->chain));
	t->blocks = malloc((t->nrefs ? t->nrefs : 1) * sizeof(*t->blocks));
	if (!t->chain || !t->blocks) {
		free(m.slot);
		return -ENOMEM;
	}
	for (uint32_t q = 0; q < t->nreqs; q++) {
		const struct trace_req *r = &t->reqs[q];
		uint64_t prev = seed;

		for (uint32_t i = 0; i < r->nblocks; i++) {
			uint64_t in[2] = { prev, raw[r->first + i] };

			prev = XXH3_64bits_withSeed(in, sizeof(in), seed);
			t->blocks[r->first + i] = idmap_get(&m, t, prev);
		}
	}
	free(m.slot);
	t->keys = malloc(((size_t)t->ndistinct + 1) * KEY_LEN);
	if (!t->keys)
		return -ENOMEM;
	for (uint32_t d = 0; d < t->ndistinct; d++)
		make_key(t->keys + (size_t)d * KEY_LEN, t->chain[d]);
	return 0;
}

int trace_load(const char *path, uint32_t max_reqs, uint64_t seed,
	       struct trace *t, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	int ret;

	memset(t, 0, sizeof(*t));
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	ret = trace_load_stream(f, path, max_reqs, seed, t, err, errlen);
	fclose(f);
	return ret;
}

int trace_load_stream(FILE *f, const char *path, uint32_t max_reqs, uint64_t seed,
		      struct trace *t, char *err, size_t errlen)
{
	uint64_t reqcap = 0, refcap = 0, lineno = 0, *raw = NULL;
	char *line = NULL, msg[160];
	size_t linecap = 0;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	while ((!max_reqs || t->nreqs < max_reqs) && getline(&line, &linecap, f) > 0) {
		lineno++;
		if (strspn(line, " \t\r\n") == strlen(line))
			continue;
		ret = grow((void **)&t->reqs, &reqcap, t->nreqs + 1ull, sizeof(*t->reqs));
		if (!ret)
			ret = parse_line(t, line, &raw, &refcap, msg, sizeof(msg));
		else
			snprintf(msg, sizeof(msg), "out of memory");
		if (ret) {
			snprintf(err, errlen, "%s:%" PRIu64 ": %s", path, lineno, msg);
			goto out;
		}
	}
	if (ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (!t->nreqs) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: no requests", path);
		goto out;
	}
	ret = number_chains(t, raw, seed);
	if (ret)
		snprintf(err, errlen, "out of memory for %" PRIu64 " blocks", t->nrefs);
out:
	free(raw);
	free(line);
	if (ret)
		trace_free(t);
	return ret;
}

void trace_free(struct trace *t)
{
	free(t->reqs);
	free(t->blocks);
	free(t->chain);
	free(t->keys);
	memset(t, 0, sizeof(*t));
}
