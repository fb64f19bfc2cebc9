// kstatus reads one Kubernetes object as JSON on stdin and prints what cli-utils' kstatus (the
// library Flux, kpt and cli-utils-based tools decide "ready" with) computes for it, as JSON:
// {"status": "Current", "message": "..."}. Built by e2e/stack/install.sh; used by the stack tests.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading stdin:", err)
		os.Exit(2)
	}
	// Unstructured's own decoding keeps integers int64, as kstatus expects of a generation.
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(input); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: decoding the object:", err)
		os.Exit(2)
	}
	result, err := status.Compute(object)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: computing the status:", err)
		os.Exit(1)
	}
	out := map[string]string{"status": string(result.Status), "message": result.Message}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: writing the result:", err)
		os.Exit(1)
	}
}
