"""COCO JSON files read straight into columns (``fastiou._cy_json``).

:func:`loads` parses a JSON document as :func:`json.loads` does, except that an
array of objects at the top level or in the top-level object (a result list; a dataset's
``images``, ``annotations``, ``categories``) comes back as the columns of its
records instead of one dict per record: integers as int64, other numbers as
float64, arrays of numbers of one length as 2-D float64, anything else as a list
of Python objects.  Building half a million dicts is most of what
:func:`json.loads` spends on a result file.

Whatever this parser does not read exactly as :func:`json.loads` would (invalid
JSON, an escape in a key, a repeated key, invalid UTF-8, nesting deeper than 512)
makes :func:`loads` return None: the caller then uses :func:`json.loads`, which
gives the same value or its own error.  Numbers are read exactly: a decimal of at
most 18 significant digits and a power of ten up to 22 is one correctly rounded
IEEE operation (both operands are exact doubles, the fast path of Clinger's
algorithm); any other literal goes through Python's own conversion.
"""

from cpython.float cimport PyFloat_FromDouble
from cpython.long cimport PyLong_FromLongLong
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memcpy

import json

import numpy as np

cimport numpy as cnp

cnp.import_array()


cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    object PyBytes_FromStringAndSize(const char* s, Py_ssize_t size)


cdef double[23] POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
                         1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]
cdef enum:
    MAX_DEPTH = 512
cdef int64_t MAX_EXACT = <int64_t>1 << 53  # integers a double holds exactly


class NotRead(Exception):
    """Raised inside the parser: the document goes to json.loads."""


class NotRecords(Exception):
    """Raised by read_records at an item that is not an object."""


cdef struct Reader:
    const char* p
    const char* end   # a NUL: bytes objects end with one, so scans stop there without a bound check


cdef struct Number:
    bint is_int       # an integer literal that fits int64
    bint big          # an integer literal that may not: Python's int reads it
    int64_t i
    double d
    const char* start
    const char* stop


# --- scalars -------------------------------------------------------------------------------------------------

cdef inline void skip_ws(Reader* r) noexcept nogil:
    while r.p[0] == c' ' or r.p[0] == b'\n' or r.p[0] == b'\r' or r.p[0] == b'\t':
        r.p += 1


cdef inline bint is_digit(char c) noexcept nogil:
    return c'0' <= c <= c'9'


cdef inline bint starts(Reader* r, const char* word, Py_ssize_t n) noexcept nogil:
    return r.end - r.p >= n and memcmp(r.p, word, n) == 0


cdef inline bint at_number(Reader* r) noexcept nogil:
    cdef char c = r.p[0]
    return is_digit(c) or c == c'-' or c == c'N' or c == c'I'


