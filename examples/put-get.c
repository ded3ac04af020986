/*
 * put-get.c - the smallest program that uses mmc: put one value, read it
 * back by copy and by zero-copy view, look at the agent's counters.
 *
 *   cc -o put-get put-get.c $(pkg-config --cflags --libs mmc)
 *   MMC_SOCKET=/run/mmc/agent.sock ./put-get
 *
 * Prints "ok" and exits 0 when every byte came back; otherwise the failing
 * call and mmc_strerror()'s sentence, and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mmc/mmc.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "put-get: %s: %s\n", what, mmc_strerror(err));
	return 1;
}

int main(void)
{
	static char page[64 * 1024], back[64 * 1024];
	const char *key = "example/put-get";
	struct mmc_stats st;
	struct mmc_view v;
	mmc_client *c;
	size_t len;
	int r;

	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (char)(i * 31 + 7);
	if ((r = mmc_connect(NULL, &c)))
		return fail("connect", r);
	r = mmc_put(c, key, strlen(key), page, sizeof(page));
	if (r && r != -EEXIST)               /* an existing key is a done put */
		return fail("put", r);
	if ((r = mmc_get(c, key, strlen(key), back, sizeof(back), &len)))
		return fail("get", r);
	if (len != sizeof(page) || memcmp(page, back, len))
		return fail("get: wrong bytes", -EIO);
	if ((r = mmc_acquire(c, key, strlen(key), &v)))
		return fail("acquire", r);
	r = v.len == sizeof(page) && !memcmp(v.data, page, v.len);
	mmc_release(c, &v);
	if (!r)
		return fail("acquire: wrong bytes", -EIO);
	if ((r = mmc_agent_stats(c, &st)))
		return fail("stats", r);
	printf("ok: %zu bytes back twice; agent holds %llu objects, %llu hits\n",
	       len, (unsigned long long)st.objects, (unsigned long long)st.hits);
	mmc_remove(c, key, strlen(key));
	mmc_disconnect(c);
	return 0;
}
