/* collector_eval.otlp._spans: one pass over a ScopeSpans' encoded bytes that finds each span's
 * bounds, trace id and session id attribute, and the spans of a chunk put back together as TracesData
 * (the contract is in _spans.pyi).
 *
 * Walking the bytes in Python cost the ingest path about 8 microseconds a span, more than everything
 * else it did per span. Every read here is bounds-checked against the field that holds it: the bytes
 * come from the network, and although the request decoded before it gets here, nothing below trusts
 * a length it has not checked.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Id attributes, and end markers, a scan weighs: the config refuses more (sessions/options.py). */
#define MAX_KEYS 64
/* Groups nest; protobuf's own parsers stop at 100 levels of nesting. */
#define MAX_DEPTH 100

typedef struct {
    const unsigned char *buf;
    Py_ssize_t pos;
    Py_ssize_t end;
} Reader;

/* A varint of at most 10 bytes; 0 when truncated or overlong. */
static int read_varint(Reader *r, uint64_t *out) {
    uint64_t value = 0;
    for (int shift = 0; shift < 70 && r->pos < r->end; shift += 7) {
        unsigned char byte = r->buf[r->pos++];
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *out = value;
            return 1;
        }
    }
    return 0;
}

static int skip_field(Reader *r, uint64_t key, Py_ssize_t *value_start, Py_ssize_t *value_end, int depth);

/* Steps over the fields of a group up to its end tag (wire type 4 with the group's number). */
static int skip_group(Reader *r, uint64_t number, int depth) {
    if (depth > MAX_DEPTH) return 0;
    Py_ssize_t unused_start, unused_end;
    uint64_t key;
    while (read_varint(r, &key)) {
        if ((key & 7) == 4) return (key >> 3) == number;
        if (!skip_field(r, key, &unused_start, &unused_end, depth + 1)) return 0;
    }
    return 0;
}

static int skip_field(Reader *r, uint64_t key, Py_ssize_t *value_start, Py_ssize_t *value_end, int depth) {
    uint64_t n;
    switch (key & 7) {
    case 0:
        return read_varint(r, &n);
    case 1:
        if (r->end - r->pos < 8) return 0;
        r->pos += 8;
        return 1;
    case 5:
        if (r->end - r->pos < 4) return 0;
        r->pos += 4;
        return 1;
    case 2:
        if (!read_varint(r, &n) || n > (uint64_t)(r->end - r->pos)) return 0;
        *value_start = r->pos;
        r->pos += (Py_ssize_t)n;
        *value_end = r->pos;
        return 1;
    case 3: /* a group: deprecated, but valid protobuf for an unknown field */
        return skip_group(r, key >> 3, depth);
    default:
        return 0;
    }
}

/* Reads a field's key and steps over its value; a length-delimited value's bounds go to
 * *value_start / *value_end. 0 when the bytes are not protobuf: truncated, an end tag without its
 * group, a wire type that does not exist. */
static int next_field(Reader *r, uint64_t *key, Py_ssize_t *value_start, Py_ssize_t *value_end) {
    return read_varint(r, key) && skip_field(r, *key, value_start, value_end, 0);
}

typedef struct {
    Py_ssize_t count;
    const char *data[MAX_KEYS];
    Py_ssize_t size[MAX_KEYS];
} Keys;

/* What a span's attributes say about its session id. */
typedef enum { ID_NONE, ID_FOUND, ID_UNREADABLE } IdState;

typedef struct {
    IdState state;
    Py_ssize_t rank; /* of the best key seen; keys.count while none */
    Py_ssize_t text_start, text_end;
    int marked; /* an attribute has one of the marker keys */
} IdRead;

static Py_ssize_t find_key(const Keys *keys, Py_ssize_t below, const unsigned char *key, Py_ssize_t size) {
    Py_ssize_t i = 0;
    for (; i < below; i++) {
        if (keys->size[i] == size && memcmp(keys->data[i], key, size) == 0) break;
    }
    return i;
}

static int contains_key(const Keys *keys, const unsigned char *buf, Py_ssize_t size) {
    for (Py_ssize_t k = 0; k < keys->count; k++) {
        if (keys->size[k] && memmem(buf, size, keys->data[k], keys->size[k])) return 1;
    }
    return 0;
}

