/*
 * batch.c - mmc.Client's calls on many keys, and on values in many pieces.
 *
 * What an engine does with an L3 cache is batches: "how many of these 128
 * pages are there" (batch_exists, the gap-free prefix of a hash chain),
 * "copy these pages into my host pool" (batch_get_into), "store these
 * pages from my host pool" (batch_put_from).  Each maps onto one libshm
 * batch call over up to BATCH_MAX keys, with the GIL released for the
 * whole copy.  The pointer forms take the addresses the engine already has
 * (torch data_ptr() arithmetic, SGLang's get_page_buffer_meta()); the
 * caller vouches for that memory, as MemCache's and Mooncake's do.
 *
 * Per-key results follow libshm: 0 or -errno for puts and removes (-EEXIST:
 * already there, which is success), bytes read or -errno for gets (-ENOENT:
 * a miss).  A failure of the session itself - the agent gone (ENOTCONN), a
 * client inherited across fork() (ECHILD) - is not a per-key result but an
 * mmc.Error from the call, so a dead agent is noticed on the first call
 * after it died, whatever that call was.
 *
 * Gather and scatter (putv, getv and their batch forms) put one object from
 * up to IOV_MAX pieces and read it back into pieces: a page spread over
 * per-layer buffers is one object.  libshm has no batch form of mmc_putv /
 * mmc_getv, so the batch forms loop in C, without the GIL.
 */
/* Python.h (through mmcpy.h) comes first, as CPython asks. */
#include "mmcpy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

/* libshm takes arrays of pointers and sizes; here they are built as
 * uint64_t arrays, which is the same thing on the 64-bit machines mmc
 * supports. */
_Static_assert(sizeof(void *) == sizeof(uint64_t) && sizeof(size_t) == sizeof(uint64_t),
	       "mmc's Python binding needs 64-bit pointers and sizes");

/* The session failed, as opposed to one key. */
static int session_error(int64_t r)
{
	return r == -ENOTCONN || r == -ECHILD;
}

/* Scratch arrays: on the stack for small batches, else on the heap. */
#define INLINE_N 128

struct scratch {
	void *heap;
	uint64_t in[INLINE_N * 3];   /* 8-byte aligned, whatever is stored */
};

static void *scratch_get(struct scratch *s, size_t n, size_t each)
{
	s->heap = NULL;
	if (n * each <= sizeof(s->in))
		return s->in;
	s->heap = PyMem_Malloc(n * each);   /* n * each > sizeof(s->in) > 0 */
	if (!s->heap)
		PyErr_NoMemory();
	return s->heap;
}

static void scratch_free(struct scratch *s)
{
	PyMem_Free(s->heap);
	s->heap = NULL;
}

/* A list of n ints from int or int64 results. */
static PyObject *int_list(const int *r32, const int64_t *r64, size_t n)
{
	PyObject *l = PyList_New((Py_ssize_t)n);

	for (size_t i = 0; l && i < n; i++) {
		PyObject *o = PyLong_FromLongLong(r32 ? r32[i] : r64[i]);

		if (!o) {
			Py_CLEAR(l);
			break;
		}
		PyList_SET_ITEM(l, (Py_ssize_t)i, o);
	}
	return l;
}

/* ---- exists ---- */

PyDoc_STRVAR(batch_exists_doc,
"batch_exists(keys) -> int\n\n"
"How many keys, counted from the first, are present without a gap (SGLang's\n"
"batch_exists: pages form a hash chain).  Stops at the first missing key.\n"
"No system call.");

