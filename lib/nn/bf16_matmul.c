/* The low-precision matrix product of the bf16 operators: which kernel
 * runs (by what the CPU reports), f32 -> bf16 rounding, and oneDNN matmul
 * primitives cached per shape.
 *
 * oneDNN's matmul primitive (not dnnl_sgemm, which is f32 only) takes bf16
 * sources and an f32 destination and picks its implementation for the
 * CPU: AMX tiles ("brg:avx512_core_amx"), AVX512-BF16 dot products
 * ("brg:avx512_core_bf16"), or nothing at all below AVX-512 (oneDNN 2.6
 * returns "unimplemented" for bf16 on AVX2). Building a primitive costs far
 * more than a small product, so primitives live in a cache keyed by
 * everything that shapes them (M, N, K, transposes, leading dimensions,
 * alpha, beta, data type); the attention tiles reuse a handful of them.
 * Each primitive uses a caller-provided scratchpad (per thread) so one
 * primitive runs on several threads at once; each thread has its own
 * stream and its own memory objects per primitive, re-pointed at each
 * call (an attention tile costs no lock and no allocation). */
#include "bf16_matmul.h"
#include "avkit/util/common.h"
#include "ops_util.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rounding -------------------------------------------------------- */

/* bf16 bits of x, rounded to nearest even; NaN stays a (quiet) NaN. */
static inline uint16_t bf16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint16_t h = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    return (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40u) : h;
}

AVK_CLONES static void to_bf16_row(uint16_t *d, const float *x, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        d[i] = bf16_bits(x[i]);
}

AVK_CLONES static void round_row(float *d, const float *x, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)bf16_bits(x[i]) << 16;
        memcpy(d + i, &u, sizeof u);
    }
}

void avk_round_bf16(float *y, const float *x, int64_t n)
{
    const int64_t CH = 16384;
#pragma omp parallel for schedule(static) if (n >= 4 * CH && !omp_in_parallel())
    for (int64_t c = 0; c < (n + CH - 1) / CH; c++) {
        int64_t i0 = c * CH, m = n - i0 < CH ? n - i0 : CH;
        round_row(y + i0, x + i0, m);
    }
}

void avk_lowp_convert_row(void *dst, const float *x, int64_t n, avk_bf16_kernel k)
{
    if (k == AVK_BF16_ONEDNN)
        to_bf16_row(dst, x, n);
    else
        round_row(dst, x, n);
}

void avk_lowp_convert(void *dst, const float *x, int64_t n, avk_bf16_kernel k)
{
    const int64_t CH = 16384;
#pragma omp parallel for schedule(static) if (n >= 4 * CH && !omp_in_parallel())
    for (int64_t c = 0; c < (n + CH - 1) / CH; c++) {
        int64_t i0 = c * CH, m = n - i0 < CH ? n - i0 : CH;
        avk_lowp_convert_row((char *)dst + (size_t)i0 * avk_lowp_size(k), x + i0, m, k);
    }
}

void avk_lowp_convert_2d(void *dst, const float *X, int64_t rows, int64_t cols, int64_t ld,
                         avk_bf16_kernel k)
{
#pragma omp parallel for schedule(static) if (rows * cols >= 65536 && !omp_in_parallel())
    for (int64_t r = 0; r < rows; r++)
        avk_lowp_convert_row((char *)dst + (size_t)(r * cols) * avk_lowp_size(k), X + r * ld, cols, k);
}

/* ---- per-thread scratch ---------------------------------------------- */

static __thread struct {
    void *p;
    size_t cap;
} tl_scratch[4];

void *avk_lowp_scratch(int slot, size_t bytes)
{
    if (tl_scratch[slot].cap < bytes) {
        free(tl_scratch[slot].p);
        tl_scratch[slot].p = NULL;
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        if (posix_memalign(&tl_scratch[slot].p, 64, cap) != 0)
            avk_die(1, "out of memory (%zu bytes of bf16 scratch)", cap);
        tl_scratch[slot].cap = cap;
    }
    return tl_scratch[slot].p;
}