/* One attribute (a KeyValue in buf[start:end]) weighed against the best id seen so far, as the
 * reference's decoded walk does: the best-ranked key with a non-empty value wins, the first of equal
 * rank. A value that is not a plain string is left to the decoded span (ID_UNREADABLE). */
static void weigh_attribute(const unsigned char *buf, Py_ssize_t start, Py_ssize_t end, const Keys *keys,
                            const Keys *markers, IdRead *id) {
    Reader r = {buf, start, end};
    uint64_t key;
    Py_ssize_t key_start = 0, key_end = 0, value_start = 0, value_end = 0, rank = 0;
    int has_value = 0;
    /* The shape every SDK writes: the key (field 1), then the value (field 2), nothing else. */
    if (!next_field(&r, &key, &key_start, &key_end) || key != 0x0A) goto odd;
    if (r.pos < r.end) {
        if (!next_field(&r, &key, &value_start, &value_end) || key != 0x12 || r.pos != r.end) goto odd;
        has_value = 1;
    }
    if (find_key(markers, markers->count, buf + key_start, key_end - key_start) < markers->count) id->marked = 1;
    rank = find_key(keys, id->rank, buf + key_start, key_end - key_start);
    if (rank >= id->rank || !has_value || value_end == value_start) return; /* outranked, or empty */
    Reader v = {buf, value_start, value_end};
    Py_ssize_t text_start = 0, text_end = 0;
    if (next_field(&v, &key, &text_start, &text_end) && key == 0x0A && v.pos == v.end) {
        if (text_end == text_start) return; /* an empty id names no session */
        id->state = ID_FOUND;
        id->text_start = text_start;
        id->text_end = text_end;
    } else {
        id->state = ID_UNREADABLE;
    }
    id->rank = rank;
    return;
odd:
    /* A KeyValue in another shape might still hold an id or a marker: only the decoded span can tell. */
    if (contains_key(markers, buf + start, end - start)) id->marked = 1;
    if (contains_key(keys, buf + start, end - start)) {
        id->state = ID_UNREADABLE;
        id->rank = 0;
    }
}

/* The session id in a span's top-level attributes (field 9), in buf[start:end]. */
static IdRead read_span_id(const unsigned char *buf, Py_ssize_t start, Py_ssize_t end, const Keys *keys,
                           const Keys *markers) {
    IdRead id = {ID_NONE, keys->count, 0, 0, 0};
    Reader r = {buf, start, end};
    uint64_t key;
    Py_ssize_t value_start = 0, value_end = 0;
    while (r.pos < r.end) {
        if (!next_field(&r, &key, &value_start, &value_end)) {
            id.state = ID_UNREADABLE;
            id.marked = contains_key(markers, buf + start, end - start);
            return id;
        }
        if (key == 0x4A) weigh_attribute(buf, value_start, value_end, keys, markers, &id);
    }
    return id;
}

static int load_keys(PyObject *tuple, Keys *keys) {
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    if (n > MAX_KEYS) {
        PyErr_Format(PyExc_ValueError, "at most %d keys, not %zd", MAX_KEYS, n);
        return 0;
    }
    keys->count = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "keys must be bytes");
            return 0;
        }
        keys->data[i] = PyBytes_AS_STRING(item);
        keys->size[i] = PyBytes_GET_SIZE(item);
    }
    return 1;
}

