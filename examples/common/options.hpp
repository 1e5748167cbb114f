// The training flags every example program shares, and the recipe a program supplies as its
// defaults (model.hpp of each example). The CLI parsing is cli.hpp's, the run run.hpp's.
#pragma once

#include <cstdint>
#include <string>

#include <hnn/training/train.hpp>

namespace hnn_example {

// A program's default recipe: what a run uses for every flag not given.
struct Recipe {
  int epochs = 10;
  double lr = 0.1;
  std::int64_t batch_size = 256;
  std::string optimizer = "sgd";       // a registered optimizer (hnn::optimizer_names())
  double momentum = 0;                 // optimizers with a momentum
  double weight_decay = 0;             // for adamw PyTorch's default is 0.01
  hnn::ScheduleKind schedule = hnn::ScheduleKind::constant;
  std::int64_t step_size = 0;          // step schedule
  double gamma = 0.1;                  // step schedule
};

// The flags of a training run. A `*_given` flag records that the user set the value; the
// others come from the program's recipe (or, with --resume, from the checkpoint).
struct Options {
  int epochs = 10;
  bool epochs_given = false;
  double lr = 0.1;
  bool lr_given = false;
  double momentum = 0;
  bool momentum_given = false;
  std::int64_t batch_size = 256;
  bool batch_size_given = false;
  std::string optimizer = "sgd";
  bool optimizer_given = false;
  double weight_decay = 0;
  bool weight_decay_given = false;
  hnn::ScheduleKind schedule = hnn::ScheduleKind::constant;
  bool schedule_given = false;
  std::int64_t step_size = 0;
  bool step_size_given = false;
  double gamma = 0.1;
  bool gamma_given = false;
  std::uint64_t seed = 0;
  std::string data_dir;  // resolved by find_data_dir (data_dir.hpp)
  int threads = 0;       // 0: the library's default
  std::string device = "cpu";

  std::string save_path;     // --save: the model (and training state) after training
  int checkpoint_every = 0;  // --checkpoint-every N: also every N epochs, to save_path
  std::string resume_path;   // --resume: continue from this checkpoint
  std::string history_path;  // --history FILE.csv
  std::string plot_path;     // --plot FILE.svg
  std::string gallery_path;  // --gallery FILE.png
  std::string progress = "auto";  // auto (when stdout is a terminal), on, off
};

// The options of the run: each flag given, else the recipe's value. Switching the optimizer
// away from the recipe's without --lr takes PyTorch's default rate of the other (Adam 1e-3), and
// AdamW's default weight decay (0.01) unless --weight-decay is given; momentum is for optimizers
// that have one.
inline hnn::TrainOptions train_options(const Options& o, const Recipe& r) {
  hnn::TrainOptions t;
  t.epochs = o.epochs_given ? o.epochs : r.epochs;
  t.batch_size = o.batch_size_given ? o.batch_size : r.batch_size;
  t.seed = o.seed;
  t.optimizer = o.optimizer_given ? o.optimizer : r.optimizer;
  const bool recipe_optimizer = t.optimizer == r.optimizer;
  const hnn::OptimizerArgs defaults = hnn::optimizer_defaults(t.optimizer);
  t.lr = o.lr_given ? o.lr : recipe_optimizer || t.optimizer == "sgd" ? r.lr : defaults.at("lr");
  if (defaults.count("momentum") != 0) t.momentum = o.momentum_given ? o.momentum : recipe_optimizer ? r.momentum : 0;
  if (o.weight_decay_given) t.weight_decay = o.weight_decay;
  else if (recipe_optimizer) t.weight_decay = r.weight_decay;
  // else unset: the optimizer's default (TrainOptions::weight_decay_or_default)
  t.weight_decay = t.weight_decay_or_default();
  t.schedule = o.schedule_given ? o.schedule : r.schedule;
  t.step_size = o.step_size_given ? o.step_size : r.step_size;
  t.gamma = o.gamma_given ? o.gamma : r.gamma;
  return t;
}

}  // namespace hnn_example
