"""The many-files model of bench/many_files.sh and bench/pull_fsyncs.sh: FILES random files of 1 KiB to
1 MiB (log-uniform, fixed seed: the same sizes every run; ~1.4 GiB for 10,000) in 100 directories.
usage: python3 bench/many_files_model.py DIR FILES"""
import os
import random
import sys

root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(22)
for i in range(n):
    d = os.path.join(root, f"shard-{i % 100:03d}")
    os.makedirs(d, exist_ok=True)
    size = int(1024 * 1024 ** rng.random())  # 1 KiB .. 1 MiB, log-uniform
    with open(os.path.join(d, f"part-{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(size))
