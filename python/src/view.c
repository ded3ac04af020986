/*
 * view.c - mmc.View: a value read in place, in the agent's arena.
 *
 * Client.acquire() pins a value (mmc_acquire) and wraps the pin in a View,
 * which exports the value's bytes read-only through the buffer protocol:
 * memoryview(view), numpy.frombuffer(view) and torch.frombuffer(view) read
 * the arena with no copy.  A pinned value is neither evicted nor reused;
 * once it is released the agent may hand its space to another key at any
 * moment, so after release() nothing in Python may still point at it.
 *
 * memoryview.release() solves the same problem by counting exports and
 * refusing to release while any is alive.  A View does the same, with one
 * twist: torch.frombuffer() releases the Py_buffer it was given at once and
 * keeps only a reference to the buffer's owner (Py_buffer.obj) for the
 * tensor's lifetime, so counting getbuffer/releasebuffer pairs would let a
 * tensor outlive the pin.  Therefore each export hands out a fresh
 * Export token as Py_buffer.obj: the token counts as one export for as
 * long as it lives, and a consumer that keeps obj (torch) or the whole
 * Py_buffer (memoryview, numpy) keeps the token, and so the export, alive.
 *
 *   release()    BufferError while exports live; afterwards every use
 *                (new memoryview, numpy/torch over it, indexing, bytes())
 *                raises ValueError, as a released memoryview does.
 *   with view:   release() at the end of the block.
 *   garbage      a View collected while acquired is released, with a
 *                ResourceWarning (as an unclosed file is).
 *   fork()       a View inherited by a child is the parent's pin: using it
 *                there raises mmc.Error(ECHILD).
 */
/* Python.h (through mmcpy.h) comes first, as CPython asks. */
#include "mmcpy.h"

#include <errno.h>
#include <string.h>

/* ---- export tokens ---- */

typedef struct {
	PyObject_HEAD
	mmcpy_view *view;   /* strong reference */
} mmcpy_export;

static void export_dealloc(mmcpy_export *self)
{
	self->view->exports--;
	Py_DECREF(self->view);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

PyTypeObject mmcpy_ExportType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mmc._ViewExport",
	.tp_basicsize = sizeof(mmcpy_export),
	.tp_dealloc = (destructor)export_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "One live export of an mmc.View's buffer (internal).",
};

/* ---- the view ---- */

PyObject *mmcpy_view_new(mmcpy_client *client, PyObject *key, const struct mmc_view *v)
{
	mmcpy_view *self = PyObject_New(mmcpy_view, &mmcpy_ViewType);

	if (!self)
		return NULL;
	self->client = (mmcpy_client *)Py_NewRef(client);
	self->v = *v;
	self->key = Py_NewRef(key);
	self->exports = 0;
	self->released = 0;
	self->prev = NULL;
	self->next = client->views;
	if (client->views)
		client->views->prev = self;
	client->views = self;
	client->nviews++;
	return (PyObject *)self;
}

void mmcpy_view_drop(mmcpy_view *self)
{
	mmcpy_client *c = self->client;

	if (self->released)
		return;
	self->released = 1;
	/* In a forked child the pin is the parent's: leave it alone (libshm
	 * would refuse with -ECHILD anyway). */
	if (c->c && !mmcpy_forked(c->fork_gen))
		mmc_release(c->c, &self->v);
	if (self->prev)
		self->prev->next = self->next;
	else
		c->views = self->next;
	if (self->next)
		self->next->prev = self->prev;
	self->prev = self->next = NULL;
	c->nviews--;
	mmcpy_client_maybe_finish(c);
}

/* 0 when the view may be read now; -1 with ValueError / mmc.Error set. */
static int view_usable(mmcpy_view *self)
{
	if (self->released) {
		PyErr_SetString(PyExc_ValueError, "operation forbidden on released mmc.View");
		return -1;
	}
	if (mmcpy_forked(self->client->fork_gen)) {
		mmcpy_error(-ECHILD, "this View was acquired by the parent process");
		return -1;
	}
	return 0;
}