/* scan_scope(raw, start, end, keys, names, markers, unreadable): see _spans.pyi. */
static PyObject *scan_scope(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer raw;
    Py_ssize_t start, end;
    PyObject *key_tuple, *names, *marker_tuple, *unreadable;
    if (!PyArg_ParseTuple(args, "y*nnO!O!O!O", &raw, &start, &end, &PyTuple_Type, &key_tuple, &PyTuple_Type, &names,
                          &PyTuple_Type, &marker_tuple, &unreadable))
        return NULL;
    PyObject *result = NULL, *spans = NULL, *scope_fields = NULL;
    Keys keys, markers;
    if (start < 0 || end > raw.len || start > end) {
        PyErr_SetString(PyExc_ValueError, "scope bounds outside the request");
        goto done;
    }
    if (!load_keys(key_tuple, &keys) || !load_keys(marker_tuple, &markers)) goto done;
    if (PyTuple_GET_SIZE(names) != keys.count) {
        PyErr_SetString(PyExc_ValueError, "one name per key");
        goto done;
    }
    const unsigned char *buf = raw.buf;
    spans = PyList_New(0);
    scope_fields = PyBytes_FromStringAndSize(NULL, 0);
    if (!spans || !scope_fields) goto done;
    Reader r = {buf, start, end};
    while (r.pos < r.end) {
        Py_ssize_t field_start = r.pos, value_start = 0, value_end = 0;
        uint64_t key;
        if (!next_field(&r, &key, &value_start, &value_end)) {
            PyErr_Format(PyExc_ValueError, "malformed field at byte %zd", field_start);
            goto done;
        }
        if (key != 0x12) { /* the scope, its schema URL, unknown fields: kept as they came */
            PyObject *part = PyBytes_FromStringAndSize((const char *)buf + field_start, r.pos - field_start);
            if (!part) goto done;
            PyBytes_ConcatAndDel(&scope_fields, part);
            if (!scope_fields) goto done;
            continue;
        }
        PyObject *trace_id;
        if (value_end - value_start >= 18 && buf[value_start] == 0x0A && buf[value_start + 1] == 16) {
            trace_id = PyBytes_FromStringAndSize((const char *)buf + value_start + 2, 16);
            if (!trace_id) goto done;
        } else {
            Py_INCREF(Py_None);
            trace_id = Py_None;
        }
        IdRead id = read_span_id(buf, value_start, value_end, &keys, &markers);
        PyObject *found;
        if (id.state == ID_FOUND) {
            PyObject *text = PyUnicode_DecodeUTF8((const char *)buf + id.text_start, id.text_end - id.text_start, NULL);
            if (text) {
                found = PyTuple_Pack(2, text, PyTuple_GET_ITEM(names, id.rank));
                Py_DECREF(text);
                if (!found) {
                    Py_DECREF(trace_id);
                    goto done;
                }
            } else { /* not UTF-8: the decoded span says what it is */
                PyErr_Clear();
                Py_INCREF(unreadable);
                found = unreadable;
            }
        } else if (id.state == ID_UNREADABLE) {
            Py_INCREF(unreadable);
            found = unreadable;
        } else {
            Py_INCREF(Py_None);
            found = Py_None;
        }
        PyObject *span = Py_BuildValue("(nnNNO)", field_start, value_end, trace_id, found,
                                       id.marked ? Py_True : Py_False);
        if (!span || PyList_Append(spans, span) < 0) {
            Py_XDECREF(span);
            goto done;
        }
        Py_DECREF(span);
    }
    result = PyTuple_Pack(2, scope_fields, spans);
done:
    Py_XDECREF(spans);
    Py_XDECREF(scope_fields);
    PyBuffer_Release(&raw);
    return result;
}