/* ---- primitive cache ------------------------------------------------- */

typedef struct mm_key {
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    int ta, tb;
    int dt;                       /* dnnl_bf16 or dnnl_f32 sources */
} mm_key;

typedef struct mm_entry {
    mm_key key;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a, b, c, s;
    size_t sbytes;                /* scratchpad bytes (0: none) */
} mm_entry;

#define MM_CACHE_MAX 256

static pthread_mutex_t mm_lock = PTHREAD_MUTEX_INITIALIZER;
static mm_entry *mm_cache[MM_CACHE_MAX];
static int mm_count;
static dnnl_engine_t mm_engine;
static __thread dnnl_stream_t tl_stream;

static int key_eq(const mm_key *x, const mm_key *y)
{
    return x->M == y->M && x->N == y->N && x->K == y->K && x->lda == y->lda &&
           x->ldb == y->ldb && x->ldc == y->ldc && x->alpha == y->alpha &&
           x->beta == y->beta && x->ta == y->ta && x->tb == y->tb && x->dt == y->dt;
}

/* Engine, created once (call with mm_lock held). */
static dnnl_status_t engine_get(void)
{
    if (mm_engine)
        return dnnl_success;
    return dnnl_engine_create(&mm_engine, dnnl_cpu, 0);
}

/* Build the primitive for key into e (mm_lock held). */
static dnnl_status_t mm_create(const mm_key *key, mm_entry *e)
{
    dnnl_status_t st = engine_get();
    if (st != dnnl_success)
        return st;
    memset(e, 0, sizeof *e);
    e->key = *key;
    dnnl_dims_t da = {key->M, key->K}, db = {key->K, key->N}, dc = {key->M, key->N};
    dnnl_dims_t sa = {key->lda, 1}, sb = {key->ldb, 1}, sc = {key->ldc, 1};
    if (key->ta) {
        sa[0] = 1;
        sa[1] = key->lda;
    }
    if (key->tb) {
        sb[0] = 1;
        sb[1] = key->ldb;
    }
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if ((st = dnnl_memory_desc_init_by_strides(&e->a, 2, da, key->dt, sa)) ||
        (st = dnnl_memory_desc_init_by_strides(&e->b, 2, db, key->dt, sb)) ||
        (st = dnnl_memory_desc_init_by_strides(&e->c, 2, dc, dnnl_f32, sc)) ||
        (st = dnnl_matmul_desc_init(&md, &e->a, &e->b, NULL, &e->c)) ||
        (st = dnnl_primitive_attr_create(&attr)) ||
        (st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)))
        goto out;
    if (key->alpha != 1.0f &&
        (st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &key->alpha)))
        goto out;
    if (key->beta != 0.0f) {
        if ((st = dnnl_post_ops_create(&po)) || (st = dnnl_post_ops_append_sum(po, key->beta)) ||
            (st = dnnl_primitive_attr_set_post_ops(attr, po)))
            goto out;
    }
    if ((st = dnnl_primitive_desc_create(&e->pd, &md, attr, mm_engine, NULL)))
        goto out;
    if ((st = dnnl_primitive_create(&e->prim, e->pd))) {
        dnnl_primitive_desc_destroy(e->pd);
        goto out;
    }
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(e->pd, dnnl_query_scratchpad_md, 0);
    if (smd) {
        e->s = *smd;
        e->sbytes = dnnl_memory_desc_get_size(smd);
    }
out:
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static void mm_destroy(mm_entry *e)
{
    dnnl_primitive_destroy(e->prim);
    dnnl_primitive_desc_destroy(e->pd);
    free(e);
}

/* The cached primitive for key, built on first use. With the cache full,
 * a fresh entry the caller must destroy (*owned = 1). NULL when oneDNN
 * refuses the shape (*status says why). */
