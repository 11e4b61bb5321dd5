/*
 * latentpress._native: the inner loops of the decoders whose entropy models are small
 * integer networks, in compiled code. Each computes exactly what its numpy definition
 * computes (tests compare them bit for bit); where this module is not built, the numpy
 * code runs.
 *
 * - Stepper: the overfit codec's ARM wavefront step (latentpress/codecs/overfit/arm.py).
 *   The numpy decoder runs a few dozen array calls per wavefront step: gather the 12-14
 *   inputs of every latent of the step, run the integer ARM, map its (mean, ln scale)
 *   to a table, group the step's latents by table. That fixed cost per step is most
 *   of a numpy decode's time, so one call does all of it.
 * - Lossless: the `lossless` codec's wavefront step, one plane at a time
 *   (latentpress/codecs/lossless/codec.py): causal contexts of the plane and of the
 *   planes already decoded, the plane's network, tables, grouping, the coder's calls.
 * - mlp_lossless: the whole `mlp-lossless` decode (latentpress/codecs/lossless/mlp.py;
 *   its residuals are Huffman-decoded beforehand, so nothing in the loop depends on
 *   the coder).
 *
 * Shared by all three:
 *
 * - Networks (nn/fixed_point.py): a layer runs in float64 when its product is exact,
 *   as IntegerMLP._call_float: inputs are integers below 2**24, the first layer's plain
 *   weights give integer sums, every later layer's weights are pre-scaled by
 *   2**-frac_bits so every partial sum is a multiple of 2**-frac_bits below 2**52 of
 *   them (a row's L1 norm below 2**28), and adding the bias keeps it below 2**53 of
 *   them; floor() is then the arithmetic right shift. Every float operation is exact,
 *   in any summation order, with or without FMA or extended precision, so a bias added
 *   before the floor equals one added after it (the integer path's order). A layer
 *   without that bound runs
 *   in int64, as IntegerMLP.__call__ (|weight| < 2**24, inputs clamped below 2**24,
 *   fan-in <= 1024: every sum fits). First-layer inputs are plain integers below
 *   2**(24 - frac_bits) (IntegerMLP.on_integers), which the callers guarantee.
 * - Tables: centre = (mean + half) >> f, offset index from the remainder, clipped to
 *   +-OFFSET_STEPS, scale index = the number of thresholds <= ln scale (numpy's
 *   searchsorted, side="right"); id = scale * NUM_OFFSETS + offset + OFFSET_STEPS.
 * - Grouping: a stable counting sort of the step's symbols by table id, the order
 *   EntropyDecoder's stable argsort gives; then one coder call per group.
 *
 * Every index these follow is checked, once when an object is built or on every call,
 * so a crafted file cannot make them read or write out of bounds: they only ever see
 * shapes the Python side computed from a validated header, and check those too.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 8
#define MAX_WIDTH 1024
#define SCALAR_CALLS 3    /* groups of at most this many symbols: one coder call per symbol */
#define INPUT_BOUND ((1 << 24) - 1)        /* fixed_point.MAX_INPUT_BITS */
#define WEIGHT_LIMIT ((int64_t)1 << 24)    /* fixed_point.MAX_WEIGHT_BITS */
#define EXACT_L1 ((int64_t)1 << 28)        /* 2**(52 - MAX_INPUT_BITS), as IntegerMLP._float_weights */
#define MAX_OFFSET_STEPS 4096
#define MAX_TABLES (1 << 20)

#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif
#if defined(_MSC_VER)
#define restrict __restrict
#endif

static int get(PyObject *obj, Py_buffer *view, const char *format, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    /* Integers by size: numpy writes int64 as 'l' on LP64 and 'q' elsewhere, int32 as
       'i' or (where long has 32 bits) 'l'. Native byte order only. */
    const char *f = view->format ? view->format : "B";
#if PY_BIG_ENDIAN
    if (f[0] == '=' || f[0] == '@' || f[0] == '>' || f[0] == '!')
#else
    if (f[0] == '=' || f[0] == '@' || f[0] == '<')
#endif
        f++;
    int ok;
    if (format[0] == 'q')
        ok = (strcmp(f, "q") == 0 || strcmp(f, "l") == 0) && view->itemsize == 8;
    else if (format[0] == 'i')
        ok = (strcmp(f, "i") == 0 || strcmp(f, "l") == 0) && view->itemsize == 4;
    else if (format[0] == 'h')
        ok = strcmp(f, "h") == 0 && view->itemsize == 2;
    else
        ok = strcmp(f, "d") == 0 && view->itemsize == 8;
    if (!ok) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous %s array", name,
                     format[0] == 'q' ? "int64" : format[0] == 'i' ? "int32"
                                                : format[0] == 'h' ? "int16" : "float64");
        return -1;
    }
    return 0;
}

#define ITEMS(view) ((view).len / (view).itemsize)

static void release(Py_buffer *view) {
    if (view->obj) PyBuffer_Release(view);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
/* The networks' products in 4- or 8-wide vectors where the CPU has them (chosen at
   load time; exact either way: see the top of this file). */
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

static inline int64_t floor_shift(int64_t value, int bits) {
    /* Floor division by 2**bits (an arithmetic right shift, written portably). */
    return value >= 0 ? value >> bits : -((-value + ((int64_t)1 << bits) - 1) >> bits);
}

/* ---- Networks --------------------------------------------------------------------- */

/* y = x @ w for w of (in, out), row-major. The usual widths are written out with a
   constant width in 4-double vectors, so the outputs stay in vector registers and each
   input is one broadcast (left to itself, the compiler may vectorize over the inputs
   instead, with gathers: several times slower). */
#define SCALAR_PRODUCT(OUT)                                                             \
    ALWAYS_INLINE void product_##OUT(                                                   \
        const double *restrict x, int in, const double *restrict w, double *restrict y) { \
        double acc[OUT] = {0};                                                            \
        for (int k = 0; k < in; k++)                                                      \
            for (int j = 0; j < OUT; j++)                                                 \
                acc[j] += x[k] * w[k * OUT + j];                                          \
        for (int j = 0; j < OUT; j++)                                                     \
            y[j] = acc[j];                                                                \
    }
