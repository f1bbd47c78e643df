#pynari: selecting 'barney' backend
unknown CUDA error when building module for bounds program kernel CUDA_ERROR_UNSUPPORTED_PTX_VERSION log: ptxas application ptx input, line 9; fatal   : Unsupported .version 8.5; current version is '8.4'
Traceback (most recent call last):
  File "/home/osqui/pynari/pynari/sample01.py", line 38, in <module>
    camera = device.newCamera('perspective')
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
KeyboardInterrupt
