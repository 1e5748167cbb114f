// The lenet5 program's training run, written once for every device. main.cpp instantiates
// it for the CPU; lenet5_cuda.cu (compiled by nvcc when CUDA is enabled) for the GPU.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <hnn/checkpoint.hpp>
#include <hnn/data/mnist.hpp>
#include <hnn/predict.hpp>
#include <hnn/extras/report.hpp>
#include <hnn/train.hpp>

#include "data_dir.hpp"
#include "image_io.hpp"
#include "model.hpp"
#include "progress.hpp"

namespace lenet {

struct Options {
  int epochs = 10;
  double lr = 0.9;  // the seed's rate for the sigmoid net; the relu variant defaults to 0.05
  bool lr_given = false;
  double momentum = 0;  // the relu variant defaults to 0.9
  bool momentum_given = false;
  std::int64_t batch_size = 256;
  bool batch_size_given = false;
  std::uint64_t seed = 0;
  std::string data_dir;  // resolved by find_data_dir (data_dir.hpp)
  Variant variant = Variant::sigmoid;
  bool variant_given = false;
  int threads = 0;  // 0: the library's default
  std::string device = "cpu";

  std::string save_path;     // --save: the model (and training state) after training
  int checkpoint_every = 0;  // --checkpoint-every N: also every N epochs, to save_path
  std::string resume_path;   // --resume: continue from this checkpoint
  std::string history_path;  // --history FILE.csv
  std::string plot_path;     // --plot FILE.svg
  std::string gallery_path;  // --gallery FILE.png
  std::string progress = "auto";  // auto (when stdout is a terminal), on, off
};

// The sigmoid net uses d2l's recipe (lr 0.9, no momentum). The relu net's default was chosen
// on 10-epoch runs over seeds 0-2 (tests/gpu/check.sh): lr 0.05 with momentum 0.9 gave test
// accuracy 0.889-0.897, plain lr 0.1 gave 0.869-0.873 and lr 0.2 gave 0.878-0.885.
inline double learning_rate(const Options& o) {
  if (o.lr_given) return o.lr;
  return o.variant == Variant::sigmoid ? 0.9 : 0.05;
}
inline double momentum(const Options& o) {
  if (o.momentum_given) return o.momentum;
  return o.variant == Variant::sigmoid ? 0.0 : 0.9;
}

// The recipe a checkpoint records, so that --resume continues it without repeating the flags.
inline std::map<std::string, std::string> recipe_metadata(const Options& o, const hnn::TrainOptions& t,
                                                          const hnn::data::Dataset& train_set) {
  char lr[40], mom[40];
  std::snprintf(lr, sizeof lr, "%.17g", t.lr);
  std::snprintf(mom, sizeof mom, "%.17g", t.momentum);
  std::string classes;
  for (const std::string& c : train_set.class_names) classes += (classes.empty() ? "" : "\n") + c;
  return {{"program", "lenet5"},
          {"variant", name(o.variant)},
          {"lr", lr},
          {"momentum", mom},
          {"batch_size", std::to_string(t.batch_size)},
          {"seed", std::to_string(o.seed)},
          {"classes", classes},
          {"image_size", std::to_string(train_set.rows) + "x" + std::to_string(train_set.cols)}};
}

// Fills the recipe flags the user did not give from a checkpoint's metadata.
inline void take_recipe_from(const std::map<std::string, std::string>& meta, Options& o) {
  const auto get = [&](const char* key) {
    const auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  if (!o.variant_given && !get("variant").empty()) o.variant = get("variant") == "relu" ? Variant::relu : Variant::sigmoid;
  if (!o.lr_given && !get("lr").empty()) o.lr = std::stod(get("lr")), o.lr_given = true;
  if (!o.momentum_given && !get("momentum").empty()) o.momentum = std::stod(get("momentum")), o.momentum_given = true;
  if (!o.batch_size_given && !get("batch_size").empty()) o.batch_size = std::stoll(get("batch_size"));
  // The weights and the shuffle come from the file, so the run's seed is the file's: keep
  // recording it in the checkpoints this run writes.
  if (!get("seed").empty()) o.seed = std::stoull(get("seed"));
}

// Writes the per-epoch files that --history and --plot ask for (after every epoch, so an
// interrupted run still leaves them).
inline void write_history_files(const Options& o, const std::vector<hnn::EpochStats>& history, const char* device) {
  if (!o.history_path.empty()) hnn::write_text_file(o.history_path, hnn::history_csv(history));
  if (!o.plot_path.empty()) {
    const std::string title = std::string("LeNet-5 (") + name(o.variant) + ") on Fashion-MNIST, " + device;
    hnn::write_text_file(o.plot_path, hnn::history_svg(history, title));
  }
}

// Fails now, not after hours of training, when an output file cannot be created: writes
// and removes a probe file next to `path`.
inline void require_writable(const char* flag, const std::string& path) {
  if (path.empty()) return;
  const std::string probe = path + ".probe";
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (f == nullptr)
    throw std::runtime_error(std::string(flag) + " " + path + ": cannot create files there: " + std::strerror(errno));
  std::fclose(f);
  std::remove(probe.c_str());
}

template <class Device>
int run_training(Options o) {
  require_writable("--save", o.save_path);
  require_writable("--history", o.history_path);
  require_writable("--plot", o.plot_path);
  require_writable("--gallery", o.gallery_path);
  // A checkpoint to resume from is read first: its recipe fills the flags not given.
  hnn::Checkpoint resume;
  if (!o.resume_path.empty()) {
    resume = hnn::read_checkpoint(o.resume_path);
    if (!resume.extras.training)
      throw std::runtime_error(o.resume_path +
                               ": holds a model but no training state to resume (write it with lenet5 --save)");
    take_recipe_from(resume.extras.metadata, o);
    if (resume.extras.training->epoch >= o.epochs)
      throw std::runtime_error(o.resume_path + ": already trained " + std::to_string(resume.extras.training->epoch) +
                               " epochs; pass --epochs above that to train further");
  }

  const std::string dir = find_data_dir(o.data_dir);
  const hnn::data::Dataset train_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::train);
  const hnn::data::Dataset test_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::test);
  hnn::data::require_image_shape(train_set, 28, 28);
  hnn::data::require_image_shape(test_set, 28, 28);

