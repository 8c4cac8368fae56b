/* Caption tables: lookups by id with duplicates, largest-overlap lookups by
 * time (ties, long intervals that start early), trimming, and the errors
 * that name the line. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "avkit/data/captions.h"
#include "tap.h"

static char path[64];

/* Write text to a temporary file and load it as captions. */
static avk_captions *load(const char *text, int by_time)
{
    strcpy(path, "/tmp/avk-cap-XXXXXX");
    int fd = mkstemp(path);
    if (write(fd, text, strlen(text)) < 0)
        diag("write failed");
    close(fd);
    avk_caption_opts o;
    avk_caption_opts_default(&o);
    o.by_time = by_time;
    avk_captions *c = avk_captions_load(path, &o);
    unlink(path);
    return c;
}

static void test_by_time(void)
{
    avk_captions *c = load("video\tstart\tend\tcaption\n"
                           "v.mp4\t0\t100\tlong\n"
                           "v.mp4\t10\t12\tshort\n"
                           "v.mp4\t50\t60\tmid\n"
                           "w.mp4\t0\t5\tother video\n"
                           "v.mp4\t200\t210\tlate\n", 1);
    ok(c && c->n == 5, "a TSV timeline of 5 captions loads");
    if (!c)
        return;
    double ov;
    long e = avk_captions_best(c, "v.mp4", 10, 12, &ov);
    ok(e == 0 && ov == 1.0, "two full overlaps: the earlier line wins (%ld, %g)", e, ov);
    e = avk_captions_best(c, "v.mp4", 98, 102, &ov);
    ok(e == 0 && ov == 0.5, "a long caption that started long before is found (%g)", ov);
    e = avk_captions_best(c, "v.mp4", 195, 205, &ov);
    ok(e == 4 && ov == 0.5, "after a gap: the late caption, half covered");
    e = avk_captions_best(c, "v.mp4", 100, 110, &ov);
    ok(e == -1 && ov == 0, "no caption overlaps [100, 110)");
    e = avk_captions_best(c, "x.mp4", 0, 10, &ov);
    ok(e == -1, "an unknown video has none");
    ok(c->v[0].touched && c->v[1].touched && !c->v[2].touched && !c->v[3].touched &&
       c->v[4].touched, "touched marks every caption that overlapped a query");
    avk_captions_free(c);

    c = load("{\"video\": \"v\", \"start\": 0, \"end\": 4, \"caption\": \"a\"}\n"
             "{\"video\": \"v\", \"start\": 3, \"end\": 10, \"caption\": \"b\"}\n", 1);
    e = c ? avk_captions_best(c, "v", 2, 6, &ov) : -2;
    ok(e == 1 && ov == 0.75, "JSONL timeline: the larger overlap wins (3 of 4 s)");
    avk_captions_free(c);

    c = load("{\"video\": \"v\", \"start\": \"0\", \"end\": 4, \"caption\": \"a\"}\n", 1);
    ok(!c && strstr(avk_errmsg(), "line 1: fields \"start\" and \"end\" must be numbers"),
       "a start that is a string: %s", avk_errmsg());
    c = load("video\tstart\tend\tcaption\nv\t5\t5\tzero\n", 1);
    ok(!c && strstr(avk_errmsg(), "line 2: interval end 5 is not after start 5"),
       "an empty interval: %s", avk_errmsg());
}

static void test_by_id(void)
{
    avk_captions *c = load("\n{\"clip\": \"a#0-1\", \"caption\": \" one \"}\r\n"
                           "{\"clip\": \"b#0-1\", \"caption\": null}\n"
                           "{\"clip\": \"a#0-1\", \"caption\": \"again\"}\n", 0);
    ok(c && c->n == 3, "JSONL with a blank line, CRLF and null loads");
    if (!c)
        return;
    long e = avk_captions_find(c, "a#0-1");
    ok(e == 0 && strcmp(c->v[e].text, "one") == 0 && c->v[e].line == 2,
       "the first of two equal ids, trimmed, with its line");
    ok(c->ndups == 1 && c->dups[0] == 2, "the second is a duplicate");
    e = avk_captions_find(c, "b#0-1");
    ok(e == 1 && c->v[e].text[0] == 0, "null is an empty caption");
    ok(avk_captions_find(c, "c#0-1") == -1, "an unknown id");
    avk_captions_free(c);

    c = load("{\"clip\": \"a\", \"caption\": \"x\"}\n{\"clip\": 5, \"caption\": \"y\"}\n", 0);
    ok(!c && strstr(avk_errmsg(), "line 2: field \"clip\" is not a string"),
       "an id that is a number: %s", avk_errmsg());
    c = load("clip\tcaption\na\tone\nb\n", 0);
    ok(!c && strstr(avk_errmsg(), "line 3: 1 fields where the header has 2"),
       "a TSV row short of a field: %s", avk_errmsg());
}

static void test_trim(void)
{
    char s[] = " \t\r\n a b \n\v ";
    size_t n = strlen(s);
    avk_caption_trim(s, &n);
    ok(n == 3 && strcmp(s, "a b") == 0, "trim removes ASCII whitespace at both ends only");
    char e[] = " \n ";
    n = strlen(e);
    avk_caption_trim(e, &n);
    ok(n == 0 && e[0] == 0, "whitespace only trims to empty");
}

int main(void)
{
    test_by_time();
    test_by_id();
    test_trim();
    return done_testing();
}
