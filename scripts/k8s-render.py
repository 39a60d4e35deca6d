#!/usr/bin/env python3
"""Renders a kustomization (k8s/base or an overlay) offline, for validation where kubectl and
kustomize are not installed.

It implements only the kustomize features browser-stream's manifests use, and refuses any
other key, so it cannot silently render something different from `kubectl kustomize`:
resources (files and directories with a kustomization.yaml), namespace, labels (pairs, into
metadata.labels), patches (strategic-merge patch files; lists of objects merge by `name`),
and images (newName, newTag).

Usage: k8s-render.py KUSTOMIZATION_DIR OUT_DIR  -> one YAML file per object in OUT_DIR.
"""

import copy
import os
import sys

import yaml

KNOWN_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "patches", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def key(obj):
    return (obj.get("kind"), obj["metadata"]["name"])


def merge(base, patch):
    """Strategic merge, the subset we use: maps merge; lists of maps with `name` merge by
    name; any other value (and other lists) is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out = [copy.deepcopy(i) for i in base]
        index = {i["name"]: n for n, i in enumerate(out)}
        for item in patch:
            if item["name"] in index:
                out[index[item["name"]]] = merge(out[index[item["name"]]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def pod_specs(obj):
    spec = obj.get("spec", {})
    if obj.get("kind") == "Pod":
        yield spec
    elif "template" in spec:
        yield spec["template"].get("spec", {})


def set_image(obj, rule):
    for pod in pod_specs(obj):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, _, _ = container["image"].partition(":")
            if name != rule["name"]:
                continue
            unknown = set(rule) - {"name", "newName", "newTag"}
            if unknown:
                sys.exit(f"images: unsupported keys {sorted(unknown)}")
            new_name = rule.get("newName", name)
            tag = rule.get("newTag", container["image"].partition(":")[2] or "latest")
            container["image"] = f"{new_name}:{tag}"


def render(directory):
    kustomization = load_all(os.path.join(directory, "kustomization.yaml"))[0]
    unknown = set(kustomization) - KNOWN_KEYS
    if unknown:
        sys.exit(f"{directory}: unsupported kustomization keys {sorted(unknown)}")
    objects = []
    for resource in kustomization.get("resources", []):
        path = os.path.join(directory, resource)
        objects += render(path) if os.path.isdir(path) else load_all(path)
    for patch_ref in kustomization.get("patches", []):
        if set(patch_ref) != {"path"}:
            sys.exit(f"{directory}: only `patches: - path:` is supported")
        for patch in load_all(os.path.join(directory, patch_ref["path"])):
            matches = [i for i, o in enumerate(objects) if key(o) == key(patch)]
            if len(matches) != 1:
                sys.exit(f"{directory}: patch {key(patch)} matches {len(matches)} objects")
            objects[matches[0]] = merge(objects[matches[0]], patch)
    for label_set in kustomization.get("labels", []):
        if set(label_set) != {"pairs"}:
            sys.exit(f"{directory}: only `labels: - pairs:` is supported")
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label_set["pairs"])
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] == "Namespace":
                obj["metadata"]["name"] = kustomization["namespace"]
            elif obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for rule in kustomization.get("images", []):
        for obj in objects:
            set_image(obj, rule)
    return objects


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    directory, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    objects = render(directory)
    seen = set()
    for n, obj in enumerate(objects):
        if key(obj) in seen:
            sys.exit(f"{directory}: duplicate object {key(obj)}")
        seen.add(key(obj))
        name = f"{n:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            yaml.safe_dump(obj, f, sort_keys=False)
    print(f"{directory}: {len(objects)} objects")


if __name__ == "__main__":
    main()
