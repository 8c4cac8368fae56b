/* A tiny TAP producer for C unit tests: ok(cond, fmt, ...), diag(),
 * done_testing(). Each test binary is run by a tests/tNNN-*.t script. */
#ifndef AVKIT_TAP_H
#define AVKIT_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_count, tap_failed;

/* Report one test: "ok N - desc" or "not ok N - desc". */
static int __attribute__((format(printf, 2, 3), unused)) ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_count++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

/* Diagnostic line (shown by prove -v and on failure). */
static void __attribute__((format(printf, 1, 2), unused)) diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* The error measure of the numeric tests: max|a - b| over max|b|, with
 * the denominator at least min_den (rel_err: 1e-30, so an all-zero b
 * compares absolutely). A NaN in a gives NaN, which no "< tol" passes. */
static double __attribute__((unused)) rel_err_floor(const float *a, const float *b, int64_t n,
                                                    double min_den)
{
    double e = 0, m = min_den;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > e || d != d)
            e = d;
        if (fabs((double)b[i]) > m)
            m = fabs((double)b[i]);
    }
    return e / m;
}

static double __attribute__((unused)) rel_err(const float *a, const float *b, int64_t n)
{
    return rel_err_floor(a, b, n, 1e-30);
}

/* The largest rel_err of an attention's three gradients against their
 * references: g[0..3) (dq of nq values, dk and dv of nk) against
 * g[3..6); NaN when any is NaN. */
static double __attribute__((unused)) rel_err_qkv(float *const g[6], int64_t nq, int64_t nk)
{
    double e = 0;
    for (int i = 0; i < 3; i++) {
        double t = rel_err(g[i], g[i + 3], i == 0 ? nq : nk);
        e = t > e || t != t ? t : e;
    }
    return e;
}

/* Print the plan and exit non-zero when anything failed. */
static int __attribute__((unused)) done_testing(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
