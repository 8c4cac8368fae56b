#!/bin/sh
# The bf16 kernel is chosen by the CPU (or AVK_BF16); where the CPU has no
# bf16 matmul the operators run in fp32 and say so once per process.
. "$(dirname "$0")/lib.sh"

test_expect_success 'automatic choice: bf16 where the CPU has it, else one fp32 message' '
    env -u AVK_BF16 test_bf16 fallback-message >out 2>err &&
    if grep -q "^fp32 fallback" out; then
        test $(grep -c "no bf16 matmul" err) -eq 1 &&
        test $(wc -l <err) -eq 1
    else
        grep -q "^onednn bf16 matmul" out && test ! -s err
    fi
'
test_expect_success 'AVK_BF16=fp32: the fp32 operators, no message' '
    AVK_BF16=fp32 test_bf16 fallback-message >out 2>err &&
    grep -q "^fp32 fallback dnnl_sgemm" out && test ! -s err
'
test_expect_success 'AVK_BF16=emulate: bf16 numerics through f32 primitives, no message' '
    AVK_BF16=emulate test_bf16 fallback-message >out 2>err &&
    grep -q "^emulated bf16: rounded operands, f32 matmul" out && test ! -s err
'
test_expect_success 'AVK_BF16=onednn: oneDNN bf16, or the fp32 fallback with one message' '
    AVK_BF16=onednn test_bf16 fallback-message >out 2>err &&
    if grep -q "^fp32 fallback" out; then
        test $(grep -c "no bf16 matmul" err) -eq 1
    else
        grep -q "^onednn bf16 matmul" out
    fi
'
test_expect_success 'AVK_BF16 with an unknown kernel is named and ignored' '
    AVK_BF16=fast test_bf16 fallback-message >out 2>err &&
    grep -q "AVK_BF16: unknown kernel .fast." err
'
test_done
