#!/usr/bin/env python3
"""Calls every verification RPC from a standard gRPC stack (Python grpcio), not our Rust client.

Starts `verification serve` on a free port over a fresh SQLite file, seeds it with
`verification admin`, lists services through server reflection (v1alpha, what grpcio-reflection
speaks), checks grpc.health.v1, and calls Authenticate, CreateStreamTicket, the link RPCs
(CreateStreamLink, CreateStreamTicketFromLink, RevokeStreamLink, CheckRevoked), the three
Verify RPCs, RecordActivity and Watch, with stubs generated from the .proto by grpcio-tools.

Run (from the repository root, after `cargo build -p verification` and scripts/install-deps):
    ~/.cache/browser-stream/pyenv/bin/python services/verification/tests/standard_client.py \
        --bin "${CARGO_TARGET_DIR:-target}/debug/verification"
Prints `ok: …` lines and exits 0, or raises. `cargo nextest run -p verification --test
standard_client` runs it too.
"""

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "kit", "standard-client"))
from common import die_with_parent, generate_stubs, list_services, ready_line, start_budget  # noqa: E402

PROTO = "browserstream/verification/v1/verification.proto"
PACKAGE = "browserstream.verification.v1.verification"
# The whole run; every wait inside it has its own, shorter bound.
BUDGET_SECONDS = 150


def admin(binary, db_url, *args):
    out = subprocess.run([binary, "admin", *args, "--database-url", db_url], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    lines = out.splitlines()
    assert len(lines) == 1, out
    return lines[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"),
                                                      "debug", "verification"))
    binary = parser.parse_args().bin
    start_budget(BUDGET_SECONDS)
    work = tempfile.mkdtemp(prefix="vt-py-")
    db_url = f"sqlite://{work}/v.db"
    pb, rpc = generate_stubs(work, PROTO, PACKAGE)
    server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--database-url", db_url,
                               "--poll-interval", "100ms"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, preexec_fn=die_with_parent)
    try:
        addr = ready_line(server, "verification")
        channel = grpc.insecure_channel(addr)
        grpc.channel_ready_future(channel).result(timeout=10)

        services = list_services(channel, timeout=10)
        assert "browserstream.verification.v1.Verification" in services, services
        print("ok: reflection lists", services)
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        print("ok: grpc.health.v1 SERVING")

        org = admin(binary, db_url, "create-org", "--name", "py")
        key = admin(binary, db_url, "create-api-key", "--org", org)
        pbs = admin(binary, db_url, "create-browser-session", "--org", org,
                    "--cdp-url", "http://127.0.0.1:9222", "--vnc-url", "tcp://127.0.0.1:5900")
        run = admin(binary, db_url, "create-workflow-run", "--org", org, "--browser-session", pbs)
        task = admin(binary, db_url, "create-task", "--org", org, "--workflow-run", run)
        stub = rpc.VerificationStub(channel)

        who = stub.Authenticate(pb.AuthenticateRequest(api_key=key), timeout=10)
        assert who.organization_id == org
        print("ok: Authenticate(api_key) ->", who.organization_id)
        entity = pb.EntityRef(kind=pb.ENTITY_KIND_BROWSER_SESSION, id=pbs)
        minted = stub.CreateStreamTicket(pb.CreateStreamTicketRequest(
            organization_id=org, entity=entity, scope=pb.SCOPE_VIEW), timeout=10)
        grant = stub.Authenticate(pb.AuthenticateRequest(ticket=minted.ticket), timeout=10)
        assert grant.ticket.entity.id == pbs and grant.ticket.scope == pb.SCOPE_VIEW
        try:
            stub.Authenticate(pb.AuthenticateRequest(ticket=minted.ticket), timeout=10)
            raise AssertionError("a ticket opened twice")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
        print("ok: CreateStreamTicket + Authenticate(ticket) once, then UNAUTHENTICATED")

        link = stub.CreateStreamLink(pb.CreateStreamLinkRequest(
            organization_id=org, entity=entity, scope=pb.SCOPE_VIEW, ttl_seconds=600), timeout=10)
        bought = stub.CreateStreamTicketFromLink(
            pb.CreateStreamTicketFromLinkRequest(secret=link.secret), timeout=10)
        assert bought.grant.entity.id == pbs and bought.grant.scope == pb.SCOPE_VIEW
        opened = stub.Authenticate(pb.AuthenticateRequest(ticket=bought.ticket), timeout=10)
        revocable = f"link:{link.link_id}"
        assert opened.revocable == revocable, opened
        assert list(stub.CheckRevoked(pb.CheckRevokedRequest(ids=[revocable]), timeout=10).revoked) == []
        stub.RevokeStreamLink(pb.RevokeStreamLinkRequest(organization_id=org, link_id=link.link_id),
                              timeout=10)
        assert list(stub.CheckRevoked(pb.CheckRevokedRequest(ids=[revocable]), timeout=10).revoked) \
            == [revocable]
        print("ok: CreateStreamLink + CreateStreamTicketFromLink, RevokeStreamLink, CheckRevoked")

        answers = [
            stub.VerifyBrowserSession(pb.VerifyBrowserSessionRequest(
                organization_id=org, browser_session_id=pbs, require_vnc=True), timeout=10),
            stub.VerifyTask(pb.VerifyTaskRequest(organization_id=org, task_id=task, require_vnc=True),
                            timeout=10),
            stub.VerifyWorkflowRun(pb.VerifyWorkflowRunRequest(
                organization_id=org, workflow_run_id=run, require_vnc=True), timeout=10),
        ]
        assert all(a.verdict == pb.VERDICT_LIVE for a in answers), answers
        print("ok: VerifyBrowserSession/VerifyTask/VerifyWorkflowRun LIVE")
        try:
            stub.VerifyTask(pb.VerifyTaskRequest(organization_id=org, task_id="wr_x"), timeout=10)
            raise AssertionError("a malformed id was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        print("ok: malformed id -> INVALID_ARGUMENT")

        updated = stub.RecordActivity(pb.RecordActivityRequest(sessions=[
            pb.SessionActivity(organization_id=org, browser_session_id=pbs)]), timeout=10)
        assert updated.updated == 1
        print("ok: RecordActivity updated", updated.updated)

        requests = queue.Queue()
        requests.put(pb.WatchRequest(add=pb.WatchedEntity(organization_id=org, entity=entity)))
        events = stub.Watch(iter(requests.get, None), timeout=30)
        admin(binary, db_url, "set-status", "browser_session", pbs, "completed")
        event = next(events)
        assert event.entity.entity.id == pbs and event.verdict == pb.VERDICT_NOT_LIVE, event
        print("ok: Watch reported", event.entity.entity.id, event.reason)
        requests.put(None)
        events.cancel()
    finally:
        signal.alarm(0)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print("all RPCs answered")


if __name__ == "__main__":
    main()
