
Variable containing:
 1  1
 1  1
[torch.FloatTensor of size 2x2]

Variable containing:
 3  3
 3  3
[torch.FloatTensor of size 2x2]

<torch.autograd._functions.basic_ops.AddConstant object at 0x7fdb51c43748>
Variable containing:
 27  27
 27  27
[torch.FloatTensor of size 2x2]
 Variable containing:
 27
[torch.FloatTensor of size 1]

NVIDIA: no NVIDIA devices found
THCudaCheck FAIL file=torch/csrc/autograd/engine.cpp line=359 error=30 : unknown error
Traceback (most recent call last):
  File "autograd_tutorial.py", line 81, in <module>
    out.backward()
  File "/home/tftest2/anaconda3/lib/python3.6/site-packages/torch/autograd/variable.py", line 146, in backward
