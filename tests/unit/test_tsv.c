/* Unit tests for TSV manifests and clip ids (lib/util/tsv.c). */
#include "tap.h"
#include "avkit/util/tsv.h"

#include <string.h>
#include <unistd.h>

/* Write text to a fresh file and return its name. */
static const char *write_file(const char *name, const char *text)
{
    FILE *fp = fopen(name, "wb");
    fputs(text, fp);
    fclose(fp);
    return name;
}

int main(void)
{
    avk_tsv *t = avk_tsv_open(write_file("a.tsv", "video\tstart_frame\tend_frame\r\n"
                                         "x.mp4\t0\t10\r\n\r\ny z.mp4\t10\t25\n"));
    ok(t != NULL, "opens a manifest with CRLF endings");
    ok(t && t->ncols == 3 && strcmp(t->cols[2], "end_frame") == 0,
       "reads the header without the CR");
    ok(avk_tsv_next(t) == 1 && strcmp(avk_tsv_field(t, avk_tsv_col(t, "end_frame")), "10") == 0,
       "first row, field by column name");
    ok(avk_tsv_next(t) == 1 && strcmp(avk_tsv_field(t, 0), "y z.mp4") == 0 && t->lineno == 4,
       "blank lines are skipped, line numbers kept");
    ok(avk_tsv_next(t) == 0, "end of manifest");
    ok(avk_tsv_need(t, "fps") < 0 && strstr(avk_errmsg(), "missing column 'fps'"),
       "missing column is named: %s", avk_errmsg());
    avk_tsv_close(t);

    t = avk_tsv_open(write_file("b.tsv", "a\tb\n1\t2\n1\t2\t3\n"));
    ok(avk_tsv_next(t) == 1 && avk_tsv_next(t) == -1 && strstr(avk_errmsg(), "b.tsv:3:"),
       "a row with the wrong field count names file and line: %s", avk_errmsg());
    avk_tsv_close(t);

    ok(avk_tsv_open(write_file("c.tsv", "")) == NULL && strstr(avk_errmsg(), "empty manifest"),
       "empty file is an error");
    ok(avk_tsv_open("no/such.tsv") == NULL && strstr(avk_errmsg(), "no/such.tsv"),
       "missing file names the path");

    char *id = avk_clip_id("dir/a#b.mp4", 12, 40);
    ok(strcmp(id, "dir/a#b.mp4#12-40") == 0, "clip id format VIDEO#START-END");
    char *video = NULL;
    long s = 0, e = 0;
    ok(avk_clip_id_parse(id, &video, &s, &e) == 0 && strcmp(video, "dir/a#b.mp4") == 0 &&
       s == 12 && e == 40, "clip id parses back, '#' in the path kept");
    free(video);
    free(id);
    ok(avk_clip_id_parse("x.mp4#5", &video, &s, &e) < 0, "malformed clip id rejected");
    ok(avk_clip_id_parse("x.mp4#9-3", &video, &s, &e) < 0, "end before start rejected");

    avk_buf b = {0};
    avk_tsv_put(&b, 1, "a\tb");
    avk_tsv_put(&b, 0, "c\nd");
    avk_buf_append(&b, "", 1);
    ok(strcmp((char *)b.data, "a b\tc d") == 0, "fields stay on one line");
    avk_buf_free(&b);
    return done_testing();
}
