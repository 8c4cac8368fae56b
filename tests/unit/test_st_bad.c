/* safetensors files that lie: each is refused with a message that starts
 * with the file name and names the tensor or the byte offset, and never
 * crashes (this program also runs under ASan/UBSan). */
#include "avkit/io/safetensors.h"
#include "avkit/util/common.h"
#include "tap.h"

#include <string.h>
#include <sys/stat.h>

/* Write a file: 8-byte size `hlen` (as given), then `hdr`, then `ndata`
 * zero bytes. */
static void write_raw(const char *path, uint64_t hlen, const char *hdr, size_t nhdr,
                      size_t ndata)
{
    FILE *fp = fopen(path, "wb");
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(le, 1, 8, fp);
    fwrite(hdr, 1, nhdr, fp);
    for (size_t i = 0; i < ndata; i++)
        fputc(0, fp);
    fclose(fp);
}

/* A well-formed frame around header text `hdr` with `ndata` data bytes. */
static void write_st(const char *path, const char *hdr, size_t ndata)
{
    write_raw(path, strlen(hdr), hdr, strlen(hdr), ndata);
}

/* Opening `path` fails; the message starts with the path and holds `want`. */
static void refused(const char *path, const char *what, const char *want)
{
    avk_st_file *f = avk_st_open(path);
    const char *e = avk_errmsg();
    ok(!f && strncmp(e, path, strlen(path)) == 0 && e[strlen(path)] == ':' &&
       strstr(e, want) != NULL, "%s: %s", what, f ? "accepted" : e);
    avk_st_close(f);
}

static void bad_header(const char *what, const char *hdr, size_t ndata, const char *want)
{
    write_st("bad.safetensors", hdr, ndata);
    refused("bad.safetensors", what, want);
}

