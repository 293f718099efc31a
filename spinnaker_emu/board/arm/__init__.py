"""The ARM engine: real SpiNNaker binaries (.aplx) on emulated ARM968 cores
(unicorn, ARM946 model) with the peripherals they use at their real addresses.
See docs/ARM.md."""
