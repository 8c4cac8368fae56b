/* av-filter's options and keep rules: the defaults (the seed paper's
 * thresholds where it gives them), the --scores list, and the order in
 * which the rules name the reason a clip is dropped. The first rule,
 * "short", takes the place of av-shotcut's old minimum shot length: a
 * shot shorter than a training clip is dropped here instead of being
 * merged into its neighbour there, which would put a cut inside a clip. */
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"

/* The defaults documented in av-filter(1). */
void avk_filter_opts_default(avk_filter_opts *o)
{
    memset(o, 0, sizeof *o);
    o->scores = AVK_SCORE_ALL;
    o->min_frames = 15;
    o->size = 360;
    o->static_diff = 0.9;
    o->static_frac = 0.3;
    o->static_mode = AVK_STATIC_MAD;
    o->flow_size = 128;
    o->motion_thres = 6.0;
    o->motion_count = 4.0;
    avk_flow_opts_default(&o->flow);
    o->aesthetic_frames = 5;
    o->aesthetic_min = 4.5;
    o->text_frames = 5;
    o->text_min_chars = 4;
    o->text_conf = 0.4;
    o->text_cover = 0.02;
    o->text_max_frames = 1;
    o->watermark_frames = 8;
    o->watermark_max = 0.5;
}

static const struct { const char *name; unsigned bit; } score_names[] = {
    {"static", AVK_SCORE_STATIC}, {"motion", AVK_SCORE_MOTION},
    {"aesthetic", AVK_SCORE_AESTHETIC}, {"text", AVK_SCORE_TEXT},
    {"watermark", AVK_SCORE_WATERMARK}, {"all", AVK_SCORE_ALL},
};

/* "static,motion" -> bits; -1 on an unknown or empty name. */
int avk_filter_parse_scores(const char *list, unsigned *bits)
{
    *bits = 0;
    const char *p = list;
    while (1) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        size_t k;
        for (k = 0; k < sizeof score_names / sizeof score_names[0]; k++)
            if (strlen(score_names[k].name) == len && !strncmp(p, score_names[k].name, len))
                break;
        if (k == sizeof score_names / sizeof score_names[0])
            return avk_error("unknown score '%.*s' (static, motion, aesthetic, text, watermark, all)",
                             (int)len, p);
        *bits |= score_names[k].bit;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* The keep rules, in order; see av-filter(1). */
void avk_filter_decide(const avk_filter_opts *o, avk_filter_result *r)
{
    r->keep = 0;
    if (!r->readable)
        r->reason = "unreadable";
    else if (r->nframes < o->min_frames)
        r->reason = "short";
    else if ((o->scores & AVK_SCORE_STATIC) && r->static_frac >= o->static_frac)
        r->reason = "static";
    else if ((o->scores & AVK_SCORE_MOTION) && !r->dynamic)
        r->reason = "low-motion";
    else if ((o->scores & AVK_SCORE_AESTHETIC) && r->aesthetic < o->aesthetic_min)
        r->reason = "low-aesthetic";
    else if ((o->scores & AVK_SCORE_TEXT) && r->text_frames > o->text_max_frames)
        r->reason = "text";
    else if ((o->scores & AVK_SCORE_WATERMARK) && r->watermark > o->watermark_max)
        r->reason = "watermark";
    else {
        r->keep = 1;
        r->reason = "-";
    }
}

