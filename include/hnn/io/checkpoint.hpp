// Checkpoints: a model's architecture and parameters, and optionally the training state
// that an exact resume needs, in one self-checking binary file.
//
//   hnn::save(model, "lenet5.hnn");                  // parameters go through the host, any device
//   hnn::load(model, "lenet5.hnn");                  // same architecture required
//   auto net = hnn::load_model<float, hnn::cpu>("lenet5.hnn");  // architecture from the file
//
// File format, version 3; versions 1 (no sub-layer counts, no optimizer name and step) and 2
// (no schedule state) are read too. Every integer is little-endian whatever the host; every tensor element is an
// IEEE-754 float32, little-endian, whatever the host and the model's T.
// A string is a u32 byte count followed by that many UTF-8 bytes (no terminator).
//
//   offset  size  field
//   0       8     magic: the bytes "HNNCKPT" and a zero byte
//   8       4     u32 format version (3)
//   12      8     u64 size of the whole file in bytes, trailer included
//   20            architecture: u32 layer count, then per layer
//                   string kind            the description's kind: "Conv2d", "Linear", "Sigmoid", ...
//                   u32 count, i64 x count its sizes(): Conv2d (in, out, kernel, padding, stride, bias),
//                                          Linear (in, out, bias), pools (kernel, stride, padding),
//                                          BatchNorm*d (features, affine, eps bits, momentum bits),
//                                          Dropout (p bits), others none; files of the previous
//                                          release hold Conv2d 5, Linear 2, pools 2 (still read)
//                   string description     its str(): "Conv2d(1, 6, kernel=5, padding=2, stride=1)"
//                   u32 count, then that many layer records of the same form (version 2 only):
//                                          the sub-layers of a layer made of others (Residual), in
//                                          the order of its description's children()
//                 tensors: u32 count, then per parameter and buffer, in Sequential::state_dict() order
//                   string name            "<layer index>.weight", "<layer index>.running_mean", ...
//                   u32 rank, i64 x rank   its shape
//                   f32 x (product of the shape)  its values, row-major
//                 metadata: u32 count, then (string key, string value) pairs, keys sorted
//                 u8 training state present (0 or 1); when 1, what Trainer::state() holds:
//                   i64 epochs completed
//                   u64 shuffle generator state (hnn::Rng)
//                   u64 n, i32 x n          the example order the next shuffle permutes
//                   string optimizer        its registered name: "sgd", "adam", "adamw", "rmsprop"
//                                           (version 2 on; version 1: sgd)
//                   i64 optimizer steps     steps taken (version 2 on; version 1: 0; version 2
//                                           wrote 0 for SGD)
//                   u32 count, then per optimizer buffer: u32 rank, i64 x rank, f32 values
//                                           (OptimizerState's layout, hnn/training/training_state.hpp:
//                                           SGD: momentum per parameter, none without momentum;
//                                           Adam/AdamW: exp_avg per parameter, then exp_avg_sq)
//                   string schedule         the learning-rate schedule's name, "" if none
//                                           (version 3; earlier: "")
//                   i64 schedule steps      its step count (version 3; earlier: 0)
//   size-4  4     u32 CRC-32 (zlib's crc32) of every byte before it
//
// Writing is atomic: the bytes go to a new temporary file in the destination's folder,
// which is flushed to disk (fsync) and then renamed over the destination, so a crash or a
// full disk leaves either the old checkpoint or the new one, never half of one.
//
// Reading checks, in order: that the file opens, the magic, the version (a newer one is
// refused), the recorded size (a shorter file is reported as truncated), the CRC, then
// every record's bounds. load() then checks the architecture and each parameter's name and
// shape against the model, and only after everything has been read and verified writes the
// parameters; on any error (a CheckpointError naming the file and the mismatch) the model
// is left untouched.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#if defined(_WIN32)
#include <filesystem>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "hnn/model/residual.hpp"
#include "hnn/model/registry.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/tensor.hpp"
#include "hnn/training/training_state.hpp"

