// IDX files (the format of MNIST and Fashion-MNIST), raw or gzip-compressed.
//
// An IDX file is a 4-byte magic number -- two zero bytes, an element type code,
// the number of dimensions -- then one big-endian uint32 per dimension, then the
// elements in row-major order. Only element type 0x08 (unsigned byte) is
// supported: it is the only one the datasets use.
//
// parse_idx() is written to be fed untrusted bytes (a libFuzzer target calls it):
// every problem is an IdxError whose message starts with the file name, no read
// goes past the buffer, and no allocation exceeds what the input can justify.
// In particular the size a header promises is never allocated on trust: for raw
// input it must fit in the buffer first; for gzip input the output grows only as
// inflate actually produces bytes, and stops just past the promised size.
//
// Gzip: detected by its magic bytes 1f 8b, never by the file name. Multi-member
// gzip (`cat a.gz b.gz`) is accepted and read as one stream, as gunzip does;
// anything after the last member that is not another gzip member is rejected as
// trailing garbage. Every member's CRC-32 and length are checked; when a gzip
// file's IDX header looks wrong, a corrupt stream is reported in preference.
// A gzip file may promise at most 1 GiB of data (the largest real file is 47 MB).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace hnn::data {

// Every problem with an IDX file: the message is "<file>: <what is wrong>".
class IdxError : public std::runtime_error {
 public:
  IdxError(const std::string& source_name, const std::string& problem)
      : std::runtime_error(source_name + ": " + problem) {}
};

// The decoded contents of an IDX file: dims outermost first, values row-major.
struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> values;
};

namespace detail {

inline constexpr std::uint8_t kIdxUnsignedByte = 0x08;
inline constexpr std::size_t kIdxMaxDims = 4;
// Larger payloads are refused: the real datasets are at most 47 MB, and a limit
// keeps a hostile header from making the reader chew through gigabytes.
inline constexpr std::uint64_t kIdxMaxPayloadBytes = std::uint64_t{1} << 30;
// read_idx() refuses files larger than any acceptable IDX file could be.
inline constexpr std::uint64_t kIdxMaxFileBytes = kIdxMaxPayloadBytes + (std::uint64_t{1} << 20);
// Deflate cannot expand data by more than about 1032:1, so a compressed input of
// n bytes can justify reserving at most this many times n bytes of output.
inline constexpr std::uint64_t kDeflateMaxRatio = 1032;
// How far past the promised size we keep inflating, only to report how much
// trailing garbage there is.
inline constexpr std::size_t kTrailingReportMargin = 4096;
// When the header of a gzip file looks wrong, up to this much more is inflated
// to see whether the real problem is a corrupt stream (a little more than the
// largest real dataset file, 47 MB).
inline constexpr std::size_t kCorruptionCheckBytes = std::size_t{64} << 20;
// zlib counts in uInt; feed it at most this much at a time.
inline constexpr std::size_t kZlibMaxChunk = std::size_t{1} << 30;

inline std::string hex_byte(std::uint8_t b) {
  static constexpr char digits[] = "0123456789abcdef";
  return std::string{'0', 'x', digits[b >> 4], digits[b & 0xf]};
}

inline std::string hex_u32(std::uint32_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xf];
  return s;
}

inline std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

inline void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

inline std::string dims_to_string(const std::vector<std::uint32_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

inline std::string idx_type_name(std::uint8_t code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
  }
}

// Product of the dimensions, or false when it does not fit in 64 bits.
inline bool dims_product(const std::vector<std::uint32_t>& dims, std::uint64_t& product) {
  product = 1;
  for (std::uint32_t d : dims) {
    if (d != 0 && product > UINT64_MAX / d) return false;
    product *= d;
  }
  return true;
}

