// lenet5: trains d2l's LeNet-5 on Fashion-MNIST and reports as d2l does; saves, resumes
// and classifies image files with the trained model.
//   lenet5 [--epochs N] [--lr X] [--batch-size N] [--seed N] [--data DIR]
//          [--variant sigmoid|relu] [--threads N] [--device cpu|cuda]
//          [--optimizer sgd|adam|adamw] [--momentum X] [--weight-decay X]
//          [--schedule constant|step|cosine|onecycle] [--step-size N] [--gamma X]
//          [--save PATH [--checkpoint-every N]] [--resume PATH]
//          [--history FILE.csv] [--plot FILE.svg] [--gallery FILE.png] [--progress auto|on|off]
//   lenet5 predict --model PATH [--device cpu|cuda] [--top K] IMAGE...
//   lenet5 export --model M.hnn --out M.safetensors|M.onnx   (and predict on those: export.hpp)
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include <hnn/parallel.hpp>

#include "../common/main.hpp"
#include "export.hpp"
#include "model.hpp"

namespace {

// %s: the optimizer flags' help (examples/common/cli.hpp), put in by usage_text().
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
    "  --model PATH            the checkpoint to use, or a .safetensors or .onnx file (CPU only)\n"
    "  --variant sigmoid|relu  for a .safetensors file PyTorch wrote: the network it holds\n"
    "  --test-set DIR          instead of images: the accuracy on the Fashion-MNIST test split in DIR\n"
    "  --logits FILE           with --test-set: write every logit (float32, N x 10) to FILE\n"
    "  --top K                 classes to print per image (default 3)\n"
    "  --device cpu|cuda       where to run the model (default cpu)\n"
    "  --threads N             CPU threads (default: all cores)\n"
    "\n"
    "usage: lenet5 export --model M.hnn --out M.safetensors|M.onnx [--format safetensors|onnx]\n"
    "Writes a checkpoint's model as safetensors (F32, PyTorch's state_dict names), which\n"
    "PyTorch loads with safetensors.torch.load_file and nn.Sequential.load_state_dict, or as\n"
    "ONNX (opset 13, input (N, 1, 28, 28)) for onnxruntime and other runtimes.\n";

std::string usage_text() {
  std::string text = usage;
  const std::size_t at = text.find("%s");
  return text.replace(at, 2, hnn_example::optimizer_flags_help);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = usage_text();
  return hnn_example::guarded_main(lenet::Program::name, [&] {
    if (argc > 1 && std::string(argv[1]) == "export") return lenet::export_main(argc, argv);
    if (lenet::is_safetensors_predict(argc, argv)) return lenet::predict_safetensors_main(argc, argv);
    if (argc > 1 && std::string(argv[1]) == "predict") return hnn_example::predict_main<lenet::Program>(argc, argv, usage);
    return hnn_example::train_main(argc, argv, usage, lenet::Program{});
  });
}