static mm_entry *mm_get(const mm_key *key, int *owned, dnnl_status_t *status)
{
    *owned = 0;
    *status = dnnl_success;
    pthread_mutex_lock(&mm_lock);
    for (int i = mm_count - 1; i >= 0; i--)
        if (key_eq(&mm_cache[i]->key, key)) {
            mm_entry *e = mm_cache[i];
            pthread_mutex_unlock(&mm_lock);
            return e;
        }
    mm_entry *e = avk_xmalloc(sizeof *e);
    *status = mm_create(key, e);
    if (*status != dnnl_success) {
        free(e);
        e = NULL;
    } else if (mm_count < MM_CACHE_MAX) {
        mm_cache[mm_count++] = e;
    } else {
        *owned = 1;
    }
    pthread_mutex_unlock(&mm_lock);
    return e;
}

/* The calling thread's stream, created on first use. */
static dnnl_stream_t thread_stream(void)
{
    if (!tl_stream) {
        pthread_mutex_lock(&mm_lock);
        dnnl_status_t st = dnnl_stream_create(&tl_stream, mm_engine, dnnl_stream_default_flags);
        pthread_mutex_unlock(&mm_lock);
        if (st != dnnl_success)
            avk_die(1, "oneDNN stream: status %d", (int)st);
    }
    return tl_stream;
}

/* A thread's view of a cached primitive: its memory objects (A, B, C,
 * scratchpad), made once and re-pointed at each call, so a small tile
 * product costs one lookup without a lock and no allocation. */
typedef struct mm_local {
    const mm_entry *e;
    dnnl_memory_t m[4];
} mm_local;

#define MM_LOCAL_MAX 32
static __thread mm_local tl_local[MM_LOCAL_MAX];
static __thread int tl_nlocal, tl_next;

static void local_make(mm_local *l, const mm_entry *e)
{
    dnnl_status_t st;
    l->e = e;
    memset(l->m, 0, sizeof l->m);
    if ((st = dnnl_memory_create(&l->m[0], &e->a, mm_engine, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&l->m[1], &e->b, mm_engine, DNNL_MEMORY_NONE)) ||
        (st = dnnl_memory_create(&l->m[2], &e->c, mm_engine, DNNL_MEMORY_NONE)) ||
        (e->sbytes && (st = dnnl_memory_create(&l->m[3], &e->s, mm_engine, DNNL_MEMORY_NONE))))
        avk_die(1, "oneDNN memory: status %d", (int)st);
}

static void local_free(mm_local *l)
{
    for (int i = 0; i < 4; i++)
        if (l->m[i])
            dnnl_memory_destroy(l->m[i]);
    l->e = NULL;
}

/* Run e on A, B, C with the memory objects of l, on the calling thread's
 * stream and scratchpad. */
static void mm_run(const mm_entry *e, mm_local *l, const void *A, const void *B, float *C)
{
    dnnl_stream_t stream = thread_stream();
    dnnl_status_t st;
    int nargs = e->sbytes ? 4 : 3;
    if ((st = dnnl_memory_set_data_handle(l->m[0], (void *)A)) ||
        (st = dnnl_memory_set_data_handle(l->m[1], (void *)B)) ||
        (st = dnnl_memory_set_data_handle(l->m[2], C)) ||
        (nargs == 4 && (st = dnnl_memory_set_data_handle(l->m[3], avk_lowp_scratch(3, e->sbytes)))))
        avk_die(1, "oneDNN memory: status %d", (int)st);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, l->m[0]}, {DNNL_ARG_WEIGHTS, l->m[1]},
                               {DNNL_ARG_DST, l->m[2]}, {DNNL_ARG_SCRATCHPAD, l->m[3]}};
    st = dnnl_primitive_execute(e->prim, stream, nargs, args);
    if (st == dnnl_success)
        st = dnnl_stream_wait(stream);
    if (st != dnnl_success)
        avk_die(1, "oneDNN matmul M=%lld N=%lld K=%lld failed: status %d", (long long)e->key.M,
                (long long)e->key.N, (long long)e->key.K, (int)st);
}

