// lenet5: trains d2l's LeNet-5 on Fashion-MNIST and reports as d2l does; saves, resumes
// and classifies image files with the trained model.
//   lenet5 [--epochs N] [--lr X] [--batch-size N] [--seed N] [--data DIR]
//          [--variant sigmoid|relu] [--threads N] [--device cpu|cuda]
//          [--optimizer sgd|adam|adamw] [--momentum X] [--weight-decay X]
//          [--schedule constant|step|cosine] [--step-size N] [--gamma X]
//          [--save PATH [--checkpoint-every N]] [--resume PATH]
//          [--history FILE.csv] [--plot FILE.svg] [--gallery FILE.png] [--progress auto|on|off]
//   lenet5 predict --model PATH [--device cpu|cuda] [--top K] IMAGE...
//   lenet5 export --model M.hnn --out M.safetensors   (and predict on .safetensors: export.hpp)
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include <hnn/parallel.hpp>

#include "../common/cli.hpp"
#include "../common/predict.hpp"
#include "../common/run.hpp"
#include "export.hpp"
#include "model.hpp"

#if defined(HNN_WITH_CUDA)
namespace lenet {
// Defined in lenet5_cuda.cu; throws when no GPU is visible.
int run_training_cuda(const Options& o, const Program& program);
}  // namespace lenet
#endif

namespace {

// A printf format: %s is the optimizer flags' help (examples/common/cli.hpp).
const char* const usage =
    "usage: lenet5 [options]\n"
    "Trains LeNet-5 (d2l.ai) on Fashion-MNIST and prints loss, accuracy and speed.\n"
    "\n"
    "  --epochs N              epochs to train (default 10)\n"
    "  --lr X                  learning rate (default 0.9 for sigmoid, 0.05 for relu)\n"
    "  --momentum X            SGD momentum, 0 <= X < 1 (default 0 for sigmoid, 0.9 for relu)\n"
    "  --batch-size N          examples per step (default 256)\n"
    "  --seed N                seed for weights and shuffling (default 0)\n"
    "  --data DIR              Fashion-MNIST folder (default: $HNN_DATA, then data/fashion-mnist,\n"
    "                          then /usr/share/datasets/fashion-mnist)\n"
    "  --variant sigmoid|relu  sigmoid + average pooling (d2l), or ReLU + max pooling\n"
    "  --threads N             CPU threads (default: all cores)\n"
    "  --device cpu|cuda       where to train (default cpu)\n"
    "  --save PATH             write the model and training state to PATH after training\n"
    "  --checkpoint-every N    with --save: also write PATH every N epochs\n"
    "  --resume PATH           continue training from a checkpoint to --epochs in total; the\n"
    "                          recipe flags not given (variant, lr, momentum, batch size,\n"
    "                          optimizer, weight decay, schedule) come\n"
    "                          from the checkpoint, and the result equals an uninterrupted run\n"
    "  --history FILE.csv      write epoch, train_loss, train_acc, test_acc, examples_per_sec,\n"
    "                          seconds after every epoch\n"
    "  --plot FILE.svg         write the training curves (d2l style) after every epoch\n"
    "  --gallery FILE.png      write a picture of test images with their predicted classes\n"
    "                          (.ppm also works)\n"
    "  --progress auto|on|off  a progress bar per epoch (auto: when stdout is a terminal)\n"
    "  --help                  this text\n"
    "%s"
    "\n"
    "usage: lenet5 predict --model PATH [options] IMAGE...\n"
    "Classifies PNG, PGM or PPM images with a model written by --save and prints the three\n"
    "most likely Fashion-MNIST classes of each. Each image is converted to grayscale, inverted\n"
    "when its border is light (Fashion-MNIST is a light object on black); unless it is 28x28\n"
    "already, it is cropped to its object, scaled to fit 28x28 keeping its aspect ratio, and\n"
    "padded with black.\n"
    "\n"
    "  --model PATH            the checkpoint to use, or a .safetensors file (CPU only)\n"
    "  --variant sigmoid|relu  for a .safetensors file PyTorch wrote: the network it holds\n"
    "  --test-set DIR          instead of images: the accuracy on the Fashion-MNIST test split in DIR\n"
    "  --logits FILE           with --test-set: write every logit (float32, N x 10) to FILE\n"
    "  --top K                 classes to print per image (default 3)\n"
    "  --device cpu|cuda       where to run the model (default cpu)\n"
    "  --threads N             CPU threads (default: all cores)\n"
    "\n"
    "usage: lenet5 export --model M.hnn --out M.safetensors\n"
    "Writes a checkpoint's model as safetensors (F32, PyTorch's state_dict names), which\n"
    "PyTorch loads with safetensors.torch.load_file and nn.Sequential.load_state_dict.\n";

using hnn_example::nonempty;
using hnn_example::parse_integer;
using hnn_example::UsageError;

lenet::Options parse(int argc, char** argv, lenet::Program& program) {
  lenet::Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(usage, hnn_example::optimizer_flags_help);
      std::exit(0);
    }
    if (flag.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + flag + "' (see --help)");
    if (i + 1 >= argc) throw UsageError(flag + " needs a value (see --help)");
    const std::string value = argv[++i];
    if (hnn_example::parse_training_flag(flag, value, o)) continue;
    if (flag == "--variant") {
      if (value == "sigmoid") program.variant = lenet::Variant::sigmoid;
      else if (value == "relu") program.variant = lenet::Variant::relu;
      else throw UsageError("--variant must be sigmoid or relu, got '" + value + "'");
      program.variant_given = true;
    } else {
      throw UsageError("unknown flag " + flag + " (see --help)");
    }
  }
  hnn_example::check_training_flags(o, program.recipe());
  return o;
}

