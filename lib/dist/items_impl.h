/* The ordered gather behind avk_dist_items, shared with the older
 * avk_dist_gather_items. */
#ifndef AVKIT_DIST_ITEMS_IMPL_H
#define AVKIT_DIST_ITEMS_IMPL_H

#include "avkit/dist/comm.h"

/* Every rank sends the items[i] it owns to rank 0, which takes all n in
 * input order and passes each to emit (NULL: leaves them in items[]).
 * Returns -1 when the gather or an emit failed (no emit after that). */
int items_gather(avk_comm *c, size_t n, const int *owner, avk_buf *items,
                 int (*emit)(size_t, avk_buf *, void *), void *ctx);

#endif
