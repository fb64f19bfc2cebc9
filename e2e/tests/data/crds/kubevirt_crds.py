"""Writes the KubeVirt CRDs the kubevirt toolset's tests install (kubevirt-*.yaml here).

KubeVirt commits no CRD YAML: its operator builds the CRDs at run time from
pkg/virt-operator/resource/generate/components/crds.go (names, versions, subresources) and the
OpenAPI schemas in validations_generated.go. This script does the same for the three CRDs the
tools use (and the instancetypes and preferences vm_create resolves), from a copy of that
generated Go file:

    git -C <kubevirt mirror> show HEAD:pkg/virt-operator/resource/generate/components/validations_generated.go > v.go
    python3 kubevirt_crds.py v.go

Source: github.com/kubevirt/kubevirt d923fdb815cd2016ddaebdaaa51db04133576d72 (2026-08-22).
"""

import re
import sys
from pathlib import Path

import yaml

SOURCE = "github.com/kubevirt/kubevirt@d923fdb815cd2016ddaebdaaa51db04133576d72"

# crds.go: NewVirtualMachineCrd, NewVirtualMachineInstanceCrd, NewVirtualMachineCloneCrd and the
# instancetype and preference CRDs: (group, plural, singular, kind, short names, versions,
# status subresource, scope).
CORE_VERSIONS = [("v1", True), ("v1alpha3", False)]
BETA = [("v1beta1", True)]
INSTANCETYPE = "instancetype.kubevirt.io"
CRDS = [
    ("kubevirt.io", "virtualmachines", "virtualmachine", "VirtualMachine", ["vm", "vms"],
     CORE_VERSIONS, True, "Namespaced"),
    ("kubevirt.io", "virtualmachineinstances", "virtualmachineinstance",
     "VirtualMachineInstance", ["vmi", "vmis"], CORE_VERSIONS, False, "Namespaced"),
    ("clone.kubevirt.io", "virtualmachineclones", "virtualmachineclone", "VirtualMachineClone",
     ["vmclone", "vmclones"], [("v1alpha1", False), ("v1beta1", True)], True, "Namespaced"),
    (INSTANCETYPE, "virtualmachineinstancetypes", "virtualmachineinstancetype",
     "VirtualMachineInstancetype", ["vminstancetype", "vminstancetypes", "vmf", "vmfs"], BETA,
     False, "Namespaced"),
    (INSTANCETYPE, "virtualmachineclusterinstancetypes", "virtualmachineclusterinstancetype",
     "VirtualMachineClusterInstancetype",
     ["vmclusterinstancetype", "vmclusterinstancetypes", "vmcf", "vmcfs"], BETA, False, "Cluster"),
    (INSTANCETYPE, "virtualmachinepreferences", "virtualmachinepreference",
     "VirtualMachinePreference", ["vmpref", "vmprefs", "vmp", "vmps"], BETA, False, "Namespaced"),
    (INSTANCETYPE, "virtualmachineclusterpreferences", "virtualmachineclusterpreference",
     "VirtualMachineClusterPreference", ["vmcp", "vmcps"], BETA, False, "Cluster"),
]


def schemas(go_source: str) -> dict:
    """The `"name": `yaml`` entries of CRDsValidation."""
    return {m[1]: m[2] for m in re.finditer(r'^\t"([a-z]+)": `(.*?)`,$', go_source, re.S | re.M)}


def crd(validation: dict, group, plural, singular, kind, short, versions, status, scope) -> dict:
    schema = yaml.safe_load(validation[singular])
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"kubevirt.io": ""},
                     "annotations": {"kubernetes-mcp.io/generated-from": SOURCE}},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": singular, "kind": kind,
                      "shortNames": short, "categories": ["all"]},
            "versions": [
                {"name": name, "served": True, "storage": storage, "schema": schema,
                 **({"subresources": {"status": {}}} if status else {})}
                for name, storage in versions
            ],
        },
    }


def main() -> None:
    validation = schemas(Path(sys.argv[1]).read_text())
    here = Path(__file__).parent
    for group, plural, singular, kind, short, versions, status, scope in CRDS:
        out = here / f"kubevirt-{singular}.yaml"
        # The versions share one schema: YAML writes it once, as an anchor the others alias.
        out.write_text(yaml.safe_dump(
            crd(validation, group, plural, singular, kind, short, versions, status, scope),
            sort_keys=False))


if __name__ == "__main__":
    main()