static void view_finalize(mmcpy_view *self)
{
	PyObject *type, *value, *tb;

	if (self->released)
		return;
	PyErr_Fetch(&type, &value, &tb);
	if (!mmcpy_forked(self->client->fork_gen) &&
	    PyErr_ResourceWarning((PyObject *)self, 1, "unreleased mmc.View of key %R",
				  self->key) < 0)
		PyErr_WriteUnraisable((PyObject *)self);
	mmcpy_view_drop(self);
	PyErr_Restore(type, value, tb);
}

static void view_dealloc(mmcpy_view *self)
{
	if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
		return;   /* resurrected by the warning machinery */
	Py_DECREF(self->client);
	Py_DECREF(self->key);
	PyObject_Free(self);
}

static int view_getbuffer(mmcpy_view *self, Py_buffer *b, int flags)
{
	mmcpy_export *tok;
	int r;

	if (view_usable(self) < 0)
		return -1;
	if (flags & PyBUF_WRITABLE) {
		PyErr_SetString(PyExc_BufferError, "mmc.View is read-only");
		return -1;
	}
	tok = PyObject_New(mmcpy_export, &mmcpy_ExportType);
	if (!tok)
		return -1;
	tok->view = (mmcpy_view *)Py_NewRef(self);
	self->exports++;
	r = PyBuffer_FillInfo(b, (PyObject *)tok, (void *)self->v.data,
			      (Py_ssize_t)self->v.len, 1, flags);
	Py_DECREF(tok);   /* b->obj holds the token now (or nobody does) */
	return r;
}

/* Never called (PyBuffer_Release() calls the token's type, which needs
 * nothing), but its presence matters: numpy.frombuffer() keeps a Py_buffer
 * alive (by wrapping the exporter in a memoryview) only for exporters that
 * have bf_releasebuffer; otherwise it drops the buffer at once and keeps a
 * bare reference to the View, which would let release() go ahead under a
 * live array. */
static void view_releasebuffer(mmcpy_view *self, Py_buffer *b)
{
}

static PyBufferProcs view_as_buffer = {
	.bf_getbuffer = (getbufferproc)view_getbuffer,
	.bf_releasebuffer = (releasebufferproc)view_releasebuffer,
};

PyDoc_STRVAR(release_doc,
"release()\n\n"
"Unpins the value.  BufferError while a memoryview, numpy array or torch\n"
"tensor still reads it through this View; a second release() does nothing.");

static PyObject *view_release(mmcpy_view *self, PyObject *unused)
{
	if (self->released)
		Py_RETURN_NONE;
	if (self->exports) {
		PyErr_Format(PyExc_BufferError,
			     "mmc.View has %zd exported buffer(s) (memoryview, numpy array or "
			     "torch tensor): delete them before release()", self->exports);
		return NULL;
	}
	mmcpy_view_drop(self);
	Py_RETURN_NONE;
}

static PyObject *view_enter(mmcpy_view *self, PyObject *unused)
{
	if (view_usable(self) < 0)
		return NULL;
	return Py_NewRef(self);
}