/* group_scope(raw, scanned, res_id, max_id_length, joined, waiting): see _spans.pyi. */
static PyObject *group_scope(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *raw, *scanned, *res_id, *joined, *waiting;
    Py_ssize_t max_id_length;
    if (!PyArg_ParseTuple(args, "SO!OnO!O!", &raw, &PyList_Type, &scanned, &res_id, &max_id_length, &PyDict_Type,
                          &joined, &PyDict_Type, &waiting))
        return NULL;
    if (res_id != Py_None && (!PyTuple_Check(res_id) || PyTuple_GET_SIZE(res_id) != 2 ||
                              !PyUnicode_Check(PyTuple_GET_ITEM(res_id, 0)))) {
        PyErr_SetString(PyExc_TypeError, "res_id is (id, attribute) or None");
        return NULL;
    }
    PyObject *result = NULL, *sessions = PyList_New(0), *orphans = PyList_New(0);
    PyObject *by_sid = PyDict_New(), *by_trace = PyDict_New(), *seen = PyDict_New();
    if (!sessions || !orphans || !by_sid || !by_trace || !seen) goto done;
    if (res_id != Py_None && PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(res_id, 0)) > max_id_length) goto general;
    Py_ssize_t n = PyList_GET_SIZE(scanned);
    /* First, in order, as the router's span loop does: is every span plain (a trace id, no end
     * marker, an id read or none and within the length limit, a trace the request has not seen in
     * another scope), and which session each trace joins: the first of its spans that names one (its
     * own id, else its resource's) decides. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *span = PyList_GET_ITEM(scanned, i);
        if (!PyTuple_Check(span) || PyTuple_GET_SIZE(span) != 5) {
            PyErr_SetString(PyExc_TypeError, "scanned spans are scan_scope's");
            goto done;
        }
        PyObject *trace_id = PyTuple_GET_ITEM(span, 2), *read = PyTuple_GET_ITEM(span, 3);
        if (!PyBytes_Check(trace_id) || PyTuple_GET_ITEM(span, 4) != Py_False) goto general;
        if (read != Py_None && (!PyTuple_Check(read) || PyTuple_GET_SIZE(read) != 2 ||
                                !PyUnicode_Check(PyTuple_GET_ITEM(read, 0)) ||
                                PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(read, 0)) > max_id_length))
            goto general;
        int known = PyDict_Contains(seen, trace_id);
        if (known < 0) goto done;
        if (!known) {
            int elsewhere = PyDict_Contains(joined, trace_id);
            if (elsewhere < 0 || (!elsewhere && (elsewhere = PyDict_Contains(waiting, trace_id)) < 0)) goto done;
            if (elsewhere) goto general;
            if (PyDict_SetItem(seen, trace_id, Py_None) < 0) goto done;
        }
        int named = PyDict_Contains(by_trace, trace_id);
        if (named < 0) goto done;
        PyObject *session = read != Py_None ? read : res_id;
        if (named || session == Py_None) continue;
        PyObject *sid = PyTuple_GET_ITEM(session, 0);
        PyObject *group = PyDict_GetItemWithError(by_sid, sid);
        if (!group) {
            if (PyErr_Occurred()) goto done;
            group = Py_BuildValue("(OO[][])", sid, PyTuple_GET_ITEM(session, 1));
            if (!group || PyDict_SetItem(by_sid, sid, group) < 0 || PyList_Append(sessions, group) < 0) {
                Py_XDECREF(group);
                goto done;
            }
            Py_DECREF(group);
        }
        if (PyList_Append(PyTuple_GET_ITEM(group, 2), trace_id) < 0 || PyDict_SetItem(by_trace, trace_id, group) < 0)
            goto done;
    }
    /* Then each span, in order, into its session's group, or its trace's when none named one. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *span = PyList_GET_ITEM(scanned, i);
        PyObject *trace_id = PyTuple_GET_ITEM(span, 2);
        PyObject *group = PyDict_GetItemWithError(by_trace, trace_id);
        if (!group) {
            if (PyErr_Occurred()) goto done;
            group = Py_BuildValue("(O[])", trace_id);
            if (!group || PyList_Append(orphans, group) < 0 || PyDict_SetItem(by_trace, trace_id, group) < 0) {
                Py_XDECREF(group);
                goto done;
            }
            Py_DECREF(group);
        }
        Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(span, 0));
        Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(span, 1));
        if (PyErr_Occurred()) goto done;
        if (start < 0 || end > PyBytes_GET_SIZE(raw) || start > end) {
            PyErr_SetString(PyExc_ValueError, "a span outside the request");
            goto done;
        }
        PyObject *bytes = PyBytes_FromStringAndSize(PyBytes_AS_STRING(raw) + start, end - start);
        if (!bytes || PyList_Append(PyTuple_GET_ITEM(group, PyTuple_GET_SIZE(group) - 1), bytes) < 0) {
            Py_XDECREF(bytes);
            goto done;
        }
        Py_DECREF(bytes);
    }
    result = PyTuple_Pack(2, sessions, orphans);
    goto done;
general:
    Py_INCREF(Py_None);
    result = Py_None;
done:
    Py_XDECREF(sessions);
    Py_XDECREF(orphans);
    Py_XDECREF(by_sid);
    Py_XDECREF(by_trace);
    Py_XDECREF(seen);
    return result;
}

static Py_ssize_t varint_size(Py_ssize_t n) {
    Py_ssize_t size = 1;
    for (size_t v = (size_t)n; v >= 0x80; v >>= 7) size++;
    return size;
}

static char *write_varint(char *out, Py_ssize_t n) {
    size_t v = (size_t)n;
    for (; v >= 0x80; v >>= 7) *out++ = (char)((v & 0x7F) | 0x80);
    *out++ = (char)v;
    return out;
}

/* A group of chunk_payload's groups, checked: (resource fields, scope fields, spans), all bytes. */
static int group_at(PyObject *groups, Py_ssize_t i, PyObject **res, PyObject **scope, PyObject **spans) {
    PyObject *group = PyList_GET_ITEM(groups, i);
    if (!PyTuple_Check(group) || PyTuple_GET_SIZE(group) != 3) {
        PyErr_SetString(PyExc_TypeError, "a group is (resource fields, scope fields, spans)");
        return 0;
    }
    *res = PyTuple_GET_ITEM(group, 0);
    *scope = PyTuple_GET_ITEM(group, 1);
    *spans = PyTuple_GET_ITEM(group, 2);
    if (!PyBytes_Check(*res) || !PyBytes_Check(*scope) || !PyList_Check(*spans)) {
        PyErr_SetString(PyExc_TypeError, "a group is (bytes, bytes, list of bytes)");
        return 0;
    }
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(*spans); k++) {
        if (!PyBytes_Check(PyList_GET_ITEM(*spans, k))) {
            PyErr_SetString(PyExc_TypeError, "spans must be bytes");
            return 0;
        }
    }
    return 1;
}

