/*
 * log.c - see log.h.  stderr is line-buffered by hand: each message is
 * formatted into one buffer and written with a single write(2), so lines
 * from the agent never interleave mid-line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static enum mmc_log_level cur_level = MMC_LOG_INFO;
static int journal = -1;      /* -1: not decided yet */

void mmc_log_set_level(enum mmc_log_level l)
{
	cur_level = l;
}

void mmc_log(enum mmc_log_level l, const char *fmt, ...)
{
	static const int sd_prio[] = { 3, 4, 6, 7 };
	char buf[1024];
	int n = 0;
	va_list ap;

	if (l > cur_level)
		return;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	if (journal)
		n = snprintf(buf, sizeof(buf), "<%d>%s: ", sd_prio[l],
			     mmc_log_level_name(l));
	else
		n = snprintf(buf, sizeof(buf), "mmc-agent[%d]: %s: ",
			     (int)getpid(), mmc_log_level_name(l));
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
}
