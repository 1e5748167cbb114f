// PNG files through libpng (Debian: libpng-dev; CMake: find_package(PNG), link PNG::PNG).
// Not part of hnn/hnn.hpp and not needed by hnn::hnn: include it where you want PNG.
//
//   hnn::Image photo = hnn::read_image("shirt.png");   // PNG, PGM or PPM, by content
//   hnn::write_png(photo, "copy.png");
#pragma once

#if defined(__has_include)
#if !__has_include(<png.h>)
#error "hnn/extras/png.hpp needs libpng's headers (Debian: apt-get install libpng-dev) and linking with libpng (CMake: find_package(PNG), PNG::PNG)"
#endif
#endif

#include <png.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "hnn/extras/image.hpp"

namespace hnn {

// Reads a PNG as 8-bit gray (gray files) or RGB (colour and palette files), with the values
// a viewer shows. 16-bit samples are reduced to 8 bits, taken as sRGB-encoded when the file
// records no gamma (libpng would otherwise take them as linear and brighten them);
// transparency is composited onto white in sRGB values, as browsers and viewers show it
// (libpng's own compositing works in linear light and gives other grays).
inline Image read_png(const std::string& path) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&png, path.c_str()))
    throw ImageError(path, std::string("cannot read the PNG: ") + png.message);
  png.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  const bool color = (png.format & PNG_FORMAT_FLAG_COLOR) != 0;
  const bool alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  png.format = color ? (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB) : (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY);
  if (png.width == 0 || png.height == 0 || png.width > (1u << 15) || png.height > (1u << 15)) {
    png_image_free(&png);
    throw ImageError(path, "unsupported PNG size " + std::to_string(png.width) + "x" + std::to_string(png.height));
  }
  Image image(static_cast<int>(png.width), static_cast<int>(png.height), color ? 3 : 1);
  if (!alpha) {
    if (!png_image_finish_read(&png, nullptr, image.pixels.data(), 0, nullptr))
      throw ImageError(path, std::string("cannot decode the PNG: ") + png.message);
    return image;
  }
  // 8-bit output with alpha: sRGB values, not premultiplied, then the alpha channel.
  const std::size_t channels = static_cast<std::size_t>(image.channels);
  std::vector<std::uint8_t> with_alpha(image.pixels.size() / channels * (channels + 1));
  if (!png_image_finish_read(&png, nullptr, with_alpha.data(), 0, nullptr))
    throw ImageError(path, std::string("cannot decode the PNG: ") + png.message);
  for (std::size_t p = 0; p < image.pixels.size() / channels; ++p) {
    const std::uint32_t a = with_alpha[p * (channels + 1) + channels];
    for (std::size_t c = 0; c < channels; ++c)
      image.pixels[p * channels + c] =
          static_cast<std::uint8_t>((with_alpha[p * (channels + 1) + c] * a + 255 * (255 - a) + 127) / 255);
  }
  return image;
}

// Writes an 8-bit gray or RGB PNG.
inline void write_png(const Image& image, const std::string& path) {
  if (image.channels != 1 && image.channels != 3) throw ImageError(path, "only gray or RGB images can be written");
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&png, path.c_str(), 0, image.pixels.data(), 0, nullptr))
    throw ImageError(path, std::string("cannot write the PNG: ") + png.message);
}

// Reads a PNG, PGM or PPM file, telling them apart by their first bytes.
inline Image read_image(const std::string& path) {
  const std::vector<unsigned char> head = [&] {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ImageError(path, "cannot open the image");
    std::vector<unsigned char> h(8, 0);
    in.read(reinterpret_cast<char*>(h.data()), 8);
    h.resize(static_cast<std::size_t>(in.gcount()));
    return h;
  }();
  static constexpr unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (head.size() == 8 && std::memcmp(head.data(), png_signature, 8) == 0) return read_png(path);
  if (head.size() >= 2 && head[0] == 'P') return read_pnm(path);
  throw ImageError(path, "not a PNG, PGM or PPM file");
}

}  // namespace hnn
