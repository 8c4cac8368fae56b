/* libFuzzer target for the .npy reader of av-tensor --pack (lib/io/avt_npy.c):
 * every input is a file read through /proc/self/fd of a memfd. With
 * FUZZ_WRITE_SEEDS=DIR it writes a few valid .npy files there and exits. */
#include "avkit/io/avt.h"
#include "avkit/io/avt_npy.h"
#include "avkit/util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz.npy", 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    avt_record r;
    avt_record_init(&r, "");
    avt_npy_read(path, &r, "x");
    avt_record_free(&r);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("FUZZ_WRITE_SEEDS");
    if (!dir)
        return 0;
    for (int d = AVT_F32; d <= AVT_BOOL; d++) {
        int64_t shape[3] = {2, 3, d};
        avt_tensor t = {.name = "x", .dtype = d, .ndim = d % 4};
        for (int i = 0; i < t.ndim; i++)
            t.shape[i] = shape[i];
        t.nbytes = (size_t)avt_tensor_numel(&t) * avt_dtype_size(d);
        t.data = avk_xcalloc(1, t.nbytes + 1);
        char *path = avk_xasprintf("%s/seed%d.npy", dir, d);
        avt_npy_write(path, &t);
        free(path);
        free(t.data);
    }
    exit(0);
}
