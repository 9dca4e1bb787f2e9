"""Local servers that speak cloud providers' wire protocols, backed by the local engines."""
