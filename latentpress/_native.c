/*
 * latentpress._native: the overfit codec's ARM wavefront step in compiled code.
 *
 * The numpy decoder (latentpress/codecs/overfit/arm.py) runs a few dozen array calls
 * per wavefront step: gather the 12-14 inputs of every latent of the step, run the
 * integer ARM, map its (mean, ln scale) to a table, group the step's latents by table.
 * Most of a Kodak decode's time is that fixed cost per step (907 steps), so this module
 * does all of it in one call per step, and writes the decoded latents back in another.
 * It computes exactly what the numpy path computes (a test compares them bit for bit):
 *
 * - The ARM runs in float64 only when every layer's product is exact (the caller
 *   checks IntegerMLP._float_weights), as IntegerMLP._call_float: inputs are integers,
 *   the first layer's plain weights give integer sums, every later layer's weights are
 *   pre-scaled by 2**-frac_bits so every partial sum is a multiple of 2**-frac_bits
 *   below 2**53 of them; floor() is then the arithmetic right shift. Exact in any
 *   summation order, with or without FMA.
 * - Latents whose inputs are all zero take their grid's precomputed prediction (the
 *   same numbers: every row is computed alone).
 * - Tables: centre = (mean + half) >> f, offset index from the remainder, clipped to
 *   +-OFFSET_STEPS, scale index = the number of thresholds <= ln scale (numpy's
 *   searchsorted, side="right"); id = scale * NUM_OFFSETS + offset + OFFSET_STEPS.
 * - Grouping: a stable counting sort of the step's latents by table id, the order
 *   EntropyDecoder's stable argsort gives.
 *
 * Every index this code follows is checked once, when a Stepper is built (every
 * position plus every input offset lies inside the store), and every step's range on
 * each call, so a crafted file cannot make it read or write out of bounds: it only
 * ever sees shapes the Python side computed from a validated header.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_LAYERS 8
#define MAX_WIDTH 1024
#define SCALAR_CALLS 3    /* groups of at most this many symbols: one coder call per symbol */

typedef struct {
    PyObject_HEAD
    /* Buffers held for the object's lifetime (read-only unless noted). */
    Py_buffer positions;  /* int32 (n,) flat store index of every latent in coding order */
    Py_buffer owners;     /* int32 (n,) tile of every latent */
    Py_buffer tile_grid;  /* int64 (tiles,) grid of every tile */
    Py_buffer deltas;     /* int32 (inputs,) store offset of every input */
    Py_buffer weights[MAX_LAYERS];   /* float64 (in, out): plain for layer 0, then pre-scaled */
    Py_buffer biases[MAX_LAYERS];    /* float64 (out,) */
    Py_buffer offsets;    /* float64 (grids, hidden) or empty */
    Py_buffer zero;       /* int64 (grids, 2): (centre, id) of an all-zero context */
    Py_buffer thresholds; /* int64 (scales - 1,) */
    Py_buffer centres;    /* int64 (max step,) out */
    Py_buffer ids;        /* int64 (max step,) out */
    Py_buffer order;      /* int64 (max step,) out: step-relative indices grouped by table */
    Py_buffer keys;       /* int64 (tables,) out */
    Py_buffer counts;     /* int64 (tables,) out */
    Py_buffer radii;      /* int64 (scales,) */
    Py_buffer index;      /* int32 (max step,) out: decoded symbol indices in grouped order */
    int nlayers, relu[MAX_LAYERS], width[MAX_LAYERS + 1];
    int frac_bits, num_offsets, offset_steps, ntables, nscales;
    Py_ssize_t n, ninputs, ngrids, ntiles, store_length, max_step;
    int have_offsets;
    int64_t *counting;    /* ntables + 1 scratch */
} Stepper;

static int get(PyObject *obj, Py_buffer *view, const char *format, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    /* numpy writes int64 as 'l' on LP64 and 'q' elsewhere; both are 8-byte integers here. */
    const char *f = view->format ? view->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    int ok;
    if (format[0] == 'q')
        ok = (strcmp(f, "q") == 0 || strcmp(f, "l") == 0) && view->itemsize == 8;
    else if (format[0] == 'i')
        ok = strcmp(f, "i") == 0 && view->itemsize == 4;
    else
        ok = strcmp(f, "d") == 0 && view->itemsize == 8;
    if (!ok) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous %s array", name,
                     format[0] == 'q' ? "int64" : format[0] == 'i' ? "int32" : "float64");
        return -1;
    }
    return 0;
}