cdef int read_number(Reader* r, Number* out) except -1:
    """One JSON number at r.p (with json.loads' NaN, Infinity and -Infinity)."""
    cdef bint negative = False
    cdef uint64_t mantissa = 0
    cdef int digits = 0, exp10 = 0, e = 0, e_sign = 1
    out.start = r.p
    out.is_int = True
    out.big = False
    if r.p[0] == c'-':
        negative = True
        r.p += 1
    if not is_digit(r.p[0]):
        if r.p[0] == c'N' and not negative and starts(r, b"NaN", 3):
            r.p += 3
            out.is_int = False
            out.d = float("nan")
            return 0
        if r.p[0] == c'I' and starts(r, b"Infinity", 8):
            r.p += 8
            out.is_int = False
            out.d = float("-inf") if negative else float("inf")
            return 0
        raise NotRead()
    if r.p[0] == c'0':
        r.p += 1
    else:
        while is_digit(r.p[0]):
            if digits < 19:
                mantissa = mantissa * 10 + <uint64_t>(r.p[0] - c'0')
            else:
                exp10 += 1
            digits += 1
            r.p += 1
    if r.p[0] == c'.':
        out.is_int = False
        r.p += 1
        if not is_digit(r.p[0]):
            raise NotRead()
        while is_digit(r.p[0]):
            if digits < 19:
                mantissa = mantissa * 10 + <uint64_t>(r.p[0] - c'0')
                exp10 -= 1
                if mantissa:  # leading zeros are not significant
                    digits += 1
            else:
                digits += 1
            r.p += 1
    if r.p[0] == c'e' or r.p[0] == c'E':
        out.is_int = False
        r.p += 1
        if r.p[0] == c'+' or r.p[0] == c'-':
            if r.p[0] == c'-':
                e_sign = -1
            r.p += 1
        if not is_digit(r.p[0]):
            raise NotRead()
        while is_digit(r.p[0]):
            if e < 100000:
                e = e * 10 + (r.p[0] - c'0')
            r.p += 1
        exp10 += e_sign * e
    out.stop = r.p
    if out.is_int:
        if digits > 18:
            out.is_int = False
            out.big = True
        else:
            out.i = -<int64_t>mantissa if negative else <int64_t>mantissa
            out.d = <double>out.i
        return 0
    if digits <= 18 and mantissa < (<uint64_t>1 << 53) and -22 <= exp10 <= 22:
        out.d = <double>mantissa * POW10[exp10] if exp10 >= 0 else <double>mantissa / POW10[-exp10]
        if negative:
            out.d = -out.d
    else:
        out.d = float(PyBytes_FromStringAndSize(out.start, out.stop - out.start))
    return 0


cdef object number_object(Number* n):
    if n.big:
        return int(PyBytes_FromStringAndSize(n.start, n.stop - n.start))
    return PyLong_FromLongLong(n.i) if n.is_int else PyFloat_FromDouble(n.d)


cdef int read_string(Reader* r, const char** start, Py_ssize_t* length, bint* escaped) except -1:
    """The raw bytes of the string at r.p (its opening quote), r.p after its closing quote."""
    cdef unsigned char c
    r.p += 1
    start[0] = r.p
    escaped[0] = False
    while True:  # the NUL after the document ends it as a control character
        c = <unsigned char>r.p[0]
        if c == c'"':
            length[0] = r.p - start[0]
            r.p += 1
            return 0
        if c == c'\\':
            if r.p + 1 >= r.end:  # a backslash last: never step over the terminating NUL
                raise NotRead()
            escaped[0] = True
            r.p += 2
            continue
        if c < 0x20:  # control characters are not allowed in JSON strings
            raise NotRead()
        r.p += 1


cdef object string_object(Reader* r):
    cdef const char* start
    cdef Py_ssize_t length
    cdef bint escaped
    read_string(r, &start, &length, &escaped)
    try:
        if escaped:
            return json.loads(PyBytes_FromStringAndSize(start - 1, length + 2))
        return PyUnicode_DecodeUTF8(start, length, NULL)
    except ValueError:  # invalid UTF-8 or escape
        raise NotRead() from None


cdef inline int expect(Reader* r, char c) except -1:
    skip_ws(r)
    if r.p[0] != c:
        raise NotRead()
    r.p += 1
    return 0


cdef inline int more_items(Reader* r, char close) except -1:
    """After an item: 1 past a comma (another item follows), 0 past ``close``."""
    skip_ws(r)
    if r.p[0] == c',':
        r.p += 1
        return 1
    if r.p[0] == close:
        r.p += 1
        return 0
    raise NotRead()


# --- values --------------------------------------------------------------------------------------------------

cdef object read_value(Reader* r, int depth, object make_records, object missing):
    cdef Number n
    cdef char c
    skip_ws(r)
    if depth > MAX_DEPTH:
        raise NotRead()
    c = r.p[0]
    if c == c'{':
        return read_object(r, depth, make_records, missing)
    if c == c'[':
        return read_array(r, depth, make_records, missing)
    if c == c'"':
        return string_object(r)
    if starts(r, b"true", 4):
        r.p += 4
        return True
    if starts(r, b"false", 5):
        r.p += 5
        return False
    if starts(r, b"null", 4):
        r.p += 4
        return None
    read_number(r, &n)
    return number_object(&n)


