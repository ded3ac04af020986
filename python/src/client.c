/*
 * client.c - mmc.Client: one libshm session, and the calls on one key.
 *
 * A Client is what mmc_connect() returns, owned by a Python object.  Its
 * calls map one to one onto libshm's:
 *
 *   put(key, value)            mmc_put: any contiguous buffer (or CPU tensor)
 *   get(key)                   mmc_acquire + one copy into a new bytes
 *   get_into(key, buffer)      mmc_get into a writable buffer
 *   put_from(key, ptr, size)   mmc_put / mmc_get on raw addresses, e.g. a
 *   get_into_ptr(key, ptr, n)  torch tensor's data_ptr()
 *   acquire(key)               mmc_acquire: a View over the arena, no copy
 *   exists, remove, clear      mmc_exists, mmc_remove, mmc_clear
 *   stats()                    mmc_agent_stats + mmc_client_stats as a dict
 *
 * The batch, gather and scatter calls live in batch.c.
 *
 * Results: a put answers True when it stored the value and False when the
 * key was already there (objects are immutable; both are success).  A miss
 * is None (get, acquire), 0 bytes (get_into: values are never empty) or
 * False (exists, remove).  Everything else libshm refuses is mmc.Error.
 *
 * Lifetime: close() (or the end of a with block, or garbage collection)
 * ends the session.  It refuses, with BufferError, while a View still
 * exports its buffer (a memoryview, numpy array or torch tensor reads the
 * arena through it); views that export nothing are released by close().
 * A close() while another thread is inside a call (the GIL released) only
 * marks the client closing; the last call out disconnects.  So the arena
 * is never unmapped under anyone's feet.
 */
/* Python.h (through mmcpy.h) comes first, as CPython asks. */
#include "mmcpy.h"

#include <structmember.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int mmcpy_enter(mmcpy_client *self)
{
	if (!self->c || self->closing) {
		PyErr_SetString(PyExc_ValueError, "I/O operation on closed mmc.Client");
		return -1;
	}
	if (mmcpy_forked(self->fork_gen)) {
		mmcpy_error(-ECHILD, NULL);
		return -1;
	}
	self->inflight++;
	return 0;
}

void mmcpy_leave(mmcpy_client *self)
{
	self->inflight--;
	mmcpy_client_maybe_finish(self);
}

void mmcpy_client_maybe_finish(mmcpy_client *self)
{
	mmc_client *c = self->c;

	if (!c || !self->closing || self->inflight || self->views)
		return;
	self->c = NULL;
	Py_BEGIN_ALLOW_THREADS
	mmc_disconnect(c);
	Py_END_ALLOW_THREADS
}

/* ---- life ---- */

static PyObject *client_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *names[] = { "socket", NULL };
	PyObject *sock = Py_None, *path = NULL;
	mmcpy_client *self;
	const char *p;
	int r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:Client", names, &sock))
		return NULL;
	if (sock != Py_None && !PyUnicode_FSConverter(sock, &path))
		return NULL;
	if (path) {
		p = PyBytes_AS_STRING(path);
	} else {
		p = getenv(MMC_SOCKET_ENV);
		if (!p || !*p)
			p = MMC_DEFAULT_SOCKET;
	}
	self = (mmcpy_client *)type->tp_alloc(type, 0);
	if (!self)
		goto out;
	self->socket = PyUnicode_DecodeFSDefault(p);
	if (!self->socket) {
		Py_CLEAR(self);
		goto out;
	}
	self->fork_gen = mmcpy_fork_gen;
	Py_BEGIN_ALLOW_THREADS   /* connect waits for the agent's answer */
	r = mmc_connect(p, &self->c);
	Py_END_ALLOW_THREADS
	if (r) {
		mmcpy_error(r, "%s", p);
		Py_CLEAR(self);
	}
out:
	Py_XDECREF(path);
	return (PyObject *)self;
}