#define ITEMS(view) ((view).len / (view).itemsize)

static void release_all(Stepper *self) {
    Py_buffer *views[] = {&self->positions, &self->owners, &self->tile_grid, &self->deltas,
                          &self->offsets, &self->zero, &self->thresholds, &self->centres,
                          &self->ids, &self->order, &self->keys, &self->counts, &self->radii,
                          &self->index};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        if (views[i]->obj) PyBuffer_Release(views[i]);
    for (int l = 0; l < MAX_LAYERS; l++) {
        if (self->weights[l].obj) PyBuffer_Release(&self->weights[l]);
        if (self->biases[l].obj) PyBuffer_Release(&self->biases[l]);
    }
    PyMem_Free(self->counting);
    self->counting = NULL;
}

static void Stepper_dealloc(Stepper *self) {
    release_all(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Stepper_init(Stepper *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"positions", "owners", "tile_grid", "deltas", "store_length",
                            "weights", "biases", "relu", "offsets", "zero", "thresholds",
                            "radii", "frac_bits", "num_offsets", "offset_steps",
                            "centres", "ids", "order", "keys", "counts", "index", NULL};
    PyObject *positions, *owners, *tile_grid, *deltas, *weights, *biases, *relu, *offsets,
        *zero, *thresholds, *radii, *centres, *ids, *order, *keys, *counts, *index;
    Py_ssize_t store_length;
    int frac_bits, num_offsets, offset_steps;
    release_all(self);
    memset((char *)self + sizeof(PyObject), 0, sizeof(Stepper) - sizeof(PyObject));
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOnOOOOOOOiiiOOOOOO", names, &positions,
                                     &owners, &tile_grid, &deltas, &store_length, &weights,
                                     &biases, &relu, &offsets, &zero, &thresholds, &radii,
                                     &frac_bits, &num_offsets, &offset_steps, &centres, &ids,
                                     &order, &keys, &counts, &index))
        return -1;
    if (get(positions, &self->positions, "i", 0, "positions") || get(owners, &self->owners, "i", 0, "owners")
        || get(tile_grid, &self->tile_grid, "q", 0, "tile_grid") || get(deltas, &self->deltas, "i", 0, "deltas")
        || get(offsets, &self->offsets, "d", 0, "offsets") || get(zero, &self->zero, "q", 0, "zero")
        || get(thresholds, &self->thresholds, "q", 0, "thresholds") || get(radii, &self->radii, "q", 0, "radii")
        || get(centres, &self->centres, "q", 1, "centres") || get(ids, &self->ids, "q", 1, "ids")
        || get(order, &self->order, "q", 1, "order") || get(keys, &self->keys, "q", 1, "keys")
        || get(counts, &self->counts, "q", 1, "counts") || get(index, &self->index, "i", 1, "index"))
        return -1;
    if (!PyTuple_Check(weights) || !PyTuple_Check(biases) || !PyTuple_Check(relu)
        || PyTuple_GET_SIZE(weights) != PyTuple_GET_SIZE(biases)
        || PyTuple_GET_SIZE(weights) != PyTuple_GET_SIZE(relu)
        || PyTuple_GET_SIZE(weights) < 1 || PyTuple_GET_SIZE(weights) > MAX_LAYERS) {
        PyErr_SetString(PyExc_ValueError, "weights, biases and relu: tuples of 1 to 8 layers");
        return -1;
    }
    self->nlayers = (int)PyTuple_GET_SIZE(weights);
    self->ninputs = ITEMS(self->deltas);
    self->width[0] = (int)self->ninputs;
    for (int l = 0; l < self->nlayers; l++) {
        if (get(PyTuple_GET_ITEM(weights, l), &self->weights[l], "d", 0, "weights")
            || get(PyTuple_GET_ITEM(biases, l), &self->biases[l], "d", 0, "biases"))
            return -1;
        int r = PyObject_IsTrue(PyTuple_GET_ITEM(relu, l));
        if (r < 0) return -1;
        self->relu[l] = r;
        Py_ssize_t out = ITEMS(self->biases[l]);
        if (out < 1 || out > MAX_WIDTH || ITEMS(self->weights[l]) != out * self->width[l]) {
            PyErr_SetString(PyExc_ValueError, "ARM layers do not chain");
            return -1;
        }
        self->width[l + 1] = (int)out;
    }
    if (self->width[self->nlayers] != 2 || self->ninputs < 1 || self->ninputs > MAX_WIDTH) {
        PyErr_SetString(PyExc_ValueError, "the ARM must map its inputs to (mean, ln scale)");
        return -1;
    }
    self->n = ITEMS(self->positions);
    self->ntiles = ITEMS(self->tile_grid);
    self->ngrids = ITEMS(self->zero) / 2;
    self->store_length = store_length;
    self->have_offsets = ITEMS(self->offsets) > 0;
    self->frac_bits = frac_bits;
    self->num_offsets = num_offsets;
    self->offset_steps = offset_steps;
    self->nscales = (int)ITEMS(self->radii);
    self->ntables = self->nscales * num_offsets;
    self->max_step = ITEMS(self->centres);
    if (ITEMS(self->owners) != self->n || frac_bits < 0 || frac_bits > 16 || num_offsets != 2 * offset_steps + 1
        || ITEMS(self->thresholds) != self->nscales - 1 || self->nscales < 1
        || (self->have_offsets && ITEMS(self->offsets) != self->ngrids * self->width[1])
        || ITEMS(self->ids) != self->max_step || ITEMS(self->order) != self->max_step
        || ITEMS(self->index) != self->max_step
        || ITEMS(self->keys) < self->ntables || ITEMS(self->counts) < self->ntables) {
        PyErr_SetString(PyExc_ValueError, "inconsistent stepper arrays");
        return -1;
    }
    /* Every index followed later, checked once here. */
    const int32_t *pos = self->positions.buf, *own = self->owners.buf, *d = self->deltas.buf;
    const int64_t *tg = self->tile_grid.buf, *z = self->zero.buf;
    int32_t dmin = 0, dmax = 0;
    for (Py_ssize_t k = 0; k < self->ninputs; k++) {
        if (d[k] < dmin) dmin = d[k];
        if (d[k] > dmax) dmax = d[k];
    }
    for (Py_ssize_t i = 0; i < self->n; i++) {
        if ((int64_t)pos[i] + dmin < 0 || (int64_t)pos[i] + dmax >= store_length || pos[i] < 0
            || pos[i] >= store_length || own[i] < 0 || own[i] >= self->ntiles) {
            PyErr_SetString(PyExc_ValueError, "a latent's inputs lie outside the store");
            return -1;
        }
    }
    for (Py_ssize_t t = 0; t < self->ntiles; t++)
        if (tg[t] < 0 || tg[t] >= self->ngrids) {
            PyErr_SetString(PyExc_ValueError, "a tile's grid is out of range");
            return -1;
        }
    for (Py_ssize_t g = 0; g < self->ngrids; g++)
        if (z[2 * g + 1] < 0 || z[2 * g + 1] >= self->ntables) {
            PyErr_SetString(PyExc_ValueError, "a zero-context table is out of range");
            return -1;
        }
    self->counting = PyMem_Calloc((size_t)self->ntables + 1, sizeof(int64_t));
    if (!self->counting) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* The ARM's products in 4- or 8-wide vectors where the CPU has them (chosen at load
   time; exact either way: see the top of this file). */
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