cdef object read_object(Reader* r, int depth, object make_records, object missing):
    cdef dict out = {}
    r.p += 1
    skip_ws(r)
    if r.p[0] == c'}':
        r.p += 1
        return out
    while True:
        skip_ws(r)
        if r.p[0] != c'"':
            raise NotRead()
        key = string_object(r)
        expect(r, c':')
        out[key] = read_value(r, depth + 1, make_records, missing)
        if not more_items(r, c'}'):
            return out


cdef object read_array(Reader* r, int depth, object make_records, object missing):
    cdef list out = []
    r.p += 1
    skip_ws(r)
    if r.p[0] == c']':
        r.p += 1
        return out
    cdef const char* first = r.p
    if depth <= 1 and r.p[0] == c'{':
        try:
            return read_records(r, depth, make_records, missing)
        except NotRecords:  # objects and other values: a list, read again
            r.p = first
    while True:
        out.append(read_value(r, depth + 2, make_records, missing))  # no records in an array's items
        if not more_items(r, c']'):
            return out


# --- records as columns --------------------------------------------------------------------------------------

cdef enum Kind:
    UNSET, INT, FLOAT, VECTOR, OBJECT


cdef struct Column:
    const char* key       # the key's bytes in the document (keys have no escapes)
    Py_ssize_t key_len
    Kind kind
    bint ints             # VECTOR: every element was an integer literal
    Py_ssize_t width      # VECTOR: numbers per row
    Py_ssize_t rows       # rows filled
    Py_ssize_t capacity   # numbers the buffer holds
    char* data            # int64 (INT) or double (FLOAT, VECTOR) values
    Py_ssize_t last_row   # the last row that had this key (a repeated key is left to json.loads)


cdef class Owned:
    """A malloc'd buffer, freed with the array that has it as its base."""
    cdef void* data

    @staticmethod
    cdef Owned of(void* data):
        cdef Owned o = Owned.__new__(Owned)
        o.data = data
        return o

    def __dealloc__(self):
        free(self.data)