#if defined(__GNUC__)
typedef double v4d __attribute__((vector_size(32)));
#define PRODUCT(OUT)                                                                    \
    ALWAYS_INLINE void product_##OUT(                                                   \
        const double *restrict x, int in, const double *restrict w, double *restrict y) { \
        v4d acc[OUT / 4];                                                                 \
        for (int j = 0; j < OUT / 4; j++)                                                 \
            acc[j] = (v4d){0.0, 0.0, 0.0, 0.0};                                           \
        for (int k = 0; k < in; k++) {                                                    \
            v4d xk = {x[k], x[k], x[k], x[k]};                                            \
            for (int j = 0; j < OUT / 4; j++) {                                           \
                v4d wj;                                                                   \
                memcpy(&wj, w + k * OUT + 4 * j, sizeof wj);                              \
                acc[j] += xk * wj;                                                        \
            }                                                                             \
        }                                                                                 \
        memcpy(y, acc, sizeof acc);                                                       \
    }
#else
#define PRODUCT SCALAR_PRODUCT
#endif
SCALAR_PRODUCT(1)
SCALAR_PRODUCT(2)
PRODUCT(4)
PRODUCT(8)
PRODUCT(16)
PRODUCT(24)
PRODUCT(32)

ALWAYS_INLINE void product(const double *restrict x, int in, const double *restrict w, double *restrict y,
                           int out) {
    switch (out) {
    case 1: product_1(x, in, w, y); return;
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

/* An integer MLP: per layer either float64 weights (in, out) (plain for layer 0, then
   pre-scaled by 2**-frac_bits) and biases, or, where a float product would not be
   exact, int64 weights (in, out) and biases (wi[l] != NULL). */
typedef struct {
    int nlayers, frac_bits, relu[MAX_LAYERS], width[MAX_LAYERS + 1];
    const double *w[MAX_LAYERS], *b[MAX_LAYERS];
    const int64_t *wi[MAX_LAYERS], *bi[MAX_LAYERS];
    void *memory;         /* what net_build allocated (NULL for borrowed weights) */
} Net;

/* One row through the network: a[:width[0]] holds the plain integer inputs (a and b
   are scratch of MAX_WIDTH each); offsets (or NULL) are added to the first layer's
   output before its ReLU; the last layer's outputs go to out. */
ALWAYS_INLINE void forward(const Net *net, double *a, double *b, const double *offsets, int64_t *out) {
    const double bound = (double)INPUT_BOUND;
    const int f = net->frac_bits, last = net->nlayers - 1;
    double *x = a, *y = b;
    int clamped = 0;
    for (int l = 0; l <= last; l++) {
        int in = net->width[l], o = net->width[l + 1], shifted = l > 0;
        if (shifted && !clamped)
            for (int k = 0; k < in; k++)
                x[k] = x[k] < -bound ? -bound : (x[k] > bound ? bound : x[k]);
        if (net->wi[l]) {
            int64_t acc[MAX_WIDTH];
            const int64_t *w = net->wi[l], *bias = net->bi[l];
            for (int j = 0; j < o; j++)
                acc[j] = 0;
            for (int k = 0; k < in; k++) {
                int64_t v = (int64_t)x[k];
                for (int j = 0; j < o; j++)
                    acc[j] += v * w[(Py_ssize_t)k * o + j];
            }
            for (int j = 0; j < o; j++) {
                int64_t v = (shifted ? floor_shift(acc[j], f) : acc[j]) + bias[j];
                if (l == 0 && offsets)
                    v += (int64_t)offsets[j];
                if (net->relu[l] && v < 0)
                    v = 0;
                if (l == last)
                    out[j] = v;
                y[j] = (double)v;   /* a hidden value beyond 2**53 rounds, and is clamped next */
            }
        } else {
            const double *bias = net->b[l];
            product(x, in, net->w[l], y, o);
            for (int j = 0; j < o; j++)
                y[j] += bias[j];
            if (l == 0 && offsets)
                for (int j = 0; j < o; j++)
                    y[j] += offsets[j];
            if (shifted)
                for (int j = 0; j < o; j++)
                    y[j] = floor(y[j]);
            if (net->relu[l])
                for (int j = 0; j < o; j++)
                    y[j] = y[j] > 0.0 ? y[j] : 0.0;
            if (l == last)
                for (int j = 0; j < o; j++)
                    out[j] = (int64_t)y[j];
        }
        clamped = 0;
        if (net->relu[l] && l < last) {     /* the next layer's clamp, at once */
            for (int j = 0; j < o; j++)
                y[j] = y[j] < bound ? y[j] : bound;
            clamped = 1;
        }
        double *t = x; x = y; y = t;
    }
}

static void net_release(Net *net) {
    PyMem_Free(net->memory);
    net->memory = NULL;
}

/* A Net from spec = (weights, biases, relu): tuples over layers of int64 (out, in)
   and (out,) arrays (IntegerLinear.weight, .bias) and truths. The weights are copied
   (float64 where exact, else int64). */
static int net_build(Net *net, PyObject *spec, int inputs, int outputs, int frac_bits) {
    PyObject *weights, *biases, *relu;
    memset(net, 0, sizeof *net);
    if (!PyTuple_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "a network: a tuple (weights, biases, relu)");
        return -1;
    }
    if (!PyArg_ParseTuple(spec, "O!O!O!", &PyTuple_Type, &weights, &PyTuple_Type, &biases, &PyTuple_Type, &relu))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(weights);
    if (n < 1 || n > MAX_LAYERS || PyTuple_GET_SIZE(biases) != n || PyTuple_GET_SIZE(relu) != n
        || frac_bits < 0 || frac_bits > 16 || inputs < 1 || inputs > MAX_WIDTH) {
        PyErr_SetString(PyExc_ValueError, "a network: 1 to 8 layers of weights, biases, relu");
        return -1;
    }
    net->nlayers = (int)n;
    net->frac_bits = frac_bits;
    net->width[0] = inputs;
    Py_buffer w[MAX_LAYERS] = {{0}}, b[MAX_LAYERS] = {{0}};
    int exact[MAX_LAYERS];
    size_t bytes = 0;
    int failed = 0;
    for (int l = 0; l < n && !failed; l++) {
        if (get(PyTuple_GET_ITEM(weights, l), &w[l], "q", 0, "weights")
            || get(PyTuple_GET_ITEM(biases, l), &b[l], "q", 0, "biases")) {
            failed = 1;
            break;
        }
        int r = PyObject_IsTrue(PyTuple_GET_ITEM(relu, l));
        Py_ssize_t out = ITEMS(b[l]), in = net->width[l];
        if (r < 0) {
            failed = 1;
            break;
        }
        if (out < 1 || out > MAX_WIDTH || ITEMS(w[l]) != out * in) {
            PyErr_SetString(PyExc_ValueError, "network layers do not chain");
            failed = 1;
            break;
        }
        net->relu[l] = r;
        net->width[l + 1] = (int)out;
        const int64_t *wv = w[l].buf, *bv = b[l].buf;
        int64_t largest = 0;
        for (Py_ssize_t j = 0; j < out && !failed; j++) {
            int64_t row = 0;
            for (Py_ssize_t k = 0; k < in && !failed; k++) {
                int64_t v = wv[j * in + k];
                if (v >= WEIGHT_LIMIT || v <= -WEIGHT_LIMIT)
                    failed = 1;
                else
                    row += v < 0 ? -v : v;        /* at most 1024 * 2**24 */
            }
            if (bv[j] >= WEIGHT_LIMIT || bv[j] <= -WEIGHT_LIMIT)
                failed = 1;
            largest = row > largest ? row : largest;
        }
        if (failed)
            PyErr_SetString(PyExc_ValueError, "network weight out of range");
        exact[l] = largest < EXACT_L1;
        bytes += (size_t)(in * out + out) * 8 * (exact[l] ? 1 : 2);
    }
    if (!failed && net->width[n] != outputs) {
        PyErr_SetString(PyExc_ValueError, "network has the wrong number of outputs");
        failed = 1;
    }
    if (!failed && !(net->memory = PyMem_Malloc(bytes))) {
        PyErr_NoMemory();
        failed = 1;
    }
    char *cursor = net->memory;
    for (int l = 0; l < n && !failed; l++) {
        int in = net->width[l], out = net->width[l + 1];
        const int64_t *wv = w[l].buf, *bv = b[l].buf;
        double *bf = (double *)cursor;
        cursor += (size_t)out * 8;
        for (int j = 0; j < out; j++)
            bf[j] = (double)bv[j];
        net->b[l] = bf;
        if (exact[l]) {
            double *wf = (double *)cursor, scale = l ? ldexp(1.0, -frac_bits) : 1.0;
            cursor += (size_t)in * out * 8;
            for (int k = 0; k < in; k++)
                for (int j = 0; j < out; j++)
                    wf[k * out + j] = (double)wv[j * in + k] * scale;
            net->w[l] = wf;
        } else {
            int64_t *wi = (int64_t *)cursor, *bi;
            cursor += (size_t)in * out * 8;
            bi = (int64_t *)cursor;
            cursor += (size_t)out * 8;
            for (int k = 0; k < in; k++)
                for (int j = 0; j < out; j++)
                    wi[k * out + j] = wv[j * in + k];
            memcpy(bi, bv, (size_t)out * 8);
            net->wi[l] = wi;
            net->bi[l] = bi;
        }
    }
    for (int l = 0; l < MAX_LAYERS; l++) {
        release(&w[l]);
        release(&b[l]);
    }
    if (failed)
        net_release(net);
    return failed ? -1 : 0;
}

/* ---- Tables, grouping and the entropy coder's calls -------------------------------- */

typedef struct {
    Py_buffer centres;    /* int64 (max step,) out */
    Py_buffer ids;        /* int64 (max step,) out */
    Py_buffer order;      /* int64 (max step,) out: step-relative indices grouped by table */
    Py_buffer keys;       /* int64 (tables,) out */
    Py_buffer counts;     /* int64 (tables,) out */
    Py_buffer index;      /* int32 (max step,) out: decoded symbol indices in grouped order */
    Py_buffer thresholds; /* int64 (scales - 1,) */
    Py_buffer radii;      /* int64 (scales,) */
    int frac_bits, num_offsets, offset_steps, ntables, nscales;
    Py_ssize_t max_step;
    int64_t *counting;    /* ntables + 1 scratch */
    int64_t *values;      /* max step scratch: a step's values in coding order */
} Coding;

static void coding_release(Coding *c) {
    Py_buffer *views[] = {&c->centres, &c->ids, &c->order, &c->keys, &c->counts, &c->index,
                          &c->thresholds, &c->radii};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        release(views[i]);
    PyMem_Free(c->counting);
    PyMem_Free(c->values);
    c->counting = c->values = NULL;
}

static int coding_init(Coding *c, PyObject *thresholds, PyObject *radii, int frac_bits, int num_offsets,
                       int offset_steps, PyObject *centres, PyObject *ids, PyObject *order, PyObject *keys,
                       PyObject *counts, PyObject *index) {
    if (get(thresholds, &c->thresholds, "q", 0, "thresholds") || get(radii, &c->radii, "q", 0, "radii")
        || get(centres, &c->centres, "q", 1, "centres") || get(ids, &c->ids, "q", 1, "ids")
        || get(order, &c->order, "q", 1, "order") || get(keys, &c->keys, "q", 1, "keys")
        || get(counts, &c->counts, "q", 1, "counts") || get(index, &c->index, "i", 1, "index"))
        return -1;
    Py_ssize_t nscales = ITEMS(c->radii);
    if (offset_steps < 0 || offset_steps > MAX_OFFSET_STEPS || nscales < 1
        || nscales * (2 * (Py_ssize_t)offset_steps + 1) > MAX_TABLES) {
        PyErr_SetString(PyExc_ValueError, "too many tables");
        return -1;
    }
    c->frac_bits = frac_bits;
    c->num_offsets = num_offsets;
    c->offset_steps = offset_steps;
    c->nscales = (int)nscales;
    c->ntables = c->nscales * num_offsets;
    c->max_step = ITEMS(c->centres);
    if (frac_bits < 0 || frac_bits > 16 || num_offsets != 2 * offset_steps + 1
        || ITEMS(c->thresholds) != c->nscales - 1
        || ITEMS(c->ids) != c->max_step || ITEMS(c->order) != c->max_step || ITEMS(c->index) != c->max_step
        || ITEMS(c->keys) < c->ntables || ITEMS(c->counts) < c->ntables) {
        PyErr_SetString(PyExc_ValueError, "inconsistent stepper arrays");
        return -1;
    }
    c->counting = PyMem_Calloc((size_t)c->ntables + 1, sizeof(int64_t));
    c->values = PyMem_Calloc((size_t)c->max_step + 1, sizeof(int64_t));
    if (!c->counting || !c->values) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* A fixed-point (mean, ln scale) -> (centre, table id), as entropy.tables.params_to_tables. */
static inline void to_table(const Coding *c, int64_t mean, int64_t log_scale, int64_t *centre, int64_t *id) {
    const int f = c->frac_bits;
    const int64_t one = (int64_t)1 << f, half = one >> 1;
    const int64_t *thr = c->thresholds.buf;
    int64_t centred = floor_shift(mean + half, f);
    int64_t remainder = mean - centred * one;
    int64_t offset = floor_shift(remainder * 2 * c->offset_steps + half, f);
    if (offset < -c->offset_steps) offset = -c->offset_steps;
    if (offset > c->offset_steps) offset = c->offset_steps;
    int lo = 0, hi = c->nscales - 1;          /* count of thresholds <= log_scale */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (thr[mid] <= log_scale) lo = mid + 1; else hi = mid;
    }
    *centre = centred;
    *id = (int64_t)lo * c->num_offsets + offset + c->offset_steps;
}

/* Group a step's count symbols (ids[:count]) by table: order[:count], keys[:k],
   counts[:k], a stable counting sort; returns k, the number of distinct tables. */
static Py_ssize_t group(Coding *c, Py_ssize_t count) {
    const int64_t *ids = c->ids.buf;
    int64_t *order = c->order.buf, *keys = c->keys.buf, *counts = c->counts.buf, *counting = c->counting;
    memset(counting, 0, ((size_t)c->ntables + 1) * sizeof(int64_t));
    for (Py_ssize_t i = 0; i < count; i++)
        counting[ids[i] + 1]++;
    Py_ssize_t k = 0;
    for (int t = 0; t < c->ntables; t++) {
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
static int decode_groups(Coding *c, Py_ssize_t groups, Py_ssize_t count, PyObject *decode,
                         PyObject *models, PyObject *make) {
    const int64_t *keys = c->keys.buf, *counts = c->counts.buf;
    int32_t *index = c->index.buf;
    Py_ssize_t at = 0;
    if (!PyList_Check(models) || PyList_GET_SIZE(models) < c->ntables) {
        PyErr_SetString(PyExc_TypeError, "models: a list with a slot per table");
        return -1;
    }
    for (Py_ssize_t g = 0; g < groups; g++) {
        if (keys[g] >= PyList_GET_SIZE(models)) {     /* a callback may have changed the list */
            PyErr_SetString(PyExc_ValueError, "models: a list with a slot per table");
            return -1;
        }
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
            for (int64_t k = 0; k < counts[g]; k++) {
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

/* A step's values, in coding order, into values[:count] (centre + the decoded symbol's
   residual): 0, or 1 if a symbol is an escape (the caller then resolves the step in
   Python from centres, ids, order and index, as EntropyDecoder.resolve_groups does,
   which reads the escaped values before any value is checked). */
static int step_values(Coding *c, Py_ssize_t count) {
    const int32_t *sym = c->index.buf;
    const int64_t *centres = c->centres.buf, *ids = c->ids.buf, *order = c->order.buf, *radii = c->radii.buf;
    for (Py_ssize_t g = 0; g < count; g++) {
        int64_t i = order[g], radius = radii[ids[i] / c->num_offsets];
        int64_t residual = (int64_t)sym[g] - radius;
        if (residual == radius + 1)
            return 1;
        c->values[i] = centres[i] + residual;
    }
    return 0;
}

/* Decode a step whose centres[:count] and ids[:count] are set: 0 with values[:count]
   set, 1 at an escape symbol, -1 with an exception set. */
static int decode_step(Coding *c, Py_ssize_t count, PyObject *decode, PyObject *models, PyObject *make) {
    Py_ssize_t groups = group(c, count);
    if (decode_groups(c, groups, count, decode, models, make))
        return -1;
    return step_values(c, count);
}

/* ---- overfit: the ARM wavefront step ---------------------------------------------- */

typedef struct {
    PyObject_HEAD
    /* Buffers held for the object's lifetime (read-only). */
    Py_buffer positions;  /* int32 (n,) flat store index of every latent in coding order */
    Py_buffer owners;     /* int32 (n,) tile of every latent */
    Py_buffer tile_grid;  /* int64 (tiles,) grid of every tile */
    Py_buffer deltas;     /* int32 (inputs,) store offset of every input */
    Py_buffer weights[MAX_LAYERS];   /* float64 (in, out): plain for layer 0, then pre-scaled */
    Py_buffer biases[MAX_LAYERS];    /* float64 (out,) */
    Py_buffer offsets;    /* float64 (grids, hidden) or empty */
    Py_buffer zero;       /* int64 (grids, 2): (centre, id) of an all-zero context */
    Coding coding;
    Net net;              /* borrows weights and biases */
    Py_ssize_t n, ninputs, ngrids, ntiles, store_length;
    int have_offsets;
    int ready;            /* __init__ succeeded */
    int busy;             /* in run(), whose callbacks must not re-initialize it */
} Stepper;

/* Refuse a call on an object whose __init__ failed or never ran, and re-entry into
   __init__ from a callback of its own run(). */
static int usable(int ready) {
    if (!ready)
        PyErr_SetString(PyExc_RuntimeError, "not initialized");
    return ready;
}

static int idle(int busy) {
    if (busy)
        PyErr_SetString(PyExc_RuntimeError, "cannot re-initialize while decoding");
    return !busy;
}

static void stepper_release(Stepper *self) {
    Py_buffer *views[] = {&self->positions, &self->owners, &self->tile_grid, &self->deltas,
                          &self->offsets, &self->zero};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        release(views[i]);
    for (int l = 0; l < MAX_LAYERS; l++) {
        release(&self->weights[l]);
        release(&self->biases[l]);
    }
    coding_release(&self->coding);
}

static void Stepper_dealloc(Stepper *self) {
    stepper_release(self);
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
    if (!idle(self->busy))
        return -1;
    stepper_release(self);
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
        || coding_init(&self->coding, thresholds, radii, frac_bits, num_offsets, offset_steps, centres, ids,
                       order, keys, counts, index))
        return -1;
    if (!PyTuple_Check(weights) || !PyTuple_Check(biases) || !PyTuple_Check(relu)
        || PyTuple_GET_SIZE(weights) != PyTuple_GET_SIZE(biases)
        || PyTuple_GET_SIZE(weights) != PyTuple_GET_SIZE(relu)
        || PyTuple_GET_SIZE(weights) < 1 || PyTuple_GET_SIZE(weights) > MAX_LAYERS) {
        PyErr_SetString(PyExc_ValueError, "weights, biases and relu: tuples of 1 to 8 layers");
        return -1;
    }
    Net *net = &self->net;
    net->nlayers = (int)PyTuple_GET_SIZE(weights);
    net->frac_bits = frac_bits;
    self->ninputs = ITEMS(self->deltas);
    net->width[0] = (int)self->ninputs;
    for (int l = 0; l < net->nlayers; l++) {
        if (get(PyTuple_GET_ITEM(weights, l), &self->weights[l], "d", 0, "weights")
            || get(PyTuple_GET_ITEM(biases, l), &self->biases[l], "d", 0, "biases"))
            return -1;
        int r = PyObject_IsTrue(PyTuple_GET_ITEM(relu, l));
        if (r < 0) return -1;
        net->relu[l] = r;
        Py_ssize_t out = ITEMS(self->biases[l]);
        if (out < 1 || out > MAX_WIDTH || ITEMS(self->weights[l]) != out * net->width[l]) {
            PyErr_SetString(PyExc_ValueError, "ARM layers do not chain");
            return -1;
        }
        net->width[l + 1] = (int)out;
        net->w[l] = self->weights[l].buf;
        net->b[l] = self->biases[l].buf;
    }
    if (net->width[net->nlayers] != 2 || self->ninputs < 1 || self->ninputs > MAX_WIDTH) {
        PyErr_SetString(PyExc_ValueError, "the ARM must map its inputs to (mean, ln scale)");
        return -1;
    }
    self->n = ITEMS(self->positions);
    self->ntiles = ITEMS(self->tile_grid);
    self->ngrids = ITEMS(self->zero) / 2;
    self->store_length = store_length;
    self->have_offsets = ITEMS(self->offsets) > 0;
    if (ITEMS(self->owners) != self->n
        || (self->have_offsets && ITEMS(self->offsets) != self->ngrids * net->width[1])) {
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
        if (z[2 * g + 1] < 0 || z[2 * g + 1] >= self->coding.ntables) {
            PyErr_SetString(PyExc_ValueError, "a zero-context table is out of range");
            return -1;
        }
    self->ready = 1;
    return 0;
}

static int check_store(Stepper *self, Py_buffer *store, Py_ssize_t start, Py_ssize_t stop) {
    if (ITEMS(*store) != self->store_length) {
        PyErr_SetString(PyExc_ValueError, "store has the wrong length");
        return -1;
    }
    if (start < 0 || stop < start || stop > self->n || stop - start > self->coding.max_step) {
        PyErr_SetString(PyExc_ValueError, "step out of range");
        return -1;
    }
    return 0;
}

/* Predict a step's latents: centres[:n] and ids[:n] (coding order). */
CLONES static void predict_step(Stepper *self, const double *s, Py_ssize_t start, Py_ssize_t stop) {
    const int32_t *pos = self->positions.buf, *own = self->owners.buf, *d = self->deltas.buf;
    const int64_t *tg = self->tile_grid.buf, *zero = self->zero.buf;
    const double *off = self->offsets.buf;
    int64_t *centres = self->coding.centres.buf, *ids = self->coding.ids.buf, out[2];
    double a[MAX_WIDTH], b[MAX_WIDTH];
    for (Py_ssize_t i = 0; i < stop - start; i++) {
        Py_ssize_t at = start + i;
        int64_t grid = tg[own[at]];
        int nonzero = 0;
        for (Py_ssize_t k = 0; k < self->ninputs; k++) {
            a[k] = s[(Py_ssize_t)pos[at] + d[k]];
            nonzero |= a[k] != 0.0;
        }
        if (!nonzero) {          /* the grid's precomputed prediction: the same numbers */
            centres[i] = zero[2 * grid];
            ids[i] = zero[2 * grid + 1];
            continue;
        }
        forward(&self->net, a, b, self->have_offsets ? off + grid * self->net.width[1] : NULL, out);
        to_table(&self->coding, out[0], out[1], &centres[i], &ids[i]);
    }
}

/* The (store, start, stop) that run() and predict() begin with, checked; the store's
   buffer is held on success (release it). -1 with an exception set on failure. */
static int open_step(Stepper *self, PyObject *const *args, int writable, Py_buffer *store,
                     Py_ssize_t *start, Py_ssize_t *stop) {
    if ((*start = PyLong_AsSsize_t(args[1])) == -1 && PyErr_Occurred())
        return -1;
    if ((*stop = PyLong_AsSsize_t(args[2])) == -1 && PyErr_Occurred())
        return -1;
    if (get(args[0], store, "d", writable, "store"))
        return -1;
    if (check_store(self, store, *start, *stop)) {
        PyBuffer_Release(store);
        return -1;
    }
    return 0;
}

/* run(store, start, stop, decode, models, make, max_latent): one wavefront step of the
   phase (latents start:stop of the coding order), decoded into the store -> 0 done;
   1 an escape symbol (nothing written; the caller resolves the step from centres, ids,
   order and index); 2 a latent beyond +-max_latent (nothing written: the file is
   corrupt). */
static PyObject *Stepper_run(Stepper *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "run(store, start, stop, decode, models, make, max_latent)");
        return NULL;
    }
    long long max_latent = PyLong_AsLongLong(args[6]);
    if ((max_latent == -1 && PyErr_Occurred()) || !usable(self->ready))
        return NULL;
    Py_buffer store;
    Py_ssize_t start, stop;
    if (open_step(self, args, 1, &store, &start, &stop))
        return NULL;
    Py_ssize_t count = stop - start;
    predict_step(self, store.buf, start, stop);
    self->busy = 1;
    int status = decode_step(&self->coding, count, args[3], args[4], args[5]);
    self->busy = 0;
    if (status == 0) {
        const int64_t *values = self->coding.values;
        const int32_t *pos = self->positions.buf;
        double *s = store.buf;
        for (Py_ssize_t i = 0; i < count && !status; i++)
            if (llabs(values[i]) > max_latent)
                status = 2;
        for (Py_ssize_t i = 0; i < count && !status; i++)
            s[pos[start + i]] = (double)values[i];
    }
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
    if (!usable(self->ready))
        return NULL;
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

/* ---- lossless codecs: causal contexts (latentpress/codecs/lossless/context.py) ------ */

#define MAX_CONTEXT 256
#define MAX_REACH 64      /* |dr|, |dc| of a context offset */
#define MAX_PLANES 3

/* A causal neighbourhood: offsets (dr, dc), the store deltas dr * width + dc, the
   positions of the W, N and NW neighbours in it, its reach (rows up, columns either
   side), and the tiles that no context crosses (context.TILE_ROWS, TILE_COLS). */
typedef struct {
    int n, dr[MAX_CONTEXT], dc[MAX_CONTEXT], at_w, at_n, at_nw, up, side;
    Py_ssize_t delta[MAX_CONTEXT], tile_rows, tile_cols;
} Context;

/* From an int32 (n, 2) array of causal offsets (ContextShape.offsets) and the tile
   size; -1 with an exception set if it is not one. */
static int context_build(Context *ctx, PyObject *offsets, Py_ssize_t width, Py_ssize_t tile_rows,
                         Py_ssize_t tile_cols) {
    Py_buffer view;
    if (tile_rows < 1 || tile_cols < 1 || tile_rows > (1 << 24) || tile_cols > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "tile size out of range");
        return -1;
    }
    ctx->tile_rows = tile_rows;
    ctx->tile_cols = tile_cols;
    if (get(offsets, &view, "i", 0, "offsets"))
        return -1;
    Py_ssize_t n = ITEMS(view) / 2;
    const int32_t *o = view.buf;
    int failed = n < 1 || n > MAX_CONTEXT || ITEMS(view) != 2 * n;
    ctx->n = (int)n;
    ctx->at_w = ctx->at_n = ctx->at_nw = -1;
    ctx->up = ctx->side = 0;
    for (Py_ssize_t k = 0; k < n && !failed; k++) {
        int dr = o[2 * k], dc = o[2 * k + 1];
        if (dr > 0 || (dr == 0 && dc >= 0) || dr < -MAX_REACH || dc < -MAX_REACH || dc > MAX_REACH) {
            failed = 1;
            break;
        }
        ctx->dr[k] = dr;
        ctx->dc[k] = dc;
        ctx->delta[k] = (Py_ssize_t)dr * width + dc;
        if (dr == 0 && dc == -1) ctx->at_w = (int)k;
        if (dr == -1 && dc == 0) ctx->at_n = (int)k;
        if (dr == -1 && dc == -1) ctx->at_nw = (int)k;
        ctx->up = -dr > ctx->up ? -dr : ctx->up;
        ctx->side = abs(dc) > ctx->side ? abs(dc) : ctx->side;
    }
    PyBuffer_Release(&view);
    if (failed || ctx->at_w < 0 || ctx->at_n < 0 || ctx->at_nw < 0) {
        PyErr_SetString(PyExc_ValueError, "offsets: a causal context holding W, N and NW");
        return -1;
    }
    return 0;
}

/* The context of pixel (r, c) of plane (height x width) into out, with context.gather's
   rule: a neighbour outside the pixel's tile takes the value of its left neighbour,
   else its upper neighbour (when inside the tile), else neutral. Every index read lies
   in the pixel's tile (rows top..r, columns left..right-1) or is the pixel's own row
   and column minus one inside it. */
static inline void gather(const Context *ctx, const int16_t *plane, Py_ssize_t width,
                          Py_ssize_t r, Py_ssize_t c, int neutral, int32_t *out) {
    Py_ssize_t top = r - r % ctx->tile_rows, left = c - c % ctx->tile_cols;
    Py_ssize_t right = left + ctx->tile_cols < width ? left + ctx->tile_cols : width;
    const int16_t *at = plane + r * width + c;
    if (r - ctx->up >= top && c - ctx->side >= left && c + ctx->side < right) {
        for (int k = 0; k < ctx->n; k++)
            out[k] = at[ctx->delta[k]];
        return;
    }
    int fallback = c > left ? at[-1] : (r > top ? at[-width] : neutral);
    for (int k = 0; k < ctx->n; k++) {
        Py_ssize_t rr = r + ctx->dr[k], cc = c + ctx->dc[k];
        out[k] = rr >= top && cc >= left && cc < right ? at[ctx->delta[k]] : fallback;
    }
}

/* LOCO-I's median edge detector (context.median_edge). */
static inline int32_t median_edge(const Context *ctx, const int32_t *v) {
    int32_t w = v[ctx->at_w], n = v[ctx->at_n], nw = v[ctx->at_nw];
    int32_t lo = w < n ? w : n, hi = w < n ? n : w;
    return nw >= hi ? lo : (nw <= lo ? hi : w + n - nw);
}

/* ---- lossless: a wavefront step of one plane ---------------------------------------- */

typedef struct {
    PyObject_HEAD
    Py_buffer planes;     /* int16 (planes, height, width), written: values within +-255 */
    Py_buffer positions;  /* int64 (max step,) out: flat index of a step's pixels in a plane */
    Coding coding;
    Net nets[MAX_PLANES];
    Context ctx;
    Py_ssize_t height, width, nplanes, nsteps;
    int neutral[MAX_PLANES], low[MAX_PLANES], high[MAX_PLANES], stride;
    int ready, busy;      /* as Stepper's */
} Lossless;

static void lossless_release(Lossless *self) {
    release(&self->planes);
    release(&self->positions);
    coding_release(&self->coding);
    for (int p = 0; p < MAX_PLANES; p++)
        net_release(&self->nets[p]);
}

static void Lossless_dealloc(Lossless *self) {
    lossless_release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int int_triple(PyObject *tuple, Py_ssize_t n, int *out, int lo, int hi, const char *name) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != n) {
        PyErr_Format(PyExc_ValueError, "%s: a tuple of one int per plane", name);
        return -1;
    }
    for (Py_ssize_t p = 0; p < n; p++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(tuple, p));
        if (v == -1 && PyErr_Occurred()) return -1;
        if (v < lo || v > hi) {
            PyErr_Format(PyExc_ValueError, "%s out of range", name);
            return -1;
        }
        out[p] = (int)v;
    }
    return 0;
}

static int Lossless_init(Lossless *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"planes", "height", "width", "tile_rows", "tile_cols", "offsets", "stride",
                            "neutrals", "lows", "highs",
                            "nets", "thresholds", "radii", "frac_bits", "num_offsets", "offset_steps",
                            "centres", "ids", "order", "keys", "counts", "index", "positions", NULL};
    PyObject *planes, *offsets, *neutrals, *lows, *highs, *nets, *thresholds, *radii, *centres, *ids, *order,
        *keys, *counts, *index, *positions;
    Py_ssize_t height, width, tile_rows, tile_cols;
    int stride, frac_bits, num_offsets, offset_steps;
    if (!idle(self->busy))
        return -1;
    lossless_release(self);
    memset((char *)self + sizeof(PyObject), 0, sizeof(Lossless) - sizeof(PyObject));
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OnnnnOiOOOOOOiiiOOOOOOO", names, &planes, &height, &width,
                                     &tile_rows, &tile_cols, &offsets, &stride, &neutrals, &lows, &highs, &nets, &thresholds, &radii,
                                     &frac_bits, &num_offsets, &offset_steps, &centres, &ids, &order, &keys,
                                     &counts, &index, &positions))
        return -1;
    if (get(planes, &self->planes, "h", 1, "planes") || get(positions, &self->positions, "q", 1, "positions")
        || coding_init(&self->coding, thresholds, radii, frac_bits, num_offsets, offset_steps, centres, ids,
                       order, keys, counts, index))
        return -1;
    if (!PyTuple_Check(nets) || PyTuple_GET_SIZE(nets) < 1 || PyTuple_GET_SIZE(nets) > MAX_PLANES) {
        PyErr_SetString(PyExc_ValueError, "nets: a tuple of 1 to 3 networks");
        return -1;
    }
    self->nplanes = PyTuple_GET_SIZE(nets);
    if (height < 1 || width < 1 || height > (1 << 24) || width > (1 << 24)
        || ITEMS(self->planes) != self->nplanes * height * width || stride < 1 || stride > MAX_REACH + 1) {
        PyErr_SetString(PyExc_ValueError, "planes, height, width and stride do not agree");
        return -1;
    }
    self->height = height;
    self->width = width;
    self->stride = stride;
    if (context_build(&self->ctx, offsets, width, tile_rows, tile_cols)
        || int_triple(neutrals, self->nplanes, self->neutral, -255, 255, "neutrals")
        || int_triple(lows, self->nplanes, self->low, -255, 255, "lows")
        || int_triple(highs, self->nplanes, self->high, -255, 255, "highs"))
        return -1;
    int size = self->ctx.n;
    for (Py_ssize_t p = 0; p < self->nplanes; p++)
        if (net_build(&self->nets[p], PyTuple_GET_ITEM(nets, p), size + (int)p * (size + 1), 2, frac_bits))
            return -1;
    /* Wavefronts (context.wavefronts): t = stride * local row + local column, every tile at once. */
    Py_ssize_t local_rows = height < tile_rows ? height : tile_rows;
    Py_ssize_t tiles = ((height + tile_rows - 1) / tile_rows) * ((width + tile_cols - 1) / tile_cols);
    self->nsteps = stride * (local_rows - 1) + (width < tile_cols ? width : tile_cols);
    Py_ssize_t step_pixels = tiles * local_rows;  /* at most one pixel per tile row per step */
    if (ITEMS(self->positions) < step_pixels || self->coding.max_step < step_pixels) {
        PyErr_SetString(PyExc_ValueError, "step buffers are smaller than a step");
        return -1;
    }
    /* The first layer takes plain inputs (context differences, |x| <= 510) without the
       integer path's clamp of x << frac_bits, which needs 510 << frac_bits < 2**24. */
    if (frac_bits > 14) {
        PyErr_SetString(PyExc_ValueError, "frac_bits above 14");
        return -1;
    }
    self->ready = 1;
    return 0;
}

