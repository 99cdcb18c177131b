"""What shipped code can reach on a worker of the tq image.

Run by image_python_test.sh with the image's python3: maps one function
across the cluster that reports, from inside a worker's runner, its user,
its working directory, whether it can read the worker's CURVE secret key
and where it can write. Prints the facts as one JSON object.
"""
import json
import os
import sys

import tq


def reach(_: int) -> dict:
    """Facts about the runner this call runs in."""
    def can_write(directory: str) -> bool:
        path = os.path.join(directory, "tq-reach-probe.py")
        try:
            with open(path, "w"):
                pass
        except OSError:
            return False
        os.unlink(path)
        return True

    try:
        with open("/etc/tq/keys/worker.key", "rb"):
            key = "readable"
    except OSError as error:
        key = type(error).__name__
    return {
        "uid": os.getuid(),
        "cwd": os.getcwd(),
        "sys_path_0": sys.path[0],
        "worker_key": key,
        "cwd_writable": can_write(os.getcwd()),
        "tq_package_writable": can_write(os.path.dirname(tq.__file__)),
        "tmp_writable": can_write("/tmp"),
    }


if __name__ == "__main__":
    with tq.Pool(broker=os.environ["TQ_BROKER"]) as pool:
        print(json.dumps(pool.map(reach, [0])[0], sort_keys=True))