// Checks the 4-byte magic number. `after_gunzip` only changes the wording: a raw
// file that does not start with two zeros may simply not be IDX at all.
inline void check_idx_magic(const std::uint8_t* magic, const std::string& source, bool after_gunzip) {
  const std::uint32_t number = load_be32(magic);
  if (magic[0] != 0 || magic[1] != 0) {
    if (after_gunzip)
      throw IdxError(source, "the gzip data is not an IDX file: bad magic number " + hex_u32(number) +
                                 " (the first two bytes of an IDX file must be 0)");
    if (magic[0] == 0)
      throw IdxError(source, "bad IDX magic number " + hex_u32(number) + ": the first two bytes must be 0");
    throw IdxError(source, "neither an IDX file nor gzip: magic number " + hex_u32(number) +
                               " (IDX starts with bytes 00 00, gzip with 1f 8b)");
  }
  if (magic[2] != kIdxUnsignedByte)
    throw IdxError(source, "unsupported IDX element type code " + hex_byte(magic[2]) + " (" +
                               idx_type_name(magic[2]) + "); only 0x08 (unsigned byte) is supported");
  if (magic[3] == 0 || magic[3] > kIdxMaxDims)
    throw IdxError(source, "IDX header declares " + std::to_string(magic[3]) +
                               " dimensions; between 1 and 4 are supported");
}

// Decodes the dimension fields and returns how many elements they promise.
inline std::uint64_t decode_idx_dims(const std::uint8_t* fields, std::size_t ndims, const std::string& source,
                                     std::vector<std::uint32_t>& dims) {
  dims.resize(ndims);
  for (std::size_t i = 0; i < ndims; ++i) dims[i] = load_be32(fields + 4 * i);
  std::uint64_t count = 0;
  if (!dims_product(dims, count))
    throw IdxError(source, "IDX header dimensions " + dims_to_string(dims) + " overflow 64 bits when multiplied");
  return count;
}

inline IdxArray parse_raw_idx(const std::uint8_t* bytes, std::size_t size, const std::string& source) {
  if (size < 4)
    throw IdxError(source, "truncated: the file holds only " + std::to_string(size) +
                               " byte(s), too short for the 4-byte IDX magic number");
  check_idx_magic(bytes, source, /*after_gunzip=*/false);
  const std::size_t ndims = bytes[3];
  const std::size_t header_bytes = 4 + 4 * ndims;
  if (size < header_bytes)
    throw IdxError(source, "truncated IDX header: " + std::to_string(ndims) + " dimensions need " +
                               std::to_string(header_bytes) + " header bytes, file holds " + std::to_string(size));
  IdxArray array;
  // Checked against the buffer before anything is allocated for the values.
  const std::uint64_t count = decode_idx_dims(bytes + 4, ndims, source, array.dims);
  const std::uint64_t data_bytes = size - header_bytes;
  if (count > data_bytes)
    throw IdxError(source, "truncated: header promises " + std::to_string(count) + " bytes of data (" +
                               dims_to_string(array.dims) + "), file holds " + std::to_string(data_bytes));
  if (count < data_bytes)
    throw IdxError(source, "trailing garbage: " + std::to_string(data_bytes - count) + " bytes after the " +
                               std::to_string(count) + " bytes of data the header promises (" +
                               dims_to_string(array.dims) + ")");
  array.values.assign(bytes + header_bytes, bytes + size);
  return array;
}

// Streams the decompressed bytes of a (possibly multi-member) gzip buffer.
// Uses inflate directly rather than gzread so that the caller decides how much
// output to accept and so that CRC and truncation errors are seen, not hidden.
class GzipReader {
 public:
  GzipReader(const std::uint8_t* data, std::size_t size, const std::string& source)
      : data_(data), size_(size), source_(source) {
    std::memset(&stream_, 0, sizeof stream_);
    // 15 + 16: the largest window, gzip wrapper only.
    if (inflateInit2(&stream_, 15 + 16) != Z_OK) throw IdxError(source_, "zlib could not start inflating");
    feed(0);
  }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;
  ~GzipReader() { inflateEnd(&stream_); }