static mm_key make_key(avk_bf16_kernel k, char transa, char transb, int64_t M, int64_t N,
                       int64_t K, float alpha, int64_t lda, int64_t ldb, float beta, int64_t ldc)
{
    mm_key key = {M, N, K, lda, ldb, ldc, alpha, beta,
                  transa == 'T' || transa == 't', transb == 'T' || transb == 't',
                  k == AVK_BF16_ONEDNN ? dnnl_bf16 : dnnl_f32};
    return key;
}

void avk_lowp_gemm(avk_bf16_kernel k, char transa, char transb, int64_t M, int64_t N, int64_t K,
                   float alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
                   float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    mm_key key = make_key(k, transa, transb, M, N, K, alpha, lda, ldb, beta, ldc);
    for (int i = 0; i < tl_nlocal; i++)
        if (key_eq(&tl_local[i].e->key, &key)) {
            mm_run(tl_local[i].e, &tl_local[i], A, B, C);
            return;
        }
    int owned;
    dnnl_status_t st;
    mm_entry *e = mm_get(&key, &owned, &st);
    if (!e)
        avk_die(1, "oneDNN %s matmul (%c, %c, M=%lld, N=%lld, K=%lld, lda=%lld, ldb=%lld, ldc=%lld) refused: status %d",
                k == AVK_BF16_ONEDNN ? "bf16" : "f32", transa, transb, (long long)M, (long long)N,
                (long long)K, (long long)lda, (long long)ldb, (long long)ldc, (int)st);
    if (owned) {            /* the cache is full: a one-off primitive */
        mm_local l;
        local_make(&l, e);
        mm_run(e, &l, A, B, C);
        local_free(&l);
        mm_destroy(e);
        return;
    }
    mm_local *l;
    if (tl_nlocal < MM_LOCAL_MAX) {
        l = &tl_local[tl_nlocal++];
    } else {                /* recycle the thread's slots in turn */
        l = &tl_local[tl_next];
        tl_next = (tl_next + 1) % MM_LOCAL_MAX;
        local_free(l);
    }
    local_make(l, e);
    mm_run(e, l, A, B, C);
}

const char *avk_lowp_impl(avk_bf16_kernel k, char transa, char transb, int64_t M, int64_t N,
                          int64_t K, float alpha, int64_t lda, int64_t ldb, float beta, int64_t ldc)
{
    if (k == AVK_BF16_FP32)
        return "dnnl_sgemm";
    mm_key key = make_key(k, transa, transb, M, N, K, alpha, lda, ldb, beta, ldc);
    int owned;
    dnnl_status_t st;
    mm_entry *e = mm_get(&key, &owned, &st);
    if (!e)
        return "refused";
    const char *impl = "?";
    dnnl_primitive_desc_query(e->pd, dnnl_query_impl_info_str, 0, &impl);
    if (owned) {
        static __thread char keep[64];
        snprintf(keep, sizeof keep, "%s", impl);
        mm_destroy(e);
        return keep;
    }
    return impl;
}

/* ---- which kernel ---------------------------------------------------- */

