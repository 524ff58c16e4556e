"""The HTTP side of `flowtui serve` beside the webhooks: the REST API (`/api/v1`, docs/api.md),
its OpenAPI document and Prometheus metrics (`/metrics`, docs/metrics.md)."""
