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
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "kit", "standard-client"))
from common import die_with_parent, generate_stubs, list_services, ready_line, start_budget  # noqa: E402

PROTO = "browserstream/cdp/v1/cdp.proto"
PACKAGE = "browserstream.cdp.v1.cdp"
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


def wait_for_page(stub, pb, target):
    """Polls ListTabs until the page's script has run (its title becomes `ready`)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tabs = stub.ListTabs(pb.ListTabsRequest(target=target), timeout=RPC_TIMEOUT).tabs
        if any(tab.active and tab.title == "ready" for tab in tabs):
            return tabs
        time.sleep(0.2)
    raise TimeoutError(f"the page never became the ready active tab: {tabs}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"),
                                                      "debug", "cdp-executor"))
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    start_budget(BUDGET_SECONDS)
    work = tempfile.mkdtemp(prefix="cdp-py-")
    log_path = os.path.join(work, "cdp-executor.log")
    pb, rpc = generate_stubs(work, PROTO, PACKAGE)
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
        addr = ready_line(server, "cdp-executor")
        channel = grpc.insecure_channel(addr)
        grpc.channel_ready_future(channel).result(timeout=RPC_TIMEOUT)

        services = list_services(channel, RPC_TIMEOUT)
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
