/* Unit tests for the shared conventions (lib/util/common.c): outputs that appear
 * only when complete, number parsing, errors. */
#include "tap.h"
#include "avkit/util/common.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

/* Number of entries in the current directory whose name contains s. */
static int count_names(const char *s)
{
    DIR *d = opendir(".");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strstr(e->d_name, s) != NULL;
    closedir(d);
    return n;
}

int main(void)
{
    struct stat st;
    avk_out *o = avk_out_open("out.bin", 1);
    ok(o != NULL, "opens an output file");
    fputs("half", o->fp);
    fflush(o->fp);
    ok(stat("out.bin", &st) != 0, "nothing under the real name while writing");
    ok(count_names(".out.bin.tmp") == 1, "a temporary file in the same directory");
    avk_out_abort(o);
    ok(stat("out.bin", &st) != 0 && count_names(".out.bin.tmp") == 0,
       "abort leaves neither the file nor the temporary");

    o = avk_out_open("out.bin", 1);
    fputs("whole", o->fp);
    ok(avk_out_commit(o) == 0 && stat("out.bin", &st) == 0 && st.st_size == 5,
       "commit renames the complete file into place");
    ok(count_names(".out.bin.tmp") == 0, "no temporary left after commit");

    ok(avk_out_open("no/such/dir/x", 0) == NULL && strstr(avk_errmsg(), "no/such/dir/x"),
       "an unwritable path is named: %s", avk_errmsg());

    ok(avk_error("%s: %d", "f", 3) == -1 && strcmp(avk_errmsg(), "f: 3") == 0,
       "avk_error returns -1 and keeps the message");

    avk_buf b = {0};
    for (int i = 0; i < 1000; i++)
        avk_buf_printf(&b, "%d,", i);
    ok(b.len == 3890, "buffer grows across many appends");
    avk_buf_free(&b);
    return done_testing();
}
