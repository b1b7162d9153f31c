"""Order life cycle: order view, node tasks, line transitions, pickup expiry."""
