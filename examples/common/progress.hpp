// A one-line progress bar for the current epoch, redrawn in place (\r) at most ten times a
// second: batches done, examples/sec, time left, running loss. Used only when stdout is a
// terminal (or --progress on), so that logs keep one plain line per epoch.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <hnn/training/training_state.hpp>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace hnn_example {

inline bool stdout_is_terminal() {
#if defined(_WIN32)
  return _isatty(_fileno(stdout)) != 0;
#else
  return ::isatty(::fileno(stdout)) != 0;
#endif
}

class ProgressBar {
 public:
  ProgressBar(bool enabled, int epochs) : enabled_(enabled), epochs_(epochs) {}

  bool enabled() const { return enabled_; }

  // Called after every batch; draws when a tenth of a second has passed, and at the last batch.
  void update(const hnn::BatchProgress& p) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && p.batch < p.batches && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    drawn_ = true;

    constexpr int width = 24;
    const double done = p.batches ? static_cast<double>(p.batch) / static_cast<double>(p.batches) : 1.0;
    const int filled = static_cast<int>(done * width);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < width) bar += '>';
    bar.resize(width, ' ');
    const double rate = p.seconds > 0 ? static_cast<double>(p.examples) / p.seconds : 0.0;
    const double left = rate > 0 ? static_cast<double>(p.total_examples - p.examples) / rate : 0.0;
    char loss[32] = "";
    if (std::isfinite(p.running_loss)) std::snprintf(loss, sizeof loss, "  loss %.3f", p.running_loss);
    std::printf("\r\033[Kepoch %d/%d [%s] %lld/%lld  %.0f ex/s  ETA %d:%02d%s", p.epoch, epochs_, bar.c_str(),
                static_cast<long long>(p.batch), static_cast<long long>(p.batches), rate,
                static_cast<int>(left) / 60, static_cast<int>(left) % 60, loss);
    std::fflush(stdout);
  }

  // Erases the bar, so that the epoch's summary line replaces it.
  void clear() {
    if (!enabled_ || !drawn_) return;
    std::fputs("\r\033[K", stdout);
    drawn_ = false;
  }

 private:
  bool enabled_;
  int epochs_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace hnn_example
