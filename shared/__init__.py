"""leadflow's common code: settings, logging, events, Kafka and DB plumbing, metrics, pure domain."""
