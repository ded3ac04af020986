/*
 * config_file.c - the agent's INI file: read safely, fed to libinih, every
 * key handed to mmc_config_set() (config.c) with the line it came from.
 *
 * libinih hands us key/value pairs but not line numbers (the distribution
 * builds it without INI_HANDLER_LINENO), so the loader feeds it through its
 * own fgets-style reader that counts lines and sees each line as inih is
 * about to (key, continuation, section).  The reader also catches what
 * inih would get wrong silently: a line longer than inih's buffer would be
 * split and its tail parsed as a line of its own.  Indented continuation
 * lines are allowed only for the lists that can outgrow one line (the
 * [access] ids, [cluster] peers); the loader joins them into one value.  A
 * key set twice in one file is an error naming both lines: two values for
 * one setting is a mistake, and the file must not silently mean its last
 * one.  A load that fails leaves cfg untouched.
 *
 * The file itself is checked before a byte is parsed: a regular file (a
 * FIFO would block the start, /dev/zero would never end), at most
 * MMC_CONFIG_FILE_MAX bytes, read whole into memory, and text (a NUL byte
 * is an error with its line number).  mmc_config_parse() is the parser on
 * such a buffer; the fuzzer (tests/fuzz/) drives it directly.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config-int.h"
#include "config.h"

/* State of one mmc_config_load(): the line counter and the first error. */
struct loader {
	FILE *f;
	struct mmc_config cfg;      /* the copy we parse into */
	int line;                   /* line the reader last returned */
	bool cont;                  /* inih will take that line as a continuation */
	int err_line;               /* first error, 0 = none */
	char why[256];
	char last_key[64];          /* inih's prev_name: "" after a [section] */
	char list[MMC_CONFIG_LIST_MAX];        /* the allow_* value joined so far */
	int set_on[MMC_CONFIG_KEYS_MAX];          /* line where each key was set, 0 = not yet */
};

/* Records the first error and the line it came from. */
static void __attribute__((format(printf, 2, 3)))
fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err_line)
		return;
	ld->err_line = ld->line;
	va_start(ap, fmt);
	vsnprintf(ld->why, sizeof(ld->why), fmt, ap);
	va_end(ap);
}

/* inih's line reader: counts lines, refuses lines inih would split, and
 * classifies each line the way inih's parser is about to. */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	size_t len;
	char *s;
	int c;

	if (!fgets(str, num, ld->f))
		return NULL;
	ld->line++;
	len = strlen(str);
	if (len && str[len - 1] != '\n' && !feof(ld->f)) {
		while ((c = getc(ld->f)) != EOF && c != '\n')
			;
		fail(ld, "line longer than %d bytes", num - 3);
		str[0] = '\0';
	}
	for (s = str; isspace((unsigned char)*s); s++)
		;
	ld->cont = false;
	if (!*s || *s == ';' || *s == '#')
		return str;                    /* blank or comment */
	if (ld->last_key[0] && s > str)
		ld->cont = true;               /* indented, after a key */
	else if (*s == '[')
		ld->last_key[0] = '\0';        /* a section header */
	return str;
}

/* inih's handler: one key = value, or one continuation line of the last
 * key, which only the allow_* lists accept: the loader joins the pieces
 * and sets the whole list again. */
static int on_key(void *user, const char *section, const char *key,
		  const char *value)
{
	struct loader *ld = user;
	bool list = (!strcmp(section, "access") && !strncmp(key, "allow_", 6)) ||
		(!strcmp(section, "cluster") && !strcmp(key, "peers"));
	size_t used = strlen(ld->list);
	char why[256];

	if (ld->cont) {
		if (!list) {
			fail(ld, "indented line continues '%s', which takes "
			     "one line (unindent it)", key);
			return 0;
		}
		if (used + 1 + strlen(value) >= sizeof(ld->list)) {
			fail(ld, "[%s] %s: list too long", section, key);
			return 0;
		}
		ld->list[used] = ' ';
		strcpy(ld->list + used + 1, value);
		value = ld->list;
	} else {
		int row = mmc_config__find_key(section, key);

		if (row >= 0 && ld->set_on[row]) {
			fail(ld, "[%s] %s given twice (first on line %d): "
			     "keep one", section, key, ld->set_on[row]);
			return 0;
		}
		if (row >= 0)
			ld->set_on[row] = ld->line;
		snprintf(ld->last_key, sizeof(ld->last_key), "%s", key);
		snprintf(ld->list, sizeof(ld->list), "%s", value);
	}
	if (mmc_config_set(&ld->cfg, section, key, value, why, sizeof(why))) {
		fail(ld, "%s", why);
		return 0;
	}
	return 1;
}

