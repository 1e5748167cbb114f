// BatchCopy<cuda>: a DataLoader's host batches to the GPU without stopping the host. Each batch
// is copied with cudaMemcpyAsync on the calling thread's hnn stream (the stream its model runs
// on, so the copy waits for the step before it and the next step waits for the copy), from host
// buffers pinned once with cudaHostRegister. A cudaEvent recorded after the copies out of each of
// the two host buffers tells the loader when that buffer may be refilled.
//
// Pinning is an optimisation only: if cudaHostRegister refuses, the copies run from pageable
// memory, which the driver stages before cudaMemcpyAsync returns, and the events still order
// everything.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "hnn/cuda/memory.cuh"
#include "hnn/data/batch_copy.hpp"
#include "hnn/device.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

template <>
class BatchCopy<cuda> {
 public:
  BatchCopy() {
    for (cudaEvent_t& e : read_) HNN_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  BatchCopy(const BatchCopy&) = delete;
  BatchCopy& operator=(const BatchCopy&) = delete;
  ~BatchCopy() {
    // No copy may still read a buffer the loader is about to free.
    for (cudaEvent_t e : read_) {
      cudaEventSynchronize(e);
      cudaEventDestroy(e);
    }
    for (int i = 0; i < pinned_count_; ++i) cudaHostUnregister(pinned_[i]);
  }

  void register_buffer(int /*slot*/, void* host, std::size_t bytes) {
    if (host == nullptr || bytes == 0) return;
    if (pinned_count_ == kMaxPinned) return;
    if (cudaHostRegister(host, bytes, cudaHostRegisterDefault) == cudaSuccess)
      pinned_[pinned_count_++] = host;
    else
      cudaGetLastError();  // clear the error: the copies work from pageable memory too
  }

  template <class T>
  void copy(Tensor<T, cuda>& dst, const Tensor<T, cpu>& src) {
    if (src.shape() != dst.shape())
      throw std::invalid_argument("hnn::data::BatchCopy: shape " + src.shape().str() + " into " + dst.shape().str());
    if (src.bytes() != 0)
      HNN_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.bytes(), cudaMemcpyHostToDevice, cuda_stream()));
  }

  void copied_from(int slot) { HNN_CUDA_CHECK(cudaEventRecord(read_[slot], cuda_stream())); }

  // Called from the loader's background thread too: events may be waited on from any thread.
  void wait_until_read(int slot) { HNN_CUDA_CHECK(cudaEventSynchronize(read_[slot])); }

 private:
  cudaEvent_t read_[2] = {nullptr, nullptr};
  static constexpr int kMaxPinned = 4;  // two buffers (inputs, targets) per slot
  void* pinned_[kMaxPinned] = {nullptr, nullptr, nullptr, nullptr};
  int pinned_count_ = 0;
};

}  // namespace hnn::data