cdef class Columns:
    """The columns being filled: C buffers, and Python lists for OBJECT columns."""
    cdef Column* cols
    cdef Py_ssize_t n_cols
    cdef list objects      # per column: its list of values once OBJECT, else None
    cdef list keys
    cdef object missing
    cdef double* scratch   # one vector being read
    cdef Py_ssize_t scratch_len

    def __cinit__(self, object missing):
        self.cols = NULL
        self.n_cols = 0
        self.objects = []
        self.keys = []
        self.missing = missing
        self.scratch = NULL
        self.scratch_len = 0

    def __dealloc__(self):
        cdef Py_ssize_t k
        for k in range(self.n_cols):
            free(self.cols[k].data)
        free(self.cols)
        free(self.scratch)

    cdef Py_ssize_t find(self, const char* key, Py_ssize_t key_len, Py_ssize_t guess) except -1:
        """The column of ``key`` (``guess``: its place in the first record), added if new."""
        cdef Py_ssize_t k
        cdef Column* c
        if guess < self.n_cols and self.cols[guess].key_len == key_len and \
                memcmp(self.cols[guess].key, key, key_len) == 0:
            return guess
        for k in range(self.n_cols):
            if self.cols[k].key_len == key_len and memcmp(self.cols[k].key, key, key_len) == 0:
                return k
        c = <Column*>realloc(self.cols, (self.n_cols + 1) * sizeof(Column))
        if c == NULL:
            raise MemoryError()
        self.cols = c
        c = &self.cols[self.n_cols]
        c.key, c.key_len, c.kind, c.ints, c.width = key, key_len, UNSET, True, 0
        c.rows, c.capacity, c.data, c.last_row = 0, 0, NULL, -1
        try:
            self.keys.append(PyUnicode_DecodeUTF8(key, key_len, NULL))
        except ValueError:
            raise NotRead() from None
        self.objects.append(None)
        self.n_cols += 1
        return self.n_cols - 1

    cdef char* room(self, Column* c, Py_ssize_t count) except NULL:
        """Space for ``count`` more numbers of 8 bytes at the end of ``c``'s buffer."""
        cdef Py_ssize_t used = c.rows * (c.width if c.kind == VECTOR else 1), want
        cdef char* grown
        if used + count > c.capacity or c.data == NULL:  # never NULL: that is the error return
            want = max(2 * c.capacity, used + count, 1024)
            grown = <char*>realloc(c.data, want * 8)
            if grown == NULL:
                raise MemoryError()
            c.data, c.capacity = grown, want
        return c.data + 8 * used

    cdef int to_objects(self, Py_ssize_t k) except -1:
        """Column ``k`` as Python objects from now on."""
        cdef Column* c = &self.cols[k]
        cdef Py_ssize_t i, j
        cdef int64_t* ints = <int64_t*>c.data
        cdef double* doubles = <double*>c.data
        cdef list values
        if c.kind == INT:
            values = [PyLong_FromLongLong(ints[i]) for i in range(c.rows)]
        elif c.kind == FLOAT:
            values = [PyFloat_FromDouble(doubles[i]) for i in range(c.rows)]
        elif c.kind == VECTOR:
            values = [[(PyLong_FromLongLong(<int64_t>doubles[i * c.width + j]) if c.ints
                        else PyFloat_FromDouble(doubles[i * c.width + j])) for j in range(c.width)]
                      for i in range(c.rows)]
        else:
            values = [self.missing] * c.rows  # UNSET: only missing rows so far
        self.objects[k] = values
        c.kind = OBJECT
        free(c.data)
        c.data, c.capacity = NULL, 0
        return 0

    cdef int add_missing(self, Py_ssize_t k, Py_ssize_t row) except -1:
        """Rows up to ``row`` (excluded) that lacked the key."""
        cdef Column* c = &self.cols[k]
        if c.rows < row:
            if c.kind != OBJECT:
                self.to_objects(k)
            self.objects[k].extend([self.missing] * (row - c.rows))
            c.rows = row
        return 0

    cdef int add_object(self, Py_ssize_t k, object value) except -1:
        cdef Column* c = &self.cols[k]
        if c.kind != OBJECT:
            self.to_objects(k)
        self.objects[k].append(value)
        c.rows += 1
        return 0

    cdef int add_number(self, Py_ssize_t k, Number* n) except -1:
        cdef Column* c = &self.cols[k]
        if c.kind == UNSET and not n.big:
            c.kind = INT if n.is_int else FLOAT
        if c.kind == INT and n.is_int:
            (<int64_t*>self.room(c, 1))[0] = n.i
        elif c.kind == FLOAT and not n.is_int and not n.big:
            (<double*>self.room(c, 1))[0] = n.d
        else:  # ints and floats mixed keep each value's type, as json.loads does
            return self.add_object(k, number_object(n))
        c.rows += 1
        return 0

    cdef int add_array(self, Reader* r, Py_ssize_t k, int depth, object make_records) except -1:
        """An array value: a row of a VECTOR column while it holds numbers of one length."""
        cdef Column* c = &self.cols[k]
        cdef const char* start = r.p
        cdef Py_ssize_t count = 0
        cdef bint ints = True
        cdef Number n
        cdef double* grown
        cdef char* dest
        if c.kind == UNSET or c.kind == VECTOR:
            r.p += 1
            skip_ws(r)
            if r.p[0] == c']':
                r.p += 1
            else:
                while True:
                    skip_ws(r)
                    if not at_number(r):
                        count = -1
                        break
                    read_number(r, &n)
                    if n.big or (n.is_int and (n.i > MAX_EXACT or n.i < -MAX_EXACT)):
                        count = -1  # kept exactly as a Python object
                        break
                    if count == self.scratch_len:
                        grown = <double*>realloc(self.scratch, (2 * count + 16) * sizeof(double))
                        if grown == NULL:
                            raise MemoryError()
                        self.scratch, self.scratch_len = grown, 2 * count + 16
                    self.scratch[count] = n.d
                    ints = ints and n.is_int
                    count += 1
                    if not more_items(r, c']'):
                        break
            if count >= 0 and c.kind == UNSET:
                c.kind, c.width = VECTOR, count
            if count >= 0 and count == c.width and c.kind == VECTOR:
                dest = self.room(c, count)
                if count:
                    memcpy(dest, self.scratch, count * sizeof(double))
                c.ints = c.ints and ints
                c.rows += 1
                return 0
            r.p = start  # not a row of this column: read it again as a Python value
        return self.add_object(k, read_value(r, depth + 2, make_records, self.missing))

    cdef object finish(self, Py_ssize_t n_rows, object make_records):
        cdef Py_ssize_t k
        cdef Column* c
        cdef cnp.ndarray arr
        cdef cnp.npy_intp dims[2]
        values = []
        kinds = []
        for k in range(self.n_cols):
            c = &self.cols[k]
            if c.kind == OBJECT:
                values.append(self.objects[k])
                kinds.append("o")
                continue
            dims[0] = n_rows
            dims[1] = c.width
            arr = cnp.PyArray_SimpleNewFromData(2 if c.kind == VECTOR else 1, dims,
                                                cnp.NPY_INT64 if c.kind == INT else cnp.NPY_FLOAT64, c.data)
            cnp.set_array_base(arr, Owned.of(c.data))  # the array frees the buffer: no copy
            c.data = NULL
            kinds.append("V" if c.kind == VECTOR and c.ints else "v" if c.kind == VECTOR else
                         "i" if c.kind == INT else "f")
            values.append(arr)
        return make_records(n_rows, self.keys, kinds, values)