static inline int64_t floor_shift(int64_t value, int bits) {
    /* Floor division by 2**bits (an arithmetic right shift, written portably). */
    return value >= 0 ? value >> bits : -((-value + ((int64_t)1 << bits) - 1) >> bits);
}

static int check_store(Stepper *self, Py_buffer *store, Py_ssize_t start, Py_ssize_t stop) {
    if (ITEMS(*store) != self->store_length) {
        PyErr_SetString(PyExc_ValueError, "store has the wrong length");
        return -1;
    }
    if (start < 0 || stop < start || stop > self->n || stop - start > self->max_step) {
        PyErr_SetString(PyExc_ValueError, "step out of range");
        return -1;
    }
    return 0;
}

/* y = x @ w for w of (in, out), row-major. The usual widths are written out with a
   constant width, so the compiler keeps the outputs in vector registers. */
#define PRODUCT(OUT)                                                                    \
    static inline __attribute__((always_inline)) void product_##OUT(                   \
        const double *restrict x, int in, const double *restrict w, double *restrict y) { \
        double acc[OUT] = {0};                                                            \
        for (int k = 0; k < in; k++)                                                      \
            for (int j = 0; j < OUT; j++)                                                 \
                acc[j] += x[k] * w[k * OUT + j];                                          \
        for (int j = 0; j < OUT; j++)                                                     \
            y[j] = acc[j];                                                                \
    }
