//! The operator binary. The controller is not written yet: see the README's status section.

fn main() {
    eprintln!(
        "kubernetes-mcp-operator: the controller is not implemented yet; crdgen prints the CRD"
    );
    std::process::exit(2);
}
