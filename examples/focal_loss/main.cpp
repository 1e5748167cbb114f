// focal_loss: a loss of one's own, written as an expression with hnn's ops (focal_loss.hpp: the
// focal loss, -(1 - p_t)^gamma log p_t), trained through the library's trainer, hnn::train, as
// the other programs train with the cross-entropy. The network is an MLP (784-256-10, ReLU) on
// Fashion-MNIST; Adam lr 0.001, batch 256, 10 epochs, gamma 2 unless told otherwise.
//   focal_loss [--gamma G] [--epochs N] [--lr X] [--batch-size N] [--seed N] [--threads N] [--data DIR]
#include <cstdio>
#include <string>
#include <vector>

#include <hnn/hnn.hpp>

#include "../common/data_dir.hpp"
#include "../common/loop_flags.hpp"
#include "focal_loss.hpp"

namespace {

int run(const hnn_example::LoopFlags& f, double gamma) {
  if (f.threads > 0) hnn::set_num_threads(f.threads);
  const std::string dir = hnn_example::find_data_dir(f.data_dir);
  const hnn::data::Dataset train_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::train);
  const hnn::data::Dataset test_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::test);
  const hnn::DeviceDataset<float, hnn::cpu> train_data(train_set), test_data(test_set);

  using namespace hnn;
  Sequential<float> model({Flatten(), Linear(784, 256), ReLU(), Linear(256, 10)}, f.seed);
  ExpressionLoss<float> loss = focal::make_focal_loss<float>(gamma);

  TrainOptions options;
  options.epochs = f.epochs;
  options.batch_size = f.batch_size;
  options.optimizer = "adam";
  options.lr = f.lr;
  options.seed = f.seed;
  std::printf("training an MLP (784-256-10) with the focal loss (gamma %g) on %lld Fashion-MNIST images from %s: "
              "Adam lr %g, batch %lld, %d epochs\n",
              gamma, static_cast<long long>(train_set.size), dir.c_str(), f.lr, static_cast<long long>(f.batch_size),
              f.epochs);
  std::fflush(stdout);
  // The same hnn::train as lenet5's, given the loss to minimise.
  const std::vector<EpochStats> history =
      train(model, train_data, test_data, options, loss, [] {
        TrainHooks hooks;
        hooks.on_epoch = [](const EpochStats& s) {
          std::printf("epoch %2d: loss %.3f, train acc %.3f, test acc %.3f, %.1f examples/sec, %.2f s\n", s.epoch,
                      s.train_loss, s.train_acc, s.test_acc, s.examples_per_sec, s.seconds);
          std::fflush(stdout);
        };
        return hooks;
      }());
  const EpochStats& last = history.back();
  std::printf("loss %.3f, train acc %.3f, test acc %.3f\n", last.train_loss, last.train_acc, last.test_acc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage =
      std::string("usage: focal_loss [flags]\n") +
      "Trains an MLP (784-256-10) on Fashion-MNIST with a focal loss written with hnn's ops,\n"
      "through hnn::train: Adam lr 0.001, batch 256, 10 epochs.\n"
      "  --gamma G         the focal loss's exponent, G >= 0 (default 2; 0 is the cross-entropy)\n" +
      hnn_example::loop_flags_help;
  try {
    // --gamma is this program's own: take it out before the shared flags.
    double gamma = 2;
    std::vector<char*> args{argv[0]};
    for (int i = 1; i < argc; ++i) {
      if (std::string(argv[i]) != "--gamma") {
        args.push_back(argv[i]);
        continue;
      }
      if (i + 1 >= argc) throw hnn_example::UsageError("--gamma needs a value (see --help)");
      gamma = hnn_example::parse_nonnegative("--gamma", argv[++i]);
    }
    hnn_example::LoopFlags defaults;
    defaults.lr = 1e-3;
    return run(hnn_example::parse_loop_flags(static_cast<int>(args.size()), args.data(), defaults, usage), gamma);
  } catch (const hnn_example::UsageError& e) {
    std::fprintf(stderr, "focal_loss: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "focal_loss: %s\n", e.what());
    return 1;
  }
}