PRODUCT(2)
PRODUCT(4)
PRODUCT(8)
PRODUCT(16)
PRODUCT(24)
PRODUCT(32)

static inline __attribute__((always_inline)) void product(const double *restrict x, int in,
                                                           const double *restrict w,
                                                           double *restrict y, int out) {
    switch (out) {
    case 2: product_2(x, in, w, y); return;
    case 4: product_4(x, in, w, y); return;
    case 8: product_8(x, in, w, y); return;
    case 16: product_16(x, in, w, y); return;
    case 24: product_24(x, in, w, y); return;
    case 32: product_32(x, in, w, y); return;
    }
    for (int j = 0; j < out; j++)
        y[j] = 0.0;
    for (int k = 0; k < in; k++)
        for (int j = 0; j < out; j++)
            y[j] += x[k] * w[(Py_ssize_t)k * out + j];
}

/* Predict a step's latents: centres[:n], ids[:n] (coding order), order[:n] (grouped by
   table, stable), keys[:k], counts[:k]; returns k, the number of distinct tables. */
CLONES static Py_ssize_t predict_step(Stepper *self, const double *s, Py_ssize_t start, Py_ssize_t stop) {
    const int32_t *pos = self->positions.buf, *own = self->owners.buf, *d = self->deltas.buf;
    const int64_t *tg = self->tile_grid.buf, *zero = self->zero.buf, *thr = self->thresholds.buf;
    const double *off = self->offsets.buf;
    int64_t *centres = self->centres.buf, *ids = self->ids.buf, *order = self->order.buf;
    int64_t *keys = self->keys.buf, *counts = self->counts.buf, *counting = self->counting;
    const double bound = (double)((1 << 24) - 1);   /* fixed_point.MAX_INPUT_BITS */
    const int f = self->frac_bits, last = self->nlayers - 1;
    const int64_t one = (int64_t)1 << f, half = one >> 1;
    double a[MAX_WIDTH], b[MAX_WIDTH];
    Py_ssize_t count = stop - start;

    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t at = start + i;
        int64_t grid = tg[own[at]];
        int nonzero = 0;
        for (Py_ssize_t k = 0; k < self->ninputs; k++) {
            a[k] = s[pos[at] + d[k]];
            nonzero |= a[k] != 0.0;
        }
        if (!nonzero) {
            centres[i] = zero[2 * grid];
            ids[i] = zero[2 * grid + 1];
            continue;
        }
        double *x = a, *y = b;
        int clamped = 0;
        for (int l = 0; l <= last; l++) {
            int in = self->width[l], out = self->width[l + 1], shifted = l > 0;
            const double *w = self->weights[l].buf, *bias = self->biases[l].buf;
            if (shifted && !clamped)
                for (int k = 0; k < in; k++)
                    x[k] = x[k] < -bound ? -bound : (x[k] > bound ? bound : x[k]);
            product(x, in, w, y, out);
            for (int j = 0; j < out; j++)
                y[j] += bias[j];
            if (l == 0 && self->have_offsets)
                for (int j = 0; j < out; j++)
                    y[j] += off[grid * out + j];
            if (shifted)
                for (int j = 0; j < out; j++)
                    y[j] = floor(y[j]);
            clamped = 0;
            if (self->relu[l]) {
                for (int j = 0; j < out; j++)
                    y[j] = y[j] > 0.0 ? y[j] : 0.0;
                if (l < last) {
                    for (int j = 0; j < out; j++)
                        y[j] = y[j] < bound ? y[j] : bound;
                    clamped = 1;
                }
            }
            double *t = x; x = y; y = t;
        }
        int64_t mean = (int64_t)x[0], log_scale = (int64_t)x[1];
        int64_t centre = floor_shift(mean + half, f);
        int64_t remainder = mean - centre * one;
        int64_t offset = floor_shift(remainder * 2 * self->offset_steps + half, f);
        if (offset < -self->offset_steps) offset = -self->offset_steps;
        if (offset > self->offset_steps) offset = self->offset_steps;
        int lo = 0, hi = self->nscales - 1;          /* count of thresholds <= log_scale */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (thr[mid] <= log_scale) lo = mid + 1; else hi = mid;
        }
        centres[i] = centre;
        ids[i] = (int64_t)lo * self->num_offsets + offset + self->offset_steps;
    }

    /* Stable counting sort by table id. */
    memset(counting, 0, ((size_t)self->ntables + 1) * sizeof(int64_t));
    for (Py_ssize_t i = 0; i < count; i++)
        counting[ids[i] + 1]++;
    Py_ssize_t k = 0;
    for (int t = 0; t < self->ntables; t++) {
        if (counting[t + 1]) {
            keys[k] = t;
            counts[k] = counting[t + 1];
            k++;
        }
        counting[t + 1] += counting[t];
    }
    for (Py_ssize_t i = 0; i < count; i++)
        order[counting[ids[i]]++] = i;
    return k;
}

