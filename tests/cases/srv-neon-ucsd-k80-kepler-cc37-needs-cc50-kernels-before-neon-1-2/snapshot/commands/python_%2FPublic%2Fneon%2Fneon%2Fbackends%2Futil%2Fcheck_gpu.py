Found GPU(s) with compute capability: [3.7, 3.7]
3.7
