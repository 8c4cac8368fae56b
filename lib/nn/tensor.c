/* The f32 tensor type, aligned buffers, the seeded RNG and elementwise
 * helpers of the compute core. See include/avkit/nn/tensor.h. */
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"
#include "ops_util.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- aligned buffers ------------------------------------------------- */

/* n floats, 64-byte aligned (a cache line, a full AVX-512 vector). */
float *avk_falloc(int64_t n)
{
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = NULL;
    if (n < 0 || (uint64_t)n > SIZE_MAX / 8 || posix_memalign(&p, 64, bytes) != 0)
        avk_die(1, "out of memory (%lld floats)", (long long)n);
    return p;
}

/* n zeroed floats, 64-byte aligned. */
float *avk_fzeros(int64_t n)
{
    float *p = avk_falloc(n);
    memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));
    return p;
}

void avk_ffree(float *p)
{
    free(p);
}

/* Threads an OpenMP parallel region started here would get. */
int avk_ops_threads(void)
{
    return omp_in_parallel() ? 1 : omp_get_max_threads();
}

/* ---- random numbers -------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seed the four state words from one 64-bit seed. */
void avk_rng_seed(avk_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->have_spare = 0;
    r->spare = 0;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* Next 64 random bits (xoshiro256**). */
uint64_t avk_rng_u64(avk_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float avk_rng_uniform(avk_rng *r)
{
    return (float)(avk_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

/* Box-Muller in double; the second value of each pair is kept. */
float avk_rng_normal(avk_rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u1 = ((double)(avk_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(avk_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    double rad = sqrt(-2.0 * log(u1));
    r->spare = (float)(rad * sin(2.0 * M_PI * u2));
    r->have_spare = 1;
    return (float)(rad * cos(2.0 * M_PI * u2));
}

void avk_fill_randn(float *p, int64_t n, avk_rng *r, float mean, float std)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = mean + std * avk_rng_normal(r);
}

void avk_fill_uniform(float *p, int64_t n, avk_rng *r, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * avk_rng_uniform(r);
}

/* ---- tensors --------------------------------------------------------- */

/* Product of the dimensions, -1 when one is negative or it overflows. */
int64_t avk_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > INT64_MAX / 8 / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

const char *avk_shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t len = 0;
    if (size == 0)
        return buf;
    buf[0] = 0;
    len += (size_t)snprintf(buf + len, size - len, "[");
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

static avk_tensor *tensor_alloc(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > AVK_MAX_DIMS) {
        avk_error("tensor: %d dimensions (at most %d)", ndim, AVK_MAX_DIMS);
        return NULL;
    }
    int64_t n = avk_shape_numel(ndim, shape);
    if (n < 0) {
        char buf[160];
        avk_error("tensor: invalid shape %s", avk_shape_str(buf, sizeof buf, ndim, shape));
        return NULL;
    }
    avk_tensor *t = avk_xcalloc(1, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->numel = n;
    return t;
}

/* A zeroed tensor that owns its data. */
avk_tensor *avk_tensor_new(int ndim, const int64_t *shape)
{
    avk_tensor *t = tensor_alloc(ndim, shape);
    if (!t)
        return NULL;
    t->data = avk_fzeros(t->numel);
    t->owns_data = 1;
    return t;
}

avk_tensor *avk_tensor_1d(int64_t a)
{
    int64_t s[1] = {a};
    return avk_tensor_new(1, s);
}

avk_tensor *avk_tensor_2d(int64_t a, int64_t b)
{
    int64_t s[2] = {a, b};
    return avk_tensor_new(2, s);
}

avk_tensor *avk_tensor_3d(int64_t a, int64_t b, int64_t c)
{
    int64_t s[3] = {a, b, c};
    return avk_tensor_new(3, s);
}

avk_tensor *avk_tensor_4d(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t s[4] = {a, b, c, d};
    return avk_tensor_new(4, s);
}

avk_tensor *avk_tensor_5d(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e)
{
    int64_t s[5] = {a, b, c, d, e};
    return avk_tensor_new(5, s);
}

/* A tensor over borrowed data. */
avk_tensor *avk_tensor_view(float *data, int ndim, const int64_t *shape)
{
    avk_tensor *t = tensor_alloc(ndim, shape);
    if (!t)
        return NULL;
    t->data = data;
    t->owns_data = 0;
    return t;
}

void avk_tensor_free(avk_tensor *t)
{
    if (!t)
        return;
    if (t->owns_data)
        avk_ffree(t->data);
    avk_ffree(t->grad);
    free(t);
}

/* The gradient buffer, zeroed on first use. */
float *avk_tensor_grad(avk_tensor *t)
{
    if (!t->grad)
        t->grad = avk_fzeros(t->numel);
    return t->grad;
}

void avk_tensor_zero_grad(avk_tensor *t)
{
    if (t->grad)
        memset(t->grad, 0, (size_t)t->numel * sizeof(float));
}

void avk_tensor_randn(avk_tensor *t, avk_rng *r, float std)
{
    avk_fill_randn(t->data, t->numel, r, 0.0f, std);
}

void avk_tensor_zero(avk_tensor *t)
{
    memset(t->data, 0, (size_t)t->numel * sizeof(float));
}

void avk_tensor_fill(avk_tensor *t, float v)
{
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = v;
}

int avk_tensor_copy(avk_tensor *dst, const avk_tensor *src)
{
    if (dst->numel != src->numel)
        return avk_error("tensor copy: %lld elements into %lld", (long long)src->numel,
                         (long long)dst->numel);
    memcpy(dst->data, src->data, (size_t)src->numel * sizeof(float));
    return 0;
}

int avk_tensor_reshape(avk_tensor *t, int ndim, const int64_t *shape)
{
    char a[160], b[160];
    if (ndim < 0 || ndim > AVK_MAX_DIMS || avk_shape_numel(ndim, shape) != t->numel)
        return avk_error("tensor reshape: %s to %s",
                         avk_shape_str(a, sizeof a, t->ndim, t->shape),
                         avk_shape_str(b, sizeof b, ndim > AVK_MAX_DIMS ? AVK_MAX_DIMS : ndim, shape));
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    return 0;
}

int avk_tensor_same_shape(const avk_tensor *a, const avk_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

/* ---- elementwise helpers --------------------------------------------- */

void avk_add_inplace(float *y, const float *x, int64_t n)
{
#pragma omp parallel for simd if (n >= AVK_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

void avk_add(float *y, const float *a, const float *b, int64_t n)
{
#pragma omp parallel for simd if (n >= AVK_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void avk_axpy(float *y, float alpha, const float *x, int64_t n)
{
#pragma omp parallel for simd if (n >= AVK_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

void avk_scale(float *y, float alpha, int64_t n)
{
#pragma omp parallel for simd if (n >= AVK_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] *= alpha;
}

/* Deterministic: at most 64 parts of at least 4096 elements, each summed
 * in order, the parts added in index order (no OpenMP reduction, whose
 * combine order follows the threads' finishing order). */
double avk_sumsq(const float *x, int64_t n)
{
    double part[64];
    int64_t np64 = (n + 4095) / 4096;
    int np = np64 < 1 ? 1 : np64 > 64 ? 64 : (int)np64;
#pragma omp parallel for if (n >= AVK_PAR_MIN) schedule(static)
    for (int p = 0; p < np; p++) {
        double s = 0;
        for (int64_t i = n * p / np; i < n * (p + 1) / np; i++)
            s += (double)x[i] * x[i];
        part[p] = s;
    }
    double s = 0;
    for (int p = 0; p < np; p++)
        s += part[p];
    return s;
}

int64_t avk_find_nonfinite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return -1;
}

void avk_perm_inverse(int *inv, const int *perm, int ndim)
{
    for (int i = 0; i < ndim; i++)
        inv[perm[i]] = i;
}

/* Shared body of avk_permute / avk_permute_acc: walk the output in order,
 * tracking the input offset with per-axis strides (the innermost output
 * axis is a strided copy). */
static void permute_impl(float *out, const float *in, int ndim, const int64_t *shape,
                         const int *perm, int acc)
{
    int64_t istride[AVK_MAX_DIMS], ostride[AVK_MAX_DIMS], oshape[AVK_MAX_DIMS];
    if (ndim == 0) {
        out[0] = acc ? out[0] + in[0] : in[0];
        return;
    }
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        istride[i] = s;
        s *= shape[i];
    }
    int64_t total = s;
    for (int i = 0; i < ndim; i++) {
        oshape[i] = shape[perm[i]];
        ostride[i] = istride[perm[i]];   /* input stride of output axis i */
    }
    int64_t inner = oshape[ndim - 1], instr = ostride[ndim - 1];
    int64_t rows = inner ? total / inner : 0;
#pragma omp parallel for if (total >= AVK_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, off = 0;
        for (int i = ndim - 2; i >= 0; i--) {
            int64_t idx = rem % oshape[i];
            rem /= oshape[i];
            off += idx * ostride[i];
        }
        float *o = out + r * inner;
        const float *p = in + off;
        if (acc)
            for (int64_t j = 0; j < inner; j++)
                o[j] += p[j * instr];
        else
            for (int64_t j = 0; j < inner; j++)
                o[j] = p[j * instr];
    }
}

void avk_permute(float *out, const float *in, int ndim, const int64_t *shape, const int *perm)
{
    permute_impl(out, in, ndim, shape, perm, 0);
}

void avk_permute_acc(float *out, const float *in, int ndim, const int64_t *shape, const int *perm)
{
    permute_impl(out, in, ndim, shape, perm, 1);
}
