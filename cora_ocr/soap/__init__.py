"""Spyne types named exactly as the WSDL, the thin service class, and the Spyne glue."""
