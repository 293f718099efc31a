"""The VIC's interrupt sources on a SpiNNaker core (spinnaker.h vic_irq_e): the
line numbers the peripherals drive. The peripherals themselves run in native code
in the core's state words: vic.py, timers.py, dma.py, comms.py (their lines are
gathered by native.update_lines); the router and the system controller are the
chip's (board/router.py, board/sysctl.py)."""
SOFTWARE_INT, TIMER1_INT, TIMER2_INT = 1, 4, 5
CC_RDY_INT, CC_TMT_INT, DMA_DONE_INT, DMA_ERR_INT = 6, 11, 12, 13
CPU_INT, CC_TNF_INT, CC_MC_INT, CC_P2P_INT, CC_NN_INT, CC_FR_INT = 18, 23, 24, 25, 26, 27
