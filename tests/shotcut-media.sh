# Test videos of av-shotcut (sourced by tests/t6*.t after lib.sh): ffmpeg
# lavfi sources at 320x240, 25 frames/s, H.264, with known shot boundaries.
# sc_media NAME links the cached video into the test's directory as NAME.mp4
# (so manifests name a relative path) and prints that name.

SC_ENC="-c:v libx264 -preset veryfast -pix_fmt yuv420p"
SC_S="s=320x240:r=25"

# lavfi input of SOURCE lasting SECONDS.
sc_src() { echo "-t $2 -f lavfi -i $1=$SC_S"; }

sc_make() {
    case $1 in
    # Hard cuts at frames 40, 75, 125; 155 frames.
    cuts) test_media sc-cuts.mp4 $(sc_src testsrc2 1.6) $(sc_src smptebars 1.4) \
        $(sc_src mandelbrot 2) $(sc_src rgbtestsrc 1.2) \
        -filter_complex "[0:v][1:v][2:v][3:v]concat=n=4:v=1,format=yuv420p" $SC_ENC ;;
    # Fade out over frames 38-49, fade in over 50-61: one cut at 50.
    fade) test_media sc-fade.mp4 $(sc_src testsrc2 2) $(sc_src mandelbrot 2) \
        -filter_complex "[0:v]fade=t=out:s=38:n=12[a];[1:v]fade=t=in:s=0:n=12[b];[a][b]concat=n=2:v=1,format=yuv420p" $SC_ENC ;;
    # Dissolve over frames 50-74 (1 s from 2 s): one cut at 62.
    dissolve) test_media sc-dissolve.mp4 $(sc_src testsrc2 3) $(sc_src mandelbrot 3) \
        -filter_complex "[0:v][1:v]xfade=transition=fade:duration=1:offset=2,format=yuv420p" $SC_ENC ;;
    # Wipe over frames 50-69 (0.8 s from 2 s): one cut at 60.
    wipe) test_media sc-wipe.mp4 $(sc_src testsrc2 3) $(sc_src smptebars 3) \
        -filter_complex "[0:v][1:v]xfade=transition=wipeleft:duration=0.8:offset=2,format=yuv420p" $SC_ENC ;;
    # A 2-frame flash (frames 50-51 over-exposed) inside one shot of 100.
    flash) test_media sc-flash.mp4 $(sc_src testsrc2 4) \
        -vf "eq=brightness=0.7:enable='between(n,50,51)',format=yuv420p" $SC_ENC ;;
    # Fast panning over a large testsrc2 (up to 73 px a frame), no cut.
    motion) test_media sc-motion.mp4 -t 6 -f lavfi -i testsrc2=s=1280x720:r=25 \
        -vf "crop=320:240:x='480+440*sin(n/6)':y='240+200*cos(n/7)',format=yuv420p" $SC_ENC ;;
    # Two dark shots (brightness -0.4), cut at 50.
    dark) test_media sc-dark.mp4 $(sc_src testsrc2 2) $(sc_src smptebars 2) \
        -filter_complex "[0:v]eq=brightness=-0.4[a];[1:v]eq=brightness=-0.4[b];[a][b]concat=n=2:v=1,format=yuv420p" $SC_ENC ;;
    # Shots of 6 frames: cuts at 30, 36, 42, 48, 54; 84 frames.
    short) test_media sc-short.mp4 $(sc_src testsrc2 1.2) $(sc_src smptebars 0.24) \
        $(sc_src mandelbrot 0.24) $(sc_src rgbtestsrc 0.24) $(sc_src yuvtestsrc 0.24) \
        $(sc_src testsrc 1.2) \
        -filter_complex "[0:v][1:v][2:v][3:v][4:v][5:v]concat=n=6:v=1,format=yuv420p" $SC_ENC ;;
    # A black box over most of the frame for frames 50-55 (an occlusion).
    occl) test_media sc-occl.mp4 $(sc_src testsrc2 4) \
        -vf "drawbox=x=0:y=0:w=260:h=240:color=black:t=fill:enable='between(n,50,55)',format=yuv420p" $SC_ENC ;;
    *) echo "sc_make: unknown video $1" >&2; return 1 ;;
    esac
}

sc_media() {
    local path
    path=$(sc_make "$1") || return 1
    ln -sf "$path" "$1.mp4"
    echo "$1.mp4"
}

# sc_starts TSV: the start frames of the shots after the first, one line.
sc_starts() {
    awk -F'\t' 'NR > 1 && $4 > 0 { printf "%s%s", sep, $4; sep = " " } END { print "" }' "$1"
}

# sc_near GOT WANT: |GOT - WANT| <= 1 (a cut within one frame).
sc_near() {
    [ "$1" -ge $(($2 - 1)) ] && [ "$1" -le $(($2 + 1)) ] || { echo "got $1, want $2 +- 1"; return 1; }
}