static void client_dealloc(mmcpy_client *self)
{
	/* Views hold a reference to their client, and calls hold one to self:
	 * nothing can still need the session here.  In a forked child
	 * mmc_disconnect() frees only this process's copies. */
	if (self->c)
		mmc_disconnect(self->c);
	Py_XDECREF(self->socket);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(close_doc,
"close()\n\n"
"Ends the session: the agent drops its pins and reservations.  Views that\n"
"export no buffer are released; if one still does (a memoryview, numpy\n"
"array or torch tensor over it is alive) close raises BufferError and the\n"
"client stays open.  Calling close twice is harmless.");

static PyObject *client_close(mmcpy_client *self, PyObject *unused)
{
	Py_ssize_t exported = 0;

	if (!self->c || self->closing)
		Py_RETURN_NONE;
	for (mmcpy_view *v = self->views; v; v = v->next)
		exported += v->exports > 0;
	if (exported) {
		PyErr_Format(PyExc_BufferError,
			     "cannot close mmc.Client: %zd acquired view(s) still export "
			     "their buffer (memoryview, numpy array or torch tensor); "
			     "delete those first", exported);
		return NULL;
	}
	while (self->views)
		mmcpy_view_drop(self->views);
	self->closing = 1;
	mmcpy_client_maybe_finish(self);
	Py_RETURN_NONE;
}

static PyObject *client_enter_ctx(mmcpy_client *self, PyObject *unused)
{
	if (!self->c || self->closing) {
		PyErr_SetString(PyExc_ValueError, "I/O operation on closed mmc.Client");
		return NULL;
	}
	return Py_NewRef(self);
}

static PyObject *client_exit_ctx(mmcpy_client *self, PyObject *args)
{
	PyObject *r = client_close(self, NULL);

	if (!r)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *client_repr(mmcpy_client *self)
{
	return PyUnicode_FromFormat("<mmc.Client socket=%R %s>", self->socket,
				    self->c && !self->closing ? "open" : "closed");
}

static PyObject *client_closed(mmcpy_client *self, void *unused)
{
	return PyBool_FromLong(!self->c || self->closing);
}

/* ---- calls on one key ---- */

PyDoc_STRVAR(put_doc,
"put(key, value) -> bool\n\n"
"Stores value (any contiguous buffer: bytes, bytearray, memoryview, numpy\n"
"array, or a CPU torch tensor) under key.  True: stored now; False: the\n"
"key was already there (objects are immutable; that is success too).");

static PyObject *client_put(mmcpy_client *self, PyObject *const *args,
			    Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = { "key", "value", NULL };
	PyObject *a[2];
	const char *k;
	Py_ssize_t kl;
	Py_buffer b;
	int r;

	if (mmcpy_args(args, nargs, kwnames, "put", names, 2, a) < 0 ||
	    mmcpy_key(a[0], &k, &kl) < 0 || mmcpy_buffer(a[1], &b, 0, "value") < 0)
		return NULL;
	if (mmcpy_enter(self) < 0) {
		PyBuffer_Release(&b);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS   /* reserve and commit wait for the agent */
	r = mmc_put(self->c, k, (size_t)kl, b.buf, (size_t)b.len);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	PyBuffer_Release(&b);
	if (r == -EEXIST)
		Py_RETURN_FALSE;
	if (r)
		return mmcpy_error(r, NULL);
	Py_RETURN_TRUE;
}

PyDoc_STRVAR(get_doc,
"get(key) -> bytes | None\n\n"
"A copy of the value, or None when the key is not there.");

static PyObject *client_get(mmcpy_client *self, PyObject *key)
{
	struct mmc_view v;
	PyObject *out;
	const char *k;
	Py_ssize_t kl;
	int r;

	if (mmcpy_key(key, &k, &kl) < 0 || mmcpy_enter(self) < 0)
		return NULL;
	r = mmc_acquire(self->c, k, (size_t)kl, &v);   /* pinned: cannot vanish */
	if (r) {
		mmcpy_leave(self);
		if (r == -ENOENT)
			Py_RETURN_NONE;
		return mmcpy_error(r, NULL);
	}
	out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)v.len);
	if (out) {
		char *dst = PyBytes_AS_STRING(out);

		Py_BEGIN_ALLOW_THREADS   /* every copy runs without the GIL */
		memcpy(dst, v.data, v.len);
		Py_END_ALLOW_THREADS
	}
	mmc_release(self->c, &v);
	mmcpy_leave(self);
	return out;
}

/* mmc_get into [buf, buf + len): bytes read, 0 for a miss, -1 raised. */
static Py_ssize_t get_into(mmcpy_client *self, const char *k, Py_ssize_t kl,
			   void *buf, size_t len)
{
	size_t got = 0;
	int r;

	if (mmcpy_enter(self) < 0)
		return -1;
	Py_BEGIN_ALLOW_THREADS
	r = mmc_get(self->c, k, (size_t)kl, buf, len, &got);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r == -ENOENT)
		return 0;
	if (r == -EMSGSIZE) {
		mmcpy_error(r, "the value is %zu bytes, the buffer %zu", got, len);
		return -1;
	}
	if (r) {
		mmcpy_error(r, NULL);
		return -1;
	}
	return (Py_ssize_t)got;
}

