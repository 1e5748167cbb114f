// The CPU thread count. hnn parallelises over the samples of a batch with OpenMP
// when the program is compiled with it (the hnn::hnn CMake target adds it when
// found); without OpenMP everything runs on the calling thread.
#pragma once

#include <stdexcept>
#include <string>

#include <Eigen/Core>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace hnn {

// Threads used by hnn's CPU kernels and Eigen's matrix products.
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_num_threads(int threads) {
  if (threads < 1) throw std::invalid_argument("hnn::set_num_threads: need at least 1 thread, got " + std::to_string(threads));
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  Eigen::setNbThreads(threads);
}

// The index of the calling thread inside a parallel region (0 outside one).
inline int thread_index() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// The number of threads in the current parallel region (1 outside one).
inline int team_size() {
#if defined(_OPENMP)
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// Runs body() in an OpenMP parallel region, or straight on the calling thread when hnn runs
// on one thread: libgomp's region of one thread still costs a futex call on its way out
// (about half a microsecond, a tenth of a batch-1 LeNet-5 inference over its four regions).
// Inside body, thread_index() and team_size() work either way, and an `omp for` or `omp
// barrier` outside a region runs on the calling thread alone.
template <class Body>
void parallel_region(Body&& body) {
#if defined(_OPENMP)
  if (num_threads() > 1) {
#pragma omp parallel
    body();
    return;
  }
#endif
  body();
}

}  // namespace hnn