/* The pixels of wavefront t in context.wavefronts' order (tile rows, local rows, tile columns),
   as flat indices into positions; returns how many. */
static Py_ssize_t step_positions(Lossless *self, Py_ssize_t t) {
    int64_t *pos = self->positions.buf;
    Py_ssize_t count = 0, H = self->height, W = self->width, rows = self->ctx.tile_rows;
    Py_ssize_t cols = self->ctx.tile_cols, local_rows = H < rows ? H : rows;
    for (Py_ssize_t top = 0; top < H; top += rows)
        for (Py_ssize_t i = 0; i < local_rows; i++) {
            Py_ssize_t j = t - self->stride * i, r = top + i;
            if (j < 0 || j >= cols || r >= H)
                continue;
            for (Py_ssize_t left = 0; left + j < W; left += cols)
                pos[count++] = r * W + left + j;
        }
    return count;
}

/* Centres and table ids of plane p at the step's pixels (codec._plane_features and
   _predict_tables): the plane's context minus its MED; for every earlier plane q, q's
   context minus q's value at the pixel, and that value minus q's MED. */
CLONES static void lossless_predict(Lossless *self, Py_ssize_t p, Py_ssize_t count) {
    const int64_t *pos = self->positions.buf;
    const int16_t *planes = self->planes.buf;
    const Context *ctx = &self->ctx;
    const Py_ssize_t plane_size = self->height * self->width, W = self->width;
    int64_t *centres = self->coding.centres.buf, *ids = self->coding.ids.buf, out[2];
    int32_t v[MAX_CONTEXT];
    double a[MAX_WIDTH], b[MAX_WIDTH];
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t r = pos[i] / W, c = pos[i] % W;
        gather(ctx, planes + p * plane_size, W, r, c, self->neutral[p], v);
        int32_t base = median_edge(ctx, v);
        int at = 0;
        for (int k = 0; k < ctx->n; k++)
            a[at++] = v[k] - base;
        for (Py_ssize_t q = 0; q < p; q++) {
            const int16_t *plane = planes + q * plane_size;
            int32_t value = plane[pos[i]];
            gather(ctx, plane, W, r, c, self->neutral[q], v);
            for (int k = 0; k < ctx->n; k++)
                a[at++] = v[k] - value;
            a[at++] = value - median_edge(ctx, v);
        }
        forward(&self->nets[p], a, b, NULL, out);
        to_table(&self->coding, out[0] + (int64_t)base * ((int64_t)1 << self->coding.frac_bits), out[1],
                 &centres[i], &ids[i]);
    }
}

