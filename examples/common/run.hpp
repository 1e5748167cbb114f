// The training run of an example program, written once for every program and device:
// flags (options.hpp) -> data -> model -> hnn::train with checkpoints, resume, history, plot,
// progress bar -> summary, confusion matrix, gallery. A program supplies `Program`, its
// model and default recipe:
//   struct Program {
//     static constexpr const char* name = "lenet5";          // metadata and messages
//     Recipe recipe() const;                                  // its defaults (options.hpp)
//     std::string title() const;                              // "LeNet-5 (sigmoid)"
//     std::map<std::string, std::string> metadata() const;    // its own recipe keys, e.g. variant
//     void take_recipe_from(const std::map<std::string, std::string>& checkpoint_metadata);
//     template <class Device> hnn::Sequential<float, Device> model(std::uint64_t seed) const;
//   };
// main.cpp instantiates run_training for the CPU; the program's .cu file (compiled by nvcc
// when CUDA is enabled) for the GPU.
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

#include <hnn/io/checkpoint.hpp>
#include <hnn/data/mnist.hpp>
#include <hnn/training/predict.hpp>
#include <hnn/extras/report.hpp>
#include <hnn/training/train.hpp>

#include "data_dir.hpp"
#include "image_io.hpp"
#include "options.hpp"
#include "progress.hpp"

namespace hnn_example {

// The recipe a checkpoint records, so that --resume continues it without repeating the flags.
template <class Program>
std::map<std::string, std::string> recipe_metadata(const Program& program, const Options& o, const hnn::TrainOptions& t,
                                                   const hnn::data::Dataset& train_set) {
  const auto number = [](double v) {
    char text[40];
    std::snprintf(text, sizeof text, "%.17g", v);
    return std::string(text);
  };
  std::string classes;
  for (const std::string& c : train_set.class_names) classes += (classes.empty() ? "" : "\n") + c;
  std::map<std::string, std::string> meta = {
      {"program", Program::name},
      {"lr", number(t.lr)},
      {"momentum", number(t.momentum)},
      {"batch_size", std::to_string(t.batch_size)},
      {"optimizer", t.optimizer},
      {"weight_decay", number(t.weight_decay_or_default())},
      {"schedule", hnn::schedule_name(t.schedule)},
      {"step_size", std::to_string(t.step_size)},
      {"gamma", number(t.gamma)},
      {"seed", std::to_string(o.seed)},
      {"classes", classes},
      {"image_size", std::to_string(train_set.rows) + "x" + std::to_string(train_set.cols)}};
  for (const auto& [key, value] : program.metadata()) meta[key] = value;
  return meta;
}

// Fills the recipe flags the user did not give from a checkpoint's metadata (the program's
// own keys are Program::take_recipe_from's). A checkpoint without the optimizer keys (written
// before they existed) was trained with SGD and a constant rate.
inline void take_recipe_from(const std::map<std::string, std::string>& meta, Options& o) {
  const auto get = [&](const char* key) {
    const auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  if (!o.lr_given && !get("lr").empty()) o.lr = std::stod(get("lr")), o.lr_given = true;
  if (!o.momentum_given && !get("momentum").empty()) o.momentum = std::stod(get("momentum")), o.momentum_given = true;
  if (!o.batch_size_given && !get("batch_size").empty()) o.batch_size = std::stoll(get("batch_size")), o.batch_size_given = true;
  if (!o.optimizer_given && !get("lr").empty()) {
    o.optimizer = get("optimizer").empty() ? "sgd" : get("optimizer");
    hnn::optimizer_defaults(o.optimizer);  // throws for a name no optimizer registered
    o.optimizer_given = true;
  }
  if (!o.weight_decay_given && !get("lr").empty()) {
    o.weight_decay = get("weight_decay").empty() ? 0.0 : std::stod(get("weight_decay"));
    o.weight_decay_given = true;
  }
  if (!o.schedule_given && !get("lr").empty()) {
    o.schedule = get("schedule").empty() ? hnn::ScheduleKind::constant : hnn::schedule_kind(get("schedule"));
    o.schedule_given = true;
  }
  if (!o.step_size_given && !get("step_size").empty()) o.step_size = std::stoll(get("step_size")), o.step_size_given = true;
  if (!o.gamma_given && !get("gamma").empty()) o.gamma = std::stod(get("gamma")), o.gamma_given = true;
  // The weights and the shuffle come from the file, so the run's seed is the file's: keep
  // recording it in the checkpoints this run writes.
  if (!get("seed").empty()) o.seed = std::stoull(get("seed"));
}

// Writes the per-epoch files that --history and --plot ask for (after every epoch, so an
// interrupted run still leaves them).
inline void write_history_files(const Options& o, const std::vector<hnn::EpochStats>& history,
                                const std::string& model_title, const char* device) {
  if (!o.history_path.empty()) hnn::write_text_file(o.history_path, hnn::history_csv(history));
  if (!o.plot_path.empty()) {
    const std::string title = model_title + " on Fashion-MNIST, " + device;
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

// "lr 0.9, momentum 0" for SGD at a constant rate (as lenet5 always printed it), else the
// optimizer, its rate and decay, and the schedule.
inline std::string describe_recipe(const hnn::TrainOptions& t) {
  char text[200];
  if (t.optimizer == "sgd" && t.schedule == hnn::ScheduleKind::constant &&
      t.weight_decay_or_default() == 0) {
    std::snprintf(text, sizeof text, "lr %g, momentum %g", t.lr, t.momentum);
    return text;
  }
  std::string s = t.optimizer;
  std::snprintf(text, sizeof text, " lr %g", t.lr);
  s += text;
  if (hnn::optimizer_defaults(t.optimizer).count("momentum") != 0)
    std::snprintf(text, sizeof text, ", momentum %g", t.momentum), s += text;
  std::snprintf(text, sizeof text, ", weight decay %g", t.weight_decay_or_default());
  s += text;
  if (t.schedule == hnn::ScheduleKind::step)
    std::snprintf(text, sizeof text, ", step schedule (x%g every %lld epochs)", t.gamma, static_cast<long long>(t.step_size)), s += text;
  else if (t.schedule == hnn::ScheduleKind::cosine)
    s += ", cosine schedule";
  else if (t.schedule == hnn::ScheduleKind::onecycle)
    s += ", one-cycle schedule";
  return s;
}

template <class Device, class Program>
int run_training(Options o, Program program) {
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
                               ": holds a model but no training state to resume (write it with " +
                               Program::name + " --save)");
    take_recipe_from(resume.extras.metadata, o);
    program.take_recipe_from(resume.extras.metadata);
  }
  if (!o.epochs_given) o.epochs = program.recipe().epochs, o.epochs_given = true;
  if (!o.resume_path.empty() && resume.extras.training->epoch >= o.epochs)
    throw std::runtime_error(o.resume_path + ": already trained " + std::to_string(resume.extras.training->epoch) +
                             " epochs; pass --epochs above that to train further");

  const std::string dir = find_data_dir(o.data_dir);
  const hnn::data::Dataset train_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::train);
  const hnn::data::Dataset test_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::test);
  hnn::data::require_image_shape(train_set, 28, 28);
  hnn::data::require_image_shape(test_set, 28, 28);

