// regression: an MLP fitting a noisy 1-D function, y = sin(x) + 0.1 noise on [-3, 3], with
// MSELoss and Adam on the library's open training loop; prints the test set's MSE and MAE
// (the noise alone gives an MSE of 0.01). No files: the data is generated from the seed.
//   regression [--epochs N] [--lr X] [--batch-size N] [--seed N] [--threads N]
#include <cmath>
#include <cstdio>
#include <string>

#include <hnn/hnn.hpp>

#include "../common/loop_flags.hpp"

namespace {

// n points x uniform in [-3, 3], y = sin(x) + noise x N(0, 1) (Box-Muller).
hnn::data::TensorDataset<float, float> noisy_sine(std::int64_t n, double noise, std::uint64_t seed) {
  hnn::Rng rng(seed);
  const auto normal = [&rng] { return std::sqrt(-2 * std::log(1 - rng.uniform())) * std::cos(6.283185307179586 * rng.uniform()); };
  hnn::Tensor<float> x(hnn::Shape{n, 1}), y(hnn::Shape{n, 1});
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(rng.uniform(-3, 3));
    y[i] = static_cast<float>(std::sin(x[i]) + noise * normal());
  }
  return hnn::data::TensorDataset<float, float>(x, y);
}

int run(const hnn_example::LoopFlags& f) {
  namespace data = hnn::data;
  if (f.threads > 0) hnn::set_num_threads(f.threads);
  const auto train_set = noisy_sine(1000, 0.1, f.seed + 1);
  const auto test_set = noisy_sine(500, 0.1, f.seed + 2);

  using namespace hnn;
  Sequential<float> model(std::vector<LayerSpec>{Linear(1, 64), Tanh(), Linear(64, 64), Tanh(), Linear(64, 1)}, f.seed);
  MSELoss<float> loss;
  AdamOptions adam_options;
  adam_options.lr = f.lr;
  Adam<float> adam(model.parameters(), adam_options);
  TrainLoop<float, cpu, float> loop(model, loss, adam);
  data::DataLoader train(train_set, data::LoaderOptions(f.batch_size).shuffle(true).seed(f.seed));
  data::DataLoader test(test_set, data::LoaderOptions(500));

  std::printf("fitting y = sin(x) + 0.1 noise with a 1-64-64-1 tanh MLP: MSELoss, Adam lr %g, batch %lld, %d epochs\n",
              f.lr, static_cast<long long>(f.batch_size), f.epochs);
  loop.fit(train, &test, f.epochs, [&](const EpochStats& s) {
    if (s.epoch % 20 == 0 || s.epoch == f.epochs)
      std::printf("epoch %3d: train mse %.4f, test mse %.4f\n", s.epoch, s.train_loss, s.test_loss);
    return true;
  });
  const Evaluation e = loop.evaluate(test);
  std::printf("test mse %.4f, test mae %.4f (the noise alone: mse 0.0100)\n", e.mse, e.mae);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = std::string("usage: regression [flags]\n") +
                            "Fits sin(x) + noise with an MLP, MSELoss and Adam; prints the test MSE.\n" +
                            hnn_example::loop_flags_help;
  hnn_example::LoopFlags defaults;
  defaults.epochs = 100;
  defaults.lr = 0.01;
  defaults.batch_size = 32;
  try {
    return run(hnn_example::parse_loop_flags(argc, argv, defaults, usage));
  } catch (const hnn_example::UsageError& e) {
    std::fprintf(stderr, "regression: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "regression: %s\n", e.what());
    return 1;
  }
}
