#!/bin/sh
# A checkpoint is committed as a whole: SIGTERM or SIGKILL at any moment of
# a run that saves every step leaves a weights / optimizer pair that
# resumes (the previous checkpoint or the new one, never one of each).
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

TRAIN="av-train --model vae --crop 16 --batch 1 --save-every 1 --steps 100000"
test_expect_success 'setup: media, tiny config, manifest, a first checkpoint' '
    vae_tiny_config >"$TRASH/tiny.json" &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n" \
        "$(vae_media wide)" >"$TRASH/clips.tsv" &&
    (cd "$TRASH" && av-train --model vae --config tiny.json --crop 16 --batch 1 --steps 1 \
        clips.tsv -o m.safetensors)
'
# step FILE: the "step" of a checkpoint file's metadata.
step() {
    grep -ao "\"step\":\"[0-9]*\"" "$1" | head -n 1 | tr -cd 0-9
}
test_expect_success 'twenty kills during checkpoint saves: every pair resumes' '
    i=0 && last=$(step m.safetensors) &&
    while [ $i -lt 20 ]; do
        $TRAIN --resume m.safetensors clips.tsv -o m.safetensors 2>err &
        pid=$! &&
        sleep 0.$((3 + i % 7)) &&
        if [ $((i % 2)) -eq 0 ]; then kill -TERM $pid; else kill -KILL $pid; fi &&
        { wait $pid; true; } &&
        w=$(step m.safetensors) && o=$(step m.optim.safetensors) &&
        if [ -e .m.safetensors.commit ]; then
            # killed between the marker and the last rename: committed,
            # and the next run finishes the renames before anything else
            echo "kill $i: a committed checkpoint awaits its renames" && w=$last && o=$last
        fi &&
        if [ "$w" != "$o" ]; then
            echo "kill $i: weights at step $w, optimizer at step $o"; exit 1
        fi &&
        if [ "$w" -lt "$last" ]; then echo "kill $i: went back to step $w"; exit 1; fi &&
        last=$w && i=$((i + 1)) || exit 1
    done &&
    n=$(step m.safetensors) &&
    av-train --model vae --crop 16 --batch 1 --steps $((n + 1)) --resume m.safetensors \
        clips.tsv -o m.safetensors &&
    test "$(step m.safetensors)" = $((n + 1)) && test "$n" -gt 1
'
test_expect_success 'SIGTERM writes a checkpoint and ends by the signal' '
    $TRAIN --resume m.safetensors clips.tsv -o t.safetensors 2>err &
    pid=$! && n=0 &&
    while [ ! -e t.optim.safetensors ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done &&
    kill -TERM $pid; wait $pid; rc=$? &&
    test $rc -eq 143 && test_grep "Terminated at step [0-9]*: checkpoint written" err &&
    test "$(step t.safetensors)" = "$(step t.optim.safetensors)"
'
test_expect_success 'a commit killed after its marker is finished on resume' '
    cp m.safetensors old.safetensors && cp m.optim.safetensors old.optim.safetensors &&
    av-train --model vae --crop 16 --batch 1 --steps $(($(step m.safetensors) + 1)) \
        --resume m.safetensors clips.tsv -o new.safetensors &&
    mv new.safetensors .new.safetensors.tmpAAAAAA &&
    mv new.optim.safetensors .new.optim.safetensors.tmpBBBBBB &&
    cp old.optim.safetensors new.optim.safetensors &&
    cp .new.safetensors.tmpAAAAAA new.safetensors &&
    printf "avkit checkpoint commit 1\n.new.safetensors.tmpAAAAAA\tnew.safetensors\n.new.optim.safetensors.tmpBBBBBB\tnew.optim.safetensors\n" \
        >.new.safetensors.commit &&
    av-train --model vae --crop 16 --batch 1 --steps $(($(step m.safetensors) + 2)) \
        --resume new.safetensors clips.tsv -o fin.safetensors &&
    test ! -e .new.safetensors.commit && test ! -e .new.safetensors.tmpAAAAAA &&
    test "$(step new.safetensors)" = "$(step new.optim.safetensors)"
'
test_done
