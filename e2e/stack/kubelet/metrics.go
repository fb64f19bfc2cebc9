// Resource metrics: GET /metrics/resource, the kubelet endpoint metrics-server scrapes, in the
// Prometheus text format and with the metric names the kubelet's resource collector writes
// (metrics-server's decoder reads exactly these): the node's CPU time and working set from
// /proc/stat and /proc/meminfo, and for each running pod's container the CPU time, working set
// and start time of its processes (proc.go). Every sample carries the time it was measured.
// Reads /proc and the pod runner's directory only.
package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

func (k *kubelet) resourceMetrics(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	failed := 0
	now := time.Now().UnixMilli()
	if busy, err := cpuTicks(); err == nil {
		family(&b, "node_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the node in core-seconds")
		fmt.Fprintf(&b, "node_cpu_usage_seconds_total %g %d\n", seconds(busy.busy*nanosPerTick), now)
	} else {
		failed = 1
	}
	m := meminfo("/proc/meminfo")
	family(&b, "node_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the node in bytes")
	fmt.Fprintf(&b, "node_memory_working_set_bytes %d %d\n", m["MemTotal"]-m["MemAvailable"], now)

	type sample struct {
		labels  string
		used    usage
		started time.Time
	}
	var samples []sample
	for _, p := range k.pods() {
		pid, err := p.pid()
		if err != nil {
			continue // not started yet, or ended: the kubelet reports running containers only
		}
		if used, ok := containerUsage(pid); ok {
			labels := fmt.Sprintf(`{container=%q,namespace=%q,pod=%q}`, p.container(), p.namespace, p.name)
			samples = append(samples, sample{labels, used, p.started()})
		}
	}
	family(&b, "container_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the container in core-seconds")
	for _, s := range samples {
		fmt.Fprintf(&b, "container_cpu_usage_seconds_total%s %g %d\n", s.labels, seconds(s.used.cpuNanos), now)
	}
	family(&b, "container_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the container in bytes")
	for _, s := range samples {
		fmt.Fprintf(&b, "container_memory_working_set_bytes%s %d %d\n", s.labels, s.used.rssBytes, now)
	}
	family(&b, "container_start_time_seconds", "gauge", "[STABLE] Start time of the container since unix epoch in seconds")
	for _, s := range samples {
		fmt.Fprintf(&b, "container_start_time_seconds%s %g %d\n", s.labels, float64(s.started.UnixNano())/1e9, now)
	}
	family(&b, "scrape_error", "gauge", "[ALPHA] 1 if there was an error while getting container metrics, 0 otherwise")
	fmt.Fprintf(&b, "scrape_error %d\n", failed)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// family writes the HELP and TYPE lines of a metric, as the kubelet does.
func family(b *strings.Builder, name, kind, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func seconds(nanos uint64) float64 { return float64(nanos) / 1e9 }
