"""For tests/test_packet_loss.py, run with the acceptance venv's python (SpiNNMan
7.4.1): boot the machine at HOST, write and read back SDRAM on the given chips;
prints "OK n" (transfers that read back identical) or FAIL."""
import os, sys, random, tempfile
host = sys.argv[1]
CHIPS = [tuple(map(int, c.split(","))) for c in (sys.argv[2:] or ["0,0"])]
os.chdir(tempfile.mkdtemp())
from spinn_utilities.config_holder import clear_cfg_files, load_config, set_config
from spinnman.config_setup import add_spinnman_cfg
from spinnman.data.spinnman_data_writer import SpiNNManDataWriter
clear_cfg_files(False)
add_spinnman_cfg()
load_config()
set_config("Machine", "version", "5")
set_config("Machine", "machine_name", host)
set_config("Reports", "default_report_file_path", os.getcwd())
SpiNNManDataWriter.setup().set_ipaddress(host)
from spinnman.transceiver import create_transceiver_from_hostname
tx = create_transceiver_from_hostname(host, ensure_board_is_ready=True)
rng = random.Random(1)
ok = 0
for n in (7, 1024, 65536):
    data = bytes(rng.getrandbits(8) for _ in range(n))
    for (x, y) in CHIPS:
        tx.write_memory(x, y, 0x61000000, data)
        got = bytes(tx.read_memory(x, y, 0x61000000, n))
        if got != data:
            print("FAIL", x, y, n); sys.exit(1)
        ok += 1
tx.close()
print("OK", ok)
