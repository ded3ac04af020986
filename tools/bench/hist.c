/*
 * hist.c - mmc-bench's latency histogram: log-linear, HDR-like.
 *
 * Values below H_LINEAR (128) ns have a bucket each; above, every power of
 * two is cut into H_SUB (64) equal buckets, so a bucket's middle is within
 * 1/64 of any value in it, up to 2^47 ns (~39 hours; larger values share
 * the last bucket).  A histogram is a fixed array in a struct, so a client
 * fills its own in the MAP_SHARED result area without allocating, and the
 * parent merges them with h_merge() and reads quantiles with h_quantile().
 *
 * h_index() and h_add() are inline in bench.h: they run on every measured
 * operation.  What is here runs once per phase.
 */
#define _GNU_SOURCE
#include <math.h>

#include "bench.h"

/* The middle of bucket i. */
static double h_value(unsigned i)
{
	unsigned e, sub;
	uint64_t lo, width;

	if (i < H_LINEAR)
		return i;
	e = H_MIN_EXP + (i - H_LINEAR) / H_SUB;
	sub = (i - H_LINEAR) % H_SUB;
	lo = (uint64_t)(H_SUB + sub) << (e - H_SUB_BITS);
	width = 1ull << (e - H_SUB_BITS);
	return (double)lo + (double)(width - 1) / 2.0;
}

void h_merge(struct hist *into, const struct hist *h)
{
	if (!h->n)
		return;
	if (!into->n || h->min < into->min)
		into->min = h->min;
	if (h->max > into->max)
		into->max = h->max;
	into->n += h->n;
	into->sum += h->sum;
	for (unsigned i = 0; i < H_NB; i++)
		into->b[i] += h->b[i];
}

double h_quantile(const struct hist *h, double q)
{
	uint64_t want, cum = 0;

	if (!h->n)
		return NAN;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < H_NB; i++) {
		cum += h->b[i];
		if (cum >= want) {
			double v = h_value(i);

			if (v < (double)h->min)
				v = (double)h->min;
			if (v > (double)h->max)
				v = (double)h->max;
			return v;
		}
	}
	return (double)h->max;
}
