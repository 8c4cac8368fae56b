/* The short-sequence path of avk_attention (at most 32 queries and keys:
 * the DiT's temporal attention) against the double reference, forward and
 * backward, tolerance 1e-5 relative: the reference configuration's
 * temporal shape (512 sequences x 4 heads of 8 tokens, head dim 64, large
 * enough for the threads), masked keys including an empty caption (zero
 * outputs, no gradients), queries and keys of different counts (key
 * blocks of 8 and a remainder), a head dim past a multiple of 64 (the
 * kernels' column remainder), one that is no multiple of 8 (the tiled
 * path takes it), and the tiled paths (33 keys; 3 pairs over blocks of
 * keys and queries, masked to none and part of a block); each also with
 * write_grads, the gradients written over NaN-filled buffers. */
#include <math.h>
#include <string.h>
#include "tap.h"
#include "randn.h"
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"

static void check(int B, int H, int Nq, int Nk, int D, const int *kv_len, const char *what)
{
    int64_t nq = (int64_t)B * H * Nq * D, nk = (int64_t)B * H * Nk * D, nl = (int64_t)B * H * Nq;
    float *q = randn(nq, 1.0f), *k = randn(nk, 1.0f), *v = randn(nk, 1.0f), *dout = randn(nq, 1.0f);
    float *o = avk_falloc(nq), *ro = avk_falloc(nq), *lse = avk_falloc(nl), *rlse = avk_falloc(nl);
    float *g[6];
    for (int i = 0; i < 6; i++)
        g[i] = avk_fzeros(i % 3 == 0 ? nq : nk);
    avk_attn a = avk_attn_make(B, H, Nq, Nk, D);
    a.kv_len = kv_len;
    avk_attention_fwd(o, lse, q, k, v, &a);
    avk_attention_fwd_ref(ro, rlse, q, k, v, &a);
    avk_attention_bwd(g[0], g[1], g[2], dout, q, k, v, o, lse, &a);
    avk_attention_bwd_ref(g[3], g[4], g[5], dout, q, k, v, ro, rlse, &a);
    double e = rel_err(o, ro, nq), eg = rel_err_qkv(g, nq, nk);
    int lse_same = 1;
    for (int64_t i = 0; i < nl; i++)
        if (isinf(rlse[i]) ? lse[i] != rlse[i] : fabsf(lse[i] - rlse[i]) > 1e-5f * (1 + fabsf(rlse[i])))
            lse_same = 0;
    ok(e < 1e-5 && eg < 1e-5 && lse_same, "%s: forward %.2e, backward %.2e, lse %s", what, e, eg,
       lse_same ? "equal" : "differs");
    /* write_grads: the same gradients written over NaN-filled buffers */
    a.write_grads = 1;
    for (int i = 0; i < 3; i++) {
        avk_ffree(g[i]);
        g[i] = nans(i == 0 ? nq : nk);
    }
    avk_attention_bwd(g[0], g[1], g[2], dout, q, k, v, o, lse, &a);
    double ew = rel_err_qkv(g, nq, nk);
    ok(ew < 1e-5, "%s: write_grads over NaN buffers, backward %.2e", what, ew);
    avk_ffree(q);
    avk_ffree(k);
    avk_ffree(v);
    avk_ffree(dout);
    avk_ffree(o);
    avk_ffree(ro);
    avk_ffree(lse);
    avk_ffree(rlse);
    for (int i = 0; i < 6; i++)
        avk_ffree(g[i]);
}

int main(void)
{
    avk_rng_seed(&rng, 5);
    check(512, 4, 8, 8, 64, NULL, "temporal 512 x 4 heads x 8 tokens, head dim 64");
    int lens[3] = {20, 0, 32};
    check(3, 4, 16, 32, 64, lens, "16 queries, 32 keys masked to 20, 0 and 32");
    check(6, 2, 32, 5, 16, NULL, "32 queries, 5 keys");
    check(4, 3, 13, 21, 88, NULL, "13 queries, 21 keys, head dim 88");
    check(4, 2, 8, 8, 12, NULL, "head dim 12: no multiple of 8");
    check(2, 2, 8, 33, 64, NULL, "33 keys: the tiled path");
    int lens3[3] = {0, 600, 140};
    check(3, 1, 150, 600, 64, lens3, "3 pairs, 150 queries, 600 keys masked to 0, 600, 140: the tiled path, key and query passes");
    return done_testing();
}
