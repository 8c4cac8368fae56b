#!/bin/sh
# Cuts the content score alone misses, made from the real photographs of
# tests/real/: a same-camera jump cut in black-and-white footage (H and S
# never change, so the score is a third of a coloured picture's), two
# views of one dark, grainy scene (grain raises every frame's score, so
# the cut does not stand out) in grey and in colour, and, found before
# too, a colour jump cut and a cut into a fast whip pan. The thumbnail
# cue finds each at frame 40 and nothing else; t712 and the t60x tests
# check that it adds no cut elsewhere.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/real-media.sh"
command -v av-shotcut >/dev/null || skip_all "av-shotcut not built"

# hard_media NAME: the clip's path (made once)
hard_media() {
    R=$REAL_DIR C=$REAL_CANVAS
    case $1 in
    jump-grey) test_media hard-jump-grey.mp4 -loop 1 -framerate 25 -i "$R/camera.jpg" \
        -vf "$C,crop=480:270:x='150+if(gte(n,40),24,0)+2*sin(1.3*n)':y='90+if(gte(n,40),10,0)+2*sin(1.7*n)'" \
        -frames:v 80 $REAL_ENC ;;
    jump-colour) test_media hard-jump-colour.mp4 -loop 1 -framerate 25 -i "$R/coffee.jpg" \
        -vf "$C,crop=480:270:x='150+if(gte(n,40),30,0)+2*sin(1.3*n)':y='90+if(gte(n,40),12,0)+2*sin(1.7*n)'" \
        -frames:v 80 $REAL_ENC ;;
    dark-grey|dark-colour)
        if [ $1 = dark-grey ]; then s=camera; else s=coffee; fi
        test_media hard-$1.mp4 -loop 1 -framerate 25 -i "$R/$s.jpg" \
        -vf "$C,crop=480:270:x='if(gte(n,40),300,20)':y='if(gte(n,40),170,20)',eq=brightness=-0.3:contrast=0.5,noise=alls=20:allf=t" \
        -frames:v 80 $REAL_ENC ;;
    whip) test_media hard-whip.mp4 -loop 1 -framerate 25 -i "$R/chelsea.jpg" -loop 1 -framerate 25 -i "$R/rocket.jpg" \
        -filter_complex "[0]$C,crop=480:270:x='100+6*n':y=90,trim=end_frame=40,setpts=PTS-STARTPTS[a];[1]scale=2400:1350:force_original_aspect_ratio=increase,crop=2400:1350,setsar=1,crop=480:270:x='50*n':y=500,trim=end_frame=40,setpts=PTS-STARTPTS[b];[a][b]concat=n=2" \
        $REAL_ENC ;;
    esac
}

for name in jump-grey dark-grey dark-colour jump-colour whip; do
    test_expect_success "$name: one cut, at 40" '
        v=$(hard_media '"$name"') &&
        av-shotcut "$v" >'"$name"'.tsv &&
        test "$(awk -F"\t" "NR > 2 { printf \"%s \", \$4 }" '"$name"'.tsv)" = "40 "
    '
done
test_done
