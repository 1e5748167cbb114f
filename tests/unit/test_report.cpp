// Reports: history CSV, the SVG curves, the confusion matrix and the gallery picture.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hnn/data/mnist.hpp"
#include "hnn/extras/report.hpp"
#include "hnn/training/metrics.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;

namespace {
using hnn::testing::slice_dir;

std::vector<EpochStats> sample_history() {
  std::vector<EpochStats> h;
  for (int e = 1; e <= 4; ++e) {
    EpochStats s;
    s.epoch = e;
    s.train_loss = 2.3 / e;
    s.train_acc = 0.2 * e;
    s.test_acc = 0.19 * e;
    s.examples_per_sec = 1000.0 * e;
    s.seconds = 1.5;
    h.push_back(s);
  }
  return h;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}
}  // namespace

TEST(History, CsvHasTheDocumentedColumnsAndReadsBack) {
  const std::string csv = history_csv(sample_history());
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "epoch,train_loss,train_acc,test_acc,examples_per_sec,seconds");
  EXPECT_NE(csv.find("\n2,1.150000,0.400000,0.380000,2000.0,1.5000\n"), std::string::npos) << csv;
  const auto back = parse_history_csv(csv);
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back[3].epoch, 4);
  EXPECT_DOUBLE_EQ(back[1].train_loss, 1.15);
  EXPECT_THROW(parse_history_csv("nonsense\n"), std::invalid_argument);
}

TEST(History, SvgIsASelfContainedPlotWithAxesLegendAndTitle) {
  const std::string svg = history_svg(sample_history(), "LeNet & friends");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_NE(svg.find("LeNet &amp; friends"), std::string::npos);  // the title, escaped
  EXPECT_EQ(count(svg, "<polyline"), 3u);                        // three curves
  for (const char* label : {">train loss<", ">train acc<", ">test acc<", ">epoch<", ">2.5<", ">0<", ">4<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(svg.find("href"), std::string::npos);  // nothing external
  EXPECT_EQ(count(svg, "<svg"), count(svg, "</svg>"));
  // One epoch still draws (a single point per curve).
  const std::string one = history_svg({sample_history().front()}, "one");
  EXPECT_EQ(count(one, "<circle"), 3u);
}

TEST(Confusion, CountsAccuraciesAndTheTable) {
  ConfusionMatrix m(3);
  m.add({0, 0, 0, 1, 1, 2, 2, 2}, {0, 0, 1, 1, 2, 2, 0, 0});
  EXPECT_EQ(m.total(), 8);
  EXPECT_EQ(m.count(2, 0), 2);
  EXPECT_DOUBLE_EQ(m.accuracy(), 4.0 / 8);
  EXPECT_DOUBLE_EQ(m.class_accuracy(0), 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.class_accuracy(2), 1.0 / 3);
  const std::string t = m.table({"T-shirt/top", "Trouser", "Shirt"});
  EXPECT_NE(t.find("T-shirt/top"), std::string::npos) << t;
  EXPECT_NE(t.find("0.667"), std::string::npos) << t;
  EXPECT_NE(t.find("accuracy 0.500 on 8 images"), std::string::npos) << t;
  EXPECT_NE(t.find("most confused: Shirt taken for T-shirt/top (2)"), std::string::npos) << t;
  EXPECT_THROW(m.add(3, 0), std::out_of_range);
}

TEST(Gallery, FramesRightAndWrongPredictionsInTheirColours) {
  const data::Dataset d = data::load_fashion_mnist(slice_dir, data::Split::test, 10);
  std::vector<std::int32_t> predicted(d.labels.begin(), d.labels.end());
  predicted[1] = (predicted[1] + 1) % 10;  // one wrong
  GalleryOptions options;
  options.count = 10;
  options.columns = 5;
  const Image page = prediction_gallery(d, predicted, options);
  EXPECT_EQ(page.channels, 3);
  EXPECT_GT(page.width, 5 * 112);
  int red = 0, green = 0;
  for (int y = 0; y < page.height; ++y)
    for (int x = 0; x < page.width; ++x) {
      red += page.at(x, y, 0) == 220 && page.at(x, y, 1) == 0;
      green += page.at(x, y, 0) == 0 && page.at(x, y, 1) == 150;
    }
  EXPECT_GT(green, 8 * red);  // nine green frames and labels, one red
  EXPECT_GT(red, 4 * 112);    // at least one frame's worth
  EXPECT_THROW(prediction_gallery(d, std::vector<std::int32_t>(3), options), std::invalid_argument);
}