namespace hnn {

// Any problem with a checkpoint file; the message names the file.
class CheckpointError : public std::runtime_error {
 public:
  CheckpointError(const std::string& path, const std::string& what)
      : std::runtime_error(path + ": " + what), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline constexpr std::uint32_t checkpoint_format_version = 3;
// How deeply layers may nest in a file (a bound on the reader's recursion, not on models).
inline constexpr int checkpoint_max_nesting = 64;

// What a checkpoint may carry besides the model.
struct CheckpointExtras {
  std::optional<TrainingState> training;         // for an exact --resume (Trainer::state())
  std::map<std::string, std::string> metadata;   // free-form, e.g. {"variant", "relu"}
};

// One layer as a checkpoint records it.
struct CheckpointLayer {
  std::string kind;                  // "Conv2d"
  std::vector<std::int64_t> sizes;   // (in, out, kernel, padding, stride, bias)
  std::string description;           // "Conv2d(1, 6, kernel=5, padding=2, stride=1)"
  std::vector<CheckpointLayer> children;  // a composite layer's sub-layers (Residual's body, shortcut)
};

// A whole checkpoint decoded into host memory.
struct Checkpoint {
  std::uint32_t version = 0;
  std::vector<CheckpointLayer> layers;
  std::vector<std::string> parameter_names;
  std::vector<Tensor<float, cpu>> parameters;
  CheckpointExtras extras;

