/*
 * args.c - from Python arguments to what libshm takes.
 *
 * libshm wants byte strings for keys, raw addresses and sizes, and
 * contiguous memory.  Python callers hand in str or bytes keys, lists of
 * ints from torch's data_ptr(), bytes, bytearrays, numpy arrays and torch
 * tensors.  Everything here runs with the GIL held and leaves, for the call
 * that follows, plain C data whose owners are pinned for as long as the
 * call needs them: a reference to every key object, a Py_buffer for every
 * value.
 *
 * The errors say what was wrong and where, because these are the mistakes
 * a caller makes while wiring a cache into an engine: "sizes[3] is
 * negative", "keys[2] must be str or bytes, not int", "16385 keys: at most
 * 16384 (BATCH_MAX) per call".
 */
/* Python.h (through mmcpy.h) comes first, as CPython asks. */
#include "mmcpy.h"

#include <string.h>

int mmcpy_key(PyObject *o, const char **p, Py_ssize_t *n)
{
	if (PyBytes_Check(o)) {
		*p = PyBytes_AS_STRING(o);
		*n = PyBytes_GET_SIZE(o);
		return 0;
	}
	if (PyUnicode_Check(o)) {
		*p = PyUnicode_AsUTF8AndSize(o, n);
		return *p ? 0 : -1;
	}
	PyErr_Format(PyExc_TypeError, "key must be str or bytes, not %.100s",
		     Py_TYPE(o)->tp_name);
	return -1;
}

Py_ssize_t mmcpy_seq_len(PyObject *seq, const char *what)
{
	Py_ssize_t n;

	if (PyList_Check(seq))
		return PyList_GET_SIZE(seq);
	if (PyTuple_Check(seq))
		return PyTuple_GET_SIZE(seq);
	if (!PySequence_Check(seq) || PyUnicode_Check(seq) || PyBytes_Check(seq)) {
		PyErr_Format(PyExc_TypeError, "%s must be a sequence, not %.100s",
			     what, Py_TYPE(seq)->tp_name);
		return -1;
	}
	n = PySequence_Size(seq);
	return n;
}

void mmcpy_keys_free(struct mmcpy_keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		Py_DECREF(k->obj[i]);
	PyMem_Free(k->heap);
	k->heap = NULL;
	k->n = 0;
}

int mmcpy_keys_get(PyObject *seq, struct mmcpy_keys *k)
{
	PyObject *fast;
	Py_ssize_t n;

	k->n = 0;
	k->heap = NULL;
	if (PyUnicode_Check(seq) || PyBytes_Check(seq) ||
	    !(fast = PySequence_Fast(seq, ""))) {
		PyErr_Clear();
		PyErr_Format(PyExc_TypeError, "keys must be a sequence of str or bytes, not %.100s",
			     Py_TYPE(seq)->tp_name);
		return -1;
	}
	n = PySequence_Fast_GET_SIZE(fast);
	if ((size_t)n > MMC_BATCH_MAX) {
		PyErr_Format(PyExc_ValueError, "%zd keys: at most %u (BATCH_MAX) per call",
			     n, MMC_BATCH_MAX);
		goto fail;
	}
	if (n <= MMCPY_KEYS_INLINE) {
		k->ptr = k->ptr_in;
		k->len = k->len_in;
		k->obj = k->obj_in;
	} else {
		size_t each = sizeof(void *) + sizeof(size_t) + sizeof(PyObject *);

		k->heap = PyMem_Malloc((size_t)n * each);
		if (!k->heap) {
			PyErr_NoMemory();
			goto fail;
		}
		k->ptr = k->heap;
		k->len = (size_t *)(k->ptr + n);
		k->obj = (PyObject **)(k->len + n);
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *o = PySequence_Fast_GET_ITEM(fast, i);
		const char *p;
		Py_ssize_t len;

		if (!PyBytes_Check(o) && !PyUnicode_Check(o)) {
			PyErr_Format(PyExc_TypeError, "keys[%zd] must be str or bytes, not %.100s",
				     i, Py_TYPE(o)->tp_name);
			goto fail;
		}
		if (mmcpy_key(o, &p, &len) < 0)
			goto fail;
		k->obj[k->n] = Py_NewRef(o);
		k->ptr[k->n] = p;
		k->len[k->n] = (size_t)len;
		k->n++;
	}
	Py_DECREF(fast);
	return 0;
fail:
	Py_DECREF(fast);
	mmcpy_keys_free(k);
	return -1;
}

int mmcpy_u64(PyObject *o, uint64_t *out, const char *what)
{
	PyObject *idx;
	int overflow = 0;
	long long v;

	if (PyLong_CheckExact(o)) {
		v = PyLong_AsLongLongAndOverflow(o, &overflow);
		if (!overflow && v >= 0) {
			*out = (uint64_t)v;
			return 0;
		}
		if (v == -1 && PyErr_Occurred())
			return -1;
		idx = Py_NewRef(o);
	} else {
		idx = PyNumber_Index(o);   /* numpy / torch integers, bool */
		if (!idx) {
			PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s",
				     what, Py_TYPE(o)->tp_name);
			return -1;
		}
	}
	v = PyLong_AsLongLongAndOverflow(idx, &overflow);
	if (overflow < 0 || (!overflow && v < 0)) {
		PyErr_Format(PyExc_ValueError, "%s is negative (%R)", what, idx);
		Py_DECREF(idx);
		return -1;
	}
	*out = PyLong_AsUnsignedLongLong(idx);
	if (*out == (uint64_t)-1 && PyErr_Occurred()) {
		PyErr_Clear();
		PyErr_Format(PyExc_ValueError, "%s is too large (%R)", what, idx);
		Py_DECREF(idx);
		return -1;
	}
	Py_DECREF(idx);
	return 0;
}