static _Atomic int kernel_now = AVK_BF16_AUTO;
static char kernel_desc[256];
static atomic_int fallback_said;

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch ((int)isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

/* Whether the CPU has bf16 dot-product instructions oneDNN uses: AMX-BF16
 * or AVX512-BF16 (oneDNN reads CPUID and the OS's state enabling). */
static int cpu_has_bf16(dnnl_cpu_isa_t isa)
{
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
           (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

/* Whether oneDNN builds primitives of kernel k for every layout the
 * operators use (N/T, N/N with accumulation, T/N with accumulation);
 * the implementation name of the first goes to impl. */
static int probe(avk_bf16_kernel k, char *impl, size_t cap)
{
    static const char tr[3][2] = {{'N', 'T'}, {'N', 'N'}, {'T', 'N'}};
    for (int i = 0; i < 3; i++) {
        mm_key key = make_key(k, tr[i][0], tr[i][1], 64, 64, 64, 1.0f, 64, 64, i ? 1.0f : 0.0f, 64);
        int owned;
        dnnl_status_t st;
        mm_entry *e = mm_get(&key, &owned, &st);
        if (!e)
            return 0;
        if (i == 0) {
            const char *s = "?";
            dnnl_primitive_desc_query(e->pd, dnnl_query_impl_info_str, 0, &s);
            snprintf(impl, cap, "%s", s);
        }
        if (owned)
            mm_destroy(e);
    }
    return 1;
}

/* Resolve `want` to a kernel that runs here and describe it; -1 when
 * AVK_BF16_ONEDNN is wanted and unsupported (strict) or the fallback
 * otherwise. */
static int resolve(avk_bf16_kernel want, int strict)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    char impl[96] = "";
    avk_bf16_kernel got = AVK_BF16_FP32;
    if (want == AVK_BF16_AUTO || want == AVK_BF16_ONEDNN) {
        if ((want == AVK_BF16_ONEDNN || cpu_has_bf16(isa)) && probe(AVK_BF16_ONEDNN, impl, sizeof impl))
            got = AVK_BF16_ONEDNN;
        else if (strict && want == AVK_BF16_ONEDNN)
            return avk_error("bf16: oneDNN has no bf16 matmul on this CPU (isa %s)", isa_name(isa));
        else if (!atomic_exchange(&fallback_said, 1))
            avk_warn("bf16: this CPU has no bf16 matmul (oneDNN isa %s; needs avx512_core_bf16 or AMX): "
                     "bf16 operators run in fp32", isa_name(isa));
    } else if (want == AVK_BF16_EMULATE) {
        if (!probe(AVK_BF16_EMULATE, impl, sizeof impl))
            avk_die(1, "bf16: oneDNN refuses f32 matmul primitives");
        got = AVK_BF16_EMULATE;
    }
    if (got == AVK_BF16_ONEDNN)
        snprintf(kernel_desc, sizeof kernel_desc, "onednn bf16 matmul %s (cpu isa %s)", impl, isa_name(isa));
    else if (got == AVK_BF16_EMULATE)
        snprintf(kernel_desc, sizeof kernel_desc,
                 "emulated bf16: rounded operands, f32 matmul %s (cpu isa %s)", impl, isa_name(isa));
    else
        snprintf(kernel_desc, sizeof kernel_desc, "fp32 fallback dnnl_sgemm (cpu isa %s%s)",
                 isa_name(isa), cpu_has_bf16(isa) ? "" : ": no bf16 matmul");
    atomic_store(&kernel_now, got);
    return 0;
}

/* The kernel asked for by AVK_BF16 (auto when unset). */
static avk_bf16_kernel env_kernel(void)
{
    const char *s = getenv("AVK_BF16");
    if (!s || !*s || !strcmp(s, "auto"))
        return AVK_BF16_AUTO;
    if (!strcmp(s, "onednn"))
        return AVK_BF16_ONEDNN;
    if (!strcmp(s, "emulate"))
        return AVK_BF16_EMULATE;
    if (!strcmp(s, "fp32"))
        return AVK_BF16_FP32;
    avk_warn("AVK_BF16: unknown kernel '%s' (auto, onednn, emulate, fp32): using auto", s);
    return AVK_BF16_AUTO;
}

static pthread_mutex_t kernel_lock = PTHREAD_MUTEX_INITIALIZER;

avk_bf16_kernel avk_bf16_get_kernel(void)
{
    int k = atomic_load(&kernel_now);
    if (k != AVK_BF16_AUTO)
        return (avk_bf16_kernel)k;
    pthread_mutex_lock(&kernel_lock);
    if (atomic_load(&kernel_now) == AVK_BF16_AUTO)
        resolve(env_kernel(), 0);
    pthread_mutex_unlock(&kernel_lock);
    return (avk_bf16_kernel)atomic_load(&kernel_now);
}

int avk_bf16_set_kernel(avk_bf16_kernel k)
{
    pthread_mutex_lock(&kernel_lock);
    int rc = resolve(k, 1);
    pthread_mutex_unlock(&kernel_lock);
    return rc;
}

const char *avk_bf16_kernel_name(void)
{
    avk_bf16_get_kernel();
    return kernel_desc;
}
