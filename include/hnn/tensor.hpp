// Tensor<T, Device>: a shape plus owning, contiguous, row-major storage on one device.
//
// Copying a Tensor is cheap and shares the storage (like a PyTorch tensor or a
// shared_ptr); views made by reshape() and slice() share it too. clone() makes a
// deep copy. Shapes have a fixed maximum rank so that making a view never
// allocates: the training step reshapes tensors without touching the heap.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "hnn/device.hpp"
#if defined(__CUDACC__)
#include "hnn/cuda/memory.cuh"
#endif

namespace hnn {

// The dimensions of a tensor, outermost first: (N, C, H, W) for images.
class Shape {
 public:
  static constexpr int max_rank = 6;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) {
    if (dims.size() > static_cast<std::size_t>(max_rank))
      throw std::invalid_argument("hnn::Shape: rank " + std::to_string(dims.size()) + " exceeds the maximum of " +
                                  std::to_string(max_rank));
    for (std::int64_t d : dims) push_back(d);
  }

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(i)]; }

  void push_back(std::int64_t d) {
    if (rank_ == max_rank) throw std::invalid_argument("hnn::Shape: rank exceeds the maximum of 6");
    if (d < 0) throw std::invalid_argument("hnn::Shape: negative dimension " + std::to_string(d));
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }

  // The product of every dimension after the first: the size of one sample.
  std::int64_t sample_size() const {
    std::int64_t n = 1;
    for (int i = 1; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }

  // "(1, 6, 28, 28)", as PyTorch prints a shape.
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + ")";
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  std::array<std::int64_t, max_rank> dims_{};
  int rank_ = 0;
};

template <class T, class Device = cpu>
class Tensor {
  static_assert(std::is_trivially_copyable_v<T>, "hnn::Tensor holds plain numbers");

 public:
  using value_type = T;
  using device_type = Device;

  Tensor() = default;
  explicit Tensor(const Shape& shape) { allocate(shape); }

  // A tensor of the given shape filled with `value` (CPU only; use kernels on other devices).
  static Tensor full(const Shape& shape, T value) {
    static_assert(std::is_same_v<Device, cpu>, "Tensor::full is host-only");
    Tensor t(shape);
    for (std::int64_t i = 0; i < t.numel(); ++i) t.data_[i] = value;
    return t;
  }
  static Tensor zeros(const Shape& shape) {
    Tensor t(shape);
    Memory<Device>::fill_bytes(t.data_, 0, t.bytes());
    return t;
  }

