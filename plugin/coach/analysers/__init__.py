"""One small module per thing the coach measures; the session wires them together."""