  // "Conv2d(...) -> Sigmoid() -> ...", as Sequential::describe_all() prints it.
  std::string describe_all() const {
    std::string s;
    for (const CheckpointLayer& l : layers) s += (s.empty() ? "" : " -> ") + l.description;
    return s;
  }
};

namespace detail::checkpoint {

static_assert(std::numeric_limits<float>::is_iec559, "hnn checkpoints store IEEE-754 float32");

inline constexpr char magic[8] = {'H', 'N', 'N', 'C', 'K', 'P', 'T', '\0'};
inline constexpr std::size_t header_size = 8 + 4 + 8;
inline constexpr std::size_t trailer_size = 4;

inline std::uint32_t crc32_of(const unsigned char* data, std::size_t size) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
    crc = ::crc32(crc, data, chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

// Appends little-endian values to a byte buffer.
class Writer {
 public:
  std::vector<unsigned char> bytes;

  void u8(std::uint8_t v) { bytes.push_back(v); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void f32(float v) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    u32(bits);
  }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void count(std::size_t n) { u32(static_cast<std::uint32_t>(n)); }
  void tensor(const Tensor<float, cpu>& t) {
    count(static_cast<std::size_t>(t.rank()));
    for (int d = 0; d < t.rank(); ++d) i64(t.dim(d));
    for (std::int64_t i = 0; i < t.numel(); ++i) f32(t[i]);
  }
};

// Reads little-endian values, checking every read against the end of the data.
class Reader {
 public:
  Reader(const std::string& path, const unsigned char* data, std::size_t size) : path_(path), data_(data), size_(size) {}

  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return size_ - offset_; }

  std::uint8_t u8(const char* what) { return take(1, what)[0]; }
  std::uint32_t u32(const char* what) {
    const unsigned char* p = take(4, what);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
    return v;
  }
  std::uint64_t u64(const char* what) {
    const unsigned char* p = take(8, what);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::int64_t i64(const char* what) { return static_cast<std::int64_t>(u64(what)); }
  std::string str(const char* what) {
    const std::uint32_t n = u32(what);
    const unsigned char* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  Shape shape(const std::string& what) {
    const std::uint32_t rank = u32(what.c_str());
    if (rank > static_cast<std::uint32_t>(Shape::max_rank))
      fail(what + " has rank " + std::to_string(rank) + ", more than the maximum of " + std::to_string(Shape::max_rank));
    Shape s;
    std::uint64_t elements = 1;
    for (std::uint32_t d = 0; d < rank; ++d) {
      const std::int64_t dim = i64(what.c_str());
      if (dim < 0 || static_cast<std::uint64_t>(dim) > remaining())
        fail(what + " has an impossible dimension " + std::to_string(dim));
      elements *= static_cast<std::uint64_t>(dim);
      if (elements > remaining()) fail(what + " claims more values than the file holds");
      s.push_back(dim);
    }
    return s;
  }
  Tensor<float, cpu> tensor(const std::string& what) {
    const Shape s = shape(what);
    const std::size_t n = static_cast<std::size_t>(s.numel());
    const unsigned char* p = take(4 * n, what.c_str());
    Tensor<float, cpu> t(s);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t bits = 0;
      for (int b = 0; b < 4; ++b) bits |= static_cast<std::uint32_t>(p[4 * i + static_cast<std::size_t>(b)]) << (8 * b);
      float v;
      std::memcpy(&v, &bits, sizeof v);
      t[static_cast<std::int64_t>(i)] = v;
    }
    return t;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw CheckpointError(path_, "malformed checkpoint at byte " + std::to_string(offset_) + ": " + what);
  }

 private:
  const unsigned char* take(std::size_t n, const char* what) {
    if (n > remaining())
      fail(std::string("the file ends inside ") + what + " (" + std::to_string(n) + " bytes needed, " +
           std::to_string(remaining()) + " left)");
    const unsigned char* p = data_ + offset_;
    offset_ += n;
    return p;
  }

  std::string path_;
  const unsigned char* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

inline CheckpointLayer encode_layer(const LayerSpec& spec) {
  CheckpointLayer l{spec.kind(), spec.sizes(), spec.str(), {}};
  for (const LayerSpec& child : spec.children()) l.children.push_back(encode_layer(child));
  return l;
}

// The description a checkpoint's layer record names, through the layer registry
// (hnn/model/registry.hpp), checked against the recorded description.
template <class Device>
LayerSpec decode_layer(const std::string& path, const CheckpointLayer& l) {
  try {
    std::vector<LayerSpec> children;
    for (const CheckpointLayer& child : l.children) children.push_back(decode_layer<Device>(path, child));
    LayerSpec spec = hnn::decode_layer<Device>(l.kind, l.sizes, std::move(children));
    if (spec.str() != l.description)
      throw CheckpointError(path, "layer " + l.kind + " is recorded as '" + l.description + "' but its sizes describe '" +
                                      spec.str() + "'");
    return spec;
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(path, std::string("invalid layer in the file: ") + e.what());
  }
}

inline std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw CheckpointError(path, std::string("cannot open the checkpoint: ") + (err ? std::strerror(err) : "unknown error"));
  }
  std::vector<unsigned char> bytes;
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    bytes.insert(bytes.end(), buffer, buffer + in.gcount());
  }
  if (in.bad()) throw CheckpointError(path, "cannot read the checkpoint (I/O error)");
  return bytes;
}

[[noreturn]] inline void write_failed(const std::string& path, const std::string& tmp, const std::string& what) {
  const int err = errno;
  std::remove(tmp.c_str());
  throw CheckpointError(path, "cannot write the checkpoint: " + what + ": " + (err ? std::strerror(err) : "unknown error"));
}

// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed to the
// disk, then renamed over `path`.
inline void write_file_atomically(const std::string& path, const std::vector<unsigned char>& bytes) {
#if defined(_WIN32)
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) write_failed(path, tmp, "cannot create " + tmp);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) write_failed(path, tmp, "writing " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) write_failed(path, tmp, "renaming " + tmp + " (" + ec.message() + ")");
#else
  // A fresh name (O_EXCL): two writers of the same path never share a temporary file.
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(attempt);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt >= 100)) {
      const int err = errno;
      throw CheckpointError(path, "cannot create the temporary file " + tmp + ": " + std::strerror(err));
    }
  }
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ::ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      errno = err;
      write_failed(path, tmp, "writing " + tmp);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    write_failed(path, tmp, "flushing " + tmp + " to disk");
  }
  if (::close(fd) != 0) write_failed(path, tmp, "closing " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) write_failed(path, tmp, "renaming " + tmp + " to " + path);
  // Make the rename itself durable (best effort: some file systems refuse to sync a folder).
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
#endif
}

template <class T>
Tensor<float, cpu> to_float_host(const Tensor<T, cpu>& t) {
  Tensor<float, cpu> f(t.shape());
  for (std::int64_t i = 0; i < t.numel(); ++i) f[i] = static_cast<float>(t[i]);
  return f;
}

}  // namespace detail::checkpoint

