// The whole of hnn: include this one header. (hnn/png.hpp is apart: it needs libpng.)
#pragma once

#include "hnn/checkpoint.hpp"
#include "hnn/data/idx.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/device.hpp"
#include "hnn/image.hpp"
#include "hnn/init.hpp"
#include "hnn/loss.hpp"
#include "hnn/optim.hpp"
#include "hnn/parallel.hpp"
#include "hnn/plan.hpp"
#include "hnn/predict.hpp"
#include "hnn/registry.hpp"
#include "hnn/report.hpp"
#include "hnn/sequential.hpp"
#include "hnn/tensor.hpp"
#include "hnn/train.hpp"
