#!/bin/sh
# The CUDA backend's device collectives (NCCL) against the host ones: one
# rank always, two ranks under mpirun where the machine has two devices.
# Skips in one line without CUDA, NCCL or a device.
. "$(dirname "$0")/lib.sh"

devices=$("$AVKIT_BUILD/tests/test_cuda_nccl" --devices)
if [ "${devices:-0}" -lt 2 ]; then
    run_unit test_cuda_nccl      # one rank (or the skip line)
fi
test_expect_success 'one rank' '
    test_cuda_nccl >out1 && ! grep -q "^not ok" out1
'
test_expect_success 'two ranks under mpirun, one device each' '
    avk_mpirun 2 test_cuda_nccl >out2 && ! grep -q "^not ok" out2 &&
    test "$(grep -c "^ok" out2)" -ge 14
'
test_done