namespace detail::checkpoint {
// One layer record and, from version 2, its sub-layers'.
inline CheckpointLayer read_layer(Reader& r, std::uint32_t version, int depth) {
  CheckpointLayer l;
  l.kind = r.str("a layer kind");
  const std::uint32_t n = r.u32("a layer's size count");
  if (n > r.remaining() / 8) r.fail("layer " + l.kind + " claims " + std::to_string(n) + " sizes");
  for (std::uint32_t k = 0; k < n; ++k) l.sizes.push_back(r.i64("a layer size"));
  l.description = r.str("a layer description");
  if (version >= 2) {
    const std::uint32_t children = r.u32("a layer's sub-layer count");
    if (children > 0 && depth + 1 >= checkpoint_max_nesting)
      r.fail("layer " + l.kind + " nests sub-layers more than " + std::to_string(checkpoint_max_nesting) + " deep");
    if (children > r.remaining() / 12) r.fail("layer " + l.kind + " claims " + std::to_string(children) + " sub-layers");
    for (std::uint32_t k = 0; k < children; ++k) l.children.push_back(read_layer(r, version, depth + 1));
  }
  return l;
}

inline void write_layer(Writer& w, const CheckpointLayer& l) {
  w.str(l.kind);
  w.count(l.sizes.size());
  for (std::int64_t v : l.sizes) w.i64(v);
  w.str(l.description);
  w.count(l.children.size());
  for (const CheckpointLayer& child : l.children) write_layer(w, child);
}
}  // namespace detail::checkpoint

