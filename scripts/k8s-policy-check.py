#!/usr/bin/env python3
"""Checks the internal-trust rules on rendered manifests (one YAML file per object, as
k8s-render.py writes them), beyond what the API schemas can say:

- every reference to the service-token Secret is required (never `optional: true`), and each
  of the three services reads it;
- ingress is denied by default (a NetworkPolicy selecting every pod with no ingress rule);
- every workload's pods are selected by a NetworkPolicy of their own, and verification,
  the cdp-executor and the browser nodes admit only the callers PROTOCOL §8 names.

Usage: k8s-policy-check.py RENDERED_DIR  (exit 1 with one line per broken rule)
"""

import os
import sys

import yaml

TOKEN_SECRET = "browser-stream-service-token"
TOKEN_READERS = {"gateway", "verification", "cdp-executor"}
# The only callers each internal service admits (pod app names; "backend" is the label
# browser-stream.dev/backend=true of automation agents).
CALLERS = {
    "verification": {"gateway", "cdp-executor"},
    "cdp-executor": {"gateway", "backend"},
    "browser-node": {"gateway", "cdp-executor"},
}


def load(directory):
    objects = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            objects.extend(doc for doc in yaml.safe_load_all(f) if doc)
    return objects


def app_name(labels):
    return (labels or {}).get("app.kubernetes.io/name")


def env_refs(workload):
    for container in workload["spec"]["template"]["spec"].get("containers", []):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                yield ref


def caller(peer):
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    if labels.get("browser-stream.dev/backend") == "true":
        return "backend"
    return app_name(labels) or "<any>"


def main(directory):
    objects = load(directory)
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    errors = []
    readers = set()
    for workload in workloads:
        name = app_name(workload["spec"]["template"]["metadata"].get("labels"))
        for ref in env_refs(workload):
            if ref.get("name") == TOKEN_SECRET:
                readers.add(name)
                if ref.get("optional"):
                    errors.append(f"{name}: the service token Secret is optional")
    for missing in sorted(TOKEN_READERS - readers):
        errors.append(f"{missing}: does not read the service token Secret")
    if not any(p["spec"].get("podSelector") == {} and not p["spec"].get("ingress") for p in policies):
        errors.append("no default-deny ingress NetworkPolicy")
    own = {}
    for policy in policies:
        name = app_name(policy["spec"].get("podSelector", {}).get("matchLabels"))
        if name:
            own[name] = policy
    for workload in workloads:
        name = app_name(workload["spec"]["template"]["metadata"].get("labels"))
        if name not in own:
            errors.append(f"{name}: no NetworkPolicy selects its pods")
    for name, allowed in CALLERS.items():
        policy = own.get(name)
        if not policy:
            continue
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            if not peers:
                errors.append(f"{name}: an ingress rule admits every source")
                continue
            for peer in peers:
                if caller(peer) not in allowed:
                    errors.append(f"{name}: admits {caller(peer)}")
    for error in errors:
        print(f"k8s-policy-check: {directory}: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
