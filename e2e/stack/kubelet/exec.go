// Exec: /exec/{ns}/{pod}/{container}?command=...&output=1&error=1 through the kubelet's own
// streaming code (k8s.io/cri-streaming), which negotiates SPDY/3.1 with the remotecommand
// subprotocols v4..v1 (or a WebSocket) and reports the exit status on the error stream. The
// command runs in the pod's network, mount and UTS namespaces (nsenter into the pod runner's
// process) with that process's environment, as a container runtime's exec would.
package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

func (k *kubelet) exec(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p, err := k.findPod(r.PathValue("ns"), r.PathValue("pod"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	pid, err := p.pid()
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	options, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	command := r.URL.Query()["command"]
	remotecommand.ServeExec(w, r, inPod{pid: pid}, p.name, p.uid, r.PathValue("container"), command, options,
		4*time.Hour, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// inPod runs commands in the namespaces of the pod process `pid`.
type inPod struct{ pid int }

func (e inPod) ExecInContainer(ctx context.Context, _, _, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser,
	_ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	args := append([]string{"--target", strconv.Itoa(e.pid), "--net", "--mount", "--uts", "--wdns=/", "--"}, cmd...)
	c := exec.CommandContext(ctx, "nsenter", args...)
	c.Env = e.environment()
	// Only the streams the client asked for: a nil interface, not a nil *Stream, means "not wanted".
	if in != nil {
		c.Stdin = in
	}
	if out != nil {
		c.Stdout = out
	}
	if errOut != nil {
		c.Stderr = errOut
	}
	err := c.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

// environment is the pod process's environment (what `kubectl exec env` shows in a container).
func (e inPod) environment() []string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(e.pid) + "/environ")
	if err != nil {
		return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	return strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
}
