/* trace.c - placeholder, replaced by the trace replay. */
#include <stdio.h>

#include "bench.h"

int trace_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mmc-bench trace: not built yet\n");
	return 2;
}
