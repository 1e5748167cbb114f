// Command-line parsing shared by the example programs: the value parsers, the training flags
// every program takes (options.hpp), and their help text. A bad value throws UsageError,
// which a program's main() prints as one line and turns into exit status 2.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>

#include "options.hpp"

namespace hnn_example {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline long long parse_integer(const std::string& flag, const std::string& text, long long min, long long max) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    throw UsageError(flag + " expects an integer, got '" + text + "'");
  if (v < min || v > max)
    throw UsageError(flag + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + text);
  return v;
}

inline double parse_number(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE) throw UsageError(flag + " expects a number, got '" + text + "'");
  return v;
}

inline double parse_positive(const std::string& flag, const std::string& text) {
  const double v = parse_number(flag, text);
  if (!(v > 0) || v == std::numeric_limits<double>::infinity())
    throw UsageError(flag + " must be a positive finite number, got " + text);
  return v;
}

inline double parse_nonnegative(const std::string& flag, const std::string& text) {
  const double v = parse_number(flag, text);
  if (!(v >= 0) || v == std::numeric_limits<double>::infinity())
    throw UsageError(flag + " must be a finite number at least 0, got " + text);
  return v;
}

inline double parse_fraction(const std::string& flag, const std::string& text) {
  const double v = parse_number(flag, text);
  if (!(v >= 0 && v < 1)) throw UsageError(flag + " must be at least 0 and below 1, got " + text);
  return v;
}

inline std::string nonempty(const std::string& flag, const std::string& value) {
  if (value.empty()) throw UsageError(flag + " needs a file name, got an empty one");
  return value;
}

// The help lines of the optimizer and schedule flags, for a program's usage text.
// The help of the flags every training program takes, for programs without flags of their
// own (lenet5 words some of these with its variants' defaults).
inline const char* const training_flags_help =
    "  --epochs N              epochs to train (default: the program's recipe)\n"
    "  --lr X                  learning rate (default: the recipe's)\n"
    "  --momentum X            SGD momentum, 0 <= X < 1 (default: the recipe's)\n"
    "  --batch-size N          examples per step (default 256)\n"
    "  --seed N                seed for weights and shuffling (default 0)\n"
    "  --data DIR              Fashion-MNIST folder (default: $HNN_DATA, then data/fashion-mnist,\n"
    "                          then /usr/share/datasets/fashion-mnist)\n"
    "  --threads N             CPU threads (default: all cores)\n"
    "  --device cpu|cuda       where to train (default cpu)\n"
    "  --save PATH             write the model and training state to PATH after training\n"
    "  --checkpoint-every N    with --save: also write PATH every N epochs\n"
    "  --resume PATH           continue training from a checkpoint to --epochs in total; the\n"
    "                          recipe flags not given come from the checkpoint\n"
    "  --history FILE.csv      write epoch, train_loss, train_acc, test_acc, examples_per_sec,\n"
    "                          seconds after every epoch\n"
    "  --plot FILE.svg         write the training curves after every epoch\n"
    "  --gallery FILE.png      write a picture of test images with their predicted classes\n"
    "  --progress auto|on|off  a progress bar per epoch (auto: when stdout is a terminal)\n"
    "  --help                  this text\n";

// The predict sub-command's help, for the same programs.
inline const char* const predict_flags_help =
    "Classifies PNG, PGM or PPM images with a model written by --save and prints the most\n"
    "likely Fashion-MNIST classes of each (converted as lenet5 predict converts them).\n"
    "\n"
    "  --model PATH            the checkpoint to use\n"
    "  --top K                 classes to print per image (default 3)\n"
    "  --device cpu|cuda       where to run the model (default cpu)\n"
    "  --threads N             CPU threads (default: all cores)\n";

inline const char* const optimizer_flags_help =
    "  --optimizer sgd|adam|adamw|rmsprop  the optimizer (PyTorch's defaults: Adam betas 0.9,\n"
    "                          0.999, eps 1e-8); another than the recipe's defaults to its own lr\n"
    "  --weight-decay X        L2 weight decay, X >= 0 (adamw: decoupled, default 0.01)\n"
    "  --schedule constant|step|cosine|onecycle  the learning rate: constant; step: times\n"
    "                          --gamma every --step-size epochs; cosine: down to 0 at --epochs;\n"
    "                          onecycle: per batch, up from lr/25 to lr over the first 30% of\n"
    "                          the batches, then down to lr/25e4 (PyTorch's OneCycleLR)\n"
    "  --step-size N           with --schedule step: epochs between decays (required)\n"
    "  --gamma X               with --schedule step: the decay factor, X > 0 (default 0.1)\n";