  hnn::TrainOptions options = train_options(o, program.recipe());
  auto model = program.template model<Device>(o.seed);
  std::vector<hnn::EpochStats> history;
  if (!o.resume_path.empty()) {
    hnn::load(model, o.resume_path);  // checks the architecture (lenet5: against --variant)
    const auto it = resume.extras.metadata.find("history");
    if (it != resume.extras.metadata.end()) history = hnn::parse_history_csv(it->second);
  }
  std::fputs(model.trace(hnn::Shape{1, 1, 28, 28}).c_str(), stdout);

  const std::string title = program.title();
  std::printf("training %s on %s: %lld train / %lld test images from %s, %s, batch %lld, %d epochs\n",
              title.c_str(), Device::name, static_cast<long long>(train_set.size),
              static_cast<long long>(test_set.size), dir.c_str(), describe_recipe(options).c_str(),
              static_cast<long long>(options.batch_size), options.epochs);

  const hnn::DeviceDataset<float, Device> train_data(train_set), test_data(test_set);
  if (!o.resume_path.empty())
    std::printf("resuming from %s after epoch %d\n", o.resume_path.c_str(), resume.extras.training->epoch);
  std::fflush(stdout);

  const auto save_checkpoint = [&](const hnn::TrainingState& state, const std::vector<hnn::EpochStats>& rows) {
    hnn::CheckpointExtras extras;
    extras.training = state;
    extras.metadata = recipe_metadata(program, o, options, train_set);
    extras.metadata["history"] = hnn::history_csv(rows);
    hnn::save(model, o.save_path, extras);
  };

  ProgressBar progress(o.progress == "on" || (o.progress == "auto" && stdout_is_terminal()), options.epochs);
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
    write_history_files(o, so_far, title, Device::name);
  };
  if (!o.save_path.empty()) {
    hooks.checkpoint_every = o.checkpoint_every;
    hooks.on_checkpoint = [&](const hnn::TrainingState& state, const std::vector<hnn::EpochStats>& rows) {
      if (state.epoch == options.epochs) {
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


}  // namespace hnn_example
