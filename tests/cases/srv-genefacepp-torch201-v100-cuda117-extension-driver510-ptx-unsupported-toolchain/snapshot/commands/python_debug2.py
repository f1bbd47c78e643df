Numpy to tensor....
tensor to cuda ...
Traceback (most recent call last):
   File "/data/workspace/online-lipsync/online-genefacepp/debug2.py", line 14, in <module>
    data_ts = data_ts.cuda()
RuntimeError: CUDA error: the provided PTX was compiled with an unsupported toolchain.
CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.
For debugging consider passing CUDA_LAUNCH_BLOCKING=1.
Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.