// The whole usage text of a program with only the shared flags: `description` is its first
// paragraph (what it trains, with which default recipe).
inline std::string example_usage(const std::string& program, const std::string& description) {
  return "usage: " + program + " [options]\n" + description + "\n" + training_flags_help + optimizer_flags_help +
         "\nusage: " + program + " predict --model PATH [options] IMAGE...\n" + predict_flags_help;
}

// Parses `flag value` when it is one of the training flags every program shares; returns
// false for any other flag (the program's own, or unknown).
inline bool parse_training_flag(const std::string& flag, const std::string& value, Options& o) {
  if (flag == "--epochs") o.epochs = static_cast<int>(parse_integer(flag, value, 1, 100000)), o.epochs_given = true;
  else if (flag == "--lr") o.lr = parse_positive(flag, value), o.lr_given = true;
  else if (flag == "--momentum") o.momentum = parse_fraction(flag, value), o.momentum_given = true;
  else if (flag == "--batch-size") o.batch_size = parse_integer(flag, value, 1, 1 << 20), o.batch_size_given = true;
  else if (flag == "--optimizer") {
    try {
      hnn::optimizer_defaults(value);  // throws for a name no optimizer registered
    } catch (const std::invalid_argument&) {
      std::string names;
      for (const std::string& n : hnn::optimizer_names()) names += (names.empty() ? "" : ", ") + n;
      throw UsageError("--optimizer must be one of " + names + ", got '" + value + "'");
    }
    o.optimizer = value;
    o.optimizer_given = true;
  } else if (flag == "--weight-decay") o.weight_decay = parse_nonnegative(flag, value), o.weight_decay_given = true;
  else if (flag == "--schedule") {
    try {
      o.schedule = hnn::schedule_kind(value);
    } catch (const std::invalid_argument&) {
      throw UsageError("--schedule must be constant, step, cosine or onecycle, got '" + value + "'");
    }
    o.schedule_given = true;
  } else if (flag == "--step-size") o.step_size = parse_integer(flag, value, 1, 100000), o.step_size_given = true;
  else if (flag == "--gamma") o.gamma = parse_positive(flag, value), o.gamma_given = true;
  else if (flag == "--save") o.save_path = nonempty(flag, value);
  else if (flag == "--checkpoint-every") o.checkpoint_every = static_cast<int>(parse_integer(flag, value, 1, 100000));
  else if (flag == "--resume") o.resume_path = nonempty(flag, value);
  else if (flag == "--history") o.history_path = nonempty(flag, value);
  else if (flag == "--plot") o.plot_path = nonempty(flag, value);
  else if (flag == "--gallery") o.gallery_path = nonempty(flag, value);
  else if (flag == "--progress") {
    if (value != "auto" && value != "on" && value != "off")
      throw UsageError("--progress must be auto, on or off, got '" + value + "'");
    o.progress = value;
  } else if (flag == "--seed") o.seed = static_cast<std::uint64_t>(parse_integer(flag, value, 0, std::numeric_limits<long long>::max()));
  else if (flag == "--data") o.data_dir = value;
  else if (flag == "--threads") o.threads = static_cast<int>(parse_integer(flag, value, 1, 1024));
  else if (flag == "--device") {
    if (value != "cpu" && value != "cuda") throw UsageError("--device must be cpu or cuda, got '" + value + "'");
    o.device = value;
  } else {
    return false;
  }
  return true;
}

// The checks across flags, once all are parsed; `recipe` is the program's default recipe.
inline void check_training_flags(const Options& o, const Recipe& recipe) {
  if (o.checkpoint_every > 0 && o.save_path.empty()) throw UsageError("--checkpoint-every needs --save PATH (see --help)");
  const std::string optimizer = o.optimizer_given ? o.optimizer : recipe.optimizer;
  if (o.momentum_given && hnn::optimizer_defaults(optimizer).count("momentum") == 0)
    throw UsageError("--momentum applies to optimizers with a momentum (sgd, rmsprop), not " + optimizer);
  const hnn::ScheduleKind schedule = o.schedule_given ? o.schedule : recipe.schedule;
  if ((o.step_size_given || o.gamma_given) && schedule != hnn::ScheduleKind::step)
    throw UsageError(std::string(o.step_size_given ? "--step-size" : "--gamma") + " applies to --schedule step only");
  if (schedule == hnn::ScheduleKind::step && (o.step_size_given ? o.step_size : recipe.step_size) < 1 &&
      o.resume_path.empty())
    throw UsageError("--schedule step needs --step-size N (see --help)");
}

}  // namespace hnn_example
