// The whole of hnn: include this one header.
#pragma once

#include "hnn/data/idx.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/device.hpp"
#include "hnn/init.hpp"
#include "hnn/loss.hpp"
#include "hnn/optim.hpp"
#include "hnn/parallel.hpp"
#include "hnn/sequential.hpp"
#include "hnn/tensor.hpp"
#include "hnn/train.hpp"