PyDoc_STRVAR(get_into_doc,
"get_into(key, buffer) -> int\n\n"
"Copies the value into a writable contiguous buffer (bytearray, numpy\n"
"array, CPU torch tensor, ...) and returns its size; 0 when the key is not\n"
"there (values are never empty).  A buffer smaller than the value is\n"
"mmc.Error(EMSGSIZE).");

static PyObject *client_get_into(mmcpy_client *self, PyObject *const *args,
				 Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = { "key", "buffer", NULL };
	PyObject *a[2];
	const char *k;
	Py_ssize_t kl, n;
	Py_buffer b;

	if (mmcpy_args(args, nargs, kwnames, "get_into", names, 2, a) < 0 ||
	    mmcpy_key(a[0], &k, &kl) < 0 || mmcpy_buffer(a[1], &b, 1, "buffer") < 0)
		return NULL;
	n = get_into(self, k, kl, b.buf, (size_t)b.len);
	PyBuffer_Release(&b);
	return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

/* Parses (key, ptr, size) for the raw-address calls. */
static int key_ptr_size(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
			const char *fname, const char **k, Py_ssize_t *kl,
			uint64_t *ptr, uint64_t *size)
{
	static const char *const names[] = { "key", "ptr", "size", NULL };
	PyObject *a[3];

	if (mmcpy_args(args, nargs, kwnames, fname, names, 3, a) < 0 ||
	    mmcpy_key(a[0], k, kl) < 0 || mmcpy_u64(a[1], ptr, "ptr") < 0 ||
	    mmcpy_u64(a[2], size, "size") < 0)
		return -1;
	if (!*ptr && *size) {
		PyErr_SetString(PyExc_ValueError, "ptr is 0 (NULL) with a non-zero size");
		return -1;
	}
	if (*size > (uint64_t)PY_SSIZE_T_MAX) {
		PyErr_SetString(PyExc_ValueError, "size is too large");
		return -1;
	}
	return 0;
}

PyDoc_STRVAR(put_from_doc,
"put_from(key, ptr, size) -> bool\n\n"
"put() from raw memory: size bytes at address ptr (a torch tensor's\n"
"data_ptr(), a registered host buffer).  The caller vouches that the\n"
"memory is readable for the whole call.");

static PyObject *client_put_from(mmcpy_client *self, PyObject *const *args,
				 Py_ssize_t nargs, PyObject *kwnames)
{
	const char *k;
	Py_ssize_t kl;
	uint64_t ptr, size;
	int r;

	if (key_ptr_size(args, nargs, kwnames, "put_from", &k, &kl, &ptr, &size) < 0 ||
	    mmcpy_enter(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = mmc_put(self->c, k, (size_t)kl, (const void *)(uintptr_t)ptr, (size_t)size);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r == -EEXIST)
		Py_RETURN_FALSE;
	if (r)
		return mmcpy_error(r, NULL);
	Py_RETURN_TRUE;
}

PyDoc_STRVAR(get_into_ptr_doc,
"get_into_ptr(key, ptr, size) -> int\n\n"
"get_into() to raw memory: at most size bytes at address ptr.  Returns the\n"
"value's size, 0 when the key is not there.  The caller vouches that the\n"
"memory is writable for the whole call.");

static PyObject *client_get_into_ptr(mmcpy_client *self, PyObject *const *args,
				     Py_ssize_t nargs, PyObject *kwnames)
{
	const char *k;
	Py_ssize_t kl, n;
	uint64_t ptr, size;

	if (key_ptr_size(args, nargs, kwnames, "get_into_ptr", &k, &kl, &ptr, &size) < 0)
		return NULL;
	n = get_into(self, k, kl, (void *)(uintptr_t)ptr, (size_t)size);
	return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

PyDoc_STRVAR(exists_doc,
"exists(key) -> bool\n\n"
"Whether key is committed now.  A lookup in shared memory: no system call,\n"
"unless the agent is in a pool and the key is not on this node (then its\n"
"home is asked, within the pool's deadline).");
PyDoc_STRVAR(exists_here_doc,
"exists_here(key) -> bool\n\n"
"Whether key is committed on this node (DRAM or SSD).  Never asks the pool.");

static PyObject *exists_common(mmcpy_client *self, PyObject *key, bool here)
{
	const char *k;
	Py_ssize_t kl;
	int r;

	if (mmcpy_key(key, &k, &kl) < 0 || mmcpy_enter(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = here ? mmc_exists_here(self->c, k, (size_t)kl) : mmc_exists(self->c, k, (size_t)kl);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r < 0)
		return mmcpy_error(r, NULL);
	return PyBool_FromLong(r);
}

static PyObject *client_exists(mmcpy_client *self, PyObject *key)
{
	return exists_common(self, key, false);
}

static PyObject *client_exists_here(mmcpy_client *self, PyObject *key)
{
	return exists_common(self, key, true);
}

PyDoc_STRVAR(remove_doc,
"remove(key) -> bool\n\n"
"Removes key: True when it was there, False when it was not.  Readers\n"
"holding a View of it keep reading the old value until they release it.");

static PyObject *client_remove(mmcpy_client *self, PyObject *key)
{
	const char *k;
	Py_ssize_t kl;
	int r;

	if (mmcpy_key(key, &k, &kl) < 0 || mmcpy_enter(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = mmc_remove(self->c, k, (size_t)kl);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r == -ENOENT)
		Py_RETURN_FALSE;
	if (r)
		return mmcpy_error(r, NULL);
	Py_RETURN_TRUE;
}

PyDoc_STRVAR(clear_doc,
"clear()\n\n"
"Removes every committed object from the agent - for every client of the\n"
"node, not only this one (SGLang's clear(), MemCache's remove_all()).");

static PyObject *client_clear(mmcpy_client *self, PyObject *unused)
{
	int r;

	if (mmcpy_enter(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = mmc_clear(self->c);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r)
		return mmcpy_error(r, NULL);
	Py_RETURN_NONE;
}

PyDoc_STRVAR(acquire_doc,
"acquire(key) -> View | None\n\n"
"Pins the value and returns a read-only View over it in the arena (no\n"
"copy), or None when the key is not there.  Release it with\n"
"View.release() or a with block; a View collected while acquired is\n"
"released with a ResourceWarning.  At most VIEWS_MAX per session.");

static PyObject *client_acquire(mmcpy_client *self, PyObject *key)
{
	struct mmc_view v;
	PyObject *out;
	const char *k;
	Py_ssize_t kl;
	int r;

	if (mmcpy_key(key, &k, &kl) < 0 || mmcpy_enter(self) < 0)
		return NULL;
	r = mmc_acquire(self->c, k, (size_t)kl, &v);
	if (r) {
		mmcpy_leave(self);
		if (r == -ENOENT)
			Py_RETURN_NONE;
		return mmcpy_error(r, NULL);
	}
	out = mmcpy_view_new(self, key, &v);
	if (!out)
		mmc_release(self->c, &v);
	mmcpy_leave(self);
	return out;
}

/* ---- counters ---- */

static int set_u64(PyObject *d, const char *name, uint64_t v)
{
	PyObject *o = PyLong_FromUnsignedLongLong(v);
	int r;

	if (!o)
		return -1;
	r = PyDict_SetItemString(d, name, o);
	Py_DECREF(o);
	return r;
}

#define SET(d, s, f) if (set_u64(d, #f, (s).f) < 0) goto fail

static PyObject *client_counters(const struct mmc_client_stats *s)
{
	PyObject *d = PyDict_New();

	if (!d)
		return NULL;
#define SET_FIELD(name, ...) SET(d, *s, name);
	MMC_CLIENT_FIELDS(SET_FIELD)
#undef SET_FIELD
	return d;
fail:
	Py_DECREF(d);
	return NULL;
}

PyDoc_STRVAR(stats_doc,
"stats() -> dict\n\n"
"The agent's counters (arena_bytes, used_bytes, objects, hits, misses,\n"
"evictions, ...), refreshed for this call, and under 'client' this\n"
"session's own (hits, misses, gets, puts, ...).");

static PyObject *client_stats(mmcpy_client *self, PyObject *unused)
{
	struct mmc_client_stats cs;
	struct mmc_stats s;
	PyObject *d, *c;
	int r;

	if (mmcpy_enter(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS   /* asks the agent to refresh, and waits */
	r = mmc_agent_stats(self->c, &s);
	if (!r)
		r = mmc_client_stats(self->c, &cs);
	Py_END_ALLOW_THREADS
	mmcpy_leave(self);
	if (r)
		return mmcpy_error(r, NULL);
	d = PyDict_New();
	if (!d)
		return NULL;
	SET(d, s, updated_ns); SET(d, s, start_ns); SET(d, s, agent_pid);
	SET(d, s, hugepages);
#define SET_FIELD(name, ...) SET(d, s, name);
	MMC_STATS_FIELDS(SET_FIELD)
#undef SET_FIELD
	c = client_counters(&cs);
	if (!c || PyDict_SetItemString(d, "client", c) < 0) {
		Py_XDECREF(c);
		goto fail;
	}
	Py_DECREF(c);
	return d;
fail:
	Py_DECREF(d);
	return NULL;
}

#undef SET

/* ---- the type ---- */

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef client_methods[] = {
	{ "put", (PyCFunction)(void (*)(void))client_put, FASTKW, put_doc },
	{ "get", (PyCFunction)client_get, METH_O, get_doc },
	{ "get_into", (PyCFunction)(void (*)(void))client_get_into, FASTKW, get_into_doc },
	{ "put_from", (PyCFunction)(void (*)(void))client_put_from, FASTKW, put_from_doc },
	{ "get_into_ptr", (PyCFunction)(void (*)(void))client_get_into_ptr, FASTKW,
	  get_into_ptr_doc },
	{ "exists", (PyCFunction)client_exists, METH_O, exists_doc },
	{ "exists_here", (PyCFunction)client_exists_here, METH_O, exists_here_doc },
	{ "remove", (PyCFunction)client_remove, METH_O, remove_doc },
	{ "clear", (PyCFunction)client_clear, METH_NOARGS, clear_doc },
	{ "acquire", (PyCFunction)client_acquire, METH_O, acquire_doc },
	{ "stats", (PyCFunction)client_stats, METH_NOARGS, stats_doc },
	{ "close", (PyCFunction)client_close, METH_NOARGS, close_doc },
	{ "__enter__", (PyCFunction)client_enter_ctx, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)client_exit_ctx, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyMemberDef client_members[] = {
	{ "socket", T_OBJECT, offsetof(mmcpy_client, socket), READONLY,
	  "the agent socket this client connected to" },
	{ NULL, 0, 0, 0, NULL }
};

static PyGetSetDef client_getset[] = {
	{ "closed", (getter)client_closed, NULL, "True once close() was called", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

/* client_methods and batch.c's mmcpy_batch_methods in one table, joined by
 * mmcpy_client_type_init() before the type is readied. */
static PyMethodDef all_methods[48];

PyDoc_STRVAR(client_doc,
"Client(socket=None)\n\n"
"A session with the node's mmc-agent (libshm's mmc_client).  socket is the\n"
"agent's unix socket; None means $MMC_SOCKET, else /run/mmc/agent.sock.\n"
"A context manager; safe to share between threads (the GIL is released\n"
"around every copy and every wait).  After fork() the child's calls raise\n"
"mmc.Error(ECHILD): connect a new Client there.");

PyTypeObject mmcpy_ClientType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mmc.Client",
	.tp_basicsize = sizeof(mmcpy_client),
	.tp_dealloc = (destructor)client_dealloc,
	.tp_repr = (reprfunc)client_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = client_doc,
	.tp_methods = all_methods,
	.tp_members = client_members,
	.tp_getset = client_getset,
	.tp_new = client_new,
};

int mmcpy_client_type_init(void)
{
	size_t n = 0, max = sizeof(all_methods) / sizeof(all_methods[0]) - 1;

	if (mmcpy_ClientType.tp_flags & Py_TPFLAGS_READY)
		return 0;
	for (PyMethodDef *m = client_methods; m->ml_name && n < max; m++)
		all_methods[n++] = *m;
	for (PyMethodDef *m = mmcpy_batch_methods; m->ml_name && n < max; m++)
		all_methods[n++] = *m;
	all_methods[n] = (PyMethodDef){ NULL, NULL, 0, NULL };
	return PyType_Ready(&mmcpy_ClientType);
}
