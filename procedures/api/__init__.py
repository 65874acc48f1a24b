"""Thin typed clients for the monitoring APIs, on the recorded ``Http`` client."""
