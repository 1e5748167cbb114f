// Images for classifiers: an 8-bit image type, PGM/PPM files, grayscale, resizing, the
// Fashion-MNIST preprocessing, and a tiny bitmap font to label pictures. Opt-in (hnn/hnn.hpp
// does not include it); no dependencies. PNG files are in hnn/extras/png.hpp (libpng).
//
//   hnn::Image photo = hnn::read_pnm("shirt.ppm");          // P2, P3, P5 or P6
//   hnn::ModelInput in = hnn::fashion_mnist_input(photo);    // 28x28 floats in [0, 1]
//
// fashion_mnist_input() matches how Fashion-MNIST's images look: a light object on a
// black background, filling 28x28 by its longer side. It converts to grayscale (ITU-R
// BT.601 luma), and when the image's border is light on average (mean above 0.5, as for a
// product photo on white) it inverts the image, so that a dark-on-light picture becomes
// light-on-dark like the training data. An image of any other size than 28x28 is then
// cropped to its object (the pixels that differ from the border's level by more than 0.1),
// resized preserving the aspect ratio so that its longer side is 28 (area averaging when
// shrinking, bilinear when enlarging), centred and padded with black to 28x28. A 28x28
// image is taken as already framed: with a dark background it passes through unchanged,
// so a Fashion-MNIST image saved to a file and read back gives exactly the dataset's values.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace hnn {

// A problem with an image file; the message names the file.
class ImageError : public std::runtime_error {
 public:
  ImageError(const std::string& path, const std::string& what) : std::runtime_error(path + ": " + what) {}
};

// An 8-bit image, row-major, channels interleaved: 1 channel (gray) or 3 (RGB).
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;

  Image() = default;
  Image(int width_, int height_, int channels_, std::uint8_t fill = 0)
      : width(width_), height(height_), channels(channels_) {
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3))
      throw std::invalid_argument("hnn::Image: bad size " + std::to_string(width) + "x" + std::to_string(height) + "x" +
                                  std::to_string(channels) + " (channels must be 1 or 3)");
    pixels.assign(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * static_cast<std::size_t>(channels),
                  fill);
  }

  std::uint8_t& at(int x, int y, int c = 0) { return pixels[index(x, y, c)]; }
  std::uint8_t at(int x, int y, int c = 0) const { return pixels[index(x, y, c)]; }

 private:
  std::size_t index(int x, int y, int c) const {
    return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) *
               static_cast<std::size_t>(channels) +
           static_cast<std::size_t>(c);
  }
};

// An 8-bit colour.
struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

namespace detail::image {

inline std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageError(path, "cannot open the image");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ImageError(path, "cannot read the image (I/O error)");
  return bytes;
}

// Reads the whitespace-separated header numbers of a PNM file, skipping # comments.
class PnmHeader {
 public:
  PnmHeader(const std::string& path, const std::vector<unsigned char>& bytes) : path_(path), bytes_(bytes) {}

  std::size_t pos = 2;  // after the magic

  long number(const char* what, long max) {
    skip_space_and_comments();
    long v = 0;
    std::size_t digits = 0;
    while (pos < bytes_.size() && std::isdigit(bytes_[pos])) {
      v = v * 10 + (bytes_[pos++] - '0');
      if (v > max) throw ImageError(path_, std::string(what) + " is larger than " + std::to_string(max));
      ++digits;
    }
    if (digits == 0)
      throw ImageError(path_, pos >= bytes_.size() ? std::string("the file ends before the ") + what
                                                   : std::string("expected the ") + what + ", found something else");
    return v;
  }

 private:
  void skip_space_and_comments() {
    while (pos < bytes_.size()) {
      if (std::isspace(bytes_[pos])) {
        ++pos;
      } else if (bytes_[pos] == '#') {
        while (pos < bytes_.size() && bytes_[pos] != '\n' && bytes_[pos] != '\r') ++pos;
      } else {
        break;
      }
    }
  }

  const std::string& path_;
  const std::vector<unsigned char>& bytes_;
};

// A sample of `maxval` scaled to 0..255, rounded.
inline std::uint8_t to_8bit(long v, long maxval) {
  return static_cast<std::uint8_t>((v * 255 + maxval / 2) / maxval);
}

// One axis of a separable resampling: for each output index, the source indices and weights.
struct Taps {
  std::vector<int> first;               // first source index of each output
  std::vector<std::vector<float>> w;    // weights from `first` on, summing to 1
};

