// Every optimizer (each registers itself by name for make_optimizer()), gradient clipping and
// the learning-rate schedules: torch.optim in one include. A new optimizer is its own header
// under hnn/optim/ (with its kernel op under hnn/kernels/), included here.
#pragma once

#include "hnn/optim/adam.hpp"
#include "hnn/optim/adamw.hpp"
#include "hnn/optim/clip_grad_norm.hpp"
#include "hnn/optim/cosine_annealing_lr.hpp"
#include "hnn/optim/linear_lr.hpp"
#include "hnn/optim/lr_scheduler.hpp"
#include "hnn/optim/one_cycle_lr.hpp"
#include "hnn/optim/optimizer.hpp"
#include "hnn/optim/registry.hpp"
#include "hnn/optim/rmsprop.hpp"
#include "hnn/optim/sequential_lr.hpp"
#include "hnn/optim/sgd.hpp"
#include "hnn/optim/step_lr.hpp"