// Reads and verifies a whole checkpoint (magic, version, size, CRC, every record).
inline Checkpoint read_checkpoint(const std::string& path) {
  using namespace detail::checkpoint;
  const std::vector<unsigned char> bytes = read_file(path);
  const std::size_t size = bytes.size();
  if (size < sizeof magic || std::memcmp(bytes.data(), magic, sizeof magic) != 0) {
    // An empty file has no data pointer to compare (memcmp with null is undefined even for 0 bytes).
    if (size < sizeof magic && (size == 0 || std::memcmp(bytes.data(), magic, size) == 0))
      throw CheckpointError(path, "truncated checkpoint: only " + std::to_string(size) + " bytes");
    throw CheckpointError(path, "not an hnn checkpoint (it does not start with the bytes \"HNNCKPT\\0\")");
  }
  if (size < header_size + trailer_size)
    throw CheckpointError(path, "truncated checkpoint: only " + std::to_string(size) + " bytes");

  Reader header(path, bytes.data(), header_size);
  header.u64("the magic");
  Checkpoint c;
  c.version = header.u32("the format version");
  if (c.version > checkpoint_format_version)
    throw CheckpointError(path, "written by a newer hnn: checkpoint format version " + std::to_string(c.version) +
                                    ", this build reads versions up to " + std::to_string(checkpoint_format_version));
  if (c.version == 0) throw CheckpointError(path, "invalid checkpoint format version 0");
  const std::uint64_t recorded_size = header.u64("the file size");
  if (size < recorded_size)
    throw CheckpointError(path, "truncated checkpoint: it should be " + std::to_string(recorded_size) +
                                    " bytes long but only " + std::to_string(size) + " are there");
  if (size > recorded_size)
    throw CheckpointError(path, "corrupted checkpoint: it should be " + std::to_string(recorded_size) +
                                    " bytes long but is " + std::to_string(size) + " (extra bytes at the end)");
  Reader trailer(path, bytes.data() + size - trailer_size, trailer_size);
  const std::uint32_t recorded_crc = trailer.u32("the CRC");
  const std::uint32_t actual_crc = crc32_of(bytes.data(), size - trailer_size);
  if (recorded_crc != actual_crc) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "corrupted checkpoint: the CRC-32 of its contents is %08x, the file records %08x",
                  static_cast<unsigned>(actual_crc), static_cast<unsigned>(recorded_crc));
    throw CheckpointError(path, msg);
  }

  Reader r(path, bytes.data() + header_size, size - header_size - trailer_size);
  const std::uint32_t layer_count = r.u32("the layer count");
  for (std::uint32_t i = 0; i < layer_count; ++i) c.layers.push_back(read_layer(r, c.version, 0));
  const std::uint32_t parameter_count = r.u32("the parameter count");
  for (std::uint32_t i = 0; i < parameter_count; ++i) {
    c.parameter_names.push_back(r.str("a parameter name"));
    c.parameters.push_back(r.tensor("parameter " + c.parameter_names.back()));
  }
  const std::uint32_t metadata_count = r.u32("the metadata count");
  for (std::uint32_t i = 0; i < metadata_count; ++i) {
    std::string key = r.str("a metadata key");
    c.extras.metadata[key] = r.str("a metadata value");
  }
  const std::uint8_t has_training = r.u8("the training-state flag");
  if (has_training > 1) r.fail("the training-state flag is " + std::to_string(has_training) + ", not 0 or 1");
  if (has_training == 1) {
    TrainingState s;
    const std::int64_t epoch = r.i64("the epoch count");
    if (epoch < 0 || epoch > std::numeric_limits<int>::max()) r.fail("impossible epoch count " + std::to_string(epoch));
    s.epoch = static_cast<int>(epoch);
    s.shuffle_state = r.u64("the shuffle state");
    const std::uint64_t n = r.u64("the example order's length");
    if (n > r.remaining() / 4) r.fail("the example order claims " + std::to_string(n) + " entries");
    s.order.resize(static_cast<std::size_t>(n));
    for (auto& v : s.order) v = static_cast<std::int32_t>(r.u32("the example order"));
    if (c.version >= 2) {
      s.optimizer.name = r.str("the optimizer name");
      s.optimizer.step = r.i64("the optimizer step count");
      if (s.optimizer.step < 0) r.fail("negative optimizer step count " + std::to_string(s.optimizer.step));
    }  // version 1 held SGD's momentum only: the defaults, sgd and step 0
    const std::uint32_t buffers = r.u32("the optimizer buffer count");
    for (std::uint32_t i = 0; i < buffers; ++i)
      s.optimizer.buffers.push_back(r.tensor(s.optimizer.name + " buffer " + std::to_string(i)));
    if (c.version >= 3) {
      s.schedule.name = r.str("the schedule name");
      s.schedule.steps = r.i64("the schedule step count");
      if (s.schedule.steps < 0) r.fail("negative schedule step count " + std::to_string(s.schedule.steps));
    }  // earlier versions held no schedule state: the defaults, none and 0
    c.extras.training = std::move(s);
  }
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last record");
  return c;
}

