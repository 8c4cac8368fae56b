/* Finding a backend by name. The CPU backend is always built; the CUDA
 * backend only with `make CUDA=1` (AVK_HAVE_CUDA, lib/nn/cuda/), and asking
 * for it otherwise says so instead of failing later. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"

#include <string.h>

#ifdef AVK_HAVE_CUDA
const avk_backend *avk_backend_cuda(void);   /* lib/nn/cuda/backend_cuda.c */
#endif

const char *avk_backend_names(void)
{
#ifdef AVK_HAVE_CUDA
    return "cpu, cuda";
#else
    return "cpu";
#endif
}

const avk_backend *avk_backend_find(const char *name)
{
    if (!name || !*name) {
        avk_error("no backend named (built in: %s)", avk_backend_names());
        return NULL;
    }
    if (!strcmp(name, "cpu"))
        return avk_backend_cpu();
    if (!strcmp(name, "cuda")) {
#ifdef AVK_HAVE_CUDA
        return avk_backend_cuda();
#else
        avk_error("backend \"cuda\": this library was built without CUDA "
                  "(rebuild with make CUDA=1; built in: %s)", avk_backend_names());
        return NULL;
#endif
    }
    avk_error("unknown backend \"%s\" (built in: %s)", name, avk_backend_names());
    return NULL;
}
