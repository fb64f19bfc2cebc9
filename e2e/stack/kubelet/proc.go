// What a pod's container uses, measured from /proc: the pod runner's pods have no cgroup, so a
// container is its process and every descendant, as a cgroup would hold them. Reads /proc only.
package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Linux reports CPU times in clock ticks of 1/100 s (USER_HZ) on every architecture we run on.
const nanosPerTick = uint64(10_000_000)

// usage is a container's CPU time and resident memory.
type usage struct {
	cpuNanos uint64
	rssBytes uint64
}

// process is the part of /proc/<pid>/stat a container's usage is summed from.
type process struct {
	pid, ppid int
	// utime + stime, and cutime + cstime (the children it reaped), in ticks.
	ownTicks, reapedTicks uint64
	rssPages              uint64
}

// readProcess parses /proc/<pid>/stat; fields are counted after the command name, which is in
// parentheses and may hold spaces.
func readProcess(pid int) (process, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return process{}, false
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 22 {
		return process{}, false
	}
	num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	ppid, _ := strconv.Atoi(f[1])
	return process{pid: pid, ppid: ppid, ownTicks: num(11) + num(12), reapedTicks: num(13) + num(14),
		rssPages: num(21)}, true
}

// cpuNanos is a process's own CPU time: the scheduler's nanosecond count of its live threads
// (a sleeping pod's few milliseconds are not lost to 10 ms ticks), or the ticks of all its
// threads, dead ones too, if that is more; plus the time of the children it reaped. Each part
// only grows, so the sum does too, as metrics-server requires of a counter.
func (p process) cpuNanos() uint64 {
	var scheduled uint64
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(p.pid) + "/task/*/schedstat")
	for _, task := range tasks {
		raw, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		if fields := strings.Fields(string(raw)); len(fields) > 0 {
			n, _ := strconv.ParseUint(fields[0], 10, 64)
			scheduled += n
		}
	}
	return max(scheduled, p.ownTicks*nanosPerTick) + p.reapedTicks*nanosPerTick
}

// containerUsage sums the process `root` and its descendants, or is false if `root` is gone.
func containerUsage(root int) (usage, bool) {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	children := map[int][]process{}
	var top process
	found := false
	for _, dir := range procs {
		pid, _ := strconv.Atoi(filepath.Base(dir))
		p, ok := readProcess(pid)
		if !ok {
			continue
		}
		if pid == root {
			top, found = p, true
		}
		children[p.ppid] = append(children[p.ppid], p)
	}
	if !found {
		return usage{}, false
	}
	page := uint64(os.Getpagesize())
	var u usage
	for queue := []process{top}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		u.cpuNanos += p.cpuNanos()
		u.rssBytes += p.rssPages * page
		queue = append(queue, children[p.pid]...)
	}
	return u, true
}
