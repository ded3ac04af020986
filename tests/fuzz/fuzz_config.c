/*
 * fuzz_config.c - libFuzzer harness: the agent's configuration parser
 * (agent/config.c: mmc_config_parse on the bytes of a file, then the
 * cross-key rules).  Whatever the bytes, the result is 0 with a valid
 * config or an error with a reason - never a crash, a hang or a config
 * that was half applied.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mmc_config cfg, before;
	char err[256] = "";
	int rc;

	mmc_config_defaults(&cfg);
	before = cfg;
	if (size > MMC_CONFIG_FILE_MAX)
		return 0;
	rc = mmc_config_parse(&cfg, "fuzz.conf", (const char *)data, size, err,
			      sizeof(err));
	if (rc && memcmp(&cfg, &before, sizeof(cfg)))
		abort();                /* a failed load changed the config */
	if (rc && !err[0] && rc != -ENOMEM)
		abort();                /* an error without a reason */
	if (!rc)
		(void)mmc_config_validate(&cfg, err, sizeof(err));
	return 0;
}