  // Copies host memory into a new tensor on this device.
  static Tensor from_host(const Shape& shape, const T* host) {
    Tensor t(shape);
    Memory<Device>::copy_from_host(t.data_, host, t.bytes());
    return t;
  }
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values) {
    if (static_cast<std::int64_t>(values.size()) != shape.numel())
      throw std::invalid_argument("hnn::Tensor::from_vector: shape " + shape.str() + " needs " +
                                  std::to_string(shape.numel()) + " values, got " + std::to_string(values.size()));
    return from_host(shape, values.data());
  }

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  std::int64_t dim(int i) const { return shape_[i]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * sizeof(T); }
  bool empty() const { return numel() == 0; }

  T* data() { return data_; }
  const T* data() const { return data_; }

  // A view with another shape and the same number of elements (no copy).
  Tensor reshape(const Shape& shape) const {
    if (shape.numel() != numel())
      throw std::invalid_argument("hnn::Tensor::reshape: cannot view " + shape_.str() + " (" +
                                  std::to_string(numel()) + " elements) as " + shape.str() + " (" +
                                  std::to_string(shape.numel()) + " elements)");
    Tensor view = *this;
    view.shape_ = shape;
    return view;
  }

  // A view of samples [begin, end) along the first dimension (no copy).
  Tensor slice(std::int64_t begin, std::int64_t end) const {
    if (rank() == 0 || begin < 0 || end < begin || end > dim(0))
      throw std::out_of_range("hnn::Tensor::slice: [" + std::to_string(begin) + ", " + std::to_string(end) +
                              ") is outside the first dimension of " + shape_.str());
    Tensor view = *this;
    view.shape_[0] = end - begin;
    view.data_ = data_ + begin * shape_.sample_size();
    return view;
  }

  // Gives this tensor a new shape, reusing its storage when it is large enough.
  // Workspaces call this every step; it allocates only when a larger shape first arrives.
  void resize(const Shape& shape) {
    if (shape.numel() <= capacity_ && data_ == base()) {
      shape_ = shape;
      return;
    }
    allocate(shape);
  }

  // A deep copy on the same device.
  Tensor clone() const {
    Tensor t(shape_);
    Memory<Device>::copy(t.data_, data_, bytes());
    return t;
  }

  // A deep copy on another device (or the same one).
  template <class Other>
  Tensor<T, Other> to() const {
    if constexpr (std::is_same_v<Other, Device>) {
      return clone();
    } else if constexpr (std::is_same_v<Device, cpu>) {
      return Tensor<T, Other>::from_host(shape_, data_);
    } else {
      static_assert(std::is_same_v<Other, cpu>, "copies between two accelerators go through the host");
      Tensor<T, cpu> host(shape_);
      Memory<Device>::copy_to_host(host.data(), data_, bytes());
      return host;
    }
  }

  // Copies another tensor's elements into this one; the shapes must match.
  template <class Other>
  void copy_from(const Tensor<T, Other>& src) {
    if (src.shape() != shape_)
      throw std::invalid_argument("hnn::Tensor::copy_from: shape " + src.shape().str() + " into " + shape_.str());
    if constexpr (std::is_same_v<Other, Device>) {
      Memory<Device>::copy(data_, src.data(), bytes());
    } else if constexpr (std::is_same_v<Other, cpu>) {
      Memory<Device>::copy_from_host(data_, src.data(), bytes());
    } else {
      static_assert(std::is_same_v<Device, cpu>, "copies between two accelerators go through the host");
      Memory<Other>::copy_to_host(data_, src.data(), bytes());
    }
  }

  std::vector<T> to_vector() const {
    std::vector<T> v(static_cast<std::size_t>(numel()));
    Memory<Device>::copy_to_host(v.data(), data_, bytes());
    return v;
  }

  // Element access by flat index or by coordinates (host only).
  T& operator[](std::int64_t i) {
    static_assert(std::is_same_v<Device, cpu>, "element access is host-only; copy with to<cpu>() first");
    return data_[i];
  }
  const T& operator[](std::int64_t i) const {
    static_assert(std::is_same_v<Device, cpu>, "element access is host-only; copy with to<cpu>() first");
    return data_[i];
  }
  template <class... Index>
  T& at(Index... index) {
    return (*this)[offset_of(index...)];
  }
  template <class... Index>
  const T& at(Index... index) const {
    return (*this)[offset_of(index...)];
  }

 private:
  template <class U, class D>
  friend class Tensor;

  void allocate(const Shape& shape) {
    shape_ = shape;
    capacity_ = shape.numel();
    void* p = Memory<Device>::allocate(static_cast<std::size_t>(capacity_) * sizeof(T));
    storage_ = std::shared_ptr<void>(p, [](void* q) { Memory<Device>::deallocate(q); });
    data_ = static_cast<T*>(p);
  }
  T* base() const { return static_cast<T*>(storage_.get()); }

  template <class... Index>
  std::int64_t offset_of(Index... index) const {
    const std::int64_t idx[] = {static_cast<std::int64_t>(index)...};
    if (static_cast<int>(sizeof...(Index)) != rank())
      throw std::invalid_argument("hnn::Tensor::at: " + std::to_string(sizeof...(Index)) + " indices for shape " +
                                  shape_.str());
    std::int64_t offset = 0;
    for (int i = 0; i < rank(); ++i) {
      if (idx[i] < 0 || idx[i] >= shape_[i])
        throw std::out_of_range("hnn::Tensor::at: index " + std::to_string(idx[i]) + " out of range for dimension " +
                                std::to_string(i) + " of " + shape_.str());
      offset = offset * shape_[i] + idx[i];
    }
    return offset;
  }

  std::shared_ptr<void> storage_;
  T* data_ = nullptr;
  std::int64_t capacity_ = 0;
  Shape shape_{0};  // a default tensor is empty: one dimension of size 0
};

}  // namespace hnn
