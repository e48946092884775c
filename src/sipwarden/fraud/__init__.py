"""Toll-fraud rules over call-detail records: pure, no I/O, time taken from the records."""
