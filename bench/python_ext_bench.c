/* python_ext_bench.c - the C-extension alternative to the package's ctypes binding, for bench/python_overhead.py
 * only: score(fn_address, session_address, params_address, [(query, passage), ...]) -> [float, ...] with the
 * GIL released around the call. It measures what a C extension would save per call; it is not shipped. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "rerank.h"

typedef rerank_status (*score_fn)(rerank_session *, const rerank_score_params *, const rerank_pair *, size_t, float *,
                                  rerank_error *);

static PyObject *score(PyObject *self, PyObject *args) {
    unsigned long long fn_addr, session_addr, params_addr;
    PyObject *list;
    if (!PyArg_ParseTuple(args, "KKKO!", &fn_addr, &session_addr, &params_addr, &PyList_Type, &list)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(list);
    rerank_pair *pairs = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *pairs);
    float *scores = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *scores);
    if (!pairs || !scores) {
        PyMem_Free(pairs), PyMem_Free(scores);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(list, i);
        Py_ssize_t ql, pl;
        const char *q, *p;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !(q = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 0), &ql)) ||
            !(p = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 1), &pl))) {
            PyMem_Free(pairs), PyMem_Free(scores);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "expected (str, str) tuples");
            return NULL;
        }
        pairs[i] = (rerank_pair){q, (size_t)ql, p, (size_t)pl};
    }
    rerank_error err;
    rerank_status st;
    Py_BEGIN_ALLOW_THREADS
    st = ((score_fn)(uintptr_t)fn_addr)((rerank_session *)(uintptr_t)session_addr,
                                        (const rerank_score_params *)(uintptr_t)params_addr, pairs, (size_t)n, scores,
                                        &err);
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    if (st) PyErr_SetString(PyExc_ValueError, err.message);
    else if ((out = PyList_New(n)))
        for (Py_ssize_t i = 0; i < n; i++) PyList_SET_ITEM(out, i, PyFloat_FromDouble(scores[i]));
    PyMem_Free(pairs), PyMem_Free(scores);
    return out;
}

static PyMethodDef methods[] = {{"score", score, METH_VARARGS, "score pairs through a rerank_score-shaped function"},
                                {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "python_ext_bench", NULL, -1, methods};
PyMODINIT_FUNC PyInit_python_ext_bench(void) { return PyModule_Create(&module); }
