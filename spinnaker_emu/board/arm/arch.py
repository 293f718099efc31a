"""ARMv5TE facts the engine needs (ARM Architecture Reference Manual): CPSR bits and
modes, the exception vectors, and the WFI instruction of the ARM968 (a CP15 write).
Shared by the Python side (cpu.py, engine.py) and the compiled side (native.py)."""

T_BIT, F_BIT, I_BIT = 1 << 5, 1 << 6, 1 << 7
MODE_MASK = 0x1F
MODE_USR, MODE_FIQ, MODE_IRQ, MODE_SVC, MODE_ABT, MODE_UND, MODE_SYS = 0x10, 0x11, 0x12, 0x13, 0x17, 0x1B, 0x1F

# Exception vectors (offset, mode, LR = faulting/return address + adjust)
VEC_UNDEF, VEC_SVC, VEC_PABT, VEC_DABT, VEC_IRQ, VEC_FIQ = 0x04, 0x08, 0x0C, 0x10, 0x18, 0x1C

WFI_WORD, WFI_MASK = 0xEE070F90, 0xFFFF0FFF      # mcr p15, 0, rX, c7, c0, 4 (any rX)