/* The line (1-based) of buf[off]. */
static int line_of(const char *buf, size_t off)
{
	int line = 1;

	for (size_t i = 0; i < off; i++)
		line += buf[i] == '\n';
	return line;
}

int mmc_config_parse(struct mmc_config *cfg, const char *name, const char *buf,
		     size_t len, char *err, size_t errlen)
{
	const char *nul = len ? memchr(buf, '\0', len) : NULL;
	struct loader *ld;
	int rc;

	if (nul)
		return mmc_config__seterr(err, errlen, "%s:%d: NUL byte: not a text file", name,
			      line_of(buf, (size_t)(nul - buf)));
	if (!len)
		return 0;
	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;
	ld->f = fmemopen((void *)buf, len, "r");
	if (!ld->f) {
		free(ld);
		return -ENOMEM;
	}
	ld->cfg = *cfg;
	rc = ini_parse_stream(read_line, ld, on_key, ld);
	if (ferror(ld->f)) {
		mmc_config__seterr(err, errlen, "%s: read error", name);
		rc = -EIO;
	} else if (rc < 0) {
		mmc_config__seterr(err, errlen, "%s: out of memory", name);
		rc = -ENOMEM;
	} else if (rc > 0 && (!ld->err_line || rc < ld->err_line)) {
		mmc_config__seterr(err, errlen, "%s:%d: syntax error (expected [section] "
		       "or key = value)", name, rc);
		rc = -EINVAL;
	} else if (ld->err_line) {
		mmc_config__seterr(err, errlen, "%s:%d: %s", name, ld->err_line, ld->why);
		rc = -EINVAL;
	} else {
		*cfg = ld->cfg;
	}
	fclose(ld->f);
	free(ld);
	return rc;
}

/* Reads the whole regular file at path into a malloc'd buffer of at most
 * MMC_CONFIG_FILE_MAX bytes (*len).  0 or -errno with err set. */
static int read_config_file(const char *path, char **out, size_t *len,
			    char *err, size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	size_t got = 0;
	struct stat st;
	char *buf;
	int rc;

	if (fd < 0) {
		rc = -errno;
		mmc_config__seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		mmc_config__seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
		close(fd);                     /* /dev/null: "no settings" */
		*out = NULL;
		*len = 0;
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return mmc_config__seterr(err, errlen, "%s: not a regular file (a config is "
			      "a text file of at most %d bytes)", path,
			      MMC_CONFIG_FILE_MAX);
	}
	if (st.st_size > MMC_CONFIG_FILE_MAX) {
		close(fd);
		return mmc_config__seterr(err, errlen, "%s: %lld bytes: too large for a config "
			      "(at most %d bytes)", path, (long long)st.st_size,
			      MMC_CONFIG_FILE_MAX);
	}
	buf = malloc(MMC_CONFIG_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	/* Read to the end even if the size changed since fstat. */
	for (;;) {
		ssize_t n = read(fd, buf + got, MMC_CONFIG_FILE_MAX + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			mmc_config__seterr(err, errlen, "%s: %s", path, strerror(-rc));
			goto fail;
		}
		if (!n)
			break;
		got += (size_t)n;
		if (got > MMC_CONFIG_FILE_MAX) {
			rc = mmc_config__seterr(err, errlen, "%s: too large for a config (at "
				    "most %d bytes)", path, MMC_CONFIG_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
fail:
	close(fd);
	free(buf);
	return rc;
}

/* Parses path into a copy of *cfg and copies it back only if every line
 * was good: 0, -ENOENT (or another -errno) if the file cannot be opened,
 * -EINVAL with "FILE:LINE: why" for the first bad line. */
int mmc_config_load(struct mmc_config *cfg, const char *path,
		    char *err, size_t errlen)
{
	size_t len = 0;
	char *buf = NULL;
	int rc = read_config_file(path, &buf, &len, err, errlen);

	if (!rc)
		rc = mmc_config_parse(cfg, path, buf, len, err, errlen);
	free(buf);
	return rc;
}