  auto model = lenet5<float, Device>(o.variant, o.seed);
  std::vector<hnn::EpochStats> history;
  if (!o.resume_path.empty()) {
    hnn::load(model, o.resume_path);  // checks the architecture against --variant
    const auto it = resume.extras.metadata.find("history");
    if (it != resume.extras.metadata.end()) history = hnn::parse_history_csv(it->second);
  }
  std::fputs(model.trace(hnn::Shape{1, 1, 28, 28}).c_str(), stdout);

  hnn::TrainOptions options;
  options.epochs = o.epochs;
  options.lr = learning_rate(o);
  options.momentum = momentum(o);
  options.batch_size = o.batch_size;
  options.seed = o.seed;
  std::printf("training LeNet-5 (%s) on %s: %lld train / %lld test images from %s, lr %g, momentum %g, batch %lld, %d epochs\n",
              name(o.variant), Device::name, static_cast<long long>(train_set.size),
              static_cast<long long>(test_set.size), dir.c_str(), options.lr, options.momentum,
              static_cast<long long>(options.batch_size), options.epochs);

  const hnn::DeviceDataset<float, Device> train_data(train_set), test_data(test_set);
  if (!o.resume_path.empty())
    std::printf("resuming from %s after epoch %d\n", o.resume_path.c_str(), resume.extras.training->epoch);
  std::fflush(stdout);

  const auto save_checkpoint = [&](const hnn::TrainingState& state, const std::vector<hnn::EpochStats>& rows) {
    hnn::CheckpointExtras extras;
    extras.training = state;
    extras.metadata = recipe_metadata(o, options, train_set);
    extras.metadata["history"] = hnn::history_csv(rows);
    hnn::save(model, o.save_path, extras);
  };

  ProgressBar progress(o.progress == "on" || (o.progress == "auto" && stdout_is_terminal()), o.epochs);
  double train_seconds = 0;
  int epochs_run = 0;
  std::vector<hnn::EpochStats> so_far = history;  // for the files written after every epoch
  std::optional<hnn::TrainingState> final_state;  // saved after the summary below
  hnn::TrainHooks hooks;
  if (progress.enabled()) hooks.on_batch = [&](const hnn::BatchProgress& p) { progress.update(p); };
  hooks.on_epoch = [&](const hnn::EpochStats& s) {
    progress.clear();
    so_far.push_back(s);
    train_seconds += s.seconds;
    ++epochs_run;
    std::printf("epoch %2d: loss %.3f, train acc %.3f, test acc %.3f, %.1f examples/sec, %.2f s\n", s.epoch,
                s.train_loss, s.train_acc, s.test_acc, s.examples_per_sec, s.seconds);
    std::fflush(stdout);
    write_history_files(o, so_far, Device::name);
  };
  if (!o.save_path.empty()) {
    hooks.checkpoint_every = o.checkpoint_every;
    hooks.on_checkpoint = [&](const hnn::TrainingState& state, const std::vector<hnn::EpochStats>& rows) {
      if (state.epoch == o.epochs) {
        final_state = state;
        return;
      }
      save_checkpoint(state, rows);
      std::printf("checkpoint after epoch %d written to %s\n", state.epoch, o.save_path.c_str());
    };
  }
  if (!o.resume_path.empty()) {
    hooks.resume = resume.extras.training;
    hooks.resume_history = history;
  }
  const auto start = std::chrono::steady_clock::now();
  history = hnn::train(model, train_data, test_data, options, hooks);  // checks both sets first
  const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const hnn::EpochStats& last = history.back();
  std::printf("loss %.3f, train acc %.3f, test acc %.3f\n", last.train_loss, last.train_acc, last.test_acc);
  std::printf("%.1f examples/sec on %s\n",
              static_cast<double>(train_set.size) * static_cast<double>(epochs_run) / train_seconds, Device::name);
  std::printf("%.2f s for the whole run (training and evaluation, data already loaded)\n", total_seconds);
  if (final_state) {
    save_checkpoint(*final_state, history);
    std::printf("model and training state after epoch %d written to %s\n", last.epoch, o.save_path.c_str());
  }

  // Where the model goes wrong: the confusion matrix on the test set.
  const std::vector<std::int32_t> predicted = hnn::predict(model, test_data.images, options.eval_batch_size);
  hnn::ConfusionMatrix confusion(static_cast<int>(test_set.num_classes()));
  confusion.add(test_set.labels, predicted);
  std::printf("\n%s", confusion.table(test_set.class_names).c_str());
  if (!o.gallery_path.empty()) {
    write_image_file(hnn::prediction_gallery(test_set, predicted), o.gallery_path);
    std::printf("gallery of the first test images written to %s\n", o.gallery_path.c_str());
  }
  if (!o.history_path.empty()) std::printf("history written to %s\n", o.history_path.c_str());
  if (!o.plot_path.empty()) std::printf("training curves written to %s\n", o.plot_path.c_str());
  return 0;
}

#if defined(HNN_WITH_CUDA)
// Defined in lenet5_cuda.cu; throws when no GPU is visible.
int run_training_cuda(const Options& o);
#endif

}  // namespace lenet
