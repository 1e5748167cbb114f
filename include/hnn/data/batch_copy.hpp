// How a DataLoader (hnn/data/loader.hpp) moves a filled host batch into its device tensors.
//
// BatchCopy<Device> copies with Tensor::copy_from, which returns when the host buffer has been
// read, so the buffer may be refilled at once. The CUDA specialisation
// (hnn/data/cuda/batch_copy.cuh, compiled by nvcc only) pins the loader's host buffers and
// copies asynchronously on the caller's stream instead, the copy then queued behind the step
// still running on the GPU; an event per host buffer says when the copy has read it, and the
// loader waits for that event before refilling the buffer.
#pragma once

#include <cstddef>

#include "hnn/device.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

template <class Device>
class BatchCopy {
 public:
  // The loader's host buffer `slot` (0 or 1) starts at `host` and holds `bytes`.
  void register_buffer(int /*slot*/, void* /*host*/, std::size_t /*bytes*/) {}
  // Copies src (host) into dst (Device); shapes must match.
  template <class T>
  void copy(Tensor<T, Device>& dst, const Tensor<T, cpu>& src) {
    dst.copy_from(src);
  }
  // Marks the end of the copies out of host buffer `slot`.
  void copied_from(int /*slot*/) {}
  // Returns once the copies out of host buffer `slot` have read it.
  void wait_until_read(int /*slot*/) {}
};

}  // namespace hnn::data

#if defined(__CUDACC__)
#include "hnn/data/cuda/batch_copy.cuh"
#endif
