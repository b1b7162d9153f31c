"""What-if simulation harness: scenarios, demand streams, clock, KPIs, reports, sweeps."""