// Area averaging: each output pixel is the mean of the source area it covers.
inline Taps area_taps(int in, int out) {
  Taps t;
  const double scale = static_cast<double>(in) / out;
  for (int o = 0; o < out; ++o) {
    const double lo = o * scale, hi = (o + 1) * scale;
    const int first = static_cast<int>(std::floor(lo));
    const int last = std::min(in - 1, static_cast<int>(std::ceil(hi)) - 1);
    std::vector<float> w;
    for (int i = first; i <= last; ++i)
      w.push_back(static_cast<float>((std::min<double>(hi, i + 1) - std::max<double>(lo, i)) / scale));
    t.first.push_back(first);
    t.w.push_back(std::move(w));
  }
  return t;
}

// Bilinear interpolation with pixel centres aligned (as OpenCV's INTER_LINEAR).
inline Taps bilinear_taps(int in, int out) {
  Taps t;
  const double scale = static_cast<double>(in) / out;
  for (int o = 0; o < out; ++o) {
    const double src = std::clamp((o + 0.5) * scale - 0.5, 0.0, static_cast<double>(in - 1));
    const int i0 = static_cast<int>(std::floor(src));
    const int i1 = std::min(i0 + 1, in - 1);
    const float f = static_cast<float>(src - i0);
    t.first.push_back(i0);
    t.w.push_back(i1 == i0 ? std::vector<float>{1.0f} : std::vector<float>{1.0f - f, f});
  }
  return t;
}

}  // namespace detail::image

// Reads a PGM or PPM file: P2 or P5 (gray), P3 or P6 (RGB), any maxval up to 65535
// (scaled to 8 bits), # comments allowed in the header.
inline Image read_pnm(const std::string& path) {
  const std::vector<unsigned char> bytes = detail::image::read_bytes(path);
  if (bytes.size() < 2 || bytes[0] != 'P' || bytes[1] < '1' || bytes[1] > '7')
    throw ImageError(path, "not a PGM/PPM file (it does not start with P2, P3, P5 or P6)");
  const char kind = static_cast<char>(bytes[1]);
  if (kind != '2' && kind != '3' && kind != '5' && kind != '6')
    throw ImageError(path, std::string("PNM type P") + kind +
                               " is not supported; use PGM (P2, P5) or PPM (P3, P6)");
  const bool ascii = kind == '2' || kind == '3';
  const int channels = (kind == '3' || kind == '6') ? 3 : 1;

  detail::image::PnmHeader header(path, bytes);
  const long width = header.number("width", 1 << 15), height = header.number("height", 1 << 15);
  const long maxval = header.number("maximum value", 65535);
  if (width == 0 || height == 0) throw ImageError(path, "the image is empty (" + std::to_string(width) + "x" + std::to_string(height) + ")");
  if (maxval == 0) throw ImageError(path, "the maximum value must be at least 1");

  Image image(static_cast<int>(width), static_cast<int>(height), channels);
  const std::size_t samples = image.pixels.size();
  if (ascii) {
    for (std::size_t i = 0; i < samples; ++i) {
      const long v = header.number("pixel values", 65535);
      if (v > maxval)
        throw ImageError(path, "pixel value " + std::to_string(v) + " exceeds the maximum " + std::to_string(maxval));
      image.pixels[i] = detail::image::to_8bit(v, maxval);
    }
    return image;
  }
  std::size_t pos = header.pos;
  if (pos >= bytes.size() || !std::isspace(bytes[pos])) throw ImageError(path, "no whitespace after the header");
  ++pos;  // exactly one whitespace byte separates the header from binary data
  const std::size_t width_bytes = maxval > 255 ? 2 : 1;
  if (bytes.size() - pos < samples * width_bytes)
    throw ImageError(path, "truncated: " + std::to_string(samples * width_bytes) + " bytes of pixels expected, " +
                               std::to_string(bytes.size() - pos) + " present");
  for (std::size_t i = 0; i < samples; ++i) {
    const long v = width_bytes == 2 ? (bytes[pos + 2 * i] << 8) | bytes[pos + 2 * i + 1] : bytes[pos + i];
    if (v > maxval)
      throw ImageError(path, "pixel value " + std::to_string(v) + " exceeds the maximum " + std::to_string(maxval));
    image.pixels[i] = detail::image::to_8bit(v, maxval);
  }
  return image;
}

// Writes binary PGM (P5) for a gray image, PPM (P6) for RGB.
inline void write_pnm(const Image& image, const std::string& path) {
  if (image.channels != 1 && image.channels != 3) throw ImageError(path, "only gray or RGB images can be written");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw ImageError(path, "cannot create the file");
  out << (image.channels == 1 ? "P5" : "P6") << "\n" << image.width << " " << image.height << "\n255\n";
  out.write(reinterpret_cast<const char*>(image.pixels.data()), static_cast<std::streamsize>(image.pixels.size()));
  out.flush();
  if (!out) throw ImageError(path, "cannot write the file");
}

