"""What more than one test module needs: the stack's paths and kubectl (`stack`), polling
(`wait`), the server binary and MCP client sessions (`server`), the operator binary
(`operator`), a free port and certificates (`net`), and a private OpenTelemetry Collector
(`otel`). Test modules import from here and never from one another."""
