 T-Rex NVIDIA GPU miner v0.18.9  -  [CUDA v11.10]
 r.4329cb1ce1ea
 
 NVIDIA Driver v440.100
 CUDA devices available: 1
 
 WARN: DevFee 1% (ethash)
 
 URL : stratum+tcp://eth.2miners.com:2020
 USER: 0x1f75eccd8fbddf057495b96669ac15f8e296c2cd
 PASS: x
 WRK : rig0
 
 Starting on: eth.2miners.com:2020
/home/rik/Downloads/trex/t-rex: symbol lookup error: /home/rik/Downloads/trex/t-rex: undefined symbol: cuDevicePrimaryCtxSetFlags_v2
 WARN: WATCHDOG: T-Rex does not exist anymore, restarting...