static PyObject *batch_exists(mmcpy_client *self, PyObject *keys)
{
	struct mmcpy_keys k;
	size_t prefix = 0;
	int r;

	if (mmcpy_keys_get(keys, &k) < 0)
		return NULL;
	if (mmcpy_enter(self) < 0) {
		mmcpy_keys_free(&k);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS   /* in a pool, homes are asked */
	r = k.n ? mmc_exists_batch(self->c, k.n, k.ptr, k.len, NULL, &prefix) : 0;
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	mmcpy_keys_free(&k);
	if (r < 0)
		return mmcpy_error(r, NULL);
	return PyLong_FromSize_t(prefix);
}

PyDoc_STRVAR(batch_exists_each_doc,
"batch_exists_each(keys) -> list[bool]\n\n"
"Whether each key is present (every key is looked up).");

static PyObject *batch_exists_each(mmcpy_client *self, PyObject *keys)
{
	struct mmcpy_keys k;
	struct scratch s;
	uint8_t *present;
	PyObject *out = NULL;
	int r = 0;

	if (mmcpy_keys_get(keys, &k) < 0)
		return NULL;
	present = scratch_get(&s, k.n, 1);
	if (!present || mmcpy_enter(self) < 0)
		goto done;
	Py_BEGIN_ALLOW_THREADS
	if (k.n)
		r = mmc_exists_batch(self->c, k.n, k.ptr, k.len, present, NULL);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r < 0) {
		mmcpy_error(r, NULL);
		goto done;
	}
	out = PyList_New((Py_ssize_t)k.n);
	for (size_t i = 0; out && i < k.n; i++)
		PyList_SET_ITEM(out, (Py_ssize_t)i, PyBool_FromLong(present[i]));
done:
	scratch_free(&s);
	mmcpy_keys_free(&k);
	return out;
}

/* ---- pointer batches ---- */

/* keys, ptrs, sizes of a pointer batch, converted and checked. */
struct ptr_batch {
	struct mmcpy_keys k;
	struct scratch s;
	uint64_t *ptr, *size;
	void *res;   /* int[n] or int64_t[n], after ptr and size */
};

static int ptr_batch_get(struct ptr_batch *b, PyObject *const *args, Py_ssize_t nargs,
			 PyObject *kwnames, const char *fname)
{
	static const char *const names[] = { "keys", "ptrs", "sizes", NULL };
	PyObject *a[3];

	if (mmcpy_args(args, nargs, kwnames, fname, names, 3, a) < 0 ||
	    mmcpy_keys_get(a[0], &b->k) < 0)
		return -1;
	b->ptr = scratch_get(&b->s, b->k.n, 3 * sizeof(uint64_t));
	if (!b->ptr)
		goto fail;
	b->size = b->ptr + b->k.n;
	b->res = b->size + b->k.n;
	if (mmcpy_u64s(a[1], b->k.n, b->ptr, "ptrs") < 0 ||
	    mmcpy_u64s(a[2], b->k.n, b->size, "sizes") < 0)
		goto fail;
	for (size_t i = 0; i < b->k.n; i++)
		if (!b->ptr[i] && b->size[i]) {
			PyErr_Format(PyExc_ValueError, "ptrs[%zu] is 0 (NULL) with a non-zero size", i);
			goto fail;
		}
	return 0;
fail:
	scratch_free(&b->s);
	mmcpy_keys_free(&b->k);
	return -1;
}

static void ptr_batch_free(struct ptr_batch *b)
{
	scratch_free(&b->s);
	mmcpy_keys_free(&b->k);
}

PyDoc_STRVAR(batch_put_from_doc,
"batch_put_from(keys, ptrs, sizes) -> list[int]\n\n"
"Puts sizes[i] bytes at address ptrs[i] under keys[i], pipelined through\n"
"the agent's ring.  Per key: 0 stored, -EEXIST already there (success), or\n"
"another -errno.  mmc.Error when the session fails (agent gone).");

