"""Hostile cells several suites hand in (tests/test_budget.py on the sandbox itself,
tests/test_hostile_class.py in a whole class run): each bounded in the cell itself, so a limit that
fails to hold cannot harm the machine. A suite hands one in as step 1 of an assignment's reference
solution (``corpus.reproducibility.attacked``)."""

MARK = "b'FORGED-' + b'LOG-LINE'"  # built at run time, so no notebook holds the bytes
MARK_BYTES = b"FORGED-LOG-LINE"
MEMFD_ATTACK = (  # at most 3 GiB, in 64 MiB memfds (each within the 64 MiB file-size limit)
    "import os\nheld, chunk = [], b'x' * (64 << 20)\n"
    "for i in range(48):\n    fd = os.memfd_create('m%d' % i)\n    os.write(fd, chunk)\n    held.append(fd)\n"
    "total = sum(os.fstat(fd).st_size for fd in held) >> 20\n"  # a write past RLIMIT_FSIZE is short
    "print('held', total, 'MiB')\nassert total == 3072, 'the attack held only %d MiB' % total\n")
USERNS_ATTACK = (  # a user namespace of one's own would allow a tmpfs of any size
    "import subprocess\n"
    "run = subprocess.run(['unshare', '-Urm', 'sh', '-c', 'mount -t tmpfs -o size=64g none /tmp && "
    "head -c 1073741824 /dev/zero > /tmp/fill; echo mounted'], capture_output=True, text=True, timeout=60)\n"
    "print(run.returncode, run.stdout, run.stderr)\n"
    "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.unshare(0x10000000) == 0:\n    print('NEW USERNS')\n"
    "else:\n    print('unshare(CLONE_NEWUSER):', os.strerror(ctypes.get_errno()))\n")
COMM_FLOOD = ("import comm\nc = comm.create_comm(target_name='jupyter.widget', data={'state': {'a': 1}})\n"
              "for i in range(5000):\n    c.send({'method': 'update', 'state': {'a': 'z' * 20000}})\n")
DISPLAY_FLOOD = ("from IPython.display import display\nh = display('x', display_id=True)\n"
                 "for i in range(3000):\n    display('y' * 100, display_id=h.display_id)\n"
                 "for i in range(2000):\n    h.update('z' * 20000)\n")

ATTACKS = {
    "memfd_3gib": MEMFD_ATTACK,
    "userns_tmpfs": USERNS_ATTACK + "raise RuntimeError('the attack did not work')\n",
    "comm_flood": COMM_FLOOD,
    "display_flood": DISPLAY_FLOOD,
    "fills_connection_folder": (
        "from ipykernel.connect import get_connection_file\nimport json, os\n"
        "folder = os.path.dirname(json.load(open(get_connection_file()))['ip'])\n"
        "try:\n    for i in range(4096):\n        with open(os.path.join(folder, 'fill%d' % i), 'wb') as f:\n"
        "            f.write(b'x' * (1 << 20))\nexcept OSError as exc:\n    print('connection folder:', exc)\n"
        "raise RuntimeError('filled the connection folder')\n"),
    "log_forger": (
        "import glob, os\nfor fd in range(1025):\n    try:\n        os.write(fd, %s)\n        os.ftruncate(fd, 0)\n"
        "    except OSError:\n        pass\n"
        "for path in glob.glob('/proc/self/fd/*') + glob.glob('/proc/1/fd/*'):\n    try:\n"
        "        with open(path, 'wb') as f:\n            f.write(%s)\n    except OSError:\n        pass\n"
        "raise RuntimeError('forged nothing')\n" % (MARK, MARK)),
}
SLEEPING_CELLS, CELL_LIMIT = 20, 15  # cells that each sleep past the cell limit (s)

# The re-execution (the step's grade) has no frontend: comm messages go nowhere there, so a comm
# flood in step 1 costs nothing but its capped kernel output; every other attack fails step 1.
STEP1_EARNED = {"comm_flood"}
