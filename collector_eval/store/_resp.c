/* collector_eval.store._resp: Redis commands packed as RESP in one allocation (the contract is in
 * _resp.pyi). Formatting each argument in Python cost the ingest path more than a tenth of its CPU: a
 * request's writes take a few thousand arguments.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Decimal digits of a non-negative length. */
static Py_ssize_t digits(Py_ssize_t n) {
    Py_ssize_t d = 1;
    for (; n >= 10; n /= 10) d++;
    return d;
}

static char *write_header(char *out, char kind, Py_ssize_t n) {
    *out++ = kind;
    Py_ssize_t d = digits(n);
    for (Py_ssize_t i = d - 1; i >= 0; i--, n /= 10) out[i] = (char)('0' + n % 10);
    out += d;
    *out++ = '\r';
    *out++ = '\n';
    return out;
}

/* pack(args): see _resp.pyi. */
static PyObject *pack(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *seq = PySequence_Fast(args, "a command is a sequence of bytes");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t total = 3 + digits(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i])) {
            PyErr_Format(PyExc_TypeError, "argument %zd of a command is %s, not bytes", i, Py_TYPE(items[i])->tp_name);
            Py_DECREF(seq);
            return NULL;
        }
        Py_ssize_t size = PyBytes_GET_SIZE(items[i]);
        total += 5 + digits(size) + size;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, total);
    if (result) {
        char *out = write_header(PyBytes_AS_STRING(result), '*', n);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t size = PyBytes_GET_SIZE(items[i]);
            out = write_header(out, '$', size);
            memcpy(out, PyBytes_AS_STRING(items[i]), size);
            out += size;
            *out++ = '\r';
            *out++ = '\n';
        }
    }
    Py_DECREF(seq);
    return result;
}

static PyMethodDef methods[] = {
    {"pack", pack, METH_O, "A command as RESP (see _resp.pyi)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_resp", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__resp(void) { return PyModule_Create(&module); }
