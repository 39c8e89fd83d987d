/* collector_eval.otlp._check: whether bytes are a message protobuf's own parser (upb) would accept,
 * without building the message (the contract is in _check.pyi, the schema table in check.py).
 *
 * Every trace request must be checked before it is acknowledged, and the spans are then sliced out of
 * the request's own bytes, so the decoded request was thrown away: decoding 512 spans cost the ingest
 * path about 0.3-0.6 ms a request, more than the check of the same bytes. The rules are upb's, as
 * tests/otlp/test_check.py holds them against it: a known field whose wire type is not its type's is an
 * unknown field; an unknown field is skipped whole (groups included) and its contents never checked;
 * strings are strict UTF-8; 100 levels of nested messages and groups at most.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Field numbers a schema table describes per message: any above are unknown fields. */
#define SLOTS 64
/* Nesting below the top message that upb's default decode options allow. */
#define DEPTH_LIMIT 100
/* check_fields' group when the fields are a message's. */
#define NO_GROUP (-1)

/* A field's kind in the schema table (check.py's Kind). */
enum { K_UNKNOWN, K_VARINT, K_FIXED64, K_FIXED32, K_BYTES, K_STRING, K_MESSAGE };

/* What is wrong (check.py's Problem), with where: the byte offset, the message and field number. */
enum {
    P_OK,
    P_TRUNCATED,
    P_BAD_VARINT,
    P_BAD_TAG,
    P_FIELD_ZERO,
    P_BAD_WIRE_TYPE,
    P_BAD_END_GROUP,
    P_UNCLOSED_GROUP,
    P_BAD_UTF8,
    P_TOO_DEEP
};

typedef struct {
    const unsigned char *buf;
    const unsigned char *table; /* message m's slot f at (m * SLOTS + f) * 2: kind, child message */
    Py_ssize_t pos;
    int problem;
    Py_ssize_t at;
    int message, field;
} Check;

static int fail(Check *c, int problem, Py_ssize_t at, int message, uint64_t field) {
    c->problem = problem;
    c->at = at;
    c->message = message;
    c->field = (int)field;
    return 0;
}

/* A varint of at most 10 bytes, as upb reads them (the tenth byte's high bits are not looked at). */
static int read_varint(Check *c, Py_ssize_t end, uint64_t *out) {
    if (c->pos < end && c->buf[c->pos] < 0x80) { /* most lengths and values: one byte */
        *out = c->buf[c->pos++];
        return 1;
    }
    uint64_t value = 0;
    Py_ssize_t start = c->pos;
    for (int i = 0; i < 10; i++) {
        if (c->pos >= end) return fail(c, P_TRUNCATED, start, -1, 0);
        unsigned char byte = c->buf[c->pos++];
        value |= (uint64_t)(byte & 0x7F) << (7 * i);
        if (byte < 0x80) {
            *out = value;
            return 1;
        }
    }
    return fail(c, P_BAD_VARINT, start, -1, 0);
}

/* A tag: at most 5 bytes, a value under 2^32. */
static int read_tag(Check *c, Py_ssize_t end, uint64_t *out) {
    if (c->pos < end && c->buf[c->pos] < 0x80) { /* the tag of every field numbered below 16 */
        *out = c->buf[c->pos++];
        return 1;
    }
    Py_ssize_t start = c->pos;
    uint64_t value = 0;
    for (int i = 0; i < 5; i++) {
        if (c->pos >= end) return fail(c, P_TRUNCATED, start, -1, 0);
        unsigned char byte = c->buf[c->pos++];
        value |= (uint64_t)(byte & 0x7F) << (7 * i);
        if (byte < 0x80) {
            if (value > UINT32_MAX) break;
            *out = value;
            return 1;
        }
    }
    return fail(c, P_BAD_TAG, start, -1, 0);
}

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), as upb checks strings. */
static int utf8_strict(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        Py_ssize_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* the bounds of the second byte */
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            if (b == 0xE0) lo = 0xA0;      /* overlong */
            else if (b == 0xED) hi = 0x9F; /* surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            if (b == 0xF0) lo = 0x90;      /* overlong */
            else if (b == 0xF4) hi = 0x8F; /* above U+10FFFF */
        } else {
            return 0;
        }
        if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (Py_ssize_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        }
        i += need + 1;
    }
    return 1;
}

/* Most strings are ASCII: one pass of 8-byte words finds out, without a branch a byte. */
static int utf8_valid(const unsigned char *s, Py_ssize_t n) {
    uint64_t seen = 0, word;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&word, s + i, 8);
        seen |= word;
    }
    for (; i < n; i++) seen |= s[i];
    return !(seen & 0x8080808080808080ULL) || utf8_strict(s, n);
}

static int check_fields(Check *c, Py_ssize_t end, int message, int depth, int64_t group);

/* The value of a field whose tag was read (wire type and number in key), as an unknown field when kind
 * is K_UNKNOWN. */
