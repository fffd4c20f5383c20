#ifndef SLUICE_CZLIB_SHIM_H
#define SLUICE_CZLIB_SHIM_H
#include <zlib.h>

/// The most bytes `sluice_compress` writes for `length` bytes: zlib's bound for a zlib stream,
/// plus what a gzip member's longer header and trailer take.
static inline unsigned long sluice_compress_bound(unsigned long length) {
    return compressBound(length) + 32;
}

/// Compresses `length` bytes at `input` into `output` (`capacity` bytes, at least
/// `sluice_compress_bound(length)`) as one gzip member (`gzip` non-zero) or a zlib stream, HTTP's
/// `deflate`. deflateInit2 is a macro, so Swift cannot call it itself.
/// Returns the bytes written, or -1 when zlib fails.
static inline long sluice_compress(
    const unsigned char *input, unsigned long length, unsigned char *output, unsigned long capacity, int gzip) {
    z_stream stream = {0};
    if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return -1;
    }
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)length;
    stream.next_out = output;
    stream.avail_out = (uInt)capacity;
    int rc = deflate(&stream, Z_FINISH);
    long written = (long)stream.total_out;
    deflateEnd(&stream);
    return rc == Z_STREAM_END ? written : -1;
}
#endif
