"""Simulated back ends: real HTTP servers following the protocols of docs/vendors.md §5.

They are for tests and demos (``open311 simulate citysourced|department --port P``), with
the fault switches of §6 under ``/_sim/``; they are not part of the gateway.
"""
