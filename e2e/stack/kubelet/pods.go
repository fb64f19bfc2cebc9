// The pods the pod runner runs, read off its directory: $KMCP_STACK_DIR/pods/<ns>_<pod>_<uid>/
// with container.log and pid. Reads the file system only.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pod is one running pod of the pod runner.
type pod struct {
	namespace, name, uid string
	dir                  string
}

// pods lists the pods the pod runner runs now.
func (k *kubelet) pods() []pod {
	dirs, _ := filepath.Glob(filepath.Join(k.stackDir, "pods", "*_*_*"))
	var found []pod
	for _, dir := range dirs {
		// Namespaces and pod names are DNS labels and UIDs have no '_': the split is exact.
		parts := strings.SplitN(filepath.Base(dir), "_", 3)
		if len(parts) == 3 {
			found = append(found, pod{namespace: parts[0], name: parts[1], uid: parts[2], dir: dir})
		}
	}
	return found
}

// findPod is the pod namespace/name, or an error saying it does not run on this node.
func (k *kubelet) findPod(namespace, name string) (pod, error) {
	for _, p := range k.pods() {
		if p.namespace == namespace && p.name == name {
			return p, nil
		}
	}
	return pod{}, fmt.Errorf("pod %s/%s is not running on this node", namespace, name)
}

// pid is the host pid of the pod's process, once the pod runner has started it.
func (p pod) pid() (int, error) {
	raw, err := os.ReadFile(filepath.Join(p.dir, "pid"))
	if err != nil {
		return 0, fmt.Errorf("pod %s/%s has no running process: %w", p.namespace, p.name, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

// started is when the pod runner started the pod's process: when it wrote the pid file.
func (p pod) started() time.Time {
	if info, err := os.Stat(filepath.Join(p.dir, "pid")); err == nil {
		return info.ModTime()
	}
	return time.Time{}
}

func (p pod) logFile() string { return filepath.Join(p.dir, "container.log") }

// container is the name of the pod's one container, as the pod runner wrote it.
func (p pod) container() string {
	raw, _ := os.ReadFile(filepath.Join(p.dir, "container"))
	return strings.TrimSpace(string(raw))
}