static PyObject *batch_put_from(mmcpy_client *self, PyObject *const *args,
				Py_ssize_t nargs, PyObject *kwnames)
{
	struct ptr_batch b;
	PyObject *out = NULL;
	int *res, r = 0;

	if (ptr_batch_get(&b, args, nargs, kwnames, "batch_put_from") < 0)
		return NULL;
	res = b.res;
	if (mmcpy_enter(self) < 0)
		goto done;
	if (b.k.n) {
		Py_BEGIN_ALLOW_THREADS
		r = mmc_put_batch(self->c, b.k.n, b.k.ptr, b.k.len,
				  (const void *const *)b.ptr, (const size_t *)b.size, res);
		Py_END_ALLOW_THREADS
	}
	mmcpy_leave(self);
	if (r < 0)
		mmcpy_error(r, "batch_put_from of %zu keys", b.k.n);
	else
		out = int_list(res, NULL, b.k.n);
done:
	ptr_batch_free(&b);
	return out;
}

PyDoc_STRVAR(batch_get_into_doc,
"batch_get_into(keys, ptrs, sizes) -> list[int]\n\n"
"Copies the value of keys[i] to address ptrs[i] (room: sizes[i] bytes).\n"
"Per key: bytes read, or -errno (-ENOENT a miss, -EMSGSIZE no room).\n"
"mmc.Error when the session fails (agent gone).");

static PyObject *batch_get_into(mmcpy_client *self, PyObject *const *args,
				Py_ssize_t nargs, PyObject *kwnames)
{
	struct ptr_batch b;
	PyObject *out = NULL;
	int64_t *res;
	int r = 0;

	if (ptr_batch_get(&b, args, nargs, kwnames, "batch_get_into") < 0)
		return NULL;
	res = b.res;
	if (mmcpy_enter(self) < 0)
		goto done;
	if (b.k.n) {
		Py_BEGIN_ALLOW_THREADS
		r = mmc_get_batch(self->c, b.k.n, b.k.ptr, b.k.len,
				  (void *const *)b.ptr, (const size_t *)b.size, res);
		Py_END_ALLOW_THREADS
	}
	mmcpy_leave(self);
	for (size_t i = 0; r >= 0 && i < b.k.n; i++)
		if (session_error(res[i]))
			r = (int)res[i];
	if (r < 0)
		mmcpy_error(r, "batch_get_into of %zu keys", b.k.n);
	else
		out = int_list(NULL, res, b.k.n);
done:
	ptr_batch_free(&b);
	return out;
}

/* ---- buffer batches ---- */

PyDoc_STRVAR(batch_put_doc,
"batch_put(keys, values) -> list[int]\n\n"
"put() of many buffers in one pipelined call.  Per key: 0 stored, -EEXIST\n"
"already there (success), or another -errno.");

static PyObject *batch_put(mmcpy_client *self, PyObject *const *args,
			   Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = { "keys", "values", NULL };
	struct mmcpy_keys k;
	struct scratch s;
	PyObject *a[2], *fast = NULL, *out = NULL;
	Py_buffer *bufs = NULL;
	const void **vals;
	size_t *lens, nb = 0;
	int *res, r = 0;

	if (mmcpy_args(args, nargs, kwnames, "batch_put", names, 2, a) < 0 ||
	    mmcpy_keys_get(a[0], &k) < 0)
		return NULL;
	vals = scratch_get(&s, k.n, sizeof(void *) + sizeof(size_t) + sizeof(int));
	if (!vals)
		goto done;
	lens = (size_t *)(vals + k.n);
	res = (int *)(lens + k.n);
	fast = PySequence_Fast(a[1], "values must be a sequence of buffers");
	if (!fast)
		goto done;
	if ((size_t)PySequence_Fast_GET_SIZE(fast) != k.n) {
		PyErr_Format(PyExc_ValueError, "values has %zd items, keys has %zu",
			     PySequence_Fast_GET_SIZE(fast), k.n);
		goto done;
	}
	bufs = PyMem_Calloc(k.n ? k.n : 1, sizeof(Py_buffer));
	if (!bufs) {
		PyErr_NoMemory();
		goto done;
	}
	for (; nb < k.n; nb++) {
		char what[32];

		snprintf(what, sizeof(what), "values[%zu]", nb);
		if (mmcpy_buffer(PySequence_Fast_GET_ITEM(fast, nb), &bufs[nb], 0, what) < 0)
			goto done;
		vals[nb] = bufs[nb].buf;
		lens[nb] = (size_t)bufs[nb].len;
	}
	if (mmcpy_enter(self) < 0)
		goto done;
	if (k.n) {
		Py_BEGIN_ALLOW_THREADS
		r = mmc_put_batch(self->c, k.n, k.ptr, k.len, vals, lens, res);
		Py_END_ALLOW_THREADS
	}
	mmcpy_leave(self);
	if (r < 0)
		mmcpy_error(r, "batch_put of %zu keys", k.n);
	else
		out = int_list(res, NULL, k.n);
done:
	while (nb)
		PyBuffer_Release(&bufs[--nb]);
	PyMem_Free(bufs);
	Py_XDECREF(fast);
	scratch_free(&s);
	mmcpy_keys_free(&k);
	return out;
}

