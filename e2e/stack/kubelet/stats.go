// Stats: GET /stats/summary, the kubelet's Summary (k8s.io/kubelet stats/v1alpha1) measured from
// /proc and statfs: the node's CPU (two /proc/stat samples 100 ms apart), memory, file system
// (the stack directory's), network (the stack's namespace) and process count; for each running
// pod its container's CPU time and memory (proc.go). Reads /proc and the file system only.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	stats "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

func (k *kubelet) summary(w http.ResponseWriter, _ *http.Request) {
	before, _ := cpuTicks()
	time.Sleep(100 * time.Millisecond)
	after, _ := cpuTicks()
	now := metav1.Now()
	used := after.busy * nanosPerTick
	nanoCores := (after.busy - before.busy) * nanosPerTick * uint64(time.Second) / uint64(100*time.Millisecond)
	node := stats.NodeStats{
		NodeName:  k.nodeName,
		StartTime: metav1.NewTime(k.started),
		CPU:       &stats.CPUStats{Time: now, UsageNanoCores: &nanoCores, UsageCoreNanoSeconds: &used},
		Memory:    nodeMemory(now),
		Fs:        fsStats(k.stackDir, now),
		Network:   network(now),
		Rlimit:    rlimit(now),
	}
	summary := stats.Summary{Node: node, Pods: []stats.PodStats{}}
	for _, p := range k.pods() {
		if s, ok := podStats(p, now); ok {
			summary.Pods = append(summary.Pods, s)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(summary)
}

type ticks struct{ busy uint64 }

// cpuTicks is the node's CPU time not idle or waiting, from the first line of /proc/stat.
func cpuTicks() (ticks, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return ticks{}, err
	}
	fields := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0])
	var t ticks
	for i, f := range fields[1:] {
		n, _ := strconv.ParseUint(f, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
	}
	return t, nil
}

// meminfo is /proc/meminfo in bytes (or /proc/<pid>/status: the same "Key: N kB" lines).
func meminfo(path string) map[string]uint64 {
	values := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return values
	}
	defer func() { _ = f.Close() }()
	for scanner := bufio.NewScanner(f); scanner.Scan(); {
		key, rest, ok := strings.Cut(scanner.Text(), ":")
		fields := strings.Fields(rest)
		if ok && len(fields) == 2 && fields[1] == "kB" {
			n, _ := strconv.ParseUint(fields[0], 10, 64)
			values[key] = n * 1024
		}
	}
	return values
}

func nodeMemory(now metav1.Time) *stats.MemoryStats {
	m := meminfo("/proc/meminfo")
	total, free, available := m["MemTotal"], m["MemFree"], m["MemAvailable"]
	usage, workingSet := total-free, total-available
	return &stats.MemoryStats{Time: now, AvailableBytes: &available, UsageBytes: &usage, WorkingSetBytes: &workingSet}
}

func fsStats(dir string, now metav1.Time) *stats.FsStats {
	var s syscall.Statfs_t
	if syscall.Statfs(dir, &s) != nil {
		return nil
	}
	bsize := uint64(s.Bsize)
	capacity, available := s.Blocks*bsize, s.Bavail*bsize
	used := (s.Blocks - s.Bfree) * bsize
	inodesUsed := s.Files - s.Ffree
	return &stats.FsStats{Time: now, CapacityBytes: &capacity, AvailableBytes: &available, UsedBytes: &used,
		Inodes: &s.Files, InodesFree: &s.Ffree, InodesUsed: &inodesUsed}
}

// network is /proc/net/dev of the stack's namespace; the first interface is the default one.
func network(now metav1.Time) *stats.NetworkStats {
	raw, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return nil
	}
	n := &stats.NetworkStats{Time: now}
	for line := range bytes.Lines(raw) {
		name, rest, ok := strings.Cut(string(line), ":")
		f := strings.Fields(rest)
		if !ok || len(f) < 11 {
			continue // the two header lines
		}
		num := func(i int) *uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return &v }
		n.Interfaces = append(n.Interfaces, stats.InterfaceStats{Name: strings.TrimSpace(name),
			RxBytes: num(0), RxErrors: num(2), TxBytes: num(8), TxErrors: num(10)})
	}
	if len(n.Interfaces) > 0 {
		n.InterfaceStats = n.Interfaces[0]
	}
	return n
}

func rlimit(now metav1.Time) *stats.RlimitStats {
	raw, _ := os.ReadFile("/proc/sys/kernel/pid_max")
	maxPID, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	procs, _ := filepath.Glob("/proc/[0-9]*")
	running := int64(len(procs))
	return &stats.RlimitStats{Time: now, MaxPID: &maxPID, NumOfRunningProcesses: &running}
}

// podStats is one pod's container: its processes' CPU time and resident memory (proc.go).
func podStats(p pod, now metav1.Time) (stats.PodStats, bool) {
	pid, err := p.pid()
	if err != nil {
		return stats.PodStats{}, false
	}
	used, ok := containerUsage(pid)
	if !ok {
		return stats.PodStats{}, false
	}
	started := metav1.NewTime(p.started())
	cpuStats := &stats.CPUStats{Time: now, UsageCoreNanoSeconds: &used.cpuNanos}
	memory := &stats.MemoryStats{Time: now, UsageBytes: &used.rssBytes, WorkingSetBytes: &used.rssBytes, RSSBytes: &used.rssBytes}
	container := stats.ContainerStats{Name: p.container(), StartTime: started, CPU: cpuStats, Memory: memory}
	return stats.PodStats{
		PodRef:     stats.PodReference{Name: p.name, Namespace: p.namespace, UID: p.uid},
		StartTime:  started,
		Containers: []stats.ContainerStats{container},
		CPU:        cpuStats,
		Memory:     memory,
	}, true
}
