/*
 * fuzz_trace.c - libFuzzer harness: mmc-bench's Mooncake trace parser
 * (tools/bench/trace_load.c: JSON lines through json-c, chain hashing,
 * dense numbering, keys), then the offline LRU replay over what it read.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sim_result r;
	struct trace t;
	char err[256];
	FILE *f;

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	if (!trace_load_stream(f, "fuzz.jsonl", 2000, 1, &t, err, sizeof(err))) {
		if (!t.nreqs || t.nrefs < t.reqs[t.nreqs - 1].first)
			abort();
		(void)trace_simulate(&t, 8, &r);
		trace_free(&t);
	}
	fclose(f);
	return 0;
}
