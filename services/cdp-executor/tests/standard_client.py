#!/usr/bin/env python3
"""Calls the cdp-executor from a standard gRPC stack (Python grpcio), not our Rust client.

Starts a headless Chromium on a page whose autofocused input selects its whole text on every
`input` event (so a paste reads back as the selection), starts `cdp-executor serve` on a free
port with `--trust-request-cdp-url`, lists services through server reflection, checks
grpc.health.v1, and calls InsertText, GetSelectedText, GetUrl, ListTabs and Screenshot with
stubs generated from the .proto by grpcio-tools.

Run (from the repository root, after `cargo build -p cdp-executor` and scripts/install-deps):
    ~/.cache/browser-stream/pyenv/bin/python services/cdp-executor/tests/standard_client.py \
        --bin "${CARGO_TARGET_DIR:-target}/debug/cdp-executor"
Prints `ok: …` lines and exits 0, or raises. `cargo nextest run -p cdp-executor --test
standard_client` runs it too.
"""

import argparse
import ctypes
import importlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "..", "proto", "proto")
PROTO = "browserstream/cdp/v1/cdp.proto"
SERVICE = "browserstream.cdp.v1.CdpExecutor"
# Non-ASCII on purpose: the text crosses protobuf, the executor and the page as UTF-8.
PASTED = "pasted ü 漢字"
# The whole run; every wait inside it has its own, shorter bound.
BUDGET_SECONDS = 150
RPC_TIMEOUT = 15
PAGE = """<!doctype html><meta charset="utf-8">
<input id="i" autofocus>
<script>
  const input = document.getElementById("i");
  input.addEventListener("input", () => input.select());
  input.focus();
  document.title = "ready";
</script>"""


def die_with_parent():
    """Children get SIGKILL when this script dies, even by SIGKILL (Linux prctl)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def generate_stubs(out_dir):
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    code = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out_dir}",
                        f"--grpc_python_out={out_dir}", PROTO])
    assert code == 0, "protoc failed"
    sys.path.insert(0, out_dir)
    pb = importlib.import_module("browserstream.cdp.v1.cdp_pb2")
    rpc = importlib.import_module("browserstream.cdp.v1.cdp_pb2_grpc")
    return pb, rpc


def start_chromium(executable, profile, url):
    """Starts headless Chromium in its own process group; returns it and its DevTools URL."""
    browser = subprocess.Popen(
        [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--remote-debugging-port=0", f"--user-data-dir={profile}", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=die_with_parent)
    active_port = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert browser.poll() is None, f"chromium exited with {browser.returncode}"
        try:
            with open(active_port, encoding="ascii") as file:
                port = file.readline().strip()
        except FileNotFoundError:
            port = ""
        if port.isdigit():
            return browser, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    raise TimeoutError("chromium wrote no DevToolsActivePort within 30 s")


def stop(process, group=False):
    if process is None or process.poll() is not None:
        return
    if group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def ready_line(server):
    """The `listening on …` line, read on a thread so that a silent server cannot hang us."""
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout],
                              daemon=True)
    reader.start()
    try:
        line = lines.get(timeout=30)
    except queue.Empty:
        raise TimeoutError("cdp-executor printed no ready line within 30 s") from None
    assert line.startswith("listening on "), line
    return line.strip().removeprefix("listening on ")


def list_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = next(stub.ServerReflectionInfo(iter([request]), timeout=RPC_TIMEOUT))
    return sorted(s.name for s in response.list_services_response.service)


def wait_for_page(stub, pb, target):
    """Polls ListTabs until the page's script has run (its title becomes `ready`)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tabs = stub.ListTabs(pb.ListTabsRequest(target=target), timeout=RPC_TIMEOUT).tabs
        if any(tab.active and tab.title == "ready" for tab in tabs):
            return tabs
        time.sleep(0.2)
    raise TimeoutError(f"the page never became the ready active tab: {tabs}")


def on_budget_spent(_signum, _frame):
    raise TimeoutError(f"the whole run took over {BUDGET_SECONDS} s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"),
                                                      "debug", "cdp-executor"))
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, on_budget_spent)
    signal.alarm(BUDGET_SECONDS)
    work = tempfile.mkdtemp(prefix="cdp-py-")
    log_path = os.path.join(work, "cdp-executor.log")
    pb, rpc = generate_stubs(work)
    page_url = "data:text/html;charset=utf-8," + urllib.parse.quote(PAGE)
    browser = server = None
    try:
        browser, cdp_url = start_chromium(args.chromium, os.path.join(work, "profile"), page_url)
        print("ok: chromium DevTools at", cdp_url)
        with open(log_path, "w", encoding="utf-8") as log:
            server = subprocess.Popen(
                [args.bin, "serve", "--listen", "127.0.0.1:0", "--trust-request-cdp-url"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
                preexec_fn=die_with_parent)
        addr = ready_line(server)
        channel = grpc.insecure_channel(addr)
        grpc.channel_ready_future(channel).result(timeout=RPC_TIMEOUT)

        services = list_services(channel)
        # Only what this process serves (the shared descriptor set describes every package).
        assert services == sorted([SERVICE, "grpc.health.v1.Health"]), services
        print("ok: reflection lists", services)
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            answer = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=RPC_TIMEOUT)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, (name, answer)
        print("ok: grpc.health.v1 SERVING (server and", SERVICE + ")")

        stub = rpc.CdpExecutorStub(channel)
        target = pb.BrowserTarget(organization_id="org_py", browser_session_id="pbs_py",
                                  cdp_url=cdp_url)
        tabs = wait_for_page(stub, pb, target)
        print("ok: ListTabs ->", [(tab.title, tab.active) for tab in tabs])

        stub.InsertText(pb.InsertTextRequest(target=target, text=PASTED), timeout=RPC_TIMEOUT)
        selected = stub.GetSelectedText(pb.GetSelectedTextRequest(target=target),
                                        timeout=RPC_TIMEOUT)
        assert selected.text == PASTED and not selected.truncated, (selected.text, PASTED)
        print("ok: InsertText then GetSelectedText ->", selected.text)

        url = stub.GetUrl(pb.GetUrlRequest(target=target), timeout=RPC_TIMEOUT).url
        assert url == page_url, (url, page_url)
        print("ok: GetUrl -> the page's data: URL")

        shot = stub.Screenshot(pb.ScreenshotRequest(target=target), timeout=RPC_TIMEOUT)
        assert shot.data.startswith(b"\x89PNG\r\n\x1a\n"), shot.data[:16]
        assert shot.mime_type == "image/png", shot.mime_type
        print("ok: Screenshot ->", len(shot.data), "bytes of PNG")
        channel.close()
    except BaseException:
        signal.alarm(0)
        stop(server)
        if os.path.exists(log_path):
            with open(log_path, encoding="utf-8", errors="replace") as log:
                print("cdp-executor log (last 40 lines):", *log.readlines()[-40:], sep="\n  ",
                      file=sys.stderr)
        raise
    finally:
        signal.alarm(0)
        stop(server)
        stop(browser, group=True)
        shutil.rmtree(work, ignore_errors=True)
    print("all RPCs answered")


if __name__ == "__main__":
    main()
