// The library's metrics: confusion counts and accuracy of a classifier, and a training
// history as CSV (what a checkpoint records so that a resumed run continues its history).
// Pictures of them (SVG curves, a gallery) are in hnn/extras/report.hpp.
//
//   hnn::ConfusionMatrix cm(10);  cm.add(test.labels, hnn::predict(model, test_images));
//   std::cout << cm.table(test.class_names);             // with per-class accuracy
//   const std::string csv = hnn::history_csv(history);  // parse_history_csv() reads it back
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/training/training_state.hpp"

namespace hnn {

// ---------------------------------------------------------------------------------------
// History as CSV
// ---------------------------------------------------------------------------------------

inline constexpr const char* history_csv_header = "epoch,train_loss,train_acc,test_acc,examples_per_sec,seconds";

// One header line, then one row per epoch.
inline std::string history_csv(const std::vector<EpochStats>& history) {
  std::string s = std::string(history_csv_header) + "\n";
  char row[256];
  for (const EpochStats& e : history) {
    std::snprintf(row, sizeof row, "%d,%.6f,%.6f,%.6f,%.1f,%.4f\n", e.epoch, e.train_loss, e.train_acc, e.test_acc,
                  e.examples_per_sec, e.seconds);
    s += row;
  }
  return s;
}

// Reads what history_csv() wrote.
inline std::vector<EpochStats> parse_history_csv(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != history_csv_header)
    throw std::invalid_argument("hnn::parse_history_csv: the first line is not '" + std::string(history_csv_header) + "'");
  std::vector<EpochStats> history;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    EpochStats e;
    if (std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lf,%lf", &e.epoch, &e.train_loss, &e.train_acc, &e.test_acc,
                    &e.examples_per_sec, &e.seconds) != 6)
      throw std::invalid_argument("hnn::parse_history_csv: bad row '" + line + "'");
    history.push_back(e);
  }
  return history;
}

// ---------------------------------------------------------------------------------------
// Confusion matrix
// ---------------------------------------------------------------------------------------

// Counts of (true class, predicted class) pairs.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int classes) : classes_(classes), counts_(static_cast<std::size_t>(classes * classes), 0) {
    if (classes <= 0) throw std::invalid_argument("hnn::ConfusionMatrix: needs at least one class");
  }

  void add(int truth, int predicted) {
    if (truth < 0 || truth >= classes_ || predicted < 0 || predicted >= classes_)
      throw std::out_of_range("hnn::ConfusionMatrix::add: class " + std::to_string(truth) + " or " +
                              std::to_string(predicted) + " is outside 0.." + std::to_string(classes_ - 1));
    ++counts_[index(truth, predicted)];
  }
  void add(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted) {
    if (truth.size() != predicted.size())
      throw std::invalid_argument("hnn::ConfusionMatrix::add: " + std::to_string(truth.size()) + " labels but " +
                                  std::to_string(predicted.size()) + " predictions");
    for (std::size_t i = 0; i < truth.size(); ++i) add(truth[i], predicted[i]);
  }

  int classes() const { return classes_; }
  std::int64_t count(int truth, int predicted) const { return counts_.at(index(truth, predicted)); }
  std::int64_t total() const {
    std::int64_t n = 0;
    for (std::int64_t c : counts_) n += c;
    return n;
  }
  std::int64_t class_total(int truth) const {
    std::int64_t n = 0;
    for (int p = 0; p < classes_; ++p) n += count(truth, p);
    return n;
  }
  double accuracy() const {
    std::int64_t right = 0;
    for (int c = 0; c < classes_; ++c) right += count(c, c);
    return total() ? static_cast<double>(right) / static_cast<double>(total()) : 0.0;
  }
  // The fraction of class `truth`'s examples predicted as `truth` (its recall).
  double class_accuracy(int truth) const {
    const std::int64_t n = class_total(truth);
    return n ? static_cast<double>(count(truth, truth)) / static_cast<double>(n) : 0.0;
  }

  // The matrix with class names (rows: true class, columns: predicted), each row's
  // accuracy, the overall accuracy and the three most frequent confusions.
  std::string table(const std::vector<std::string>& names) const {
    const auto name = [&](int c) {
      return static_cast<std::size_t>(c) < names.size() ? names[static_cast<std::size_t>(c)] : std::to_string(c);
    };
    std::size_t row_w = 10;
    for (int c = 0; c < classes_; ++c) row_w = std::max(row_w, name(c).size());
    const int col_w = std::max(6, static_cast<int>(std::to_string(*std::max_element(counts_.begin(), counts_.end())).size()) + 1);
    std::ostringstream out;
    out << "confusion matrix (rows: true class, columns: predicted class)\n";
    out << std::string(row_w, ' ');
    for (int c = 0; c < classes_; ++c) {
      std::string h = name(c).substr(0, static_cast<std::size_t>(col_w - 1));
      out << std::string(static_cast<std::size_t>(col_w) - h.size(), ' ') << h;
    }
    out << "  accuracy\n";
    char buf[32];
    for (int t = 0; t < classes_; ++t) {
      out << name(t) << std::string(row_w - name(t).size(), ' ');
      for (int p = 0; p < classes_; ++p) {
        std::snprintf(buf, sizeof buf, "%*lld", col_w, static_cast<long long>(count(t, p)));
        out << buf;
      }
      std::snprintf(buf, sizeof buf, "  %8.3f", class_accuracy(t));
      out << buf << "\n";
    }
    std::snprintf(buf, sizeof buf, "%.3f", accuracy());
    out << "accuracy " << buf << " on " << total() << " images";
    struct Pair {
      int truth, predicted;
      std::int64_t n;
    };
    std::vector<Pair> pairs;
    for (int t = 0; t < classes_; ++t)
      for (int p = 0; p < classes_; ++p)
        if (t != p && count(t, p) > 0) pairs.push_back({t, p, count(t, p)});
    std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.n > b.n; });
    if (!pairs.empty()) out << "; most confused:";
    for (std::size_t i = 0; i < std::min<std::size_t>(3, pairs.size()); ++i)
      out << (i ? "," : "") << " " << name(pairs[i].truth) << " taken for " << name(pairs[i].predicted) << " ("
          << pairs[i].n << ")";
    out << "\n";
    return out.str();
  }

 private:
  std::size_t index(int truth, int predicted) const {
    return static_cast<std::size_t>(truth) * static_cast<std::size_t>(classes_) + static_cast<std::size_t>(predicted);
  }

  int classes_;
  std::vector<std::int64_t> counts_;
};

}  // namespace hnn