// Gray stays gray; RGB becomes ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B, rounded.
inline Image to_grayscale(const Image& image) {
  if (image.channels == 1) return image;
  Image gray(image.width, image.height, 1);
  for (std::size_t i = 0; i < gray.pixels.size(); ++i) {
    const std::uint32_t r = image.pixels[3 * i], g = image.pixels[3 * i + 1], b = image.pixels[3 * i + 2];
    gray.pixels[i] = static_cast<std::uint8_t>((299 * r + 587 * g + 114 * b + 500) / 1000);
  }
  return gray;
}

// Resizes a one-channel float image (row-major, width x height) to new_width x new_height:
// area averaging where it shrinks, bilinear where it grows, each axis on its own.
inline std::vector<float> resize(const std::vector<float>& src, int width, int height, int new_width, int new_height) {
  if (width <= 0 || height <= 0 || new_width <= 0 || new_height <= 0 ||
      src.size() != static_cast<std::size_t>(width) * static_cast<std::size_t>(height))
    throw std::invalid_argument("hnn::resize: bad sizes");
  if (width == new_width && height == new_height) return src;
  using namespace detail::image;
  const Taps tx = new_width <= width ? area_taps(width, new_width) : bilinear_taps(width, new_width);
  const Taps ty = new_height <= height ? area_taps(height, new_height) : bilinear_taps(height, new_height);
  std::vector<float> rows(static_cast<std::size_t>(new_width) * static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < new_width; ++x) {
      float s = 0;
      const std::size_t xi = static_cast<std::size_t>(x);
      for (std::size_t k = 0; k < tx.w[xi].size(); ++k)
        s += tx.w[xi][k] * src[static_cast<std::size_t>(y * width + tx.first[xi]) + k];
      rows[static_cast<std::size_t>(y * new_width + x)] = s;
    }
  std::vector<float> out(static_cast<std::size_t>(new_width) * static_cast<std::size_t>(new_height));
  for (int y = 0; y < new_height; ++y) {
    const std::size_t yi = static_cast<std::size_t>(y);
    for (int x = 0; x < new_width; ++x) {
      float s = 0;
      for (std::size_t k = 0; k < ty.w[yi].size(); ++k)
        s += ty.w[yi][k] * rows[static_cast<std::size_t>((ty.first[yi] + static_cast<int>(k)) * new_width + x)];
      out[static_cast<std::size_t>(y * new_width + x)] = std::clamp(s, 0.0f, 1.0f);
    }
  }
  return out;
}

// An image prepared for a classifier trained on Fashion-MNIST.
struct ModelInput {
  std::vector<float> pixels;  // size x size, row-major, in [0, 1], light object on black
  int size = 0;
  bool inverted = false;      // the image had a light background and was inverted
  bool cropped = false;       // the image was cropped to its object before scaling
  double border_mean = 0;     // mean of the outermost pixels, 0..1, before inverting
};

