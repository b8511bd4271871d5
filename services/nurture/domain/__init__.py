"""Pure nurture logic: send windows, quiet hours, frequency caps, inactivity segments. No I/O."""