// lenet5 predict --model PATH [--top K] [--device cpu|cuda] [--threads N] IMAGE...
lenet::PredictOptions parse_predict(int argc, char** argv) {
  lenet::PredictOptions o;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf(usage, hnn_example::optimizer_flags_help);
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      o.images.push_back(arg);
      continue;
    }
    if (i + 1 >= argc) throw UsageError(arg + " needs a value (see --help)");
    const std::string value = argv[++i];
    if (arg == "--model") o.model_path = nonempty(arg, value);
    else if (arg == "--top") o.top = static_cast<int>(parse_integer(arg, value, 1, 1000));
    else if (arg == "--threads") o.threads = static_cast<int>(parse_integer(arg, value, 1, 1024));
    else if (arg == "--device") {
      if (value != "cpu" && value != "cuda") throw UsageError("--device must be cpu or cuda, got '" + value + "'");
      o.device = value;
    } else {
      throw UsageError("unknown flag " + arg + " for predict (see --help)");
    }
  }
  if (o.model_path.empty()) throw UsageError("predict needs --model PATH (see --help)");
  if (o.images.empty()) throw UsageError("predict needs at least one image file (see --help)");
  return o;
}

int predict_main(int argc, char** argv) {
  const lenet::PredictOptions options = parse_predict(argc, argv);
  if (options.threads > 0) hnn::set_num_threads(options.threads);
  if (options.device == "cuda") {
#if defined(HNN_WITH_CUDA)
    return lenet::run_predict_cuda(options);
#else
    throw UsageError("--device cuda: this lenet5 was built without CUDA (configure with -DHNN_CUDA=ON on a machine with nvcc)");
#endif
  }
  return lenet::run_predict<hnn::cpu>(options);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "export") return lenet::export_main(argc, argv);
    if (lenet::is_safetensors_predict(argc, argv)) return lenet::predict_safetensors_main(argc, argv);
    if (argc > 1 && std::string(argv[1]) == "predict") return predict_main(argc, argv);
    lenet::Program program;
    const lenet::Options options = parse(argc, argv, program);
    if (options.threads > 0) hnn::set_num_threads(options.threads);
    if (options.device == "cuda") {
#if defined(HNN_WITH_CUDA)
      return lenet::run_training_cuda(options, program);
#else
      throw UsageError("--device cuda: this lenet5 was built without CUDA (configure with -DHNN_CUDA=ON on a machine with nvcc)");
#endif
    }
    return lenet::run_training<hnn::cpu>(options, program);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "lenet5: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lenet5: %s\n", e.what());
    return 1;
  }
}