static int check_value(Check *c, Py_ssize_t end, int message, uint64_t key, int kind, int child, int depth) {
    uint64_t n, number = key >> 3;
    Py_ssize_t start = c->pos;
    switch (key & 7) {
    case 0:
        if (!read_varint(c, end, &n)) return fail(c, c->problem, c->at, message, number);
        return 1;
    case 1:
        if (end - c->pos < 8) return fail(c, P_TRUNCATED, start, message, number);
        c->pos += 8;
        return 1;
    case 5:
        if (end - c->pos < 4) return fail(c, P_TRUNCATED, start, message, number);
        c->pos += 4;
        return 1;
    case 2:
        if (!read_varint(c, end, &n)) return fail(c, c->problem, c->at, message, number);
        if (n > (uint64_t)(end - c->pos)) return fail(c, P_TRUNCATED, start, message, number);
        start = c->pos;
        c->pos += (Py_ssize_t)n;
        if (kind == K_STRING && !utf8_valid(c->buf + start, (Py_ssize_t)n))
            return fail(c, P_BAD_UTF8, start, message, number);
        if (kind == K_MESSAGE) {
            if (depth >= DEPTH_LIMIT) return fail(c, P_TOO_DEEP, start, message, number);
            Py_ssize_t after = c->pos;
            c->pos = start;
            if (!check_fields(c, after, child, depth + 1, NO_GROUP)) return 0;
        }
        return 1;
    case 3:
        if (depth >= DEPTH_LIMIT) return fail(c, P_TOO_DEEP, start, message, number);
        return check_fields(c, end, -1, depth + 1, (int64_t)number); /* never a known field: OTLP has no groups */
    case 4:
        return fail(c, P_BAD_END_GROUP, start, message, number);
    default:
        return fail(c, P_BAD_WIRE_TYPE, start, message, number);
    }
}

/* The fields of a message up to end, or of an unknown group (message -1) up to the end tag of group
 * number `group`. upb skips an unknown group's fields without asking for a field number, so 0 passes
 * there. */
static int check_fields(Check *c, Py_ssize_t end, int message, int depth, int64_t group) {
    static const int wire_of[] = {-1, 0, 1, 5, 2, 2, 2};
    uint64_t key;
    while (c->pos < end) {
        Py_ssize_t start = c->pos;
        if (!read_tag(c, end, &key)) return fail(c, c->problem, c->at, message, 0);
        uint64_t number = key >> 3;
        if (number == 0 && message >= 0) return fail(c, P_FIELD_ZERO, start, message, 0);
        if ((key & 7) == 4) {
            if ((int64_t)number == group) return 1;
            return fail(c, P_BAD_END_GROUP, start, message, number);
        }
        int kind = K_UNKNOWN, child = 0;
        if (message >= 0 && number < SLOTS) {
            const unsigned char *slot = c->table + ((Py_ssize_t)message * SLOTS + (Py_ssize_t)number) * 2;
            if (wire_of[slot[0]] == (int)(key & 7)) kind = slot[0], child = slot[1];
        }
        if (!check_value(c, end, message, key, kind, child, depth)) return 0;
    }
    if (group != NO_GROUP) return fail(c, P_UNCLOSED_GROUP, c->pos, message, (uint64_t)group);
    return 1;
}

static PyObject *check(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer raw, table;
    if (!PyArg_ParseTuple(args, "y*y*", &raw, &table)) return NULL;
    PyObject *result = NULL;
    if (table.len < SLOTS * 2 || table.len % (SLOTS * 2)) {
        PyErr_SetString(PyExc_ValueError, "a schema table holds 2 bytes for each of 64 slots per message");
        goto done;
    }
    Py_ssize_t messages = table.len / (SLOTS * 2);
    const unsigned char *t = table.buf;
    for (Py_ssize_t i = 0; i < table.len; i += 2) {
        if (t[i] > K_MESSAGE || (t[i] == K_MESSAGE && t[i + 1] >= messages)) {
            PyErr_Format(PyExc_ValueError, "schema table slot %zd is not a kind and a message", i / 2);
            goto done;
        }
    }
    Check c = {raw.buf, t, 0, P_OK, 0, -1, 0};
    if (check_fields(&c, raw.len, 0, 0, NO_GROUP)) {
        result = Py_NewRef(Py_None);
    } else {
        result = Py_BuildValue("(inii)", c.problem, c.at, c.message, c.field);
    }
done:
    PyBuffer_Release(&raw);
    PyBuffer_Release(&table);
    return result;
}

static PyMethodDef methods[] = {
    {"check", check, METH_VARARGS, "Whether raw is a message of the schema table's first (see _check.pyi)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_check", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__check(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "SLOTS", SLOTS) < 0 || PyModule_AddIntConstant(m, "DEPTH_LIMIT", DEPTH_LIMIT) < 0))
        Py_CLEAR(m);
    return m;
}
