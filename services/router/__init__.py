"""Router: dedupe, score and assign every lead; the SLA clock to first touch."""
