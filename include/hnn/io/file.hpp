// Whole files in and out, for every file format hnn writes (checkpoints, safetensors, ONNX):
// read_file reads all the bytes; write_file_atomically writes them so that a crash or a full
// disk leaves either the old file or the new one, never half of one. The bytes go to a fresh
// temporary file in the destination's folder, which is flushed to disk (fsync) and then
// renamed over the destination (and the folder synced, where the file system allows).
//
// Errors are thrown as the caller's error type, built from (path, message), so that each
// format reports its own: io::read_file<CheckpointError>(path, "checkpoint").
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace hnn::io {

// Every byte of `path`; `noun` names the file in messages ("cannot open the checkpoint: ...").
template <class Error>
std::vector<unsigned char> read_file(const std::string& path, const std::string& noun) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw Error(path, "cannot open the " + noun + ": " + (err ? std::strerror(err) : "unknown error"));
  }
  std::vector<unsigned char> bytes;
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    bytes.insert(bytes.end(), buffer, buffer + in.gcount());
  }
  if (in.bad()) throw Error(path, "cannot read the " + noun + " (I/O error)");
  return bytes;
}

namespace detail {
template <class Error>
[[noreturn]] void write_failed(const std::string& path, const std::string& noun, const std::string& tmp,
                               const std::string& what) {
  const int err = errno;
  std::remove(tmp.c_str());
  throw Error(path, "cannot write the " + noun + ": " + what + ": " + (err ? std::strerror(err) : "unknown error"));
}
}  // namespace detail

// Writes `bytes` to `path` atomically (see the top of this file).
template <class Error>
void write_file_atomically(const std::string& path, const std::string& noun, const std::vector<unsigned char>& bytes) {
  const auto failed = [&](const std::string& tmp, const std::string& what) {
    detail::write_failed<Error>(path, noun, tmp, what);
  };
#if defined(_WIN32)
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) failed(tmp, "cannot create " + tmp);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) failed(tmp, "writing " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) failed(tmp, "renaming " + tmp + " (" + ec.message() + ")");
#else
  // A fresh name (O_EXCL): two writers of the same path never share a temporary file.
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(attempt);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt >= 100)) {
      const int err = errno;
      throw Error(path, "cannot create the temporary file " + tmp + ": " + std::strerror(err));
    }
  }
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ::ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      errno = err;
      failed(tmp, "writing " + tmp);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    failed(tmp, "flushing " + tmp + " to disk");
  }
  if (::close(fd) != 0) failed(tmp, "closing " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) failed(tmp, "renaming " + tmp + " to " + path);
  // Make the rename itself durable (best effort: some file systems refuse to sync a folder).
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
#endif
}

}  // namespace hnn::io
