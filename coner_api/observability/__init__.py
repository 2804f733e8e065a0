"""What the API tells its operators: JSON log lines (`logs`), each request's line and measurements
(`telemetry`), the Prometheus metrics (`metrics`, sampled off the request path by `sampler`, served by
`metrics_route`)."""
