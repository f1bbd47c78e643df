==22168== NVPROF is profiling process 22168, command: python single_batch.py
0 epoch time: 1.203086
1 epoch time: 0.011073
2 epoch time: 0.040703
3 epoch time: 0.013159
4 epoch time: 0.010278
5 epoch time: 0.062659
6 epoch time: 0.013734
7 epoch time: 0.010502
8 epoch time: 0.013077
9 epoch time: 0.009990

total time: 1.388779

==22168== Profiling application: python single_batch.py
==22168== Profiling result:
            Type  Time(%)      Time     Calls       Avg       Min       Max  Name
