#!/bin/sh
# The worked example in avt(5) is exactly what the writer produces.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: a 3-element u8 .npy written by hand' '
    { printf "\223NUMPY\001\000\166\000"
      printf "%-117s\n" "{'"'"'descr'"'"': '"'"'|u1'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (3,), }"
      printf "\001\002\003"; } >u.npy &&
    test $(wc -c <u.npy) -eq 131
'
test_expect_success 'av-tensor --pack writes the bytes avt(5) shows' '
    av-tensor --pack -k k -m fps=24 x=u.npy -o ex.avt &&
    awk "/^\.Bd -literal/{p=1;next} /^\.Ed/{p=0} p" "$SRC_DIR/man/man5/avt.5" |
        awk "{for (i = 2; i <= NF && \$i ~ /^[0-9a-f][0-9a-f]\$/; i++) printf \"%s\", \$i}" >want &&
    od -An -v -tx1 ex.avt | tr -d " \n" >got &&
    test "$(wc -c <want)" -eq 260 && test_cmp want got
'
test_done
