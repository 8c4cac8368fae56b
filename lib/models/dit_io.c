/* DiT weights as safetensors: every parameter under its diffusers-style
 * name, the configuration as JSON in the metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "dit_internal.h"

int avk_dit_read_tensors(const avk_dit *m, const avk_st_file *f, const char *prefix, float *dst)
{
    for (int i = 0; i < m->nparam; i++) {
        const avk_dit_param *p = &m->params[i];
        char name[160], want[96], got[96];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const avk_st_tensor *t = avk_st_find(f, name);
        avk_shape_str(want, sizeof want, p->ndim, p->shape);
        if (!t)
            return avk_error("%s: missing tensor \"%s\" (shape %s) for this DiT config", f->path,
                             name, want);
        if (t->dtype != AVT_F32)
            return avk_error("%s: tensor \"%s\" is %s, expected F32", f->path, name,
                             avk_st_dtype_name(t->dtype) ? avk_st_dtype_name(t->dtype) : "?");
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = t->shape[d] == p->shape[d];
        if (!same || t->nbytes != (size_t)p->numel * sizeof(float)) {
            avk_shape_str(got, sizeof got, t->ndim, t->shape);
            return avk_error("%s: tensor \"%s\" has shape %s, expected %s for this DiT config",
                             f->path, name, got, want);
        }
        memcpy(dst + p->offset, t->data, t->nbytes);
    }
    return 0;
}

avk_dit *avk_dit_load(const char *path)
{
    avk_st_file *f = avk_st_open(path);
    if (!f)
        return NULL;
    const char *meta = avk_st_meta(f, "config");
    if (!meta) {
        avk_error("%s: no \"config\" in the metadata: not a DiT checkpoint", path);
        avk_st_close(f);
        return NULL;
    }
    char what[4200];
    snprintf(what, sizeof what, "%s: metadata \"config\"", path);
    avk_dit_config c;
    avk_dit *m = NULL;
    /* an EMA copy beside the weights ("ema." tensors, read by samplers
     * through avk_dit_read_tensors) is not an unexpected tensor */
    avk_params_load_opts lo = {.model = "DiT", .ignore_prefix = "ema."};
    if (avk_dit_config_parse(&c, meta, strlen(meta), what) == 0 && (m = avk_dit_new(&c)) &&
        avk_params_load(m->par, m->w, f, &lo) < 0) {
        avk_dit_free(m);
        m = NULL;
    }
    avk_st_close(f);
    return m;
}

int avk_dit_save(const avk_dit *m, const char *path, int nmeta, const char *const *meta)
{
    avk_st_writer *w = avk_st_writer_new();
    char *cfg = avk_dit_config_json(&m->cfg);
    avk_st_writer_meta(w, "format", "pt");
    avk_st_writer_meta(w, "model", "avkit-dit");
    avk_st_writer_meta(w, "config", cfg);
    for (int i = 0; i < nmeta; i++)
        avk_st_writer_meta(w, meta[2 * i], meta[2 * i + 1]);
    free(cfg);
    avk_params_st_add(m->par, m->w, w);
    return avk_st_writer_write(w, path);
}
