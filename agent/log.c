/*
 * log.c - see log.h.  stderr is line-buffered by hand: each message is
 * formatted into one buffer and written with a single write(2), so lines
 * from the agent never interleave mid-line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum mmc_log_level cur_level = MMC_LOG_INFO;
static int journal = -1;      /* -1: not decided yet */

void mmc_log_set_level(enum mmc_log_level l)
{
	cur_level = l;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether site may print now; *dropped gets the lines dropped before this
 * one, *last says this is the last line of the window's burst. */
static int site_admits(struct mmc_log_site *site, uint32_t *dropped, int *last)
{
	uint64_t now = now_ms() + 1;   /* never 0: 0 means "no window yet" */

	if (!site->window_ms || now - site->window_ms >= MMC_LOG_WINDOW_MS) {
		site->window_ms = now;
		site->printed = 0;
	}
	if (site->printed >= MMC_LOG_BURST) {
		site->dropped++;
		return 0;
	}
	*dropped = site->dropped;
	site->dropped = 0;
	*last = ++site->printed == MMC_LOG_BURST;
	return 1;
}

void mmc_log(struct mmc_log_site *site, enum mmc_log_level l, const char *fmt, ...)
{
	static const int sd_prio[] = { 3, 4, 6, 7 };
	char buf[1024];
	uint32_t dropped = 0;
	int n = 0, last = 0;
	va_list ap;

	if (l > cur_level || (site && !site_admits(site, &dropped, &last)))
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
	if (n < (int)sizeof(buf) - 1 && dropped)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n - 1,
			      " (%u more like this were suppressed)", dropped);
	if (n < (int)sizeof(buf) - 1 && last)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n - 1,
			      " (further lines like this are suppressed for %d s)",
			      MMC_LOG_WINDOW_MS / 1000);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
}