int mmcpy_u64s(PyObject *seq, size_t n, uint64_t *out, const char *what)
{
	PyObject *fast = PySequence_Fast(seq, "not a sequence");
	char name[64];

	if (!fast) {
		PyErr_Format(PyExc_TypeError, "%s must be a sequence of ints, not %.100s",
			     what, Py_TYPE(seq)->tp_name);
		return -1;
	}
	if ((size_t)PySequence_Fast_GET_SIZE(fast) != n) {
		PyErr_Format(PyExc_ValueError, "%s has %zd items, keys has %zu",
			     what, PySequence_Fast_GET_SIZE(fast), n);
		Py_DECREF(fast);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		PyObject *o = PySequence_Fast_GET_ITEM(fast, i);

		/* The common case, a small non-negative int, without a detour. */
		if (PyLong_CheckExact(o)) {
			int overflow = 0;
			long long v = PyLong_AsLongLongAndOverflow(o, &overflow);

			if (!overflow && v >= 0) {
				out[i] = (uint64_t)v;
				continue;
			}
		}
		snprintf(name, sizeof(name), "%s[%zu]", what, i);
		if (mmcpy_u64(o, &out[i], name) < 0) {
			Py_DECREF(fast);
			return -1;
		}
	}
	Py_DECREF(fast);
	return 0;
}

/* A torch tensor's memory as a Py_buffer that keeps the tensor alive.
 * torch.Tensor has no buffer protocol, and numpy() refuses bfloat16, the
 * usual KV-cache dtype; data_ptr() and the byte size are all a copy needs. */
static int tensor_buffer(PyObject *t, Py_buffer *b, int flags, const char *what)
{
	PyObject *r;
	unsigned long long ptr;
	long long numel, esize;
	int ok;

	r = PyObject_GetAttrString(t, "is_cuda");
	ok = r && r == Py_False;
	Py_XDECREF(r);
	if (!ok) {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_ValueError, "%s is a GPU tensor: mmc reads and writes "
				     "host memory (copy it to a CPU tensor first)", what);
		return -1;
	}
	r = PyObject_CallMethod(t, "is_contiguous", NULL);
	ok = r && r == Py_True;
	Py_XDECREF(r);
	if (!ok) {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_ValueError, "%s is not a contiguous tensor "
				     "(.contiguous() makes one)", what);
		return -1;
	}
	r = PyObject_CallMethod(t, "data_ptr", NULL);
	ptr = r ? PyLong_AsUnsignedLongLong(r) : 0;
	Py_XDECREF(r);
	r = PyErr_Occurred() ? NULL : PyObject_CallMethod(t, "numel", NULL);
	numel = r ? PyLong_AsLongLong(r) : -1;
	Py_XDECREF(r);
	r = PyErr_Occurred() ? NULL : PyObject_CallMethod(t, "element_size", NULL);
	esize = r ? PyLong_AsLongLong(r) : -1;
	Py_XDECREF(r);
	if (PyErr_Occurred())
		return -1;
	if (numel < 0 || esize <= 0 || (numel && !ptr) || numel > PY_SSIZE_T_MAX / esize) {
		PyErr_Format(PyExc_ValueError, "%s: a tensor without usable memory", what);
		return -1;
	}
	return PyBuffer_FillInfo(b, t, (void *)(uintptr_t)ptr, (Py_ssize_t)(numel * esize),
				 0, flags);
}

int mmcpy_buffer(PyObject *o, Py_buffer *b, int writable, const char *what)
{
	int flags = PyBUF_ANY_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);

	if (PyObject_CheckBuffer(o))
		return PyObject_GetBuffer(o, b, flags);
	if (PyObject_HasAttrString(o, "data_ptr") && PyObject_HasAttrString(o, "element_size"))
		return tensor_buffer(o, b, flags & ~PyBUF_ANY_CONTIGUOUS, what);
	PyErr_Format(PyExc_TypeError,
		     "%s must support the buffer protocol (bytes, bytearray, memoryview, "
		     "numpy array) or be a CPU torch tensor, not %.100s",
		     what, Py_TYPE(o)->tp_name);
	return -1;
}

int mmcpy_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
	       const char *fname, const char *const *names, int required,
	       PyObject **out)
{
	Py_ssize_t total = 0, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;

	while (names[total])
		total++;
	if (nargs > total) {
		PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)",
			     fname, total, nargs + nkw);
		return -1;
	}
	for (Py_ssize_t i = 0; i < total; i++)
		out[i] = i < nargs ? args[i] : NULL;
	for (Py_ssize_t j = 0; j < nkw; j++) {
		PyObject *kw = PyTuple_GET_ITEM(kwnames, j);
		Py_ssize_t i;

		for (i = 0; i < total; i++)
			if (PyUnicode_CompareWithASCIIString(kw, names[i]) == 0)
				break;
		if (i == total) {
			PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
				     fname, kw);
			return -1;
		}
		if (out[i]) {
			PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
				     fname, names[i]);
			return -1;
		}
		out[i] = args[nargs + j];
	}
	for (Py_ssize_t i = 0; i < required; i++)
		if (!out[i]) {
			PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'",
				     fname, names[i]);
			return -1;
		}
	return 0;
}
