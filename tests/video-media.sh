# Test media for the video module's tests (sourced after lib.sh): small
# lavfi clips, cached in $MEDIA, key frames every 12 frames.
LAVFI="-f lavfi -i testsrc2=size=320x240:rate=25"
vid_h264=$(test_media video-h264.mp4 $LAVFI -frames:v 60 -c:v libx264 -g 12 -bf 2 -pix_fmt yuv420p)
vid_mpeg4=$(test_media video-mpeg4.mp4 $LAVFI -frames:v 60 -c:v mpeg4 -g 12 -bf 2 -q:v 4)
vid_mkv=$(test_media video-h264.mkv -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v 60 -c:v libx264 -g 12 -pix_fmt yuv420p)
vid_ts=$(test_media video-h264.ts -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v 60 -c:v libx264 -g 12 -pix_fmt yuv420p)
vid_webm=$(test_media video-vp9.webm -f lavfi -i testsrc2=size=320x240:rate=24 -frames:v 60 -c:v libvpx-vp9 -g 12 -deadline realtime -cpu-used 8)
# Open GOPs: frames after a key frame in decoding order that show before it.
vid_opengop=$(test_media video-opengop.mkv $LAVFI -frames:v 60 -c:v libx264 -g 12 -bf 3 -x264-params open-gop=1 -pix_fmt yuv420p)
vid_mpeg2=$(test_media video-mpeg2.ts $LAVFI -frames:v 60 -c:v mpeg2video -g 12 -bf 2 -flags -cgop)
