// Seeing how training went: the history as CSV, d2l-style curves as a self-contained SVG,
// the confusion matrix with per-class accuracy, and a gallery of predictions as an image.
//
//   hnn::write_text_file("history.csv", hnn::history_csv(history));
//   hnn::write_text_file("curves.svg", hnn::history_svg(history, "LeNet-5 on Fashion-MNIST"));
//   hnn::ConfusionMatrix cm(10);  cm.add(test.labels, hnn::predict(model, test_images));
//   std::cout << cm.table(test.class_names);
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/data/mnist.hpp"
#include "hnn/image.hpp"
#include "hnn/train.hpp"

namespace hnn {

// Writes `text` to `path` (replacing it); throws std::runtime_error naming the file.
inline void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot create the file");
  out << text;
  out.flush();
  if (!out) throw std::runtime_error(path + ": cannot write the file");
}

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
// Training curves as SVG
// ---------------------------------------------------------------------------------------

namespace detail::report {

inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A round tick step giving about `target` intervals over `range`: 1, 2, 2.5 or 5 times 10^k.
inline double nice_step(double range, double target) {
  const double raw = range / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * magnitude >= raw) return m * magnitude;
  return 10 * magnitude;
}

inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

inline std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", std::abs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

}  // namespace detail::report

// The d2l LeNet figure: train loss, train acc and test acc against the epoch, with axes,
// ticks, a grid, a legend and a title, as one self-contained SVG document.
inline std::string history_svg(const std::vector<EpochStats>& history, const std::string& title) {
  using detail::report::number;
  using detail::report::tick_label;
  const double width = 720, height = 440;
  const double left = 64, right = 170, top = 48, bottom = 56;  // the legend sits in the right margin
  const double plot_w = width - left - right, plot_h = height - top - bottom;

  const int epochs = history.empty() ? 1 : history.back().epoch;
  const int first = history.empty() ? 1 : history.front().epoch;
  double x_min = first, x_max = std::max(epochs, first + 1);
  double y_max = 1.0;
  for (const EpochStats& e : history)
    for (double v : {e.train_loss, e.train_acc, e.test_acc})
      if (std::isfinite(v)) y_max = std::max(y_max, v);
  const double y_step = detail::report::nice_step(y_max, 5);
  y_max = std::ceil(y_max / y_step - 1e-9) * y_step;
  const double x_step = std::max(1.0, std::ceil(detail::report::nice_step(x_max - x_min, 10)));
  const double x_first = std::ceil(x_min / x_step - 1e-9) * x_step;  // ticks on multiples of the step

  const auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * plot_w; };
  const auto py = [&](double y) { return top + (1 - y / y_max) * plot_h; };

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
      << "<title>" << detail::report::xml_escape(title) << "</title>\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << number(left + plot_w / 2) << "\" y=\"28\" text-anchor=\"middle\" font-size=\"17\">"
      << detail::report::xml_escape(title) << "</text>\n";

  // Grid and ticks.
  svg << "<g stroke=\"#d9d9d9\" stroke-width=\"1\">\n";
  for (double y = 0; y <= y_max + 1e-9; y += y_step)
    svg << "<line x1=\"" << number(left) << "\" y1=\"" << number(py(y)) << "\" x2=\"" << number(left + plot_w)
        << "\" y2=\"" << number(py(y)) << "\"/>\n";
  for (double x = x_first; x <= x_max + 1e-9; x += x_step)
    svg << "<line x1=\"" << number(px(x)) << "\" y1=\"" << number(top) << "\" x2=\"" << number(px(x)) << "\" y2=\""
        << number(top + plot_h) << "\"/>\n";
  svg << "</g>\n<g font-size=\"12\" fill=\"#333\">\n";
  for (double y = 0; y <= y_max + 1e-9; y += y_step)
    svg << "<line x1=\"" << number(left - 5) << "\" y1=\"" << number(py(y)) << "\" x2=\"" << number(left) << "\" y2=\""
        << number(py(y)) << "\" stroke=\"#333\"/><text x=\"" << number(left - 8) << "\" y=\"" << number(py(y) + 4)
        << "\" text-anchor=\"end\">" << tick_label(y) << "</text>\n";
  for (double x = x_first; x <= x_max + 1e-9; x += x_step)
    svg << "<line x1=\"" << number(px(x)) << "\" y1=\"" << number(top + plot_h) << "\" x2=\"" << number(px(x))
        << "\" y2=\"" << number(top + plot_h + 5) << "\" stroke=\"#333\"/><text x=\"" << number(px(x)) << "\" y=\""
        << number(top + plot_h + 20) << "\" text-anchor=\"middle\">" << tick_label(x) << "</text>\n";
  svg << "</g>\n"
      << "<rect x=\"" << number(left) << "\" y=\"" << number(top) << "\" width=\"" << number(plot_w) << "\" height=\""
      << number(plot_h) << "\" fill=\"none\" stroke=\"#333\"/>\n"
      << "<text x=\"" << number(left + plot_w / 2) << "\" y=\"" << number(height - 14)
      << "\" text-anchor=\"middle\" font-size=\"14\">epoch</text>\n";

  // The three curves, in d2l's styles: solid blue, dashed magenta, dash-dotted green.
  struct Curve {
    const char* name;
    const char* color;
    const char* dash;
    int field;  // 0 train loss, 1 train acc, 2 test acc
  };
  const Curve curves[] = {{"train loss", "#1f77b4", "", 0}, {"train acc", "#bf00bf", "7,4", 1},
                          {"test acc", "#008000", "9,3,2,3", 2}};
  const auto value = [](const EpochStats& e, int field) {
    return field == 0 ? e.train_loss : field == 1 ? e.train_acc : e.test_acc;
  };
  for (const Curve& c : curves) {
    std::string points;
    for (const EpochStats& e : history)
      if (std::isfinite(value(e, c.field))) points += number(px(e.epoch)) + "," + number(py(value(e, c.field))) + " ";
    svg << "<polyline fill=\"none\" stroke=\"" << c.color << "\" stroke-width=\"2\"";
    if (*c.dash) svg << " stroke-dasharray=\"" << c.dash << "\"";
    svg << " points=\"" << points << "\"/>\n";
    for (const EpochStats& e : history)
      if (std::isfinite(value(e, c.field)))
        svg << "<circle cx=\"" << number(px(e.epoch)) << "\" cy=\"" << number(py(value(e, c.field)))
            << "\" r=\"2.5\" fill=\"" << c.color << "\"/>\n";
  }

  // Legend, right of the plot.
  const double lx = left + plot_w + 16, ly = top + 8;
  svg << "<rect x=\"" << number(lx - 6) << "\" y=\"" << number(ly - 4) << "\" width=\"" << number(right - 22)
      << "\" height=\"74\" fill=\"white\" stroke=\"#bbb\"/>\n";
  for (int i = 0; i < 3; ++i) {
    const Curve& c = curves[i];
    const double y = ly + 14 + 22 * i;
    svg << "<line x1=\"" << number(lx) << "\" y1=\"" << number(y - 4) << "\" x2=\"" << number(lx + 30) << "\" y2=\""
        << number(y - 4) << "\" stroke=\"" << c.color << "\" stroke-width=\"2\"";
    if (*c.dash) svg << " stroke-dasharray=\"" << c.dash << "\"";
    svg << "/><text x=\"" << number(lx + 38) << "\" y=\"" << number(y) << "\" font-size=\"13\">" << c.name << "</text>\n";
  }
  if (!history.empty()) {  // the last epoch's numbers, under the legend
    const EpochStats& last = history.back();
    char lines[4][64];
    std::snprintf(lines[0], sizeof lines[0], "after epoch %d:", last.epoch);
    std::snprintf(lines[1], sizeof lines[1], "train loss %.3f", last.train_loss);
    std::snprintf(lines[2], sizeof lines[2], "train acc %.3f", last.train_acc);
    std::snprintf(lines[3], sizeof lines[3], "test acc %.3f", last.test_acc);
    for (int i = 0; i < 4; ++i)
      svg << "<text x=\"" << number(lx - 2) << "\" y=\"" << number(ly + 96 + 16 * i) << "\" font-size=\"12\" fill=\"#555\">"
          << lines[i] << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
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

// ---------------------------------------------------------------------------------------
// Gallery of predictions
// ---------------------------------------------------------------------------------------

struct GalleryOptions {
  int count = 48;    // images shown: the first `count` of the set
  int columns = 8;
  int scale = 4;     // each image pixel becomes scale x scale
  std::string title = "Predictions on the test set";
};

// A picture for a person: a grid of images, each framed green when the prediction is right
// and red when it is wrong, with the predicted class below and, when wrong, the true class
// in parentheses. Labels use the 5x7 upper-case font of hnn/image.hpp.
inline Image prediction_gallery(const data::Dataset& set, const std::vector<std::int32_t>& predicted,
                                const GalleryOptions& options = {}) {
  if (static_cast<std::int64_t>(predicted.size()) != set.size)
    throw std::invalid_argument("hnn::prediction_gallery: " + std::to_string(predicted.size()) + " predictions for " +
                                std::to_string(set.size) + " images");
  if (options.columns <= 0 || options.scale <= 0 || options.count <= 0)
    throw std::invalid_argument("hnn::prediction_gallery: count, columns and scale must be positive");
  const int count = static_cast<int>(std::min<std::int64_t>(options.count, set.size));
  const int columns = std::min(options.columns, count);
  const int rows = (count + columns - 1) / columns;
  const int text = 2;  // font scale
  const int iw = static_cast<int>(set.cols) * options.scale, ih = static_cast<int>(set.rows) * options.scale;
  std::size_t longest = 0;
  for (const std::string& n : set.class_names) longest = std::max(longest, n.size() + 2);
  const int frame = 4, pad = 10;
  const int cell_w = std::max(iw + 2 * frame, text_width(std::string(longest, 'M'), text)) + 2 * pad;
  const int line_h = text_height(text) + 6;
  const int cell_h = ih + 2 * frame + 8 + 2 * line_h + pad;
  const int header_h = 4 * line_h + 24;
  const Rgb black{0, 0, 0}, green{0, 150, 0}, red{220, 0, 0}, gray{90, 90, 90};

  Image page(columns * cell_w + 2 * pad, header_h + rows * cell_h + pad, 3, 255);
  int wrong = 0;
  for (int i = 0; i < count; ++i) wrong += predicted[static_cast<std::size_t>(i)] != set.labels[static_cast<std::size_t>(i)];
  draw_text(page, pad + 4, 12, options.title, black, text);
  const std::string summary = std::to_string(count - wrong) + " of " + std::to_string(count) + " right";
  draw_text(page, pad + 4, 12 + line_h, summary, gray, text);
  const int key_y = 12 + 2 * line_h + 4;
  fill_rect(page, pad + 4, key_y, 14, 14, green);
  draw_text(page, pad + 26, key_y, "right: the predicted class", black, text);
  fill_rect(page, pad + 4, key_y + line_h, 14, 14, red);
  draw_text(page, pad + 26, key_y + line_h, "wrong: the predicted class, then (the true class)", black, text);

  const auto name = [&](std::int32_t c) {
    return static_cast<std::size_t>(c) < set.class_names.size() ? set.class_names[static_cast<std::size_t>(c)]
                                                                 : std::to_string(c);
  };
  for (int i = 0; i < count; ++i) {
    const int cx = pad + (i % columns) * cell_w, cy = header_h + (i / columns) * cell_h;
    const std::int32_t truth = set.labels[static_cast<std::size_t>(i)], guess = predicted[static_cast<std::size_t>(i)];
    const bool right = truth == guess;
    const int ix = cx + (cell_w - iw) / 2, iy = cy;
    fill_rect(page, ix - frame, iy, iw + 2 * frame, ih + 2 * frame, right ? green : red);
    const float* pixels = set.images.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(set.rows * set.cols);
    for (int y = 0; y < static_cast<int>(set.rows); ++y)
      for (int x = 0; x < static_cast<int>(set.cols); ++x) {
        const auto v = static_cast<std::uint8_t>(
            std::lround(255.0f * std::clamp(pixels[static_cast<std::size_t>(y * set.cols + x)], 0.0f, 1.0f)));
        fill_rect(page, ix + x * options.scale, iy + frame + y * options.scale, options.scale, options.scale, Rgb{v, v, v});
      }
    const std::string label = name(guess);
    const int ty = iy + ih + 2 * frame + 8;
    draw_text(page, cx + (cell_w - text_width(label, text)) / 2, ty, label, right ? green : red, text);
    if (!right) {
      const std::string t = "(" + name(truth) + ")";
      draw_text(page, cx + (cell_w - text_width(t, text)) / 2, ty + line_h, t, black, text);
    }
  }
  return page;
}

}  // namespace hnn
