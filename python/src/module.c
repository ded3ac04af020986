/*
 * module.c - the mmc._mmc module itself: its exception, its constants, and
 * the fork counter every client and view checks.
 *
 * mmc.Error subclasses OSError so that existing handlers that catch OSError
 * (as code around sockets and files does) also catch a lost agent; its
 * errno is libshm's (ENOTCONN, ENOSPC, ...) and its message is
 * mmc_strerror()'s sentence, so what Python prints is what the C tools
 * print.  A miss is never an Error.
 *
 * Fork: libshm answers -ECHILD for a client inherited across fork() and
 * frees only the child's copies on disconnect.  The extension tracks forks
 * too (pthread_atfork), because a View inherited by a child points at a
 * value pinned by the parent's session, which the parent may release and
 * the agent reuse at any time: such a view must not be read in the child.
 */
/* Python.h (through mmcpy.h) comes first, as CPython asks. */
#include "mmcpy.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

PyObject *mmcpy_Error;
unsigned mmcpy_fork_gen;

static void on_fork_child(void)
{
	mmcpy_fork_gen++;   /* the child is single-threaded here */
}

PyObject *mmcpy_error(int err, const char *fmt, ...)
{
	PyObject *msg, *args;

	if (err < 0)
		err = -err;
	if (fmt) {
		char detail[256];
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
		msg = PyUnicode_FromFormat("%s: %s", mmc_strerror(err), detail);
	} else {
		msg = PyUnicode_FromString(mmc_strerror(err));
	}
	if (!msg)
		return NULL;
	args = Py_BuildValue("(iN)", err, msg);
	if (args) {
		PyErr_SetObject(mmcpy_Error, args);
		Py_DECREF(args);
	}
	return NULL;
}

PyDoc_STRVAR(strerror_doc,
"strerror(err) -> str\n\n"
"libshm's sentence for an error code (negative or positive errno).");

static PyObject *mod_strerror(PyObject *mod, PyObject *arg)
{
	long err = PyLong_AsLong(arg);

	if (err == -1 && PyErr_Occurred())
		return NULL;
	if (err < INT32_MIN + 1 || err > INT32_MAX)
		return PyUnicode_FromString("unknown error");
	return PyUnicode_FromString(mmc_strerror((int)err));
}

static PyMethodDef module_methods[] = {
	{ "strerror", mod_strerror, METH_O, strerror_doc },
	{ NULL, NULL, 0, NULL }
};

static int add_types(PyObject *m)
{
	if (mmcpy_client_type_init() < 0 || PyType_Ready(&mmcpy_ViewType) < 0 ||
	    PyType_Ready(&mmcpy_ExportType) < 0)
		return -1;
	if (PyModule_AddObjectRef(m, "Client", (PyObject *)&mmcpy_ClientType) < 0 ||
	    PyModule_AddObjectRef(m, "View", (PyObject *)&mmcpy_ViewType) < 0)
		return -1;
	return 0;
}

static int add_constants(PyObject *m)
{
	if (PyModule_AddIntConstant(m, "KEY_MAX", MMC_KEY_MAX) < 0 ||
	    PyModule_AddIntConstant(m, "BATCH_MAX", MMC_BATCH_MAX) < 0 ||
	    PyModule_AddIntConstant(m, "IOV_MAX", MMC_IOV_MAX) < 0 ||
	    PyModule_AddIntConstant(m, "VIEWS_MAX", MMC_VIEWS_MAX) < 0 ||
	    PyModule_AddIntConstant(m, "UNIT", MMC_UNIT) < 0 ||
	    PyModule_AddStringConstant(m, "DEFAULT_SOCKET", MMC_DEFAULT_SOCKET) < 0 ||
	    PyModule_AddStringConstant(m, "SOCKET_ENV", MMC_SOCKET_ENV) < 0)
		return -1;
	return 0;
}

PyDoc_STRVAR(module_doc,
"mmc._mmc - libshm (the mmc KV-cache pool's client library) for Python.\n\n"
"Use it through the mmc package: mmc.Client, mmc.View, mmc.Error.");

static struct PyModuleDef mmc_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "mmc._mmc",
	.m_doc = module_doc,
	.m_size = -1,
	.m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__mmc(void);

PyMODINIT_FUNC PyInit__mmc(void)
{
	static int atfork_done;
	PyObject *m = PyModule_Create(&mmc_module);

	if (!m)
		return NULL;
	if (!mmcpy_Error) {
		mmcpy_Error = PyErr_NewExceptionWithDoc("mmc.Error",
			"An error from libshm or the agent: an OSError whose errno is\n"
			"libshm's code (ENOTCONN: the agent is gone; ECHILD: a client of\n"
			"the parent process used after fork(); ENOSPC: the arena is full\n"
			"of pinned objects; ...) and whose message is mmc_strerror()'s.",
			PyExc_OSError, NULL);
		if (!mmcpy_Error)
			goto fail;
	}
	if (PyModule_AddObjectRef(m, "Error", mmcpy_Error) < 0 ||
	    add_types(m) < 0 || add_constants(m) < 0)
		goto fail;
	if (!atfork_done) {
		if (pthread_atfork(NULL, NULL, on_fork_child)) {
			PyErr_SetString(PyExc_OSError, "pthread_atfork failed");
			goto fail;
		}
		atfork_done = 1;
	}
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
