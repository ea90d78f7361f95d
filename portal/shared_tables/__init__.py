"""The shared admin tables: the projection of Meridian's database that the public APIs read.

Kept free of imports so that `positioning.reader` loads without Django settings.
"""
