"""Which version wins: the experiment report (statistics over SQL aggregates) for the dashboard.

aggregates.py fetches counts and sums with one query per need; offline.py (paired tests on batch
results) and production.py (sequential tests on outcome events) turn them into sections; report.py
combines them into the headline verdict.
"""
