// Logs: a container's log (GET /containerLogs/{ns}/{pod}/{container}, with tailLines, limitBytes
// and follow) from the pod runner's container.log, and the node's logs (GET /logs/...): the log
// query API (?query=<service or file>&tailLines=N&pattern=RE) and the plain file server, both
// over the stack's component logs ($KMCP_STACK_DIR/logs), which stand for the node's /var/log.
// Reads files only.
package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func (k *kubelet) containerLogs(w http.ResponseWriter, r *http.Request) {
	p, err := k.findPod(r.PathValue("ns"), r.PathValue("pod"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	query := r.URL.Query()
	content, err := os.ReadFile(p.logFile())
	if err != nil && !os.IsNotExist(err) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	offset := int64(len(content))
	if n, err := strconv.Atoi(query.Get("tailLines")); err == nil {
		content = tail(content, n)
	}
	limit := int64(-1)
	if n, err := strconv.ParseInt(query.Get("limitBytes"), 10, 64); err == nil && n >= 0 {
		limit = n
	}
	w.Header().Set("Content-Type", "text/plain")
	written := writeLimited(w, content, limit)
	if query.Get("follow") != "true" || (limit >= 0 && written >= limit) {
		return
	}
	k.follow(w, r, p, offset, limit-written)
}

// follow streams what the container writes after `offset` until the client goes or the pod ends.
func (k *kubelet) follow(w http.ResponseWriter, r *http.Request, p pod, offset, left int64) {
	flusher, _ := w.(http.Flusher)
	for {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		f, err := os.Open(p.logFile())
		if err != nil {
			return // the pod is gone
		}
		_, _ = f.Seek(offset, io.SeekStart)
		fresh, _ := io.ReadAll(f)
		_ = f.Close()
		offset += int64(len(fresh))
		if left >= 0 {
			n := writeLimited(w, fresh, left)
			if left -= n; left <= 0 {
				return
			}
		} else {
			_, _ = w.Write(fresh)
		}
	}
}

// writeLimited writes at most limit bytes of content (all when limit < 0) and says how many.
func writeLimited(w io.Writer, content []byte, limit int64) int64 {
	if limit >= 0 && int64(len(content)) > limit {
		content = content[:limit]
	}
	n, _ := w.Write(content)
	return int64(n)
}

// tail is the last n lines of content (a final newline does not start a line).
func tail(content []byte, n int) []byte {
	if n < 0 {
		return content
	}
	end := len(content)
	if end > 0 && content[end-1] == '\n' {
		end--
	}
	start := end
	for lines := 0; start > 0; start-- {
		if content[start-1] == '\n' {
			if lines++; lines == n {
				break
			}
		}
	}
	if n == 0 {
		return nil
	}
	return content[start:]
}

// nodeLogs is the kubelet's /logs/: with ?query= the log query API, else the file server.
func (k *kubelet) nodeLogs(w http.ResponseWriter, r *http.Request) {
	logDir := filepath.Join(k.stackDir, "logs")
	query := r.URL.Query()
	if !query.Has("query") {
		http.StripPrefix("/logs", http.FileServer(http.Dir(logDir))).ServeHTTP(w, r)
		return
	}
	var pattern *regexp.Regexp
	if p := query.Get("pattern"); p != "" {
		var err error
		if pattern, err = regexp.Compile(p); err != nil {
			http.Error(w, "pattern: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	tailLines := -1
	if t := query.Get("tailLines"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > 100000 {
			http.Error(w, "tailLines: must be an integer in 0..100000", http.StatusBadRequest)
			return
		}
		tailLines = n
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	for _, q := range query["query"] {
		if strings.TrimSpace(q) == "" {
			http.Error(w, "query: may not be empty", http.StatusBadRequest)
			return
		}
		content, err := readServiceLog(logDir, q)
		if err != nil {
			_, _ = io.WriteString(w, "\nlog not found for "+q+"\n")
			continue
		}
		_, _ = w.Write(tail(filter(content, pattern), tailLines))
	}
}

// readServiceLog finds a service's log the way the kubelet's heuristics do for services that do
// not log to journald: <dir>/<q>, <dir>/<q>.log, <dir>/<q>/<q>.log, never outside <dir>.
func readServiceLog(dir, q string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = root.Close() }()
	for _, name := range []string{q, q + ".log", filepath.Join(q, q+".log")} {
		f, err := root.Open(strings.TrimPrefix(name, "/"))
		if err != nil {
			continue
		}
		info, err := f.Stat()
		if err == nil && !info.IsDir() {
			content, err := io.ReadAll(f)
			_ = f.Close()
			return content, err
		}
		_ = f.Close()
	}
	return nil, os.ErrNotExist
}

// filter keeps the lines matching pattern (all when nil).
func filter(content []byte, pattern *regexp.Regexp) []byte {
	if pattern == nil {
		return content
	}
	var kept bytes.Buffer
	for line := range bytes.Lines(content) {
		if pattern.Match(line) {
			kept.Write(line)
		}
	}
	return kept.Bytes()
}
