// resnet --augment: the same network and recipe (SGD, momentum 0.9, weight decay 5e-4, lr 0.1
// annealed by a cosine), trained through the library's DataLoader with torchvision's usual
// augmentation, RandomCrop(28, padding 2) and a random horizontal flip, prepared on the
// loader's background thread while the step runs; evaluated on the unaugmented test set.
// On the open loop (hnn::TrainLoop): CPU only, no checkpoints.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include <hnn/hnn.hpp>

#include "../common/data_dir.hpp"
#include "../common/options.hpp"

namespace resnet {

template <class Program>
int run_augmented(const hnn_example::Options& o, const Program& program) {
  namespace data = hnn::data;
  if (o.device != "cpu") throw hnn_example::UsageError("--augment runs on the CPU only");
  if (!o.save_path.empty() || !o.resume_path.empty() || !o.history_path.empty() || !o.plot_path.empty() ||
      !o.gallery_path.empty())
    throw hnn_example::UsageError("--augment takes the recipe flags only (no --save, --resume, --history, --plot, --gallery)");
  const hnn::TrainOptions t = hnn_example::train_options(o, program.recipe());
  const std::string dir = hnn_example::find_data_dir(o.data_dir);
  const auto train_set = data::fashion_mnist(dir, data::Split::train);
  const auto test_set = data::fashion_mnist(dir, data::Split::test);

  auto model = program.template model<hnn::cpu>(o.seed);
  hnn::CrossEntropyLoss<float> loss;
  hnn::SgdOptions sgd_options;
  sgd_options.lr = t.lr;
  sgd_options.momentum = t.momentum;
  sgd_options.weight_decay = t.weight_decay_or_default();
  hnn::SGD<float> sgd(model.parameters(), sgd_options);
  hnn::CosineAnnealingLR cosine(sgd, t.epochs);
  hnn::TrainLoop<float> loop(model, loss, sgd);
  loop.schedule(cosine);
  data::DataLoader train(train_set, data::LoaderOptions(t.batch_size).shuffle(true).seed(t.seed),
                         data::Compose<float>(data::RandomCrop(28, 2), data::RandomHorizontalFlip(0.5)));
  data::DataLoader test(test_set, data::LoaderOptions(t.eval_batch_size));

  std::printf("training %s on cpu with augmentation (RandomCrop(28, padding 2), RandomHorizontalFlip(0.5)): "
              "%lld train / %lld test images from %s, %s, batch %lld, %d epochs\n",
              program.title().c_str(), static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()),
              dir.c_str(), hnn_example::describe_recipe(t).c_str(), static_cast<long long>(t.batch_size), t.epochs);
  std::fflush(stdout);
  double train_seconds = 0;
  const auto history = loop.fit(train, &test, t.epochs, [&](const hnn::EpochStats& s) {
    train_seconds += s.seconds;
    std::printf("epoch %2d: loss %.3f, train acc %.3f, test acc %.3f, %.1f examples/sec, %.2f s\n", s.epoch,
                s.train_loss, s.train_acc, s.test_acc, s.examples_per_sec, s.seconds);
    std::fflush(stdout);
    return true;
  });
  const hnn::EpochStats& last = history.back();
  std::printf("loss %.3f, train acc %.3f, test acc %.3f\n", last.train_loss, last.train_acc, last.test_acc);
  std::printf("%.1f examples/sec on cpu\n",
              static_cast<double>(train_set.size()) * static_cast<double>(history.size()) / train_seconds);
  return 0;
}

}  // namespace resnet
