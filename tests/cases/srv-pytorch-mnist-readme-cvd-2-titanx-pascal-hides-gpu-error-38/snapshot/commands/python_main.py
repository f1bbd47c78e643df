THCudaCheck FAIL file=torch/csrc/cuda/Module.cpp line=109 error=38 : no CUDA-capable device is detected
Files already downloaded
Train Epoch: 1 [0/60000 (0%)]	Loss: 2.297210
Train Epoch: 1 [640/60000 (1%)]	Loss: 2.318286
Train Epoch: 1 [1280/60000 (2%)]	Loss: 2.298914
Train Epoch: 1 [1920/60000 (3%)]	Loss: 2.317417
Train Epoch: 1 [2560/60000 (4%)]	Loss: 2.295015
^C