int main(void)
{
    refused("missing.safetensors", "missing file", "No such file or directory");
    mkdir("adir.safetensors", 0755);
    refused("adir.safetensors", "a directory", "is a directory");
    fclose(fopen("empty.safetensors", "wb"));
    refused("empty.safetensors", "empty file", "file is empty");
    FILE *fp = fopen("short.safetensors", "wb");
    fwrite("\x10\0\0", 1, 3, fp);
    fclose(fp);
    refused("short.safetensors", "3-byte file", "file is 3 bytes, too short");

    const char *good = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    write_st("good.safetensors", good, 16);
    avk_st_file *f = avk_st_open("good.safetensors");
    ok(f && f->ntensors == 1, "the well-formed base case is accepted (%s)",
       f ? "" : avk_errmsg());
    avk_st_close(f);

    write_raw("big.safetensors", 1000, good, strlen(good), 16);
    refused("big.safetensors", "header size larger than the file",
            "byte 0: header size 1000 is larger than the 73 bytes that follow it");
    write_raw("huge.safetensors", UINT64_MAX, good, strlen(good), 16);
    refused("huge.safetensors", "header size 2^64-1",
            "byte 0: header size 18446744073709551615 is beyond the 100000000-byte limit");
    write_raw("cut.safetensors", strlen(good), good, 20, 0);
    refused("cut.safetensors", "file truncated inside the header",
            "header size 57 is larger than the 20 bytes that follow it (truncated file?)");
    write_raw("cut2.safetensors", 20, good, 20, 0);
    refused("cut2.safetensors", "header size that cuts the JSON short",
            "cut2.safetensors: byte 28: expected a string key in object");

    bad_header("malformed JSON (trailing comma)",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],}}", 16,
               "bad.safetensors: byte 64: expected a string key in object");
    bad_header("header not an object", "[1, 2]  ", 0,
               "bad.safetensors: byte 8: the JSON header does not start with '{'");
    bad_header("text after the header object", "{} {}", 0,
               "bad.safetensors: byte 11: unexpected text after the JSON value");
    bad_header("invalid UTF-8 in a name", "{\"w\xff\":{}}", 0, "byte 11: invalid UTF-8 in string");
    bad_header("unknown dtype",
               "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[16],\"data_offsets\":[0,16]}}", 16,
               "tensor \"w\": unsupported dtype \"F8_E4M3\"");
    bad_header("dtype not a string",
               "{\"w\":{\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
               "tensor \"w\": \"dtype\" is a number, not a string");
    bad_header("missing dtype", "{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
               "tensor \"w\": no \"dtype\" field");
    bad_header("missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16,
               "tensor \"w\": no \"shape\" field");
    bad_header("tensor entry not an object", "{\"w\":[1]}", 0,
               "tensor \"w\" (byte 13): entry is a array, not an object");
    bad_header("data_offsets beyond the file",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 16,
               "tensor \"w\": data_offsets [0, 400] reach beyond the 16-byte data area");
    bad_header("data_offsets that disagree with the shape",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16,
               "tensor \"w\": data_offsets [0, 16] hold 16 bytes, but shape [2, 3] of F32 needs 24");
    bad_header("data_offsets that begin after they end",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[16,8]}}", 16,
               "tensor \"w\": data_offsets [16, 8] begin after they end");
    bad_header("three data_offsets",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16,16]}}", 16,
               "tensor \"w\": \"data_offsets\" has 3 entries (at most 2)");
    bad_header("one data_offset",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[16]}}", 16,
               "tensor \"w\": \"data_offsets\" has 1 entries, not 2");
    bad_header("negative data_offset",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[-1,0]}}", 0,
               "tensor \"w\": \"data_offsets\" entry 0 (byte 55) is not a non-negative integer");
    bad_header("negative shape",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16,
               "tensor \"w\": \"shape\" entry 0 (byte 37) is not a non-negative integer");
    bad_header("fractional shape",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]}}", 16,
               "tensor \"w\": \"shape\" entry 0 (byte 37) is not a non-negative integer");
    bad_header("shape beyond 2^63",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,16]}}",
               16, "tensor \"w\": \"shape\" entry 0 (byte 37) is not a non-negative integer below 2^63");
    bad_header("shape whose size overflows",
               "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}",
               16, "tensor \"w\": shape [4294967296, 4294967296] of F64 overflows 63 bits");
    bad_header("9 dimensions",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,16],\"data_offsets\":[0,16]}}",
               16, "tensor \"w\": \"shape\" has 9 entries (at most 8)");
    bad_header("overlapping tensors",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[6,16]}}", 16,
               "tensor \"b\" (data bytes 6-16) overlaps tensor \"a\"");
    bad_header("a gap between tensors",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,16]}}", 16,
               "data bytes 4-8 (before tensor \"b\") belong to no tensor");
    bad_header("bytes after the last tensor",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 16,
               "data bytes 4-16 (file offset 65 on) belong to no tensor");
    bad_header("a duplicate tensor name",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
               "tensor \"a\" appears twice in the header");
    bad_header("a NUL in a tensor name",
               "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
               "tensor name \"a\" holds a NUL character");
    bad_header("__metadata__ not an object", "{\"__metadata__\":[\"a\"]}", 0,
               "byte 24: __metadata__ is a array, not an object");
    bad_header("a metadata value that is not a string",
               "{\"__metadata__\":{\"epochs\":3}}", 0,
               "__metadata__ value of \"epochs\" is a number, not a string");
    bad_header("a duplicate metadata key",
               "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
               "__metadata__ key \"k\" appears twice");
    bad_header("__metadata__ twice",
               "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice");

    /* the same checks from memory */
    f = avk_st_parse_buffer("\x02\0\0\0\0\0\0\0{}", 9, "mem");
    ok(!f && strcmp(avk_errmsg(), "mem: byte 0: header size 2 is larger than the 1 bytes "
                    "that follow it (truncated file?)") == 0,
       "parse_buffer names the buffer: %s", avk_errmsg());
    f = avk_st_parse_buffer("\x02\0\0\0\0\0\0\0{}", 10, "mem");
    ok(f && f->ntensors == 0, "parse_buffer: the minimal file {}");
    avk_st_close(f);
    return done_testing();
}
