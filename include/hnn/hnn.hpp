// The whole of the hnn library: include this one header. What a program adds on top of it
// is opt-in and apart, under hnn/extras/: images and the Fashion-MNIST preprocessing of
// photos (extras/image.hpp), PNG files through libpng (extras/png.hpp), folders of PNG images
// as a dataset (extras/image_folder.hpp, libpng too), SVG training curves and a prediction
// gallery (extras/report.hpp).
#pragma once

#include "hnn/io/checkpoint.hpp"
#include "hnn/data/cifar.hpp"
#include "hnn/data/dataset.hpp"
#include "hnn/data/idx.hpp"
#include "hnn/data/loader.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/data/resident_loader.hpp"
#include "hnn/data/subset.hpp"
#include "hnn/data/transforms.hpp"
#include "hnn/device.hpp"
#include "hnn/init.hpp"
#include "hnn/model/residual.hpp"
#include "hnn/loss.hpp"
#include "hnn/training/metrics.hpp"
#include "hnn/optim.hpp"
#include "hnn/parallel.hpp"
#include "hnn/model/concat.hpp"
#include "hnn/model/plan.hpp"
#include "hnn/training/predict.hpp"
#include "hnn/model/registry.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/tensor.hpp"
#include "hnn/training/callbacks.hpp"
#include "hnn/training/train.hpp"
#include "hnn/training/train_loop.hpp"
#include "hnn/training/training_state.hpp"