/* run(t, p, decode, models, make) -> (count, status): step t of plane p: its pixels'
   flat indices go to positions[:count]; status 0: decoded into the planes; 1: an
   escape symbol (nothing written: resolve the step from centres, ids, order, index,
   then check and write its values); 2: a value outside the plane's range (nothing
   written: the file is corrupt). An empty wavefront decodes nothing, as context.wavefronts
   skips it. */
static PyObject *Lossless_run(Lossless *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "run(t, p, decode, models, make)");
        return NULL;
    }
    Py_ssize_t t, p;
    if ((t = PyLong_AsSsize_t(args[0])) == -1 && PyErr_Occurred())
        return NULL;
    if ((p = PyLong_AsSsize_t(args[1])) == -1 && PyErr_Occurred())
        return NULL;
    if (!usable(self->ready))
        return NULL;
    if (t < 0 || t >= self->nsteps || p < 0 || p >= self->nplanes) {
        PyErr_SetString(PyExc_ValueError, "step or plane out of range");
        return NULL;
    }
    Py_ssize_t count = step_positions(self, t);
    int status = 0;
    if (count) {
        lossless_predict(self, p, count);
        self->busy = 1;
        status = decode_step(&self->coding, count, args[2], args[3], args[4]);
        self->busy = 0;
    }
    if (count && status == 0) {
        const int64_t *values = self->coding.values, *pos = self->positions.buf;
        int16_t *plane = (int16_t *)self->planes.buf + p * self->height * self->width;
        for (Py_ssize_t i = 0; i < count && !status; i++)
            if (values[i] < self->low[p] || values[i] > self->high[p])
                status = 2;
        for (Py_ssize_t i = 0; i < count && !status; i++)
            plane[pos[i]] = (int16_t)values[i];
    }
    return status < 0 ? NULL : Py_BuildValue("(ni)", count, status);
}

