/*
 * mmcpy.h - what the files of the mmc._mmc extension share.
 *
 * The extension is a thin layer over libshm's public API (<mmc/mmc.h>):
 *
 *   module.c  the module: mmc.Error, constants, strerror(), fork tracking
 *   args.c    turning Python arguments into what libshm takes (keys,
 *             pointers, sizes, buffers), with the errors a caller can read
 *   client.c  mmc.Client: connect, close, calls on one key
 *   batch.c   mmc.Client's batch, gather and scatter calls
 *   view.c    mmc.View, a read-only buffer over a pinned value in the arena
 *
 * Three rules hold everywhere:
 *
 *   1. The GIL is released around every copy and every wait for the agent,
 *      never around a plain lookup (a lookup costs less than the release).
 *      Whatever C code touches without the GIL - key bytes, Py_buffers,
 *      pointer arrays - is owned by the call until it has the GIL back.
 *   2. A client is never freed or disconnected while a call runs on it
 *      without the GIL (Client.inflight), nor while a View still pins a value
 *      or exports a buffer: the arena stays mapped as long as Python can
 *      reach into it.
 *   3. libshm's -errno codes become mmc.Error (an OSError subclass with
 *      errno and mmc_strerror()'s sentence); a miss is a return value, not
 *      an exception.  Misuse that never reaches libshm (wrong types,
 *      negative sizes, oversize batches) raises TypeError / ValueError.
 */
#ifndef MMC_PYTHON_MMCPY_H
#define MMC_PYTHON_MMCPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include <mmc/mmc.h>

/* ---- module.c ---- */

extern PyObject *mmcpy_Error;

/* How many fork()s this process is away from the one that imported the
 * module (pthread_atfork bumps it in every child).  A client or view made
 * under another generation belongs to an ancestor process. */
extern unsigned mmcpy_fork_gen;

/* Sets mmc.Error(errno = -err, message = mmc_strerror(err)); with fmt, the
 * formatted detail is appended after ": ".  Returns NULL for the caller to
 * return. */
PyObject *mmcpy_error(int err, const char *fmt, ...);

/* ---- args.c ---- */

/* Points *p and *n at the bytes of a str (UTF-8) or bytes key, owned by o.
 * Returns 0, or -1 with TypeError set.  Length is not checked here: libshm
 * answers -EINVAL / -ENAMETOOLONG for keys it cannot take. */
int mmcpy_key(PyObject *o, const char **p, Py_ssize_t *n);

/* The keys of a batch call, held (a reference to each key object) so the
 * bytes stay valid while the GIL is released. */
#define MMCPY_KEYS_INLINE 128
struct mmcpy_keys {
	size_t n;
	const void **ptr;
	size_t *len;
	PyObject **obj;
	void *heap;
	const void *ptr_in[MMCPY_KEYS_INLINE];
	size_t len_in[MMCPY_KEYS_INLINE];
	PyObject *obj_in[MMCPY_KEYS_INLINE];
};
/* Fills k from a sequence of str/bytes.  More than MMC_BATCH_MAX keys is a
 * ValueError.  Returns 0, or -1 with an exception set (k needs no free). */
int mmcpy_keys_get(PyObject *seq, struct mmcpy_keys *k);
void mmcpy_keys_free(struct mmcpy_keys *k);

/* Converts a sequence of exactly n ints into out[] (another length is a
 * ValueError).  Negative values and values past UINT64_MAX are ValueError
 * naming what[i]; non-ints TypeError. */
int mmcpy_u64s(PyObject *seq, size_t n, uint64_t *out, const char *what);
/* Length of a sequence argument, or -1 with TypeError naming what. */
Py_ssize_t mmcpy_seq_len(PyObject *seq, const char *what);

/* One int argument: a pointer (>= 0) or a size (>= 0). */
int mmcpy_u64(PyObject *o, uint64_t *out, const char *what);

/* Gets a C- or Fortran-contiguous buffer from o, writable when asked.
 * Objects without the buffer protocol that have data_ptr() and
 * element_size() (torch tensors) must be contiguous CPU tensors; their
 * memory is used as it is, and the Py_buffer keeps the tensor alive. */
int mmcpy_buffer(PyObject *o, Py_buffer *b, int writable, const char *what);

/* Keyword-aware argument parsing for METH_FASTCALL | METH_KEYWORDS:
 * names[] is NULL-terminated; out[i] gets a borrowed reference or NULL
 * when an optional argument (index >= required) is absent. */
int mmcpy_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
	       const char *fname, const char *const *names, int required,
	       PyObject **out);

/* ---- client.c ---- */

struct mmcpy_view;

typedef struct mmcpy_client {
	PyObject_HEAD
	mmc_client *c;             /* NULL once closed */
	PyObject *socket;          /* str: the path connected to */
	unsigned fork_gen;         /* mmcpy_fork_gen when connected */
	int inflight;              /* calls running with the GIL released */
	int closing;               /* close() waits for inflight to drop */
	struct mmcpy_view *views;  /* acquired, not yet released (borrowed) */
	Py_ssize_t nviews;
} mmcpy_client;

extern PyTypeObject mmcpy_ClientType;
/* Joins the method tables of client.c and batch.c, then PyType_Ready. */
int mmcpy_client_type_init(void);

/* Every call on a client goes between these two, with the GIL held.
 * enter: ValueError if closed, mmc.Error(ECHILD) in a forked child;
 * otherwise counts the call in flight so that close() and dealloc wait. */
int mmcpy_enter(mmcpy_client *self);
void mmcpy_leave(mmcpy_client *self);
/* Disconnects once closing and nothing runs or pins any more. */
void mmcpy_client_maybe_finish(mmcpy_client *self);

static inline int mmcpy_forked(unsigned gen)
{
	return gen != mmcpy_fork_gen;
}

/* ---- batch.c ---- */

extern PyMethodDef mmcpy_batch_methods[];

/* ---- view.c ---- */

typedef struct mmcpy_view {
	PyObject_HEAD
	mmcpy_client *client;       /* strong reference */
	struct mmc_view v;
	PyObject *key;              /* the key, for repr and errors */
	Py_ssize_t exports;         /* live buffer exports (export tokens) */
	int released;
	struct mmcpy_view *prev, *next;   /* in client->views while acquired */
} mmcpy_view;

extern PyTypeObject mmcpy_ViewType;
extern PyTypeObject mmcpy_ExportType;

/* A new View over an acquired mmc_view, linked into client->views. */
PyObject *mmcpy_view_new(mmcpy_client *client, PyObject *key,
			 const struct mmc_view *v);
/* Unpins (when still this process's pin) and unlinks the view; the buffer
 * can no longer be requested.  The caller checked exports == 0. */
void mmcpy_view_drop(mmcpy_view *view);

#endif
