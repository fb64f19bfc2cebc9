// kubelet serves the kubelet API the apiserver proxies to, for the pods e2e/stack/pod_runner.py
// runs in the test stack: containerLogs, exec (the kubelet's own streaming code, SPDY with the
// v4..v1 remotecommand subprotocols), stats/summary and metrics/resource (what metrics-server
// scrapes) from /proc, and the node logs (the log query API and the /logs/ file server) over the
// stack's component logs. It serves HTTPS with a cert the stack makes and accepts only clients
// with a cert of the stack's CA (the apiserver's --kubelet-client-certificate, metrics-server's
// --kubelet-client-certificate). Built by e2e/stack/install.sh; started by e2e/stack.sh.
//
// The pod runner and this server agree on one layout: $KMCP_STACK_DIR/pods/<ns>_<pod>_<uid>/
// holds container.log (the process's stdout and stderr) and pid (the pod's process, whose
// network, mount and UTS namespaces an exec enters).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "0.0.0.0:10250", "address to serve on")
	stackDir := flag.String("stack-dir", os.Getenv("KMCP_STACK_DIR"), "the stack's state directory")
	nodeName := flag.String("node-name", "e2e-node", "the Node this kubelet reports as")
	cert := flag.String("tls-cert", "", "serving certificate")
	key := flag.String("tls-key", "", "serving key")
	clientCA := flag.String("client-ca", "", "CA whose client certificates are accepted")
	flag.Parse()

	pool := x509.NewCertPool()
	pem, err := os.ReadFile(*clientCA)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("kubelet: reading the client CA %s: %v", *clientCA, err)
	}
	k := &kubelet{stackDir: *stackDir, nodeName: *nodeName, started: time.Now()}
	server := &http.Server{
		Addr:              *listen,
		Handler:           k.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	}
	log.Printf("kubelet: serving %s for node %s (pods in %s/pods)", *listen, *nodeName, *stackDir)
	log.Fatal(server.ListenAndServeTLS(*cert, *key))
}

// kubelet is the state every handler shares: where the stack keeps pods and logs.
type kubelet struct {
	stackDir string
	nodeName string
	started  time.Time
}

func (k *kubelet) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", k.containerLogs)
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", k.exec)
	mux.HandleFunc("GET /stats/summary", k.summary)
	mux.HandleFunc("GET /metrics/resource", k.resourceMetrics)
	// The Go client asks for /logs?query=..., a browser for /logs/: the kubelet serves both.
	mux.HandleFunc("GET /logs", k.nodeLogs)
	mux.HandleFunc("GET /logs/{file...}", k.nodeLogs)
	return logged(mux)
}

// logged writes one line per request: the stack's kubelet.log is also what `query=kubelet` reads.
func logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s", r.Method, r.URL.RequestURI())
		next.ServeHTTP(w, r)
	})
}
