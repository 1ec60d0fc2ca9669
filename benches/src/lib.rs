//! Latency and throughput benchmarks (filled in by the renewal and acquire issues).