/* The entropy coder's calls of a step: counts[g] symbols of table keys[g] for each group,
   through decode(model, count) (the coder's bound method), models[key] (a list: the
   prepared model or None) and make(key) (builds a missing one); the symbol indices go
   to index[:n] in grouped order. -1 with an exception set on failure. */
static int decode_groups(Stepper *self, Py_ssize_t groups, Py_ssize_t count, PyObject *decode,
                         PyObject *models, PyObject *make) {
    const int64_t *keys = self->keys.buf, *counts = self->counts.buf;
    int32_t *index = self->index.buf;
    Py_ssize_t at = 0;
    for (Py_ssize_t g = 0; g < groups; g++) {
        PyObject *model = PyList_GET_ITEM(models, keys[g]);
        if (model == Py_None) {
            PyObject *key = PyLong_FromLongLong(keys[g]);
            model = key ? PyObject_CallOneArg(make, key) : NULL;
            Py_XDECREF(key);
            if (!model) return -1;
        } else {
            Py_INCREF(model);
        }
        if (at + counts[g] > count) {
            Py_DECREF(model);
            PyErr_SetString(PyExc_ValueError, "the groups hold more symbols than the step");
            return -1;
        }
        if (counts[g] <= SCALAR_CALLS) {
            /* A few symbols: one call each, returning a plain int, costs less than one call
               that returns an array (the same symbols: the coder decodes them in turn). */
            for (int64_t c = 0; c < counts[g]; c++) {
                PyObject *call[1] = {model};
                PyObject *symbol = PyObject_Vectorcall(decode, call, 1, NULL);
                long value = symbol ? PyLong_AsLong(symbol) : -1;
                Py_XDECREF(symbol);
                if (value == -1 && PyErr_Occurred()) {
                    Py_DECREF(model);
                    return -1;
                }
                if (value < 0 || value > INT32_MAX) {
                    Py_DECREF(model);
                    PyErr_SetString(PyExc_ValueError, "the coder returned a symbol out of range");
                    return -1;
                }
                index[at++] = (int32_t)value;
            }
            Py_DECREF(model);
            continue;
        }
        PyObject *n = PyLong_FromLongLong(counts[g]);
        PyObject *call[2] = {model, n};
        PyObject *result = n ? PyObject_Vectorcall(decode, call, 2, NULL) : NULL;
        Py_DECREF(model);
        Py_XDECREF(n);
        if (!result) return -1;
        Py_buffer symbols;
        int failed = get(result, &symbols, "i", 0, "decoded symbols");
        Py_DECREF(result);
        if (failed) return -1;
        if (ITEMS(symbols) != counts[g]) {
            PyBuffer_Release(&symbols);
            PyErr_SetString(PyExc_ValueError, "the coder returned the wrong number of symbols");
            return -1;
        }
        memcpy(index + at, symbols.buf, (size_t)counts[g] * sizeof(int32_t));
        at += counts[g];
        PyBuffer_Release(&symbols);
    }
    return 0;
}

/* Write a step's latents to the store from index[:n]: 0 done; 1 an escape symbol
   (nothing written; the caller resolves the step from centres, ids, order and index);
   2 a latent beyond +-max_latent (nothing written: the file is corrupt). */
