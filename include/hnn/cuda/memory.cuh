// Memory<cuda>: device buffers through plain cudaMalloc, explicit copies, and the
// checks that turn every failed CUDA call into an exception naming the call.
// Only translation units compiled by nvcc include this (through tensor.hpp).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "hnn/device.hpp"

namespace hnn {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess)
    throw CudaError(std::string("CUDA error: ") + call + " failed at " + file + ":" + std::to_string(line) + ": " +
                    cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
}
}  // namespace detail

}  // namespace hnn

// Checks the result of a CUDA runtime call.
#define HNN_CUDA_CHECK(call) ::hnn::detail::cuda_check((call), #call, __FILE__, __LINE__)
// Checks that the kernel launch just made was accepted (bad configuration, no device...).
#define HNN_CUDA_CHECK_LAUNCH(kernel_name) \
  ::hnn::detail::cuda_check(cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__)

namespace hnn {

// The stream every hnn CUDA kernel runs on. A per-thread default stream would also work;
// one explicit stream lets the trainer capture a whole step into a CUDA graph.
// It is a real (non-default) stream because the legacy default stream cannot be captured.
inline cudaStream_t cuda_stream() {
  static thread_local cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    HNN_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }();
  return stream;
}

// True when at least one CUDA device is present and usable.
inline bool cuda_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return count > 0;
}

template <>
struct Memory<cuda> {
  static constexpr bool host_accessible = false;
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    HNN_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p != nullptr) cudaFree(p);
  }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes != 0) HNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream()));
  }
  static void copy_from_host(void* dst, const void* src, std::size_t bytes) {
    if (bytes == 0) return;
    HNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_stream()));
    // The host buffer may be a temporary: wait until the copy has read it.
    HNN_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  }
  static void copy_to_host(void* dst, const void* src, std::size_t bytes) {
    if (bytes == 0) return;
    HNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream()));
    HNN_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  }
  static void fill_bytes(void* dst, unsigned char value, std::size_t bytes) {
    if (bytes != 0) HNN_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, cuda_stream()));
  }
};

}  // namespace hnn
