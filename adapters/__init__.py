"""Back-end adapters: where an accepted request is delivered.

Adapters are found through the packaging entry-point group ``open311.adapters`` (the
built-in ones are declared there too) and used only when configuration names them.
"""