  // Fills dst with up to n decompressed bytes; fewer only at the end of the
  // last gzip member, whose CRC has then been verified.
  std::size_t read(std::uint8_t* dst, std::size_t n) {
    std::size_t produced = 0;
    while (produced < n && !finished_) {
      if (stream_.avail_in == 0 && consumed_ < size_) feed(consumed_);
      const std::size_t want = std::min(n - produced, kZlibMaxChunk);
      stream_.next_out = dst + produced;
      stream_.avail_out = static_cast<uInt>(want);
      const uInt in_before = stream_.avail_in;
      const int ret = inflate(&stream_, Z_NO_FLUSH);
      const std::size_t out = want - stream_.avail_out;
      produced += out;
      switch (ret) {
        case Z_STREAM_END: end_of_member(); break;
        case Z_OK:
        case Z_BUF_ERROR:
          // No progress with room to write means the input ran out mid-stream.
          if (out == 0 && stream_.avail_in == in_before) {
            if (stream_.avail_in == 0 && consumed_ == size_)
              throw IdxError(source_, "truncated gzip stream: the data ends before the gzip trailer");
            throw IdxError(source_, "corrupt gzip data: zlib stopped making progress");
          }
          break;
        case Z_DATA_ERROR:
        case Z_NEED_DICT: throw IdxError(source_, corrupt_message());
        case Z_MEM_ERROR: throw IdxError(source_, "out of memory while inflating gzip data");
        default: throw IdxError(source_, "zlib inflate failed with code " + std::to_string(ret));
      }
    }
    return produced;
  }

  bool finished() const { return finished_; }

  // Inflates and discards up to max_bytes; returns how many it discarded.
  std::size_t skip(std::size_t max_bytes) {
    std::uint8_t scratch[16384];
    std::size_t skipped = 0;
    while (!finished_ && skipped < max_bytes)
      skipped += read(scratch, std::min(sizeof scratch, max_bytes - skipped));
    return skipped;
  }

 private:
  // Points zlib at the input from `offset` on (in chunks zlib can count).
  void feed(std::size_t offset) {
    const std::size_t chunk = std::min(size_ - offset, kZlibMaxChunk);
    stream_.next_in = const_cast<Bytef*>(data_ + offset);  // zlib's API is not const-correct
    stream_.avail_in = static_cast<uInt>(chunk);
    consumed_ = offset + chunk;
  }

  void end_of_member() {
    const std::size_t offset = static_cast<std::size_t>(stream_.next_in - data_);
    if (offset == size_) {
      finished_ = true;
      return;
    }
    if (size_ - offset >= 2 && data_[offset] == 0x1f && data_[offset + 1] == 0x8b) {
      inflateReset(&stream_);  // another member follows: keep reading it as the same stream
      feed(offset);
      return;
    }
    throw IdxError(source_, "trailing garbage: " + std::to_string(size_ - offset) +
                                " bytes after the end of the gzip stream that are not another gzip member");
  }