// Writes `model` (and `extras`) to `path` atomically; see the format at the top of this file.
template <class T, class Device>
void save(const Sequential<T, Device>& model, const std::string& path, const CheckpointExtras& extras = {}) {
  using namespace detail::checkpoint;
  Writer w;
  w.bytes.assign(magic, magic + sizeof magic);  // (insert() into the empty vector trips GCC 12's -Wstringop-overflow)
  w.u32(checkpoint_format_version);
  w.u64(0);  // the file size, filled in below

  w.count(model.specs().size());
  for (const LayerSpec& spec : model.specs()) write_layer(w, encode_layer(spec));
  const auto& state = model.state_dict();
  w.count(state.size());
  for (const auto& tensor : state) {
    w.str(tensor.name);
    w.tensor(to_float_host(tensor.value->template to<cpu>()));
  }
  w.count(extras.metadata.size());
  for (const auto& [key, value] : extras.metadata) {
    w.str(key);
    w.str(value);
  }
  w.u8(extras.training ? 1 : 0);
  if (extras.training) {
    const TrainingState& s = *extras.training;
    w.i64(s.epoch);
    w.u64(s.shuffle_state);
    w.u64(s.order.size());
    for (std::int32_t v : s.order) w.u32(static_cast<std::uint32_t>(v));
    w.str(s.optimizer.name);
    w.i64(s.optimizer.step);
    w.count(s.optimizer.buffers.size());
    for (const auto& b : s.optimizer.buffers) w.tensor(b);
    w.str(s.schedule.name);
    w.i64(s.schedule.steps);
  }

  const std::uint64_t total = w.bytes.size() + trailer_size;
  for (int i = 0; i < 8; ++i) w.bytes[12 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(total >> (8 * i));
  w.u32(crc32_of(w.bytes.data(), w.bytes.size()));
  write_file_atomically(path, w.bytes);
}

namespace detail::checkpoint {

// Throws unless checkpoint `c` fits `model` exactly: same layers, same parameter names and shapes.
template <class T, class Device>
void require_fits(const std::string& path, const Checkpoint& c, const Sequential<T, Device>& model) {
  // One line each, as every hnn error: the first differing layer says enough.
  const auto& specs = model.specs();
  for (std::size_t i = 0; i < std::min(specs.size(), c.layers.size()); ++i)
    if (specs[i].str() != c.layers[i].description)
      throw CheckpointError(path, "the checkpoint's architecture differs from the model's at layer " + std::to_string(i) +
                                      ": the file has " + c.layers[i].description + ", the model has " +
                                      specs[i].str());
  if (specs.size() != c.layers.size())
    throw CheckpointError(path, "the checkpoint has " + std::to_string(c.layers.size()) + " layers (" + c.describe_all() +
                                    "), the model has " + std::to_string(specs.size()) + " (" + model.describe_all() + ")");
  const auto& state = model.state_dict();
  if (state.size() != c.parameters.size())
    throw CheckpointError(path, "the checkpoint holds " + std::to_string(c.parameters.size()) +
                                    " tensors, the model has " + std::to_string(state.size()));
  for (std::size_t i = 0; i < state.size(); ++i) {
    if (c.parameter_names[i] != state[i].name)
      throw CheckpointError(path, "tensor " + std::to_string(i) + " is named " + c.parameter_names[i] +
                                      " in the file, " + state[i].name + " in the model");
    if (c.parameters[i].shape() != state[i].value->shape())
      throw CheckpointError(path, "tensor " + c.parameter_names[i] + " has shape " + c.parameters[i].shape().str() +
                                      " in the file, " + state[i].value->shape().str() + " in the model");
  }
}

template <class T, class Device>
void copy_parameters(const Checkpoint& c, Sequential<T, Device>& model) {
  const auto& state = model.state_dict();
  // Convert everything first, then write: nothing below can fail halfway on the host.
  std::vector<Tensor<T, cpu>> values;
  for (const Tensor<float, cpu>& f : c.parameters) {
    Tensor<T, cpu> v(f.shape());
    for (std::int64_t i = 0; i < f.numel(); ++i) v[i] = static_cast<T>(f[i]);
    values.push_back(std::move(v));
  }
  for (std::size_t i = 0; i < state.size(); ++i) state[i].value->copy_from(values[i]);
}

}  // namespace detail::checkpoint

// Loads the parameters in `path` into `model`, whose architecture must match the file's.
// Returns what else the file carries (training state, metadata). On any error the model
// is untouched.
template <class T, class Device>
CheckpointExtras load(Sequential<T, Device>& model, const std::string& path) {
  Checkpoint c = read_checkpoint(path);
  detail::checkpoint::require_fits(path, c, model);
  detail::checkpoint::copy_parameters(c, model);
  return std::move(c.extras);
}

// Builds a model with the architecture recorded in `path` and loads its parameters.
template <class T, class Device = cpu>
Sequential<T, Device> load_model(const std::string& path, CheckpointExtras* extras = nullptr) {
  Checkpoint c = read_checkpoint(path);
  std::vector<LayerSpec> specs;
  for (const CheckpointLayer& l : c.layers) specs.push_back(detail::checkpoint::decode_layer<Device>(path, l));
  if (specs.empty()) throw CheckpointError(path, "the checkpoint records no layers");
  Sequential<T, Device> model(std::move(specs));
  detail::checkpoint::require_fits(path, c, model);
  detail::checkpoint::copy_parameters(c, model);
  if (extras) *extras = std::move(c.extras);
  return model;
}

}  // namespace hnn