static PyObject *Lossless_steps(Lossless *self, PyObject *unused) {
    (void)unused;
    return usable(self->ready) ? PyLong_FromSsize_t(self->nsteps) : NULL;
}

static PyMethodDef Lossless_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Lossless_run, METH_FASTCALL,
     "run(t, p, decode, models, make) -> (count, status): step t of plane p; status 0 decoded, "
     "1 an escape symbol (resolve it from centres, ids, order, index), 2 a value out of range"},
    {"steps", (PyCFunction)Lossless_steps, METH_NOARGS, "steps() -> the number of wavefront steps"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject LosslessType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "latentpress._native.Lossless",
    .tp_basicsize = sizeof(Lossless),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The lossless codec's decoder, a wavefront step of a plane per call (see lossless/codec.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Lossless_init,
    .tp_dealloc = (destructor)Lossless_dealloc,
    .tp_methods = Lossless_methods,
};

/* ---- mlp-lossless: the whole decode --------------------------------------------------- */

CLONES static void mlp_decode(const Net *net, const Context *ctx, int16_t *planes, const int64_t *residuals,
                              Py_ssize_t channels, Py_ssize_t height, Py_ssize_t width) {
    const int f = net->frac_bits;
    int32_t v[MAX_CONTEXT];
    int64_t out[1];
    double a[MAX_WIDTH], b[MAX_WIDTH];
    /* Raster order: every pixel's context (rows above, or to the left, in its tile) is
       decoded before it, as in the codec's wavefront order. */
    for (Py_ssize_t ch = 0; ch < channels; ch++) {
        int16_t *plane = planes + ch * height * width;
        const int64_t *res = residuals + ch * height * width;
        for (Py_ssize_t r = 0; r < height; r++)
            for (Py_ssize_t c = 0; c < width; c++) {
                gather(ctx, plane, width, r, c, 128, v);
                int32_t base = median_edge(ctx, v);
                for (int k = 0; k < ctx->n; k++)
                    a[k] = v[k] - base;
                forward(net, a, b, NULL, out);
                int64_t predicted = floor_shift(out[0] + ((int64_t)1 << (f - 1)), f) + base;
                predicted = predicted < 0 ? 0 : (predicted > 255 ? 255 : predicted);
                plane[r * width + c] = (int16_t)((predicted + res[r * width + c]) & 255);
            }
    }
}