  std::string corrupt_message() const {
    const std::string zlib_msg = stream_.msg ? stream_.msg : "unknown error";
    if (zlib_msg == "incorrect data check")
      return "corrupt gzip data: CRC mismatch (zlib: incorrect data check)";
    if (zlib_msg == "incorrect length check")
      return "corrupt gzip data: the length in the gzip trailer does not match (zlib: incorrect length check)";
    return "corrupt gzip data (zlib: " + zlib_msg + ")";
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t consumed_ = 0;  // input handed to zlib so far
  std::string source_;
  z_stream stream_;
  bool finished_ = false;
};

// Reads and checks the IDX header at the start of the decompressed stream;
// returns the number of data bytes it promises.
inline std::uint64_t read_gzip_idx_header(GzipReader& reader, const std::string& source,
                                          std::vector<std::uint32_t>& dims) {
  std::uint8_t header[4 + 4 * kIdxMaxDims];
  const std::size_t got_magic = reader.read(header, 4);
  if (got_magic == 0) throw IdxError(source, "empty: the gzip stream decompresses to 0 bytes");
  if (got_magic < 4)
    throw IdxError(source, "truncated: the gzip stream decompresses to " + std::to_string(got_magic) +
                               " bytes, too short for an IDX header");
  check_idx_magic(header, source, /*after_gunzip=*/true);
  const std::size_t ndims = header[3];
  const std::size_t got_dims = reader.read(header + 4, 4 * ndims);
  if (got_dims < 4 * ndims)
    throw IdxError(source, "truncated IDX header: " + std::to_string(ndims) + " dimensions need " +
                               std::to_string(4 + 4 * ndims) + " header bytes, the gzip stream decompresses to " +
                               std::to_string(4 + got_dims));
  const std::uint64_t count = decode_idx_dims(header + 4, ndims, source, dims);
  // Raw input is bounded by its buffer; gzip input needs a limit of its own.
  if (count > kIdxMaxPayloadBytes)
    throw IdxError(source, "IDX header dimensions " + dims_to_string(dims) + " promise " + std::to_string(count) +
                               " bytes of data, more than the 1 GiB limit of this reader");
  return count;
}

inline IdxArray parse_gzip_idx(const std::uint8_t* bytes, std::size_t size, const std::string& source) {
  GzipReader reader(bytes, size, source);
  IdxArray array;
  // The header is read first, on its own, so that a wrong magic number or a
  // hostile size is refused before any real amount of data is inflated.
  std::uint64_t count = 0;
  try {
    count = read_gzip_idx_header(reader, source, array.dims);
  } catch (const IdxError&) {
    // A damaged download often shows first as a strange header. If the stream
    // is corrupt (bad CRC, truncated), skip() throws that instead, which is the
    // more useful thing to say; it stops after a bounded amount of output.
    reader.skip(kCorruptionCheckBytes);
    throw;
  }

  // Reserve what both the header and the compressed size can justify, then grow
  // only as real output arrives: a tiny file claiming a huge size allocates little.
  const std::uint64_t justified = std::min<std::uint64_t>(count, kDeflateMaxRatio * size + 4096);
  array.values.reserve(static_cast<std::size_t>(justified));
  std::size_t got = 0;
  const std::size_t want_total = static_cast<std::size_t>(count);
  while (got < want_total) {
    const std::size_t step = std::min(want_total - got, std::max<std::size_t>(got, std::size_t{1} << 20));
    array.values.resize(got + step);
    const std::size_t n = reader.read(array.values.data() + got, step);
    got += n;
    if (n < step) break;
  }
  if (got < want_total)
    throw IdxError(source, "truncated: header promises " + std::to_string(count) + " bytes of data (" +
                               dims_to_string(array.dims) + "), the gzip stream decompresses to only " +
                               std::to_string(got));

  // Read on to the end of the stream: this verifies the CRC of the last member
  // and catches extra data, but stops a little past the promised size.
  const std::size_t extra = reader.skip(kTrailingReportMargin + 1);
  if (extra > 0) {
    const std::string amount =
        reader.finished() ? std::to_string(extra) : "more than " + std::to_string(kTrailingReportMargin);
    throw IdxError(source, "trailing garbage: the gzip stream decompresses to " + amount + " bytes after the " +
                               std::to_string(count) + " bytes of data the header promises (" +
                               dims_to_string(array.dims) + ")");
  }
  return array;
}

inline void write_all(const std::string& path, const std::uint8_t* data, std::size_t size) {
  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw IdxError(path, std::string("cannot open for writing: ") + std::strerror(errno));
  const std::size_t written = size ? std::fwrite(data, 1, size, file) : 0;
  const int write_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (written != size || !closed)
    throw IdxError(path, std::string("write failed: ") + std::strerror(written != size ? write_errno : errno));
}

}  // namespace detail

