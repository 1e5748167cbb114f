// See image_io.hpp. HNN_LENET5_PNG is defined by examples/CMakeLists.txt when libpng is found.
#include "image_io.hpp"

#include <fstream>
#include <string>

#if defined(HNN_LENET5_PNG)
#include <hnn/extras/png.hpp>
#endif

namespace hnn_example {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

bool png_supported() {
#if defined(HNN_LENET5_PNG)
  return true;
#else
  return false;
#endif
}

hnn::Image read_image_file(const std::string& path) {
#if defined(HNN_LENET5_PNG)
  return hnn::read_image(path);
#else
  std::ifstream in(path, std::ios::binary);
  char head[4] = {};
  in.read(head, 4);
  if (in.gcount() == 4 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G')
    throw hnn::ImageError(path, "this lenet5 was built without libpng and reads only PGM and PPM files");
  return hnn::read_pnm(path);
#endif
}

void write_image_file(const hnn::Image& image, const std::string& path) {
  if (ends_with(path, ".pgm") || ends_with(path, ".ppm")) {
    const bool gray = ends_with(path, ".pgm");
    if (gray != (image.channels == 1))
      throw hnn::ImageError(path, gray ? "a .pgm file holds gray images; this one is RGB (use .ppm or .png)"
                                       : "a .ppm file holds RGB images; this one is gray (use .pgm or .png)");
    hnn::write_pnm(image, path);
    return;
  }
  if (!ends_with(path, ".png")) throw hnn::ImageError(path, "unknown image type: name the file .png, .ppm or .pgm");
#if defined(HNN_LENET5_PNG)
  hnn::write_png(image, path);
#else
  throw hnn::ImageError(path, "this lenet5 was built without libpng; name the file .ppm instead");
#endif
}

}  // namespace hnn_example
