// The smallest program a user of hnn writes: include the umbrella header, make a tensor.
#include <hnn/hnn.hpp>

#include <iostream>

int main() {
  hnn::Tensor<float> t(hnn::Shape{2, 3});
  std::cout << "hnn consumer: numel = " << t.numel() << "\n";
  return t.numel() == 6 ? 0 : 1;
}
