// Device tags and per-device memory management.
//
// A device is an empty tag type. Code that differs between devices is chosen by
// overloading on the tag (`conv2d_forward(cpu{}, ...)` vs `conv2d_forward(cuda{}, ...)`),
// so layers and models never contain a device branch.
//
// Memory<cpu> is defined here. Memory<cuda> lives in hnn/cuda/memory.cuh and is only
// visible to translation units compiled by nvcc, so a CPU-only user never needs the
// CUDA toolkit.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace hnn {

struct cpu {
  static constexpr const char* name = "cpu";
};
struct cuda {
  static constexpr const char* name = "cuda";
};

// Allocation and copies for one device. Specialised per device tag.
template <class Device>
struct Memory;

template <>
struct Memory<cpu> {
  // Host code may read this device's memory directly.
  static constexpr bool host_accessible = true;
  // 64-byte alignment: one cache line and one AVX-512 register.
  static constexpr std::size_t alignment = 64;
  // Buffers of at least this size are aligned to it and, on Linux, asked for transparent huge
  // pages (madvise: the kernel's usual policy, "madvise", grants them only when asked). A
  // training step streams activations of many MB through memory, and 2 MB pages take one TLB
  // entry where 4 KB pages need 512: the ResNet example's step measured faster on them
  // (tests/bench/NOTES.md).
  static constexpr std::size_t huge_page = std::size_t(2) << 20;

  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t align = bytes >= huge_page ? huge_page : alignment;
    const std::size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == huge_page) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: a refusal changes nothing
#endif
    return p;
  }
  static void deallocate(void* p) noexcept { std::free(p); }

  // Copies between two buffers of this device.
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes != 0) std::memcpy(dst, src, bytes);
  }
  // Copies from host memory into this device's memory, and back.
  static void copy_from_host(void* dst, const void* src, std::size_t bytes) { copy(dst, src, bytes); }
  static void copy_to_host(void* dst, const void* src, std::size_t bytes) { copy(dst, src, bytes); }
  static void fill_bytes(void* dst, unsigned char value, std::size_t bytes) {
    if (bytes != 0) std::memset(dst, value, bytes);
  }
};

}  // namespace hnn