/* How many values batch_get pins at once (views per session are limited). */
#define GET_CHUNK 256

/* Pins keys kp[i] (kl[i] bytes), i < n, in v[] with one libshm batch
 * (values that are elsewhere - SSD tier, a peer - fetched together,
 * without the GIL).  r[i]: 0 or the key's -errno.  0, or -1 with mmc.Error
 * set when the session failed or a key failed otherwise than by a miss
 * (or, unless quota_ok, by the pin budget: -EDQUOT); the views that were
 * taken are then released. */
static int acquire_chunk(mmcpy_client *self, size_t n, const void *const *kp,
			 const size_t *kl, struct mmc_view *v, int *r, const char *what,
			 bool quota_ok)
{
	int64_t res[GET_CHUNK];
	int ret, err = 0;

	Py_BEGIN_ALLOW_THREADS
	ret = mmc_acquire_batch(self->c, n, kp, kl, v, res);
	Py_END_ALLOW_THREADS
	if (ret < 0) {
		mmcpy_error(ret, what);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		r[i] = res[i] < 0 ? (int)res[i] : 0;
		if (r[i] && r[i] != -ENOENT && !(quota_ok && r[i] == -EDQUOT) && !err)
			err = r[i];
	}
	if (!err)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!r[i])
			mmc_release(self->c, &v[i]);
	mmcpy_error(err, what);
	return -1;
}

/* The pinned values v[i] (r[i] 0) copied into new bytes at out[at[i]],
 * then released.  0, or -1 (no memory: exception set). */
static int copy_out(mmcpy_client *self, size_t n, struct mmc_view *v, const int *r,
		    const size_t *at, PyObject *out)
{
	char *dst[GET_CHUNK];
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		PyObject *o;

		dst[i] = NULL;
		if (r[i] || err)
			continue;   /* a miss: the list already holds None */
		o = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)v[i].len);
		if (!o) {
			err = 1;
			continue;
		}
		dst[i] = PyBytes_AS_STRING(o);
		PyList_SetItem(out, (Py_ssize_t)at[i], o);   /* drops the None */
	}
	if (!err) {
		Py_BEGIN_ALLOW_THREADS
		for (size_t i = 0; i < n; i++)
			if (dst[i])
				memcpy(dst[i], v[i].data, v[i].len);
		Py_END_ALLOW_THREADS
	}
	for (size_t i = 0; i < n; i++)
		if (!r[i])
			mmc_release(self->c, &v[i]);
	return err ? -1 : 0;
}

/* One chunk of batch_get: keys [base, base + n) into out[].  Values are
 * pinned, copied and released; those past the session's pin budget
 * (-EDQUOT: large values) are pinned again, as many as fit, once the
 * first ones are released, until all are read. */
