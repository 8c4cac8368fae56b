# The real-footage evaluation set of the curation rules: short clips made
# with ffmpeg from the photographs in tests/real/ (camera pans, zooms,
# hand-held shake, letterbox bars, still shots), the same moving footage
# with overlays composited at known places (channel logos, a
# semi-transparent corner bug, stock-site text, burned-in credits, a
# corner caption), two spoiled clips, and ffmpeg's testsrc2. Each clip's
# labels, the rules that should drop it, are in tests/real/labels.tsv.
# Sourced after lib.sh (clips are cached in $MEDIA like the other test
# media) by t710, t712, t713 and by bench/curate-eval.sh and
# bench/shotcut-eval.sh, which also use the videos with cuts at the end.

REAL_DIR="$TESTS_DIR/real"
REAL_FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
REAL_BOLD=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
# one x264 thread: the same bytes, so the same scores, on every machine
REAL_ENC="-c:v libx264 -preset veryfast -crf 18 -threads 1 -pix_fmt yuv420p"
# every still on an 800x450 canvas (filled, centred); the camera is a
# 480x270 window on it, 50 frames at 25 fps
REAL_CANVAS="scale=800:450:force_original_aspect_ratio=increase,crop=800:450,setsar=1"

# real_motion NAME: the filter that moves the camera over the canvas.
real_motion() {
    case $1 in
    # 6.6 px a frame right and 0.8 down
    pan)       echo "crop=480:270:x='320*n/49':y='70+40*n/49'" ;;
    # 0.8 px a frame: under VBench's motion threshold
    slowpan)   echo "crop=480:270:x='160+0.8*n':y=90" ;;
    # zoom in to 1.6x towards the centre of the canvas
    zoom)      echo "zoompan=z='1+0.6*on/49':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s=480x270:fps=25" ;;
    # hand-held: a slow drift with a jitter of up to 13 px a frame
    shake)     echo "crop=480:270:x='150+1.5*n+8*sin(2.1*n)+5*sin(5.3*n+1)':y='90+6*sin(1.7*n+2)+4*sin(4.1*n)'" ;;
    # a pan framed 480x200 between black bars of 35 px
    letterbox) echo "crop=480:200:x='320*n/49':y='100+40*n/49',pad=480:270:0:35:black" ;;
    # a locked-off camera on a still scene
    static)    echo "crop=480:270:160:90" ;;
    esac
}

# real_overlay NAME: the filter that composites an overlay (none: "null").
real_overlay() {
    case $1 in
    none)    echo "null" ;;
    # an opaque channel logo, top right
    logo)    echo "drawbox=x=392:y=14:w=74:h=32:color=0x1a3c8c:t=fill,drawtext=fontfile=$REAL_BOLD:text='TV5':fontsize=22:fontcolor=white:x=410:y=18" ;;
    # a semi-transparent corner bug, bottom right
    bug)     echo "drawbox=x=400:y=218:w=64:h=38:color=white@0.35:t=fill,drawtext=fontfile=$REAL_BOLD:text='HD':fontsize=24:fontcolor=white@0.7:x=415:y=224" ;;
    # a stock site's name across the middle, semi-transparent
    stock)   echo "drawtext=fontfile=$REAL_BOLD:text='stockclips':fontsize=48:fontcolor=white@0.45:x=(w-tw)/2:y=(h-th)/2" ;;
    # a burned-in credit, bottom centre
    credits) echo "drawtext=fontfile=$REAL_FONT:text='Directed by Ana Lima':fontsize=20:fontcolor=white:borderw=1:bordercolor=black:x=(w-tw)/2:y=h-th-16" ;;
    # a small caption in a corner, top left
    caption) echo "drawtext=fontfile=$REAL_FONT:text='NEWS 24':fontsize=14:fontcolor=white:x=10:y=10" ;;
    # spoiled footage, for the aesthetic rule
    blur)    echo "gblur=sigma=6" ;;
    dark)    echo "eq=brightness=-0.45:contrast=0.35" ;;
    esac
}

# real_clip STILL MOTION OVERLAY: the clip's path (made once).
real_clip() {
    if [ "$1" = testsrc2 ]; then
        test_media real-testsrc2.mp4 -f lavfi -i "testsrc2=s=320x240:r=25:d=4" $REAL_ENC
        return
    fi
    test_media "real-$1-$2-$3.mp4" -loop 1 -framerate 25 -i "$REAL_DIR/$1.jpg" \
        -vf "$REAL_CANVAS,$(real_motion "$2"),$(real_overlay "$3")" -frames:v 50 $REAL_ENC
}

# real_manifest: a manifest in av-shotcut's columns of every clip of
# labels.tsv, in its order, on stdout.
real_manifest() {
    printf 'clip\tvideo\tshot\tstart_frame\tend_frame\tstart_time\tend_time\tfps\twidth\theight\tevent\ttrans_start\ttrans_end\n'
    tail -n +2 "$REAL_DIR/labels.tsv" | while IFS='	' read -r still motion overlay rest; do
        path=$(real_clip "$still" "$motion" "$overlay") || return 1
        if [ "$still" = testsrc2 ]; then n=100 w=320 h=240; else n=50 w=480 h=270; fi
        printf '%s#0-%d\t%s\t0\t0\t%d\t0.000\t%.3f\t25\t%d\t%d\t0\t-\t-\n' \
            "$path" $n "$path" $n "$(echo "$n / 25" | bc -l)" $w $h
    done
}

# ---- videos with cuts, made from the same photographs -------------------

# hard_media NAME: the clip's path (made once): cuts the content score
# alone misses (t713), each a single cut at frame 40 of 80 frames.
hard_media() {
    local R=$REAL_DIR C=$REAL_CANVAS
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

# real_short_shots: a video of 7 real shots, three of them short (8, 12
# and 5 frames), cut at $REAL_SHORT_CUTS (t712). Its path (made once).
REAL_SHORT_CUTS="50 58 108 120 170 175"
real_short_shots() {
    local a b c d e f g
    a=$(real_clip astronaut pan none) && b=$(real_clip coffee shake none) &&
    c=$(real_clip chelsea pan none) && d=$(real_clip rocket zoom none) &&
    e=$(real_clip camera shake none) && f=$(real_clip hubble pan none) &&
    g=$(real_clip astronaut zoom none) &&
    test_media real-short-shots.mp4 -i "$a" -i "$b" -i "$c" -i "$d" -i "$e" -i "$f" -i "$g" \
        -filter_complex "[1]trim=end_frame=8,setpts=PTS-STARTPTS[b];[3]trim=end_frame=12,setpts=PTS-STARTPTS[d];[5]trim=end_frame=5,setpts=PTS-STARTPTS[f];[0][b][2][d][4][f][6]concat=n=7" \
        $REAL_ENC
}