/* mlp_lossless(planes, residuals, height, width, tile_rows, tile_cols, offsets, net,
   frac_bits): the pixels
   of every channel into planes (int16 (channels, height, width)) from the residuals
   (int64, the same shape, each 0-255), as MlpLosslessCodec.decode. */
static PyObject *mlp_lossless(PyObject *module, PyObject *args) {
    PyObject *planes_obj, *residuals_obj, *offsets, *spec;
    Py_ssize_t height, width, tile_rows, tile_cols;
    int frac_bits;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOnnnnOOi", &planes_obj, &residuals_obj, &height, &width, &tile_rows,
                          &tile_cols, &offsets, &spec, &frac_bits))
        return NULL;
    Py_buffer planes = {0}, residuals = {0};
    Context ctx;
    Net net = {0};
    PyObject *result = NULL;
    if (get(planes_obj, &planes, "h", 1, "planes") || get(residuals_obj, &residuals, "q", 0, "residuals"))
        goto done;
    if (height < 1 || width < 1 || height > (1 << 24) || width > (1 << 24) || frac_bits < 1 || frac_bits > 14
        || ITEMS(planes) % (height * width) || ITEMS(planes) / (height * width) > MAX_PLANES
        || ITEMS(residuals) != ITEMS(planes)) {
        PyErr_SetString(PyExc_ValueError, "planes, residuals, height and width do not agree");
        goto done;
    }
    if (context_build(&ctx, offsets, width, tile_rows, tile_cols) || net_build(&net, spec, ctx.n, 1, frac_bits))
        goto done;
    const int64_t *res = residuals.buf;
    for (Py_ssize_t i = 0; i < ITEMS(residuals); i++)
        if (res[i] < 0 || res[i] > 255) {
            PyErr_SetString(PyExc_ValueError, "residuals out of range");
            goto done;
        }
    mlp_decode(&net, &ctx, planes.buf, res, ITEMS(planes) / (height * width), height, width);
    result = Py_NewRef(Py_None);
done:
    release(&planes);
    release(&residuals);
    net_release(&net);
    return result;
}

static PyMethodDef module_methods[] = {
    {"mlp_lossless", mlp_lossless, METH_VARARGS,
     "mlp_lossless(planes, residuals, height, width, tile_rows, tile_cols, offsets, net, frac_bits): "
     "an mlp-lossless decode"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "latentpress._native",
                                    "Compiled inner loops (optional; numpy fallbacks).", -1, module_methods};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddType(m, &StepperType) < 0 || PyModule_AddType(m, &LosslessType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