/* The length of a ScopeSpans' value: its fields and its spans (each an encoded field already). */
static Py_ssize_t scope_size(PyObject *scope, PyObject *spans) {
    Py_ssize_t size = PyBytes_GET_SIZE(scope);
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(spans); k++) size += PyBytes_GET_SIZE(PyList_GET_ITEM(spans, k));
    return size;
}

/* The end of the run of groups from `first` that share its resource (the same object, as the router
 * makes them), and the length of their ResourceSpans' value. */
static Py_ssize_t resource_run(PyObject *groups, Py_ssize_t first, Py_ssize_t *body) {
    PyObject *res, *scope, *spans, *first_res = PyTuple_GET_ITEM(PyList_GET_ITEM(groups, first), 0);
    *body = PyBytes_GET_SIZE(first_res);
    Py_ssize_t i = first;
    for (; i < PyList_GET_SIZE(groups); i++) {
        if (!group_at(groups, i, &res, &scope, &spans)) return -1;
        if (res != first_res) break;
        Py_ssize_t size = scope_size(scope, spans);
        *body += 1 + varint_size(size) + size;
    }
    return i;
}

/* chunk_payload(groups): see _spans.pyi. */
static PyObject *chunk_payload(PyObject *Py_UNUSED(module), PyObject *groups) {
    if (!PyList_Check(groups)) {
        PyErr_SetString(PyExc_TypeError, "groups must be a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(groups), total = 0, body, next;
    for (Py_ssize_t i = 0; i < n; i = next) {
        if ((next = resource_run(groups, i, &body)) < 0) return NULL;
        total += 1 + varint_size(body) + body;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, total);
    if (!result) return NULL;
    char *out = PyBytes_AS_STRING(result);
    PyObject *res, *scope, *spans;
    for (Py_ssize_t i = 0; i < n; i = next) {
        next = resource_run(groups, i, &body);
        *out++ = 0x0A; /* TracesData.resource_spans */
        out = write_varint(out, body);
        res = PyTuple_GET_ITEM(PyList_GET_ITEM(groups, i), 0);
        memcpy(out, PyBytes_AS_STRING(res), PyBytes_GET_SIZE(res));
        out += PyBytes_GET_SIZE(res);
        for (Py_ssize_t g = i; g < next; g++) {
            group_at(groups, g, &res, &scope, &spans);
            *out++ = 0x12; /* ResourceSpans.scope_spans */
            out = write_varint(out, scope_size(scope, spans));
            memcpy(out, PyBytes_AS_STRING(scope), PyBytes_GET_SIZE(scope));
            out += PyBytes_GET_SIZE(scope);
            for (Py_ssize_t k = 0; k < PyList_GET_SIZE(spans); k++) {
                PyObject *span = PyList_GET_ITEM(spans, k);
                memcpy(out, PyBytes_AS_STRING(span), PyBytes_GET_SIZE(span));
                out += PyBytes_GET_SIZE(span);
            }
        }
    }
    return result;
}

static PyMethodDef methods[] = {
    {"scan_scope", scan_scope, METH_VARARGS, "The spans of a ScopeSpans in raw[start:end] (see _spans.pyi)."},
    {"chunk_payload", chunk_payload, METH_O, "Groups of spans as an encoded TracesData (see _spans.pyi)."},
    {"group_scope", group_scope, METH_VARARGS, "A plain scope's spans grouped per session (see _spans.pyi)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_spans", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__spans(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "MAX_KEYS", MAX_KEYS) < 0) Py_CLEAR(m);
    return m;
}