// See the top of this file: grayscale, invert a light background, resize preserving the
// aspect ratio, centre on a black size x size square.
inline ModelInput fashion_mnist_input(const Image& image, int size = 28) {
  if (size <= 0) throw std::invalid_argument("hnn::fashion_mnist_input: size must be positive");
  const Image gray = to_grayscale(image);
  const int w = gray.width, h = gray.height;
  double border = 0;
  std::size_t border_count = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (x == 0 || y == 0 || x == w - 1 || y == h - 1) {
        border += gray.at(x, y);
        ++border_count;
      }
  ModelInput in;
  in.size = size;
  in.border_mean = border / (255.0 * static_cast<double>(border_count));
  in.inverted = in.border_mean > 0.5;
  // Divide the 8-bit value as the dataset loader does (v / 255.0f), so that files written
  // from the dataset come back bit for bit.
  std::vector<float> values(gray.pixels.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(in.inverted ? 255 - gray.pixels[i] : gray.pixels[i]) / 255.0f;

  // Fashion-MNIST's objects fill the frame: crop an image of another size to its object,
  // the pixels that differ from the (inverted) border level by more than 0.1.
  int cw = w, ch = h;
  if (w != size || h != size) {
    const float background = static_cast<float>(in.inverted ? 1.0 - in.border_mean : in.border_mean);
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        if (std::abs(values[static_cast<std::size_t>(y * w + x)] - background) > 0.1f) {
          x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
    if (x1 >= 0 && (x1 - x0 + 1 < w || y1 - y0 + 1 < h)) {
      cw = x1 - x0 + 1, ch = y1 - y0 + 1;
      std::vector<float> crop(static_cast<std::size_t>(cw) * static_cast<std::size_t>(ch));
      for (int y = 0; y < ch; ++y)
        for (int x = 0; x < cw; ++x)
          crop[static_cast<std::size_t>(y * cw + x)] = values[static_cast<std::size_t>((y0 + y) * w + x0 + x)];
      values.swap(crop);
      in.cropped = true;
    }
  }

  const double scale = static_cast<double>(size) / std::max(cw, ch);
  const int nw = std::clamp(static_cast<int>(std::lround(cw * scale)), 1, size);
  const int nh = std::clamp(static_cast<int>(std::lround(ch * scale)), 1, size);
  const std::vector<float> resized = resize(values, cw, ch, nw, nh);
  in.pixels.assign(static_cast<std::size_t>(size) * static_cast<std::size_t>(size), 0.0f);
  const int x0 = (size - nw) / 2, y0 = (size - nh) / 2;
  for (int y = 0; y < nh; ++y)
    for (int x = 0; x < nw; ++x)
      in.pixels[static_cast<std::size_t>((y0 + y) * size + x0 + x)] = resized[static_cast<std::size_t>(y * nw + x)];
  return in;
}

// ---------------------------------------------------------------------------------------
// Drawing, for labelled pictures (a gallery of predictions)
// ---------------------------------------------------------------------------------------

// Fills a rectangle (clipped to the image) of an RGB image.
inline void fill_rect(Image& image, int x, int y, int w, int h, Rgb c) {
  if (image.channels != 3) throw std::invalid_argument("hnn::fill_rect: needs an RGB image");
  for (int yy = std::max(0, y); yy < std::min(image.height, y + h); ++yy)
    for (int xx = std::max(0, x); xx < std::min(image.width, x + w); ++xx) {
      image.at(xx, yy, 0) = c.r;
      image.at(xx, yy, 1) = c.g;
      image.at(xx, yy, 2) = c.b;
    }
}

// A `thickness`-pixel frame just inside the rectangle.
inline void draw_frame(Image& image, int x, int y, int w, int h, int thickness, Rgb c) {
  fill_rect(image, x, y, w, thickness, c);
  fill_rect(image, x, y + h - thickness, w, thickness, c);
  fill_rect(image, x, y, thickness, h, c);
  fill_rect(image, x + w - thickness, y, thickness, h, c);
}

namespace detail::image {

// A 5x7 font for ' ' to '_' (ASCII 32-95): 7 rows per glyph, bit 4 is the left column.
// Lower case is drawn as upper case; other characters as '?'.
inline const std::array<std::uint8_t, 7>& glyph(char ch) {
  static constexpr std::array<std::array<std::uint8_t, 7>, 64> font{{
      {0x00,0x00,0x00,0x00,0x00,0x00,0x00}, {0x04,0x04,0x04,0x04,0x04,0x00,0x04}, {0x0A,0x0A,0x00,0x00,0x00,0x00,0x00}, {0x0A,0x0A,0x1F,0x0A,0x1F,0x0A,0x0A},  //  !"#
      {0x04,0x0F,0x14,0x0E,0x05,0x1E,0x04}, {0x18,0x19,0x02,0x04,0x08,0x13,0x03}, {0x0C,0x12,0x14,0x08,0x15,0x12,0x0D}, {0x04,0x04,0x00,0x00,0x00,0x00,0x00},  // $%&'
      {0x02,0x04,0x08,0x08,0x08,0x04,0x02}, {0x08,0x04,0x02,0x02,0x02,0x04,0x08}, {0x00,0x04,0x15,0x0E,0x15,0x04,0x00}, {0x00,0x04,0x04,0x1F,0x04,0x04,0x00},  // ()*+
      {0x00,0x00,0x00,0x00,0x0C,0x04,0x08}, {0x00,0x00,0x00,0x1F,0x00,0x00,0x00}, {0x00,0x00,0x00,0x00,0x00,0x0C,0x0C}, {0x00,0x01,0x02,0x04,0x08,0x10,0x00},  // ,-./
      {0x0E,0x11,0x13,0x15,0x19,0x11,0x0E}, {0x04,0x0C,0x04,0x04,0x04,0x04,0x0E}, {0x0E,0x11,0x01,0x02,0x04,0x08,0x1F}, {0x1F,0x02,0x04,0x02,0x01,0x11,0x0E},  // 0123
      {0x02,0x06,0x0A,0x12,0x1F,0x02,0x02}, {0x1F,0x10,0x1E,0x01,0x01,0x11,0x0E}, {0x06,0x08,0x10,0x1E,0x11,0x11,0x0E}, {0x1F,0x01,0x02,0x04,0x08,0x08,0x08},  // 4567
      {0x0E,0x11,0x11,0x0E,0x11,0x11,0x0E}, {0x0E,0x11,0x11,0x0F,0x01,0x02,0x0C}, {0x00,0x0C,0x0C,0x00,0x0C,0x0C,0x00}, {0x00,0x0C,0x0C,0x00,0x0C,0x04,0x08},  // 89:;
      {0x02,0x04,0x08,0x10,0x08,0x04,0x02}, {0x00,0x00,0x1F,0x00,0x1F,0x00,0x00}, {0x08,0x04,0x02,0x01,0x02,0x04,0x08}, {0x0E,0x11,0x01,0x02,0x04,0x00,0x04},  // <=>?
      {0x0E,0x11,0x17,0x15,0x17,0x10,0x0E}, {0x0E,0x11,0x11,0x1F,0x11,0x11,0x11}, {0x1E,0x11,0x11,0x1E,0x11,0x11,0x1E}, {0x0E,0x11,0x10,0x10,0x10,0x11,0x0E},  // @ABC
      {0x1E,0x11,0x11,0x11,0x11,0x11,0x1E}, {0x1F,0x10,0x10,0x1E,0x10,0x10,0x1F}, {0x1F,0x10,0x10,0x1E,0x10,0x10,0x10}, {0x0E,0x11,0x10,0x17,0x11,0x11,0x0F},  // DEFG
      {0x11,0x11,0x11,0x1F,0x11,0x11,0x11}, {0x0E,0x04,0x04,0x04,0x04,0x04,0x0E}, {0x07,0x02,0x02,0x02,0x02,0x12,0x0C}, {0x11,0x12,0x14,0x18,0x14,0x12,0x11},  // HIJK
      {0x10,0x10,0x10,0x10,0x10,0x10,0x1F}, {0x11,0x1B,0x15,0x15,0x11,0x11,0x11}, {0x11,0x11,0x19,0x15,0x13,0x11,0x11}, {0x0E,0x11,0x11,0x11,0x11,0x11,0x0E},  // LMNO
      {0x1E,0x11,0x11,0x1E,0x10,0x10,0x10}, {0x0E,0x11,0x11,0x11,0x15,0x12,0x0D}, {0x1E,0x11,0x11,0x1E,0x14,0x12,0x11}, {0x0F,0x10,0x10,0x0E,0x01,0x01,0x1E},  // PQRS
      {0x1F,0x04,0x04,0x04,0x04,0x04,0x04}, {0x11,0x11,0x11,0x11,0x11,0x11,0x0E}, {0x11,0x11,0x11,0x11,0x11,0x0A,0x04}, {0x11,0x11,0x11,0x15,0x15,0x15,0x0A},  // TUVW
      {0x11,0x11,0x0A,0x04,0x0A,0x11,0x11}, {0x11,0x11,0x0A,0x04,0x04,0x04,0x04}, {0x1F,0x01,0x02,0x04,0x08,0x10,0x1F}, {0x0E,0x08,0x08,0x08,0x08,0x08,0x0E},  // XYZ[
      {0x00,0x10,0x08,0x04,0x02,0x01,0x00}, {0x0E,0x02,0x02,0x02,0x02,0x02,0x0E}, {0x04,0x0A,0x11,0x00,0x00,0x00,0x00}, {0x00,0x00,0x00,0x00,0x00,0x00,0x1F},  // \]^_
  }};
  int c = static_cast<unsigned char>(ch);
  if (c >= 'a' && c <= 'z') c -= 'a' - 'A';
  if (c < 32 || c > 95) c = '?';
  return font[static_cast<std::size_t>(c - 32)];
}

}  // namespace detail::image

// Width in pixels of `text` drawn at `scale` (each glyph 5 wide plus 1 of spacing).
inline int text_width(const std::string& text, int scale = 1) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * 6 - 1) * scale;
}
inline int text_height(int scale = 1) { return 7 * scale; }

// Draws `text` with its top-left corner at (x, y), each font pixel a scale x scale square.
inline void draw_text(Image& image, int x, int y, const std::string& text, Rgb c, int scale = 1) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto& rows = detail::image::glyph(text[i]);
    const int gx = x + static_cast<int>(i) * 6 * scale;
    for (int row = 0; row < 7; ++row)
      for (int col = 0; col < 5; ++col)
        if (rows[static_cast<std::size_t>(row)] & (0x10 >> col)) fill_rect(image, gx + col * scale, y + row * scale, scale, scale, c);
  }
}

}  // namespace hnn
