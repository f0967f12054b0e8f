"""Instruction counts of the benchmarks' marked regions, from callgrind."""

import glob
import os
import re
import subprocess
import tempfile


def dumps(cmd, others=False):
    """Runs cmd under callgrind (--instr-atstart=no) and returns, for each
    dump it asked for with CALLGRIND_DUMP_STATS_AT(label), the label and
    the instructions its main thread ran. Threads are counted apart: a
    manager on a thread of the benchmark must not add its own work to the
    client's count. With others, the value is a pair: the main thread's
    instructions and every other thread's."""
    counts = {}
    rest = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                        "--separate-threads=yes",
                        f"--callgrind-out-file={out}", *cmd], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for path in glob.glob(out + "*-[0-9][0-9]"):
            with open(path) as f:
                text = f.read()
            trigger = re.search(r"^desc: Trigger: Client Request: (\S+)$",
                                text, re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if not trigger or not total:
                continue
            label = trigger.group(1)
            if path.endswith("-01"):
                counts[label] = int(total.group(1))
            else:
                rest[label] = rest.get(label, 0) + int(total.group(1))
    if others:
        return {label: (counts.get(label, 0), rest.get(label, 0)) for label
                in set(counts) | set(rest)}
    return counts
