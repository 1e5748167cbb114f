// ImageFolder: a dataset of PNG images sorted into one sub-folder per class, as torchvision's
// datasets.ImageFolder. Opt-in, like the rest of hnn/extras/: it needs libpng (Debian:
// libpng-dev; CMake: find_package(PNG), link PNG::PNG), which hnn::hnn does not.
//
//   root/cat/001.png, root/cat/002.png, root/dog/a.png, ...
//   data::ImageFolder pets("root", data::ImageFolder::Channels::rgb);   // classes {"cat", "dog"}
//   data::DataLoader loader(pets, data::LoaderOptions(64).shuffle(true));
//
// The classes are the sub-folders' names sorted (byte order, as Python sorts them), numbered
// from 0; each class's images are the .png files anywhere below its folder (the extension in
// any case), sorted by path; other files are skipped. A sample is (C, H, W) with values
// pixel / 255, C = 1 (gray; colour images become ITU-R BT.601 luma) or 3 (RGB; gray images are
// repeated in the three channels). Every image must have the size of the first one: torchvision
// leaves sizes to a transform, and hnn's batches need one size, so resize the files beforehand;
// the constructor reads each file's header and names the first that differs.
//
// The images are read when the loader asks for them (get() decodes one PNG, on the loader's
// background thread); load() reads them all into a TensorDataset instead.
#pragma once

#if defined(__has_include)
#if !__has_include(<png.h>)
#error \
    "hnn/extras/image_folder.hpp needs libpng's headers (Debian: apt-get install libpng-dev) and linking with libpng (CMake: find_package(PNG), PNG::PNG)"
#endif
#endif

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/data/dataset.hpp"
#include "hnn/extras/image.hpp"
#include "hnn/extras/png.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

class ImageFolder {
 public:
  using value_type = float;
  using target_type = std::int32_t;
  enum class Channels { gray = 1, rgb = 3 };

  // One image: its file and its class.
  struct Entry {
    std::string path;
    std::int32_t label;
  };

  explicit ImageFolder(const std::string& root, Channels channels = Channels::rgb)
      : root_(root), channels_(static_cast<int>(channels)) {
    namespace fs = std::filesystem;
    if (channels != Channels::gray && channels != Channels::rgb)
      throw std::invalid_argument("hnn::data::ImageFolder: channels must be gray (1) or rgb (3)");
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw ImageError(root, "image folder does not exist");
    for (const fs::directory_entry& e : fs::directory_iterator(root))
      if (e.is_directory()) class_names_.push_back(e.path().filename().string());
    std::sort(class_names_.begin(), class_names_.end());
    if (class_names_.empty())
      throw ImageError(root, "no class folders: an image folder holds one sub-folder of images per class");
    for (std::size_t c = 0; c < class_names_.size(); ++c) {
      const fs::path folder = fs::path(root) / class_names_[c];
      std::vector<std::string> files;
      for (const fs::directory_entry& e :
           fs::recursive_directory_iterator(folder, fs::directory_options::follow_directory_symlink))
        if (e.is_regular_file() && is_png_name(e.path())) files.push_back(e.path().string());
      if (files.empty())
        throw ImageError(folder.string(), "class folder \"" + class_names_[c] + "\" holds no .png file");
      std::sort(files.begin(), files.end());
      for (std::string& f : files) entries_.push_back({std::move(f), static_cast<std::int32_t>(c)});
    }
    const auto [width, height] = png_size(entries_.front().path);
    width_ = width;
    height_ = height;
    for (const Entry& e : entries_) {
      const auto [w, h] = png_size(e.path);
      if (w != width_ || h != height_) throw size_error(e.path, w, h);
    }
  }

  std::int64_t size() const { return static_cast<std::int64_t>(entries_.size()); }
  Shape sample_shape() const { return Shape{channels_, height_, width_}; }
  Shape target_shape() const { return Shape{}; }

  // Decodes image `index` into `sample` (channels x height x width floats) and its class.
  void get(std::int64_t index, float* sample, std::int32_t* target) const {
    if (index < 0 || index >= size())
      throw std::out_of_range("hnn::data::ImageFolder::get: index " + std::to_string(index) + " is outside 0.." +
                              std::to_string(size() - 1));
    const Entry& entry = entries_[static_cast<std::size_t>(index)];
    const Image image = read_png(entry.path);
    if (image.width != width_ || image.height != height_) throw size_error(entry.path, image.width, image.height);
    const std::int64_t plane = width_ * height_;
    for (std::int64_t p = 0; p < plane; ++p) {
      const std::uint8_t* px = image.pixels.data() + p * image.channels;
      if (channels_ == 1) {
        // BT.601 luma, rounded, as hnn::to_grayscale.
        const std::uint32_t gray =
            image.channels == 1 ? px[0] : (299u * px[0] + 587u * px[1] + 114u * px[2] + 500u) / 1000u;
        sample[p] = static_cast<float>(gray) / 255.0f;
      } else {
        for (int c = 0; c < 3; ++c)
          sample[c * plane + p] = static_cast<float>(px[image.channels == 1 ? 0 : c]) / 255.0f;
      }
    }
    *target = entry.label;
  }

  // Every image read into memory: inputs (N, C, H, W), labels (N), the class names, the root.
  TensorDataset<float, std::int32_t> load() const {
    Tensor<float, cpu> inputs(Shape{size(), channels_, height_, width_});
    Tensor<std::int32_t, cpu> labels(Shape{size()});
    const std::int64_t sample = sample_shape().numel();
    for (std::int64_t i = 0; i < size(); ++i) get(i, inputs.data() + i * sample, labels.data() + i);
    return TensorDataset<float, std::int32_t>(inputs, labels, class_names_, root_);
  }

  const std::vector<std::string>& class_names() const { return class_names_; }
  std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names_.size()); }
  const std::vector<Entry>& entries() const { return entries_; }
  const std::string& source() const { return root_; }

 private:
  static bool is_png_name(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return ext == ".png";
  }

  // The width and height in a PNG's header, without decoding the pixels.
  static std::pair<std::int64_t, std::int64_t> png_size(const std::string& path) {
    png_image png;
    std::memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&png, path.c_str()))
      throw ImageError(path, std::string("cannot read the PNG: ") + png.message);
    const std::pair<std::int64_t, std::int64_t> size{png.width, png.height};
    png_image_free(&png);
    return size;
  }

  ImageError size_error(const std::string& path, std::int64_t w, std::int64_t h) const {
    return ImageError(path, "the image is " + std::to_string(w) + "x" + std::to_string(h) + " but " +
                                entries_.front().path + " is " + std::to_string(width_) + "x" +
                                std::to_string(height_) +
                                "; ImageFolder needs every image the same size (resize them beforehand)");
  }

  std::string root_;
  std::int64_t channels_;
  std::vector<std::string> class_names_;
  std::vector<Entry> entries_;
  std::int64_t width_ = 0, height_ = 0;
};

}  // namespace hnn::data
