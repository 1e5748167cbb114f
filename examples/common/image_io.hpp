// Image files for the lenet5 program: PNG through libpng when the program was built with it
// (CMake found libpng), PGM and PPM always. Defined in image_io.cpp, the one translation
// unit that includes libpng, so that the CUDA half of the program never needs it.
#pragma once

#include <string>

#include <hnn/extras/image.hpp>

namespace hnn_example {

// Whether this build reads and writes PNG.
bool png_supported();

// Reads a PNG, PGM or PPM file (told apart by content).
hnn::Image read_image_file(const std::string& path);

// Writes PNG when `path` ends in .png, binary PGM/PPM when it ends in .pgm or .ppm.
void write_image_file(const hnn::Image& image, const std::string& path);

}  // namespace hnn_example
