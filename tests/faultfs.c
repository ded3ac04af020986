/*
 * faultfs.c - a FUSE filesystem of one disk that fails on command: the
 * device errors the SSD tier must survive, where this machine has neither
 * device-mapper (dm-error, dm-flakey) nor the kernel's fault injection.
 *
 *   faultfs BACKING MOUNTPOINT [fuse options]
 *
 * The mount holds two files:
 *   disk   BACKING's bytes, read and written through (pread/pwrite at the
 *          offsets asked, fallocate passed on), O_DIRECT included
 *   fail   what fails now: write "r" (reads), "w" (writes), "rw" or "-"
 *          (nothing); reading it gives the mode and how many I/Os failed
 * A failed I/O is -EIO, as a dying drive's: the kernel hands it to the
 * caller's pread/pwrite or io_uring completion unchanged.
 *
 * Like any FUSE filesystem it detaches once mounted (fuse_main without -f),
 * so when the command returns the mount is there; `umount MOUNTPOINT` ends it.
 */
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int backing = -1;
static atomic_bool fail_reads, fail_writes;
static atomic_ulong failed;

static int is_disk(const char *path) { return !strcmp(path, "/disk"); }
static int is_ctl(const char *path) { return !strcmp(path, "/fail"); }

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (is_disk(path)) {
		if (fstat(backing, st) < 0)
			return -errno;
		st->st_mode = S_IFREG | 0600;
		return 0;
	}
	if (is_ctl(path)) {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = 64;
		return 0;
	}
	return -ENOENT;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off; (void)fi; (void)flags;
	if (strcmp(path, "/"))
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "disk", NULL, 0, 0);
	fill(buf, "fail", NULL, 0, 0);
	return 0;
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	if (is_ctl(path)) {
		fi->direct_io = 1;   /* every read sees the current mode */
		return 0;
	}
	return is_disk(path) ? 0 : -ENOENT;
}

/* The agent opens with O_CREAT: the disk exists already. */
static int ff_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	return ff_open(path, fi);
}

static int ff_read(const char *path, char *buf, size_t len, off_t off,
		   struct fuse_file_info *fi)
{
	(void)fi;
	if (is_ctl(path)) {
		char s[64];
		int n = snprintf(s, sizeof(s), "%s%s %lu\n", fail_reads ? "r" : "",
				 fail_writes ? "w" : fail_reads ? "" : "-", (unsigned long)failed);

		if (off >= n)
			return 0;
		if ((size_t)(n - off) < len)
			len = (size_t)(n - off);
		memcpy(buf, s + off, len);
		return (int)len;
	}
	if (fail_reads) {
		failed++;
		return -EIO;
	}
	ssize_t r = pread(backing, buf, len, off);
	return r < 0 ? -errno : (int)r;
}

static int ff_write(const char *path, const char *buf, size_t len, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	if (is_ctl(path)) {
		fail_reads = memchr(buf, 'r', len) != NULL;
		fail_writes = memchr(buf, 'w', len) != NULL;
		return (int)len;
	}
	if (fail_writes) {
		failed++;
		return -EIO;
	}
	ssize_t r = pwrite(backing, buf, len, off);
	return r < 0 ? -errno : (int)r;
}

static int ff_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	(void)fi;
	if (!is_disk(path))
		return -EOPNOTSUPP;
	return fallocate(backing, mode, off, len) < 0 ? -errno : 0;
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)fi;
	if (is_ctl(path))
		return 0;
	return ftruncate(backing, size) < 0 ? -errno : 0;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path; (void)fi;
	if (fail_writes) {
		failed++;
		return -EIO;
	}
	return (datasync ? fdatasync(backing) : fsync(backing)) < 0 ? -errno : 0;
}

static const struct fuse_operations ops = {
	.getattr = ff_getattr,
	.readdir = ff_readdir,
	.open = ff_open,
	.create = ff_create,
	.read = ff_read,
	.write = ff_write,
	.fallocate = ff_fallocate,
	.truncate = ff_truncate,
	.fsync = ff_fsync,
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: faultfs BACKING MOUNTPOINT [fuse options]\n");
		return 2;
	}
	backing = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (backing < 0) {
		perror(argv[1]);
		return 1;
	}
	argv[1] = argv[0];   /* fuse_main sees: faultfs MOUNTPOINT [options] */
	return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
