"""The state of one emulated chip and what SC&MP sets up at boot: sv_t, vcpu
blocks, the three heaps, router entry 0, the P2P table and the flood-fill state.
No I/O here: the chip process (process.py) owns the sockets."""
import struct
import time

from ..machine.geometry import p2p_table_words
from ..protocol import constants as C
from ..protocol.boot import version_tuple, BOOT_SV_DEFAULTS
from ..protocol.structs import SV, SV_SYSRAM_OFFSET, SDP_MSG_SIZE, SDP_MSG_T, get_field, set_field
from .arm.engine import ArmEngine
from .cores import CoreManager
from .heap import Heap
from .memory import ChipMemory
from .router import Router

# Inputs the chip cannot do without, taken from SpiNNMan's boot values when an image
# carries zeros (e.g. a bare test image)
DEFAULT_SV_INPUTS = dict({k: BOOT_SV_DEFAULTS[k] for k in (
    "iobuf_size", "sdram_bufs", "sysbuf_size", "sysram_heap", "cpu_clk", "mem_clk")}, hw_ver=5)


class Chip:
    def __init__(self, xy, machine, ip=None, clock=None):
        self.x, self.y = xy
        self.machine = machine
        self.ip = ip                          # board IP on an Ethernet chip, else None
        self.clock = clock                    # arm.clocks.ChipClock: the machine's shared clocks
        self.router = Router()
        self.memory = ChipMemory(self.router)
        self.router.memory = self.memory
        self.cores = CoreManager(self)
        self.arm = ArmEngine(self)
        self.n_cores = machine.n_cores(xy)
        self.links = machine.links[xy]
        self.reachable = set(machine.bfs(xy))   # chips P2P can reach from here
        self.booted = False
        self.version = C.DEFAULT_SCAMP_VERSION
        self.version_word = 0x00040000
        self.sdram_heap = self.sysram_heap = self.sys_heap = None
        self.sdram_sys = C.SDRAM_SYS
        self.iobuf_size = 16384
        self.tags = {}                        # tag -> dict (IP tags; the Ethernet chip's matter)
        self.transient_timeout = 0
        self.flood = {"id": None, "n_blocks": 0, "blocks": set(), "mask": 0, "load": False}
        self.leds = 0
        self.sync_enabled = True
        self.boot_time = time.time()

    @property
    def xy(self):
        return (self.x, self.y)

    @property
    def p2p_addr(self):
        return (self.x << 8) | self.y

    @property
    def is_ethernet(self):
        return self.ip is not None

    @property
    def scamp_major(self):
        return version_tuple(self.version)[0]

    # ------------------------------------------------------------- sv access
    def sv_get(self, name):
        return get_field(SV, self.memory.sysram, name, SV_SYSRAM_OFFSET)

    def sv_set(self, name, value):
        set_field(SV, self.memory.sysram, name, value, SV_SYSRAM_OFFSET)

    # ------------------------------------------------------------- boot
    def boot(self, sv_bytes, version, root=(0, 0)):
        """Bring the chip up as SC&MP does after netinit."""
        mem = self.memory
        mem.sysram[:] = bytes(C.SYSRAM_SIZE)
        mem.sysram[SV_SYSRAM_OFFSET:SV_SYSRAM_OFFSET + len(sv_bytes)] = sv_bytes
        for name, default in DEFAULT_SV_INPUTS.items():
            if not self.sv_get(name):
                self.sv_set(name, default)
        self.version = version
        major, minor, patch = version_tuple(version)
        self.version_word = (major << 16) | (minor << 8) | patch

        sysram_heap_words = self.sv_get("sysram_heap")
        sdram_heap_words = self.sv_get("sdram_heap")
        self.iobuf_size = self.sv_get("iobuf_size")
        sys_bytes = self.sv_get("sdram_bufs")
        sysbuf_words = self.sv_get("sysbuf_size")

        self.sdram_sys = max(C.SDRAM_BASE + (1 << 20), C.SDRAM_TOP - sys_bytes) & ~0xFFFF
        sdram_base = C.SDRAM_BASE + C.N_CORES * 4 * sysbuf_words
        heap_base = sdram_base + 4 * sdram_heap_words
        if heap_base >= self.sdram_sys - 4096:            # nonsense inputs: keep a usable heap
            sdram_base = heap_base = C.SDRAM_BASE + 0x240000
        sysram_heap_base = min(C.SYSRAM_HEAP_BASE + 4 * sysram_heap_words, C.VCPU_BASE - 1024)

        self.sdram_heap = Heap(mem, heap_base, self.sdram_sys)
        self.sysram_heap = Heap(mem, sysram_heap_base, C.VCPU_BASE)
        self.sys_heap = Heap(mem, self.sdram_sys + C.SDRAM_SYS_SIZE, C.SDRAM_TOP)
        hop_table = self.sys_heap.alloc(65536 * 4)
        rtr_copy = self.sys_heap.alloc((C.N_ROUTER_ENTRIES + 1) * 16)
        alloc_tag = self.sys_heap.alloc(65536 * 4)
        app_data = self.sys_heap.alloc(256 * 8)
        mem.write(alloc_tag, bytes(65536 * 4))
        mem.write(app_data, bytes(256 * 8))
        self._init_shm_buffers()

        m = self.machine
        eth = m.nearest_ethernet(self.xy)
        parent_links, children = m.spanning_tree(root)
        sv = self.sv_set
        sv("p2p_addr", self.p2p_addr)
        sv("p2p_dims", (m.width << 8) | m.height)
        sv("p2p_up", 1)
        sv("eth_addr", (eth[0] << 8) | eth[1])
        sv("eth_up", 1 if self.is_ethernet else 0)
        sv("netinit_phase", 0xFF)
        sv("p2p_root", (root[0] << 8) | root[1])
        sv("root_chip", 1 if self.xy == root else 0)
        sv("unix_time", self.sv_get("unix_time") or int(time.time()))
        sv("sysram_heap", sysram_heap_base)
        sv("sdram_heap", heap_base)
        sv("sdram_bufs", C.SDRAM_BASE)
        n = self.n_cores
        sv("p2v_map", bytes(range(n)) + b"\xff" * (20 - n))
        sv("v2p_map", bytes(range(n)) + b"\xff" * (20 - n))
        sv("status_map", bytes(20))
        sv("num_cpus", n)
        sv("rom_cpus", n)
        sv("board_addr", 0)
        sv("sdram_base", sdram_base)
        sv("sysram_base", C.SYSRAM_HEAP_BASE)
        sv("sdram_sys", self.sdram_sys)
        sv("vcpu_base", C.VCPU_BASE)
        sv("sys_heap", self.sys_heap.base)
        sv("rtr_copy", rtr_copy)
        sv("hop_table", hop_table)
        sv("alloc_tag", alloc_tag)
        sv("rtr_free", 1)
        sv("p2p_active", len(m.bfs(self.xy)))
        sv("app_data", app_data)
        sv("ip_addr", bytes(int(b) for b in self.ip.split(".")) if self.ip else bytes(4))
        sv("fr_copy", 0)
        sv("sw_ver", self.version_word)
        self.boot_time = time.time()

        # Router: entry 0 carries SC&MP's signals down the spanning tree.
        self.router.copy_base = rtr_copy
        system_route = 1 << 6
        for child in children.get(self.xy, []):
            for link in self.links:
                if m.neighbour(self.xy, link) == child:
                    system_route |= 1 << link
        self.router.reset(system_route)
        self.router.fixed_route = 0
        self.router.p2p_words = struct.pack("<8192I", *p2p_table_words(m, self.xy))
        self.parent_link = parent_links.get(self.xy, C.P2P_SELF)
        self.cores.boot(n, self.version_word)
        self.tags = {}
        self.flood = {"id": None, "n_blocks": 0, "blocks": set(), "mask": 0, "load": False}
        self.booted = True

    def _init_shm_buffers(self):
        """SC&MP's pool of SDP buffers in System RAM (sv->shm_buf, sv->shm_root): the
        monitor and SARK on the application cores pass messages in them."""
        n = self.sv_get("num_buf") or BOOT_SV_DEFAULTS["num_buf"]
        base = self.sysram_heap.alloc(n * SDP_MSG_SIZE)
        if not base:
            n, base = 0, 0
        for i in range(n):
            nxt = base + (i + 1) * SDP_MSG_SIZE if i + 1 < n else 0
            self.memory.write(base + i * SDP_MSG_SIZE, SDP_MSG_T.pack(nxt, 0, 0))
        self.sv_set("num_buf", n)
        self.sv_set("shm_buf", base)
        self.sv_set("shm_root", (base, 0, 0))
        self.sv_set("mbox_flags", 0)

    def refresh_clock(self):
        """sv clock fields advance with the wall clock (read lazily)."""
        if not self.booted:
            return
        ms = int((time.time() - self.boot_time) * 1000)
        self.sv_set("clock_ms", ms)
        self.sv_set("time_ms", ms % 1000)

    # ------------------------------------------------------------- apps
    def resource_owners(self):
        """App ids holding heap blocks or router entries on this chip."""
        apps = {b[2] for b in self.router.blocks()}
        for heap in (self.sdram_heap, self.sysram_heap, self.sys_heap):
            if heap is not None:
                apps.update(app for _a, _s, app, _t in heap.blocks() if app)
        return apps

    def free_app_resources(self, app_id):
        """STOP: free the app's SDRAM, SysRAM and system-heap blocks and router entries."""
        if app_id == 0:          # app 0 owns SC&MP's own blocks: never freed by a signal
            return 0
        n = 0
        alloc_tag = self.sv_get("alloc_tag")
        for heap in (self.sdram_heap, self.sysram_heap, self.sys_heap):
            if heap is None:
                continue
            for (app, tag) in [k for k in heap.tags if k[0] == app_id]:
                self.memory.write_word(alloc_tag + 4 * ((app << 8) + tag), 0)
            n += heap.free_app(app_id)
        self.router.free_app(app_id, clear=True)
        return n
