// Seeing how training went, for a person: d2l-style training curves as a self-contained SVG
// and a gallery of predictions as an image. Opt-in (hnn/hnn.hpp does not include it); it
// brings hnn/training/metrics.hpp (history CSV, confusion matrix) along.
//
//   hnn::write_text_file("history.csv", hnn::history_csv(history));
//   hnn::write_text_file("curves.svg", hnn::history_svg(history, "LeNet-5 on Fashion-MNIST"));
//   hnn::write_png(hnn::prediction_gallery(test, hnn::predict(model, test_images)), "gallery.png");
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
#include "hnn/extras/image.hpp"
#include "hnn/training/metrics.hpp"
#include "hnn/training/training_state.hpp"

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
// in parentheses. Labels use the 5x7 upper-case font of hnn/extras/image.hpp.
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
