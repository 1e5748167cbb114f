// Automatic gradients for hnn, opt-in (hnn/hnn.hpp does not include it): hnn::Var, the ops on
// it (hnn/autograd/var.hpp, over the tensor maths of hnn/ops.hpp), models and layers called on
// a Var as one node of the graph (hnn/autograd/model.hpp) and the fused softmax cross-entropy
// node (hnn/autograd/loss.hpp).
//
//   #include <hnn/autograd.hpp>
//   hnn::Sequential<float> net(hnn::Linear(4, 16), hnn::ReLU(), hnn::Linear(16, 3));
//   hnn::SGD<float> sgd(net.parameters(), {0.1});
//   hnn::Var<float> x(batch);                        // inputs need no gradient
//   auto loss = cross_entropy(net(x), labels);       // or any expression: ((p - y) * (p - y)).mean()
//   loss.backward();
//   sgd.step();
//   { hnn::NoGradGuard no_grad; auto p = net(x).value(); }   // evaluation records nothing
#pragma once

#include "hnn/autograd/loss.hpp"
#include "hnn/autograd/model.hpp"
#include "hnn/autograd/node.hpp"
#include "hnn/autograd/var.hpp"
#include "hnn/ops.hpp"