static int commit_step(Stepper *self, double *s, Py_ssize_t start, Py_ssize_t count, int64_t max_latent) {
    const int32_t *sym = self->index.buf, *pos = self->positions.buf;
    const int64_t *centres = self->centres.buf, *ids = self->ids.buf, *order = self->order.buf;
    const int64_t *radii = self->radii.buf;
    int status = 0;
    for (Py_ssize_t g = 0; g < count && !status; g++) {
        int64_t i = order[g], radius = radii[ids[i] / self->num_offsets];
        int64_t residual = (int64_t)sym[g] - radius;
        if (residual == radius + 1)
            status = 1;
        else if (llabs(centres[i] + residual) > max_latent)
            status = 2;
    }
    if (!status)
        for (Py_ssize_t g = 0; g < count; g++) {
            int64_t i = order[g], radius = radii[ids[i] / self->num_offsets];
            s[pos[start + i]] = (double)(centres[i] + (int64_t)sym[g] - radius);
        }
    return status;
}

/* run(store, start, stop, decode, models, make) -> commit_step's status: one wavefront
   step of the phase (latents start:stop of the coding order), decoded into the store. */
/* The (store, start, stop) that run() and predict() begin with, checked; the store's
   buffer is held on success (release it). -1 with an exception set on failure. */
static int open_step(Stepper *self, PyObject *const *args, int writable, Py_buffer *store,
                     Py_ssize_t *start, Py_ssize_t *stop) {
    *start = PyLong_AsSsize_t(args[1]);
    *stop = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred() || get(args[0], store, "d", writable, "store"))
        return -1;
    if (check_store(self, store, *start, *stop)) {
        PyBuffer_Release(store);
        return -1;
    }
    return 0;
}

static PyObject *Stepper_run(Stepper *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "run(store, start, stop, decode, models, make, max_latent)");
        return NULL;
    }
    long long max_latent = PyLong_AsLongLong(args[6]);
    if (max_latent == -1 && PyErr_Occurred())
        return NULL;
    PyObject *decode = args[3], *models = args[4], *make = args[5];
    if (!PyList_Check(models) || PyList_GET_SIZE(models) < self->ntables) {
        PyErr_SetString(PyExc_TypeError, "models: a list with a slot per table");
        return NULL;
    }
    Py_buffer store;
    Py_ssize_t start, stop;
    if (open_step(self, args, 1, &store, &start, &stop))
        return NULL;
    int status = -1;
    Py_ssize_t groups = predict_step(self, store.buf, start, stop);
    if (!decode_groups(self, groups, stop - start, decode, models, make))
        status = commit_step(self, store.buf, start, stop - start, max_latent);
    PyBuffer_Release(&store);
    return status < 0 ? NULL : PyLong_FromLong(status);
}

/* predict(store, start, stop) -> None: centres[:n] and ids[:n] of latents start:stop
   of the coding order, all of whose inputs are in the store (an encoder's rate
   estimates: every latent known, so any chunk at once). */
static PyObject *Stepper_predict(Stepper *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "predict(store, start, stop)");
        return NULL;
    }
    Py_buffer store;
    Py_ssize_t start, stop;
    if (open_step(self, args, 0, &store, &start, &stop))
        return NULL;
    predict_step(self, store.buf, start, stop);
    PyBuffer_Release(&store);
    Py_RETURN_NONE;
}

static PyMethodDef Stepper_methods[] = {
    {"predict", (PyCFunction)(void (*)(void))Stepper_predict, METH_FASTCALL,
     "predict(store, start, stop): centres and table ids of latents start:stop"},
    {"run", (PyCFunction)(void (*)(void))Stepper_run, METH_FASTCALL,
     "run(store, start, stop, decode, models, make, max_latent) -> 0 decoded, 1 an escape "
     "symbol (resolve the step from centres, ids, order, index), 2 a latent out of range"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject StepperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "latentpress._native.Stepper",
    .tp_basicsize = sizeof(Stepper),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One phase of an overfit ARM decode, a wavefront step per call (see arm.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Stepper_init,
    .tp_dealloc = (destructor)Stepper_dealloc,
    .tp_methods = Stepper_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "latentpress._native",
                                    "Compiled inner loops (optional; numpy fallbacks).", -1, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&StepperType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&StepperType);
    if (PyModule_AddObject(m, "Stepper", (PyObject *)&StepperType) < 0) {
        Py_DECREF(&StepperType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
