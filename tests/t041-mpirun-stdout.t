#!/bin/sh
# Binary output on standard output under mpirun (issue 12, item 4): Open MPI
# gives each rank a pseudo-terminal that forwards to mpirun's own standard
# output, so a rank must not judge it a terminal and refuse to write.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

command -v mpirun >/dev/null 2>&1 || skip_all 'no mpirun'

test_expect_success 'setup: a stream, a tiny model, clips' '
    avt_write_example -n 5 -e 16 -o s.avt &&
    vae_tiny_model vae.safetensors &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n%s\t4\t7\t10\n" \
        "$(vae_media wide)" "$(vae_media wide)" >clips.tsv &&
    OMP_NUM_THREADS=1 av-vaeenc -m vae.safetensors --base 32 clips.tsv -o one.avt
'
test_expect_success 'mpirun -np 1 av-tensor --cat s.avt > f writes the stream' '
    avk_mpirun 1 av-tensor --cat s.avt >f 2>err; cat err; cmp s.avt f
'
test_expect_success 'mpirun -np 2 av-vaeenc ... | av-tensor -c counts every record' '
    n=$(avk_mpirun 2 av-vaeenc -m vae.safetensors --base 32 clips.tsv 2>err | av-tensor -c) &&
    cat err && test "$n" = 2
'
test_expect_success 'mpirun -np 2 av-vaeenc ... > file is the one-process stream' '
    avk_mpirun 2 av-vaeenc -m vae.safetensors --base 32 clips.tsv >two.avt 2>err; cat err
    cmp one.avt two.avt
'
test_done
