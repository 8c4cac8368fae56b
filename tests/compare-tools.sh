#!/bin/sh
# Not part of the suite (prove runs *.t): the four data tools' outputs with
# an older build's tools (OLD_BIN) and this build's, alone and under mpirun
# -np 2 and -np 4, byte for byte, with the same exit codes and the same
# tool messages on stderr. Used when the tools moved onto avk_dist_items:
#   OLD_BIN=/path/to/old/build/rel/bin sh tests/compare-tools.sh
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"
. "$TESTS_DIR/filter-media.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/lib-captionfeed.sh"
NEW_BIN=$AVKIT_BUILD/bin
: "${OLD_BIN:?set OLD_BIN}"

# same NAME OUT NP CMD...: run CMD with the old and the new tools (NP 1:
# no launcher), OUT the file it writes ("-": stdout), and compare.
same() {
    name=$1 out=$2 np=$3; shift 3
    for v in old new; do
        [ $v = old ] && bin=$OLD_BIN || bin=$NEW_BIN
        rm -rf "$name.out" && 
        if [ "$np" = 1 ]; then
            PATH="$bin:$PATH" "$@" >"$name.stdout" 2>"$name.$v.err"; echo $? >"$name.$v.rc"
        else
            PATH="$bin:$PATH" avk_mpirun "$np" "$@" >"$name.stdout" 2>"$name.$v.err"; echo $? >"$name.$v.rc"
        fi
        if [ "$out" = - ]; then mv "$name.stdout" "$name.$v"; elif [ -e "$out" ]; then rm -rf "$name.$v"; mv "$out" "$name.$v"; else echo none >"$name.$v"; fi
    done
    if diff -r "$name.old" "$name.new" >/dev/null && cmp -s "$name.old.rc" "$name.new.rc"; then
        echo "same: $name (np $np, exit $(cat $name.new.rc), $(du -sb $name.new | cut -f1) bytes)"
        grep "^av-" "$name.old.err" | sort >"$name.old.serr"; grep "^av-" "$name.new.err" | sort >"$name.new.serr"
        cmp -s "$name.old.serr" "$name.new.serr" || { echo "  stderr differs:"; diff "$name.old.serr" "$name.new.serr" | head -5; }
    else
        echo "DIFFERENT: $name (np $np)"; fails=$((fails + 1))
    fi
}
fails=0
sc_media cuts >/dev/null && sc_media dark >/dev/null && sc_media flash >/dev/null &&
sc_media short >/dev/null && sc_media fade >/dev/null && sc_media dissolve >/dev/null
printf "short.mp4\ncuts.mp4\ndark.mp4\nflash.mp4\nfade.mp4\ndissolve.mp4\n" >list
echo junk >bad.mp4
printf "cuts.mp4\nbad.mp4\ndark.mp4\nflash.mp4\n" >list2
for np in 1 2 4; do
    same shotcut$np - $np av-shotcut -l list
    same shotcut-o$np out.tsv $np av-shotcut -l list -o out.tsv
    same shotcut-bad$np - $np av-shotcut -l list2
done

filter_manifest still pan slow logo blur dark >in.tsv
{ head -3 in.tsv; printf "x#0-5\tmissing.mp4\t0\t0\t5\t0\t0.2\t25\t640\t360\t0\t-\t-\n"; } >bad.tsv
for np in 1 2 4; do
    same filter$np - $np av-filter --scores static,motion,aesthetic,watermark in.tsv
    same filter-drop$np out.tsv $np av-filter --drop --scores static,motion -o out.tsv in.tsv
    same filter-bad$np out.tsv $np av-filter -o out.tsv bad.tsv
done

{ cf_manifest; i=0; while [ $i -lt 12 ]; do
      printf 'more.mp4#%d-%d\tmore.mp4\t%d\t%d\t0\t1\t30\t320\t240\t%d\t0.1\t1\t\n' \
          $((i * 30)) $((i * 30 + 30)) $((i * 30)) $((i * 30 + 30)) $i
      i=$((i + 1)); done; } >clips.tsv
cf_captions_jsonl >caps.jsonl
printf '#!/bin/sh\necho "A clip of $1 from frame $2 to $3 at $4 fps (${AVK_CLIP})."\n' >cap
printf '#!/bin/sh\ntest $AVK_CLIP = more.mp4#30-60 && exit 4\necho fine\n' >fail-cap
printf '#!/bin/sh\ntest $AVK_CLIP = more.mp4#60-90 && exit 4\necho fine\n' >fail2-cap
chmod +x cap fail-cap fail2-cap
for np in 1 2 4; do
    same caption$np out.avt $np av-caption-feed -x ./cap -j 2 -o out.avt clips.tsv
    same caption-id$np out.avt $np av-caption-feed -c caps.jsonl -o out.avt clips.tsv
    same caption-fail$np out.avt $np av-caption-feed -x ./fail-cap -o out.avt clips.tsv
    same caption-keep$np out.avt $np av-caption-feed --keep-going -x ./fail2-cap -o out.avt clips.tsv
done

vae_tiny_model vae.safetensors
printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n%s\t0\t25\t25\n%s\t4\t7\t10\n" \
    "$(vae_media wide)" "$(vae_media tall)" "$(vae_media wide)" >vclips.tsv
printf "video\tstart_frame\tend_frame\n%s\t0\t20\nnope.mp4\t0\t5\n" "$(vae_media wide)" >vbad.tsv
OMP_NUM_THREADS=1 $NEW_BIN/av-vaeenc -m vae.safetensors --base 32 vclips.tsv -o lat.avt
for np in 1 2 4; do
    same vaeenc$np out.avt $np env OMP_NUM_THREADS=1 av-vaeenc -m vae.safetensors --base 32 vclips.tsv -o out.avt
    same vaeenc-sample$np out.avt $np env OMP_NUM_THREADS=1 av-vaeenc -m vae.safetensors --base 32 --sample --seed 9 --dtype bf16 vclips.tsv -o out.avt
    same vaedec$np dec $np env OMP_NUM_THREADS=1 av-vaeenc -d --format tiff -m vae.safetensors lat.avt -o dec
    same vaeenc-bad$np out.avt $np env OMP_NUM_THREADS=1 av-vaeenc -m vae.safetensors --base 32 vbad.tsv -o out.avt
done
echo "$fails different"
[ "$fails" -eq 0 ] && cd "$SRC_DIR" && rm -rf "$TRASH"
[ "$fails" -eq 0 ]
