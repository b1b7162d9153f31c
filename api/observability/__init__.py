"""Operations: Prometheus metrics, request ids and JSON logs."""
