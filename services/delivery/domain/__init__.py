"""Pure delivery logic: the retry schedule, one attempt's outcome, signatures, address safety. No I/O."""
