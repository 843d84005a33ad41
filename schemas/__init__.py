"""marshmallow schemas of the GeoReport v2 wire format.

Every response is dumped by one of these schemas into plain Python data, which the renderers
in :mod:`open311.formats` turn into JSON or XML; inbound forms and query strings are loaded by
the schemas in :mod:`schemas.inputs`.
"""