cdef object read_records(Reader* r, int depth, object make_records, object missing):
    """An array of objects (r.p at the first '{') as columns."""
    cdef Columns cols = Columns(missing)
    cdef Py_ssize_t row = 0, place, k
    cdef const char* key
    cdef Py_ssize_t key_len
    cdef bint escaped
    cdef Number n
    cdef Column* c
    while True:
        skip_ws(r)
        if r.p[0] != c'{':
            raise NotRecords()
        r.p += 1
        skip_ws(r)
        place = 0
        if r.p[0] == c'}':
            r.p += 1
        else:
            while True:
                skip_ws(r)
                if r.p[0] != c'"':
                    raise NotRead()
                read_string(r, &key, &key_len, &escaped)
                if escaped:
                    raise NotRead()
                k = cols.find(key, key_len, place)
                c = &cols.cols[k]
                if c.last_row == row:
                    raise NotRead()
                c.last_row = row
                cols.add_missing(k, row)
                expect(r, c':')
                skip_ws(r)
                if at_number(r):
                    read_number(r, &n)
                    cols.add_number(k, &n)
                elif r.p[0] == c'[':
                    cols.add_array(r, k, depth, make_records)
                else:
                    cols.add_object(k, read_value(r, depth + 2, make_records, missing))
                place += 1
                if not more_items(r, c'}'):
                    break
        row += 1
        if not more_items(r, c']'):
            break
    for k in range(cols.n_cols):
        cols.add_missing(k, row)
    return cols.finish(row, make_records)


def loads(bytes data, make_records, missing):
    """``data`` (a JSON document, UTF-8) as :func:`json.loads` reads it, with each
    array of objects at the top two levels given to ``make_records(n, keys, kinds,
    columns)``; None where :func:`json.loads` must read it.

    ``kinds[k]`` says what ``columns[k]`` holds: ``'i'`` int64 (n,), ``'f'`` float64
    (n,), ``'v'`` float64 (n, w), ``'V'`` the same read from integer literals only,
    ``'o'`` a list of the values (``missing`` where a record lacks the key).  A
    column mixing integer and decimal literals is ``'o'`` for single numbers (each
    keeps its type) and ``'v'`` for arrays (the integers read as floats).
    """
    cdef Reader r
    r.p = <const char*>data
    r.end = r.p + len(data)
    try:
        value = read_value(&r, 0, make_records, missing)
        skip_ws(&r)
        if r.p != r.end:
            return None
    except NotRead:
        return None
    return value