// Parses an IDX file held in memory: raw IDX, or gzip holding raw IDX (told
// apart by the first two bytes). source_name is used only in error messages.
inline IdxArray parse_idx(const std::uint8_t* bytes, std::size_t size, const std::string& source_name) {
  if (size == 0) throw IdxError(source_name, "empty file (0 bytes)");
  if (bytes == nullptr) throw IdxError(source_name, "no data (null buffer of non-zero size)");
  if (size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return detail::parse_gzip_idx(bytes, size, source_name);
  return detail::parse_raw_idx(bytes, size, source_name);
}

// Reads a whole IDX file (raw or gzip) from disk.
inline IdxArray read_idx(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw IdxError(path, "no such file");
  if (std::filesystem::is_directory(status)) throw IdxError(path, "is a directory, not an IDX file");
  // Opening a FIFO without a writer would block forever; devices and sockets are no files either.
  if (!std::filesystem::is_regular_file(status))
    throw IdxError(path, "is not a regular file (a FIFO, socket or device), not an IDX file");

  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw IdxError(path, std::string("cannot open for reading: ") + std::strerror(errno));

  // The size on disk is only a hint for the first allocation (it may change under
  // us, and /proc files report 0); the read loop enforces the limit itself.
  const std::uintmax_t hint = std::filesystem::file_size(path, ec);
  std::vector<std::uint8_t> bytes;
  if (!ec) {
    if (hint > detail::kIdxMaxFileBytes)
      throw IdxError(path, "file is " + std::to_string(hint) + " bytes, larger than any IDX file this reader accepts");
    bytes.reserve(static_cast<std::size_t>(hint));
  }
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, file.get());
    if (bytes.size() + n > detail::kIdxMaxFileBytes)
      throw IdxError(path, "file is larger than any IDX file this reader accepts");
    bytes.insert(bytes.end(), chunk, chunk + n);
    if (n < sizeof chunk) break;
  }
  if (std::ferror(file.get())) throw IdxError(path, std::string("read error: ") + std::strerror(errno));
  return parse_idx(bytes.data(), bytes.size(), path);
}

// Writes an IDX file of unsigned bytes, gzip-compressed when `gzip` is true.
inline void write_idx(const std::string& path, const IdxArray& array, bool gzip) {
  if (array.dims.empty() || array.dims.size() > detail::kIdxMaxDims)
    throw IdxError(path, "cannot write " + std::to_string(array.dims.size()) +
                             " dimensions; IDX files here have between 1 and 4");
  std::uint64_t count = 0;
  if (!detail::dims_product(array.dims, count) || count != array.values.size())
    throw IdxError(path, "cannot write: dimensions " + detail::dims_to_string(array.dims) + " do not match the " +
                             std::to_string(array.values.size()) + " values given");
  // Nothing larger could be read back (and zlib counts sizes in 32 bits).
  if (count > detail::kIdxMaxPayloadBytes)
    throw IdxError(path, "cannot write " + std::to_string(count) + " bytes of data: more than the 1 GiB limit");

  std::vector<std::uint8_t> raw(4 + 4 * array.dims.size() + array.values.size());
  raw[2] = detail::kIdxUnsignedByte;
  raw[3] = static_cast<std::uint8_t>(array.dims.size());
  for (std::size_t i = 0; i < array.dims.size(); ++i) detail::store_be32(&raw[4 + 4 * i], array.dims[i]);
  std::copy(array.values.begin(), array.values.end(), raw.end() - static_cast<std::ptrdiff_t>(array.values.size()));
  if (!gzip) {
    detail::write_all(path, raw.data(), raw.size());
    return;
  }

  // deflate with a gzip wrapper (15 + 16) into memory, then one write: the same
  // error handling as the raw case, and no mtime in the header, so the output is
  // reproducible. The default level: level 9 is 7x slower on these images for
  // under 1% smaller files.
  z_stream stream;
  std::memset(&stream, 0, sizeof stream);
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw IdxError(path, "zlib could not start compressing");
  std::vector<std::uint8_t> packed(deflateBound(&stream, static_cast<uLong>(raw.size())));
  stream.next_in = raw.data();
  stream.avail_in = static_cast<uInt>(raw.size());
  stream.next_out = packed.data();
  stream.avail_out = static_cast<uInt>(packed.size());
  const int ret = deflate(&stream, Z_FINISH);
  const std::size_t packed_size = packed.size() - stream.avail_out;
  deflateEnd(&stream);
  if (ret != Z_STREAM_END) throw IdxError(path, "gzip compression failed (zlib code " + std::to_string(ret) + ")");
  detail::write_all(path, packed.data(), packed_size);
}

}  // namespace hnn::data