static int batch_get_chunk(mmcpy_client *self, struct mmcpy_keys *k, size_t base,
			   size_t n, PyObject *out)
{
	struct mmc_view v[GET_CHUNK];
	const void *kp[GET_CHUNK];
	/* at[] zeroed only for gcc, which sees a maybe-uninitialized read. */
	size_t kl[GET_CHUNK], at[GET_CHUNK] = { 0 }, left[GET_CHUNK], m;
	int r[GET_CHUNK], rr[GET_CHUNK];

	if (acquire_chunk(self, n, (const void *const *)(k->ptr + base), k->len + base,
			  v, r, "batch_get", true) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		at[i] = base + i;
	if (copy_out(self, n, v, r, at, out) < 0)
		return -1;
	for (;;) {
		size_t got = 0;

		for (size_t i = m = 0; i < n; i++)
			if (r[i] == -EDQUOT) {
				kp[m] = k->ptr[base + i];
				kl[m] = k->len[base + i];
				at[m] = base + i;
				left[m++] = i;
			}
		if (!m)
			return 0;
		if (acquire_chunk(self, m, kp, kl, v, rr, "batch_get", true) < 0)
			return -1;
		for (size_t j = 0; j < m; j++) {
			if (rr[j] != -EDQUOT)
				r[left[j]] = rr[j];     /* 0 or -ENOENT: done */
			got += !rr[j];
		}
		if (copy_out(self, m, v, rr, at, out) < 0)
			return -1;
		if (!got) {                /* one value alone is past the budget */
			mmcpy_error(-EDQUOT, "batch_get");
			return -1;
		}
	}
}

/* One chunk of batch_acquire: a View or None per key into out[]. */
static int batch_acquire_chunk(mmcpy_client *self, struct mmcpy_keys *k, size_t base,
			       size_t n, PyObject *out)
{
	struct mmc_view v[GET_CHUNK];
	int r[GET_CHUNK];

	if (acquire_chunk(self, n, (const void *const *)(k->ptr + base), k->len + base,
			  v, r, "batch_acquire", false) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		PyObject *o;

		if (r[i])
			continue;
		o = mmcpy_view_new(self, k->obj[base + i], &v[i]);
		if (!o) {   /* the rest are released; the Views made own theirs */
			for (size_t j = i; j < n; j++)
				if (!r[j])
					mmc_release(self->c, &v[j]);
			return -1;
		}
		PyList_SetItem(out, (Py_ssize_t)(base + i), o);   /* drops the None */
	}
	return 0;
}

/* batch_get and batch_acquire: a list of None, each chunk of keys read
 * into it by chunk(); NULL with the exception set when one fails (the
 * Views already made own their pins and are released when collected). */
static PyObject *read_chunks(mmcpy_client *self, PyObject *keys,
			     int (*chunk)(mmcpy_client *, struct mmcpy_keys *, size_t, size_t,
					  PyObject *))
{
	struct mmcpy_keys k;
	PyObject *out;

	if (mmcpy_keys_get(keys, &k) < 0)
		return NULL;
	out = PyList_New((Py_ssize_t)k.n);
	if (!out || mmcpy_enter(self) < 0) {
		Py_XDECREF(out);
		mmcpy_keys_free(&k);
		return NULL;
	}
	for (size_t i = 0; i < k.n; i++)
		PyList_SET_ITEM(out, (Py_ssize_t)i, Py_NewRef(Py_None));
	for (size_t base = 0; base < k.n; base += GET_CHUNK) {
		size_t n = k.n - base < GET_CHUNK ? k.n - base : GET_CHUNK;

		if (chunk(self, &k, base, n, out) < 0) {
			Py_CLEAR(out);
			break;
		}
	}
	mmcpy_leave(self);
	mmcpy_keys_free(&k);
	return out;
}

PyDoc_STRVAR(batch_get_doc,
"batch_get(keys) -> list[bytes | None]\n\n"
"get() of many keys: a copy of each value, None for each miss.");

static PyObject *batch_get(mmcpy_client *self, PyObject *keys)
{
	return read_chunks(self, keys, batch_get_chunk);
}

PyDoc_STRVAR(batch_acquire_doc,
"batch_acquire(keys) -> list[View | None]\n\n"
"acquire() of many keys: a View per value (no copy), None for each miss.\n"
"Keys on the SSD tier or, in a pool, at a peer are fetched together, so a\n"
"batch of remote pages costs about one round trip plus their transfer.\n"
"Release each View (or use it in a with block); the session's view budget\n"
"bounds one call.");

static PyObject *batch_acquire(mmcpy_client *self, PyObject *keys)
{
	return read_chunks(self, keys, batch_acquire_chunk);
}

PyDoc_STRVAR(batch_remove_doc,
"batch_remove(keys) -> list[int]\n\n"
"remove() of many keys: per key 0 removed, -ENOENT not there, or -errno.");

static PyObject *batch_remove(mmcpy_client *self, PyObject *keys)
{
	struct mmcpy_keys k;
	struct scratch s;
	PyObject *out = NULL;
	int *res, r = 0;

	if (mmcpy_keys_get(keys, &k) < 0)
		return NULL;
	res = scratch_get(&s, k.n, sizeof(int));
	if (!res || mmcpy_enter(self) < 0)
		goto done;
	if (k.n) {
		Py_BEGIN_ALLOW_THREADS
		r = mmc_remove_batch(self->c, k.n, k.ptr, k.len, res);
		Py_END_ALLOW_THREADS
	}
	mmcpy_leave(self);
	if (r < 0)
		mmcpy_error(r, "batch_remove of %zu keys", k.n);
	else
		out = int_list(res, NULL, k.n);
done:
	scratch_free(&s);
	mmcpy_keys_free(&k);
	return out;
}

/* ---- gather / scatter ---- */

/* Fills iov[0..*cnt) from one key's ptrs and sizes sequences (1..IOV_MAX
 * pieces).  what names the argument in errors, e.g. "ptrs_list[3]". */
static int pieces_get(PyObject *ptrs, PyObject *sizes, struct iovec *iov, int *cnt,
		      const char *what)
{
	uint64_t p[MMC_IOV_MAX], s[MMC_IOV_MAX];
	Py_ssize_t n = mmcpy_seq_len(ptrs, what);

	if (n < 0)
		return -1;
	if (n < 1 || n > (Py_ssize_t)MMC_IOV_MAX) {
		PyErr_Format(PyExc_ValueError, "%s has %zd pieces: 1 to %u (IOV_MAX) per key",
			     what, n, MMC_IOV_MAX);
		return -1;
	}
	if (mmcpy_u64s(ptrs, (size_t)n, p, "ptrs") < 0 ||
	    mmcpy_u64s(sizes, (size_t)n, s, "sizes") < 0)
		return -1;
	for (Py_ssize_t i = 0; i < n; i++) {
		if (!p[i] && s[i]) {
			PyErr_Format(PyExc_ValueError, "%s: ptrs[%zd] is 0 (NULL) with a non-zero size",
				     what, i);
			return -1;
		}
		iov[i].iov_base = (void *)(uintptr_t)p[i];
		iov[i].iov_len = (size_t)s[i];
	}
	*cnt = (int)n;
	return 0;
}

PyDoc_STRVAR(putv_doc,
"putv(key, ptrs, sizes) -> bool\n\n"
"Puts one object made of up to IOV_MAX pieces (sizes[i] bytes at ptrs[i],\n"
"in order).  True stored, False already there.");

static PyObject *client_putv(mmcpy_client *self, PyObject *const *args,
			     Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = { "key", "ptrs", "sizes", NULL };
	struct iovec iov[MMC_IOV_MAX];
	PyObject *a[3];
	const char *k;
	Py_ssize_t kl;
	int cnt, r;

	if (mmcpy_args(args, nargs, kwnames, "putv", names, 3, a) < 0 ||
	    mmcpy_key(a[0], &k, &kl) < 0 || pieces_get(a[1], a[2], iov, &cnt, "ptrs") < 0 ||
	    mmcpy_enter(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = mmc_putv(self->c, k, (size_t)kl, iov, cnt);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r == -EEXIST)
		Py_RETURN_FALSE;
	if (r)
		return mmcpy_error(r, NULL);
	Py_RETURN_TRUE;
}

PyDoc_STRVAR(getv_doc,
"getv(key, ptrs, sizes) -> int\n\n"
"Reads one object into up to IOV_MAX pieces, filled in order.  Returns the\n"
"value's size, 0 when the key is not there; mmc.Error(EMSGSIZE) when the\n"
"pieces together are smaller than the value.");

static PyObject *client_getv(mmcpy_client *self, PyObject *const *args,
			     Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = { "key", "ptrs", "sizes", NULL };
	struct iovec iov[MMC_IOV_MAX];
	PyObject *a[3];
	const char *k;
	Py_ssize_t kl;
	size_t got = 0;
	int cnt, r;

	if (mmcpy_args(args, nargs, kwnames, "getv", names, 3, a) < 0 ||
	    mmcpy_key(a[0], &k, &kl) < 0 || pieces_get(a[1], a[2], iov, &cnt, "ptrs") < 0 ||
	    mmcpy_enter(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = mmc_getv(self->c, k, (size_t)kl, iov, cnt, &got);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r == -ENOENT)
		return PyLong_FromLong(0);
	if (r)
		return mmcpy_error(r, NULL);
	return PyLong_FromSize_t(got);
}

/* The per-key pieces of a batch gather/scatter call, flattened. */
struct vec_batch {
	struct mmcpy_keys k;
	struct iovec *iov;   /* k.n * IOV_MAX slots, key i at i * IOV_MAX */
	int *cnt;
	int64_t *res;
};

static void vec_batch_free(struct vec_batch *b)
{
	PyMem_Free(b->iov);
	b->iov = NULL;
	mmcpy_keys_free(&b->k);
}

static int vec_batch_get(struct vec_batch *b, PyObject *const *args, Py_ssize_t nargs,
			 PyObject *kwnames, const char *fname)
{
	static const char *const names[] = { "keys", "ptrs_list", "sizes_list", NULL };
	PyObject *a[3], *pf = NULL, *sf = NULL;
	size_t n, each = MMC_IOV_MAX * sizeof(struct iovec) + sizeof(int) + sizeof(int64_t);

	b->iov = NULL;
	if (mmcpy_args(args, nargs, kwnames, fname, names, 3, a) < 0 ||
	    mmcpy_keys_get(a[0], &b->k) < 0)
		return -1;
	n = b->k.n;
	b->iov = PyMem_Malloc(n ? n * each : 1);
	if (!b->iov) {
		PyErr_NoMemory();
		goto fail;
	}
	/* iovecs, then the 8-byte results, then the ints: all aligned. */
	b->res = (int64_t *)(b->iov + n * MMC_IOV_MAX);
	b->cnt = (int *)(b->res + n);
	pf = PySequence_Fast(a[1], "ptrs_list must be a sequence of sequences");
	sf = pf ? PySequence_Fast(a[2], "sizes_list must be a sequence of sequences") : NULL;
	if (!sf)
		goto fail;
	if ((size_t)PySequence_Fast_GET_SIZE(pf) != n ||
	    (size_t)PySequence_Fast_GET_SIZE(sf) != n) {
		PyErr_Format(PyExc_ValueError, "ptrs_list has %zd items and sizes_list %zd, keys %zu",
			     PySequence_Fast_GET_SIZE(pf), PySequence_Fast_GET_SIZE(sf), n);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		char what[40];

		snprintf(what, sizeof(what), "ptrs_list[%zu]", i);
		if (pieces_get(PySequence_Fast_GET_ITEM(pf, i), PySequence_Fast_GET_ITEM(sf, i),
			       b->iov + i * MMC_IOV_MAX, &b->cnt[i], what) < 0)
			goto fail;
	}
	Py_DECREF(pf);
	Py_DECREF(sf);
	return 0;
fail:
	Py_XDECREF(pf);
	Py_XDECREF(sf);
	vec_batch_free(b);
	return -1;
}

/* Runs putv (get == 0) or getv for every key, without the GIL; a session
 * failure stops the loop and marks the keys not tried with it. */
static PyObject *vec_batch_run(mmcpy_client *self, struct vec_batch *b, int get,
			       const char *fname)
{
	int err = 0;

	if (mmcpy_enter(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	for (size_t i = 0; i < b->k.n; i++) {
		struct iovec *iov = b->iov + i * MMC_IOV_MAX;
		size_t got = 0;
		int r;

		if (err) {
			b->res[i] = err;
			continue;
		}
		if (get) {
			r = mmc_getv(self->c, b->k.ptr[i], b->k.len[i], iov, b->cnt[i], &got);
			b->res[i] = r ? r : (int64_t)got;
		} else {
			r = mmc_putv(self->c, b->k.ptr[i], b->k.len[i], iov, b->cnt[i]);
			b->res[i] = r;
		}
		if (session_error(r))
			err = r;
	}
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (err)
		return mmcpy_error(err, "%s of %zu keys", fname, b->k.n);
	return int_list(NULL, b->res, b->k.n);
}

PyDoc_STRVAR(batch_putv_doc,
"batch_putv(keys, ptrs_list, sizes_list) -> list[int]\n\n"
"putv() for every key: keys[i] is gathered from ptrs_list[i] / sizes_list[i]\n"
"(1 to IOV_MAX pieces each).  Per key 0, -EEXIST (already there, success),\n"
"or -errno; mmc.Error when the session fails.");

static PyObject *batch_putv(mmcpy_client *self, PyObject *const *args,
			    Py_ssize_t nargs, PyObject *kwnames)
{
	struct vec_batch b;
	PyObject *out;

	if (vec_batch_get(&b, args, nargs, kwnames, "batch_putv") < 0)
		return NULL;
	out = vec_batch_run(self, &b, 0, "batch_putv");
	vec_batch_free(&b);
	return out;
}

PyDoc_STRVAR(batch_getv_doc,
"batch_getv(keys, ptrs_list, sizes_list) -> list[int]\n\n"
"getv() for every key: keys[i] is scattered into ptrs_list[i] / sizes_list[i].\n"
"Per key bytes read or -errno (-ENOENT a miss); mmc.Error when the session\n"
"fails.");

static PyObject *batch_getv(mmcpy_client *self, PyObject *const *args,
			    Py_ssize_t nargs, PyObject *kwnames)
{
	struct vec_batch b;
	PyObject *out;

	if (vec_batch_get(&b, args, nargs, kwnames, "batch_getv") < 0)
		return NULL;
	out = vec_batch_run(self, &b, 1, "batch_getv");
	vec_batch_free(&b);
	return out;
}

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define FN(f) ((PyCFunction)(void (*)(void))(f))

PyMethodDef mmcpy_batch_methods[] = {
	{ "batch_exists", FN(batch_exists), METH_O, batch_exists_doc },
	{ "batch_exists_each", FN(batch_exists_each), METH_O, batch_exists_each_doc },
	{ "batch_put_from", FN(batch_put_from), FASTKW, batch_put_from_doc },
	{ "batch_get_into", FN(batch_get_into), FASTKW, batch_get_into_doc },
	{ "batch_put", FN(batch_put), FASTKW, batch_put_doc },
	{ "batch_get", FN(batch_get), METH_O, batch_get_doc },
	{ "batch_acquire", FN(batch_acquire), METH_O, batch_acquire_doc },
	{ "batch_remove", FN(batch_remove), METH_O, batch_remove_doc },
	{ "putv", FN(client_putv), FASTKW, putv_doc },
	{ "getv", FN(client_getv), FASTKW, getv_doc },
	{ "batch_putv", FN(batch_putv), FASTKW, batch_putv_doc },
	{ "batch_getv", FN(batch_getv), FASTKW, batch_getv_doc },
	{ NULL, NULL, 0, NULL }
};
