/*
 * misc.c - error strings and counters.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

const char *mmc_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:            return "success";
	case ENOENT:       return "key not found";
	case EEXIST:       return "key already exists (objects are immutable: a put of an existing key counts as done)";
	case EBUSY:        return "key is being written by another session";
	case EINVAL:       return "invalid argument (empty key, zero-length value, or bad handle)";
	case ENAMETOOLONG: return "key longer than 256 bytes";
	case E2BIG:        return "value larger than the arena";
	case ENOSPC:       return "arena full: everything left is pinned or reserved";
	case EMSGSIZE:     return "buffer smaller than the value";
	case ENOBUFS:      return "too many views held by this session";
	case ENOTCONN:     return "agent is gone: disconnect and connect again";
	case ECONNREFUSED: return "no agent listening on the socket";
	case EACCES:       return "agent does not admit this user or group";
	case EPROTO:       return "agent speaks another protocol version, or sent garbage";
	case ETIMEDOUT:    return "agent did not answer the handshake";
	case EAGAIN:       return "index entry kept changing; try again";
	case EIO:          return "agent handed out an out-of-range location";
	case EOPNOTSUPP:   return "operation not supported by this agent";
	case EPERM:        return "the agent does not allow this ([debug] settings)";
	case ECHILD:       return "client connected by the parent process: connect anew after fork()";
	case ENODATA:      return "stats file too short (agent starting, or not a stats file)";
	case EBADMSG:      return "not an mmc stats file";
	case EDQUOT:       return "at a [limits] cap of the agent: this session or its user holds the most reservations, reserved bytes or pinned bytes it may (commit, abort or release first), or the most sessions";
	case EMFILE:       return "the agent serves as many sessions as it may, or is out of descriptors: retry later";
	default:           return strerror(err < 0 ? -err : err);
	}
}

int mmc_client_stats(mmc_client *c, struct mmc_client_stats *out)
{
	const struct mmc_client_counters *k;

	if (!c || !out)
		return -EINVAL;
	if (mmc__forked(c))
		return -ECHILD;
	k = &c->ring->counters;
#define LOAD(name, ...) out->name = atomic_load(&k->name);
	MMC_CLIENT_FIELDS(LOAD)
#undef LOAD
	return 0;
}

/* Reads the stats file the agent named in the welcome, after asking it to
 * refresh (so the numbers include everything done before this call). */
int mmc_agent_stats(mmc_client *c, struct mmc_stats *out)
{
	struct mmc_cqe cqe;
	int ret;

	if (!out)
		return -EINVAL;
	ret = mmc__call(c, MMC_OP_STAT, NULL, 0, 0, 0, 0, &cqe);
	if (ret)
		return ret;
	return mmc_stats_read(c->stats_path, out);
}

int mmc_stats_read(const char *path, struct mmc_stats *out)
{
	ssize_t n;
	int fd, ret = 0;

	if (!path || !out)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, out, sizeof(*out), 0);
	if (n < 0)
		ret = -errno;
	else if (n != (ssize_t)sizeof(*out))
		ret = -ENODATA;
	else if (out->magic != MMC_STATS_MAGIC)
		ret = -EBADMSG;
	else if (out->version != MMC_STATS_VERSION || out->size != sizeof(*out))
		ret = -EPROTO;
	close(fd);
	return ret;
}

int mmc_members_read(const char *path, struct mmc_member_stats *out, unsigned max)
{
	struct mmc_members_table *t = malloc(sizeof(*t));
	struct mmc_stats st;
	int ret = t ? mmc_stats_read(path, &st) : -ENOMEM;
	int fd = -1;

	if (!ret && !out && max)
		ret = -EINVAL;
	if (!ret && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		ret = -errno;
	/* The agent rewrites the table under seq (odd while it writes): a
	 * copy that saw the same even seq before and after is whole. */
	for (int tries = 0; !ret; tries++) {
		uint64_t before, after;
		ssize_t n = pread(fd, t, sizeof(*t), sizeof(st));

		if (n < (ssize_t)offsetof(struct mmc_members_table, m)) {
			ret = n < 0 ? -errno : 0;   /* no table: not in a pool */
			t->count = 0;
			break;
		}
		before = atomic_load_explicit(&t->seq, memory_order_relaxed);
		if (pread(fd, &after, sizeof(after), sizeof(st)) != sizeof(after))
			after = before + 1;
		if (!(before & 1) && before == after) {
			if (t->count > MMC_MEMBERS_MAX)
				ret = -EBADMSG;
			break;
		}
		if (tries == 100)
			ret = -EAGAIN;
	}
	if (!ret) {
		ret = (int)(t->count < max ? t->count : max);
		memcpy(out, t->m, (size_t)ret * sizeof(*out));
	}
	if (fd >= 0)
		close(fd);
	free(t);
	return ret;
}

int mmc_agent_members(mmc_client *c, struct mmc_member_stats *out, unsigned max)
{
	struct mmc_cqe cqe;
	int ret = mmc__call(c, MMC_OP_STAT, NULL, 0, 0, 0, 0, &cqe);

	return ret ? ret : mmc_members_read(c->stats_path, out, max);
}
