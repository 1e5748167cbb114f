// The checkpoint file format: its records in memory (Checkpoint, CheckpointLayer), the byte
// codec (Writer, Reader, CRC-32) and read_checkpoint(), which reads and verifies a whole file.
// docs/checkpoint-format.md is the format's one spec: every field, the versions (1 and 2 are
// still read; 3 is written) and the checks in the order they run. Binding a checkpoint to a
// model (save, load, load_model) is io/checkpoint.hpp's.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/io/file.hpp"
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
  const std::vector<unsigned char> bytes = io::read_file<CheckpointError>(path, "checkpoint");
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

}  // namespace hnn