static PyObject *view_exit(mmcpy_view *self, PyObject *args)
{
	PyObject *r = view_release(self, NULL);

	if (!r)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

PyDoc_STRVAR(tobytes_doc, "tobytes() -> bytes\n\nA copy of the value.");

/* A new bytes object holding n bytes of the view from src, copied without
 * the GIL.  The copy counts as an export meanwhile, so that another thread
 * cannot release (or close away) the pin under it. */
static PyObject *bytes_nogil(mmcpy_view *self, const void *src, Py_ssize_t n)
{
	PyObject *out = PyBytes_FromStringAndSize(NULL, n);

	if (out) {
		char *dst = PyBytes_AS_STRING(out);

		self->exports++;
		Py_BEGIN_ALLOW_THREADS
		memcpy(dst, src, (size_t)n);
		Py_END_ALLOW_THREADS
		self->exports--;
	}
	return out;
}

static PyObject *view_tobytes(mmcpy_view *self, PyObject *unused)
{
	if (view_usable(self) < 0)
		return NULL;
	return bytes_nogil(self, self->v.data, (Py_ssize_t)self->v.len);
}

static Py_ssize_t view_length(mmcpy_view *self)
{
	if (view_usable(self) < 0)
		return -1;
	return (Py_ssize_t)self->v.len;
}

/* view[i] -> int, view[a:b:c] -> bytes (a copy), as bytes() would give. */
static PyObject *view_subscript(mmcpy_view *self, PyObject *item)
{
	const unsigned char *p = self->v.data;
	Py_ssize_t len = (Py_ssize_t)self->v.len;

	if (view_usable(self) < 0)
		return NULL;
	if (PyIndex_Check(item)) {
		Py_ssize_t i = PyNumber_AsSsize_t(item, PyExc_IndexError);

		if (i == -1 && PyErr_Occurred())
			return NULL;
		if (i < 0)
			i += len;
		if (i < 0 || i >= len) {
			PyErr_SetString(PyExc_IndexError, "mmc.View index out of range");
			return NULL;
		}
		return PyLong_FromLong(p[i]);
	}
	if (PySlice_Check(item)) {
		Py_ssize_t start, stop, step, n;
		PyObject *out;
		char *dst;

		if (PySlice_Unpack(item, &start, &stop, &step) < 0)
			return NULL;
		n = PySlice_AdjustIndices(len, &start, &stop, step);
		if (step == 1)
			return bytes_nogil(self, p + start, n);
		out = PyBytes_FromStringAndSize(NULL, n);
		if (!out)
			return NULL;
		dst = PyBytes_AS_STRING(out);
		for (Py_ssize_t i = 0, j = start; i < n; i++, j += step)
			dst[i] = (char)p[j];
		return out;
	}
	PyErr_Format(PyExc_TypeError, "mmc.View indices must be integers or slices, not %.100s",
		     Py_TYPE(item)->tp_name);
	return NULL;
}

static PyMappingMethods view_as_mapping = {
	.mp_length = (lenfunc)view_length,
	.mp_subscript = (binaryfunc)view_subscript,
};

static PyObject *view_repr(mmcpy_view *self)
{
	if (self->released)
		return PyUnicode_FromFormat("<mmc.View key=%R released>", self->key);
	return PyUnicode_FromFormat("<mmc.View key=%R nbytes=%zu exports=%zd>",
				    self->key, self->v.len, self->exports);
}

static PyObject *view_get_released(mmcpy_view *self, void *unused)
{
	return PyBool_FromLong(self->released);
}

static PyObject *view_get_nbytes(mmcpy_view *self, void *unused)
{
	return PyLong_FromSize_t(self->v.len);
}

static PyObject *view_get_key(mmcpy_view *self, void *unused)
{
	return Py_NewRef(self->key);
}

static PyMethodDef view_methods[] = {
	{ "release", (PyCFunction)view_release, METH_NOARGS, release_doc },
	{ "tobytes", (PyCFunction)view_tobytes, METH_NOARGS, tobytes_doc },
	{ "__enter__", (PyCFunction)view_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)view_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef view_getset[] = {
	{ "released", (getter)view_get_released, NULL, "True once released", NULL },
	{ "nbytes", (getter)view_get_nbytes, NULL, "the value's size in bytes", NULL },
	{ "key", (getter)view_get_key, NULL, "the key it was acquired with", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

PyDoc_STRVAR(view_doc,
"A value pinned in the agent's arena, read in place (Client.acquire()).\n\n"
"Read-only buffer: memoryview(v), numpy.frombuffer(v), torch.frombuffer(v)\n"
"copy nothing.  Release with v.release() or `with v:`; release() refuses\n"
"(BufferError) while such an export is alive, and a released View refuses\n"
"every use (ValueError).");

PyTypeObject mmcpy_ViewType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mmc.View",
	.tp_basicsize = sizeof(mmcpy_view),
	.tp_dealloc = (destructor)view_dealloc,
	.tp_repr = (reprfunc)view_repr,
	.tp_as_mapping = &view_as_mapping,
	.tp_as_buffer = &view_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = view_doc,
	.tp_methods = view_methods,
	.tp_getset = view_getset,
	.tp_finalize = (destructor)view_finalize,
};
