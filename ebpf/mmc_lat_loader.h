/*
 * mmc_lat_loader.h - the user side of the latency histograms: load the BPF
 * object (mmc_lat.bpf.c, embedded as a libbpf skeleton), attach it to
 * libshm's USDT probes and read the histograms back.
 *
 * A tool (mmc-top) calls mmc_lat_open() once with the path of the libmmc.so
 * it wants to watch, mmc_lat_read() at every refresh, mmc_lat_close() at the
 * end.  Attaching with pid -1 watches every process that maps that library
 * file, now and later, and raises the probes' semaphores in all of them; the
 * kernel undoes both when the tool closes or dies.
 *
 * Conventions: 0 or -errno, never errno; nothing is printed unless
 * mmc_lat_set_debug(1) lets libbpf talk on stderr.
 */
#ifndef MMC_EBPF_MMC_LAT_LOADER_H
#define MMC_EBPF_MMC_LAT_LOADER_H

#include <stdint.h>
#include <sys/types.h>

#include "mmc_lat.h"

struct mmc_lat;

/* Loads the programs and attaches them to the mmc:get, mmc:put and mmc:miss
 * probes of lib_path (a shared library or executable) and, unless
 * agent_path is NULL, to mmc:promote of that mmc-agent executable, for
 * process pid or, with pid -1, for all processes.  Succeeds when at least one probe could be
 * attached (mmc_lat_attached() tells which).  Returns 0 and *out, or
 * -EPERM (not root, no CAP_BPF+CAP_PERFMON), -ENOENT (no such file, or no
 * mmc:* probes in it), or another -errno from libbpf or the kernel. */
int mmc_lat_open(const char *lib_path, const char *agent_path, pid_t pid,
		 struct mmc_lat **out);

/* Detaches and frees everything; NULL is allowed. */
void mmc_lat_close(struct mmc_lat *l);

/* 1 if probe kind is attached, else 0. */
int mmc_lat_attached(const struct mmc_lat *l, enum mmc_lat_kind kind);

/* The library path as given to mmc_lat_open(). */
const char *mmc_lat_path(const struct mmc_lat *l);

/* Copies the histograms, summed over all CPUs and cumulative since
 * mmc_lat_open(), into out[MMC_LAT_KINDS].  0 or -errno. */
int mmc_lat_read(struct mmc_lat *l, struct mmc_lat_hist out[MMC_LAT_KINDS]);

/* Estimates the q-quantile (0 < q <= 1) of h in ns, interpolating linearly
 * inside the log2 bucket that holds it; 0 if h is empty. */
uint64_t mmc_lat_quantile(const struct mmc_lat_hist *h, double q);

/* One line, no newline, saying why histograms are off after mmc_lat_open()
 * failed with err; for -EPERM exactly: "BPF not permitted (need root or
 * CAP_BPF+CAP_PERFMON): latency histograms off". */
const char *mmc_lat_strerror(int err);

/* "get", "put", "miss", "promote". */
const char *mmc_lat_kind_name(enum mmc_lat_kind kind);

/* Lets libbpf's own messages through to stderr (off by default, because a
 * curses screen must not be written over). */
void mmc_lat_set_debug(int on);

#endif /* MMC_EBPF_MMC_LAT_LOADER_H */
