"""What the standard-client scripts share: stubs generated from proto/ by grpcio-tools, a
service binary started on port 0 and its `listening on …` line, reflection, and a time budget.

The scripts (services/*/tests/standard_client.py) put this folder on `sys.path`.
"""

import ctypes
import importlib
import os
import queue
import signal
import sys
import threading

from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc

PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "proto", "proto")


def die_with_parent():
    """For `preexec_fn`: the child gets SIGKILL when this script dies, even by SIGKILL (Linux
    prctl)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def generate_stubs(out_dir, proto, package):
    """Generates Python stubs for `proto` (relative to proto/proto) into `out_dir` and returns
    the message and service modules of `package` (e.g. `browserstream.cdp.v1.cdp`)."""
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    code = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out_dir}",
                        f"--grpc_python_out={out_dir}", proto])
    assert code == 0, "protoc failed"
    sys.path.insert(0, out_dir)
    return importlib.import_module(f"{package}_pb2"), importlib.import_module(f"{package}_pb2_grpc")


def ready_line(server, name, timeout=30):
    """The address of a server's `listening on …` line, read on a thread so that a silent
    server cannot hang the script."""
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout],
                              daemon=True)
    reader.start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"{name} printed no ready line within {timeout} s") from None
    assert line.startswith("listening on "), line
    return line.strip().removeprefix("listening on ")


def list_services(channel, timeout):
    """The services a server lists through reflection (v1alpha, what grpcio-reflection
    speaks)."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = next(stub.ServerReflectionInfo(iter([request]), timeout=timeout))
    return sorted(s.name for s in response.list_services_response.service)


def start_budget(seconds):
    """Raises TimeoutError in the main thread once the whole run took over `seconds`."""
    def spent(_signum, _frame):
        raise TimeoutError(f"the whole run took over {seconds} s")
    signal.signal(signal.SIGALRM, spent)
    signal.alarm(seconds)
