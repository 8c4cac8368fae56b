/* Timing counters of the DiT's matrix products (see avk_dit_prof in
 * avkit/models/dit.h): off unless a benchmark turns them on, so training
 * pays one predictable branch per product. */
#include <omp.h>
#include "avkit/models/dit.h"
#include "dit_ops.h"

int avk_dit_prof_on;
double (*avk_dit_prof_clock)(void);
avk_dit_prof avk_dit_prof_acc;

/* Start counting with this clock (seconds), or stop (clock NULL). */
void avk_dit_prof_enable(double (*clock)(void))
{
    avk_dit_prof_clock = clock;
    avk_dit_prof_on = clock != NULL;
    avk_dit_prof_acc = (avk_dit_prof){0};
}

/* The counts so far, then zero them. */
avk_dit_prof avk_dit_prof_take(void)
{
    avk_dit_prof p = avk_dit_prof_acc;
    avk_dit_prof_acc = (avk_dit_prof){0};
    return p;
}

/* (see dit_ops.h) The groups' threads run side by side, each on the
 * step's clock: a group's time over the team size is its share. */
void dit_prof_add(double *seconds, long *calls, double dt)
{
    dt /= omp_get_num_threads();
#pragma omp atomic
    *seconds += dt;
#pragma omp atomic
    (*calls)++;
}
