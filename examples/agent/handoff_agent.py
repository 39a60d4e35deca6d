#!/usr/bin/env python3
"""An automation agent that asks a person for help and carries on (browser-stream example).

It drives the browser through the cdp-executor (navigates, reads the address), then, stuck at
a step only a person may do, calls the gateway's `RequestHandoff` and waits: every viewer of
the session sees the instructions, one takes control, does it and presses "Done" (or "I can't
do this"). The agent gets the outcome and the person's note, and continues when it is DONE.
A dropped connection is survived by calling `RequestHandoff` again with the same handoff id,
which awaits the same handoff instead of opening another.

Stubs are generated from proto/ with grpcio-tools when the script runs. Run it against the
stack `scripts/run` starts (it prints the organization, the session and the addresses):

    ~/.cache/browser-stream/pyenv/bin/python examples/agent/handoff_agent.py \
        --gateway 127.0.0.1:8081 --executor 127.0.0.1:50052 \
        --organization org_… --session pbs_… --instructions "Log in, then press Done"

Exit status: 0 when the person did it (DONE), 2 for any other outcome, 1 on an error.
"""

import argparse
import importlib
import os
import sys
import tempfile
import time
import uuid

import grpc
from grpc_tools import protoc

PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto", "proto")
# How often a dropped RequestHandoff is asked again (the handoff stays open meanwhile).
RECONNECTS = 5


def stubs(out_dir, proto, package):
    """The message and service modules generated from `proto` (relative to proto/proto)."""
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    code = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out_dir}",
                        f"--grpc_python_out={out_dir}", proto])
    if code != 0:
        raise RuntimeError(f"protoc failed on {proto}")
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    return importlib.import_module(f"{package}_pb2"), importlib.import_module(f"{package}_pb2_grpc")


def say(text):
    print(f"agent: {text}", flush=True)


def request_help(control_pb, control, metadata, args):
    """RequestHandoff, asked again with the same id when the connection drops."""
    handoff_id = f"agent-{uuid.uuid4().hex[:12]}"
    request = control_pb.RequestHandoffRequest(
        organization_id=args.organization, browser_session_id=args.session,
        instructions=args.instructions, handoff_id=handoff_id)
    request.timeout.FromSeconds(args.timeout)
    for attempt in range(RECONNECTS + 1):
        try:
            # The deadline bounds one wait; the handoff's own timeout bounds the person.
            return control.RequestHandoff(request, metadata=metadata, timeout=args.timeout + 30)
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            if attempt == RECONNECTS:
                raise
            say(f"connection lost ({error.code().name}); awaiting handoff {handoff_id} again")
            time.sleep(1)
    raise AssertionError("unreachable")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True, help="the gateway's gRPC control address")
    parser.add_argument("--executor", required=True, help="the cdp-executor's gRPC address")
    parser.add_argument("--organization", required=True)
    parser.add_argument("--session", required=True, help="the browser session (pbs_…)")
    parser.add_argument("--url", help="where to navigate first (optional)")
    parser.add_argument("--instructions", default="Please finish this step, then press Done.")
    parser.add_argument("--timeout", type=int, default=300, help="seconds the person has")
    parser.add_argument("--service-token", default=os.environ.get("BROWSER_STREAM_SERVICE_TOKEN"),
                        help="sent as x-service-token when the services require one")
    args = parser.parse_args()
    metadata = [("x-service-token", args.service_token)] if args.service_token else []

    with tempfile.TemporaryDirectory() as out:
        control_pb, control_grpc = stubs(out, "browserstream/control/v1/control.proto",
                                         "browserstream.control.v1.control")
        cdp_pb, cdp_grpc = stubs(out, "browserstream/cdp/v1/cdp.proto", "browserstream.cdp.v1.cdp")
    control = control_grpc.ControlStub(grpc.insecure_channel(args.gateway))
    cdp = cdp_grpc.CdpExecutorStub(grpc.insecure_channel(args.executor))
    target = cdp_pb.BrowserTarget(organization_id=args.organization, browser_session_id=args.session)

    # 1. The automated part.
    if args.url:
        page = cdp.Navigate(cdp_pb.NavigateRequest(target=target, url=args.url),
                            metadata=metadata, timeout=30)
        say(f"navigated to {page.url}")
    else:
        page = cdp.GetUrl(cdp_pb.GetUrlRequest(target=target), metadata=metadata, timeout=30)
        say(f"working on {page.url}")

    # 2. Stuck: ask a person.
    say(f"asking for help: {args.instructions!r} ({args.timeout} s)")
    result = request_help(control_pb, control, metadata, args)
    outcome = control_pb.HandoffOutcome.Name(result.outcome).removeprefix("HANDOFF_OUTCOME_")
    say(f"handoff {result.handoff_id} outcome: {outcome}")
    if result.resolved_by:
        say(f"resolved by viewer {result.resolved_by} after {result.duration.ToTimedelta()}")
    if result.note:
        say(f"note from the person: {result.note}")
    if outcome != "DONE":
        say("stopping: the step was not done")
        return 2

    # 3. Carry on where the person left the browser.
    state = control.GetControl(control_pb.GetControlRequest(
        organization_id=args.organization, browser_session_id=args.session),
        metadata=metadata, timeout=10)
    interactor = control_pb.Interactor.Name(state.interactor).removeprefix("INTERACTOR_")
    page = cdp.GetUrl(cdp_pb.GetUrlRequest(target=target), metadata=metadata, timeout=30)
    say(f"control is with the {interactor.lower()}; continuing on {page.url}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as error:
        print(f"agent: gRPC error {error.code().name}: {error.details()}", file=sys.stderr)
        sys.exit(1)
