"""A second, private OpenTelemetry Collector (the stack's `otelcol` binary) on its own port and
output file, for tests that start it late, serve TLS or listen on the node address. Runs a
process and reads its file."""

import subprocess
import time

from collector import spans_of


class ExtraCollector:
    """A real collector receiving OTLP over gRPC or HTTP (optionally TLS) into its own file."""

    def __init__(self, tmp_path, port, tls=None, protocol="grpc", host="127.0.0.1"):
        self.output = tmp_path / f"otlp-{port}.jsonl"
        tls_block = f"\n        tls: {{cert_file: {tls[0]}, key_file: {tls[1]}}}" if tls else ""
        config = tmp_path / f"otelcol-{port}.yaml"
        config.write_text(f"""receivers:
  otlp:
    protocols:
      {protocol}:
        endpoint: {host}:{port}{tls_block}
processors:
  batch: {{timeout: 10ms}}
exporters:
  file: {{path: {self.output}, flush_interval: 10ms}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [file]}}
""")
        self.process = subprocess.Popen(["otelcol", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def spans(self, service):
        return spans_of(service, self.output) if self.output.exists() else []

    def wait_for_spans(self, service, seconds=15):
        deadline = time.time() + seconds
        while time.time() < deadline and not self.spans(service):
            time.sleep(0.2)
        return self.spans(service)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
